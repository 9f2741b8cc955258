"""Request-scoped access to the database session and the settings.

Every request gets one SQLAlchemy session; the app commits it once when the view returned a
non-error response and rolls it back otherwise (see ``app.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import abort, current_app, g
from flask_babel import gettext
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from lti_service.assessment import frameworks
from lti_service.assessment.frameworks import Framework
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


def framework(key: str) -> Framework:
    """The framework a URL names, or a 404 page."""
    found = frameworks.get(key)
    if found is None:
        abort(404, description=gettext("There is no such framework."))
    return found


def base_url() -> str:
    return settings().effective_base_url


T = TypeVar("T")


def run_hot(work: Callable[[Connection], T]) -> T:
    """``run_hot_on`` with this app's engines."""
    return run_hot_on(state(), work)


def run_hot_on(services: dict[str, Any], work: Callable[[Connection], T]) -> T:
    """Run ``work`` on a Core connection for the launch hot path (login, launch), without
    the ORM session.

    On PostgreSQL the connection is in autocommit: every statement on the path either fully
    applies or changes nothing, which saves the BEGIN/COMMIT round trips, and the pool does
    not ping: a connection the server dropped fails its first statement, and the work is
    retried once on a fresh one. On SQLite ``work`` runs in one transaction, rolled back if
    it raises.
    """
    hot: Engine | None = services["hot_engine"]
    if hot is None:
        engine: Engine = services["engine"]
        with engine.begin() as conn:
            return work(conn)
    for attempt in (1, 2):
        try:
            with hot.connect() as conn:
                return work(conn)
        except DBAPIError as exc:
            if attempt == 2 or not exc.connection_invalidated:
                raise
    raise AssertionError("unreachable")
