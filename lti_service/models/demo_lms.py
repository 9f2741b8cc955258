"""Content items the demo LMS received by Deep Linking (only used when the demo LMS is on)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from lti_service.db import Base, utcnow


class DemoLmsLink(Base):
    __tablename__ = "demo_lms_link"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(255))
    url: Mapped[str] = mapped_column(String(1024))
    item: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DemoLmsTool(Base):
    """A tool registered with the demo LMS by Dynamic Registration (the platform's side)."""

    __tablename__ = "demo_lms_tool"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    deployment_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    initiate_login_uri: Mapped[str] = mapped_column(String(1024))
    target_link_uri: Mapped[str] = mapped_column(String(1024))
    jwks_uri: Mapped[str] = mapped_column(String(1024))
    redirect_uris: Mapped[list[str]] = mapped_column(default=list)
    registration: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
