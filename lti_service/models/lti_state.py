"""Short-lived OIDC login state and consumed nonces (kept in the database, not process memory,
so a login on one instance and its launch on another work)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lti_service.db import Base, utcnow


class OidcLogin(Base):
    """One third-party-initiated login, consumed by exactly one launch."""

    __tablename__ = "oidc_login"

    state: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64))
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("registration.id", ondelete="CASCADE"), index=True
    )
    browser_id: Mapped[str] = mapped_column(String(64))
    storage_secret: Mapped[str | None] = mapped_column(String(64), default=None)
    storage_target: Mapped[str | None] = mapped_column(String(64), default=None)
    storage_origin: Mapped[str | None] = mapped_column(String(512), default=None)
    login_params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)


class UsedNonce(Base):
    """A nonce seen in an accepted id_token; the unique constraint makes replay impossible."""

    __tablename__ = "used_nonce"
    __table_args__ = (UniqueConstraint("registration_id", "nonce"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("registration.id", ondelete="CASCADE")
    )
    nonce: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
