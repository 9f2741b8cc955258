"""Request-scoped access to the database session and the settings.

Every request gets one SQLAlchemy session; the app commits it once when the view returned a
non-error response and rolls it back otherwise (see ``app.py``).
"""

from __future__ import annotations

from typing import Any

from flask import current_app, g
from sqlalchemy.orm import Session, sessionmaker

from lti_service.config import Settings


def state() -> dict[str, Any]:
    ext: dict[str, Any] = current_app.extensions["lti_service"]
    return ext


def settings() -> Settings:
    value: Settings = state()["settings"]
    return value


def secret_key() -> str:
    value: str = current_app.config["SECRET_KEY"]
    return value


def session_factory() -> sessionmaker[Session]:
    factory: sessionmaker[Session] = state()["session_factory"]
    return factory


def db() -> Session:
    """The request's session, opened on first use."""
    if "db_session" not in g:
        g.db_session = session_factory()()
    session: Session = g.db_session
    return session


def base_url() -> str:
    return settings().effective_base_url
