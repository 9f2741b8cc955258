"""Nonces of accepted launches (kept in the database, not process memory, so replay is refused
on every instance). The OIDC state itself is a signed token (``lti/login_state.py``)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lti_service.db import Base


class UsedNonce(Base):
    """A nonce spent by an accepted launch; the unique constraint makes a replay impossible.
    Kept until the state and id_token it belonged to can no longer be accepted."""

    __tablename__ = "used_nonce"
    __table_args__ = (UniqueConstraint("registration_id", "nonce"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("registration.id", ondelete="CASCADE")
    )
    nonce: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
