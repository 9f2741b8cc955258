"""Platform registrations (issuer + client_id), their deployments and cached key sets."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_service.db import Base, utcnow


class RegistrationState(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    INACTIVE = "inactive"


class Registration(Base):
    """One tool registration in one LMS; Canvas shares an issuer, so the key includes client_id."""

    __tablename__ = "registration"
    __table_args__ = (UniqueConstraint("issuer", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(512))
    client_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255), default="")
    auth_login_url: Mapped[str] = mapped_column(String(1024))
    auth_token_url: Mapped[str] = mapped_column(String(1024))
    auth_audience: Mapped[str | None] = mapped_column(String(1024), default=None)
    key_set_url: Mapped[str] = mapped_column(String(1024))
    state: Mapped[str] = mapped_column(String(16), default=RegistrationState.ACTIVE.value)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_launch_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    # "manual" (CLI, console) or "dynamic" (LTI Dynamic Registration).
    source: Mapped[str] = mapped_column(String(16), default="manual")
    # What the platform said about itself at Dynamic Registration (product, version, …).
    platform_info: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # SHA-256 of the registration token used, so a replayed registration is recognised.
    registration_token_hash: Mapped[str | None] = mapped_column(String(64), default=None,
                                                                index=True)

    deployments: Mapped[list[Deployment]] = relationship(
        back_populates="registration", cascade="all, delete-orphan", order_by="Deployment.id"
    )

    @property
    def is_active(self) -> bool:
        return self.state == RegistrationState.ACTIVE.value


class Deployment(Base):
    """A deployment of a registration; unknown ones are recorded inactive for an admin to enable."""

    __tablename__ = "deployment"
    __table_args__ = (UniqueConstraint("registration_id", "deployment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("registration.id", ondelete="CASCADE"), index=True
    )
    deployment_id: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    registration: Mapped[Registration] = relationship(back_populates="deployments")


class PlatformKeySet(Base):
    """The last fetched JWKS of a platform, shared by every process (no fetch per launch)."""

    __tablename__ = "platform_key_set"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(1024), unique=True)
    keys_json: Mapped[str] = mapped_column(Text)
    fetched_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    def as_dict(self) -> dict[str, Any]:
        import json

        data: dict[str, Any] = json.loads(self.keys_json)
        return data
