"""The tool's own RSA signing keys (private part encrypted at rest)."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lti_service.db import Base, utcnow


class KeyState(enum.StrEnum):
    ACTIVE = "active"
    RETIRED = "retired"  # no longer signs, still published so tokens in flight verify


class ToolKey(Base):
    __tablename__ = "tool_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(16), default=KeyState.ACTIVE.value, index=True)
    private_key_encrypted: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[dt.datetime | None] = mapped_column(default=None)
