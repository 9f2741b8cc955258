"""Users, course contexts, memberships and resource links, as the platform tells us at launch."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lti_service.db import Base, utcnow


def display_name_of(name: str | None, given_name: str | None, family_name: str | None,
                    email: str | None, sub: str) -> str:
    """How a person is shown: whatever the platform's privacy settings let it send."""
    if name:
        return name
    parts = [p for p in (given_name, family_name) if p]
    if parts:
        return " ".join(parts)
    return email or f"User {sub}"


class User(Base):
    """A person as known to one registration (``sub`` is only unique per platform)."""

    __tablename__ = "lti_user"
    __table_args__ = (UniqueConstraint("registration_id", "sub"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("registration.id", ondelete="CASCADE")
    )
    sub: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255), default=None)
    given_name: Mapped[str | None] = mapped_column(String(255), default=None)
    family_name: Mapped[str | None] = mapped_column(String(255), default=None)
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    locale: Mapped[str | None] = mapped_column(String(35), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_launch_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @property
    def display_name(self) -> str:
        return display_name_of(self.name, self.given_name, self.family_name, self.email,
                               self.sub)


class Context(Base):
    """A course (or other context) in a platform."""

    __tablename__ = "lti_context"
    __table_args__ = (UniqueConstraint("registration_id", "context_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("registration.id", ondelete="CASCADE")
    )
    deployment_id: Mapped[int | None] = mapped_column(
        ForeignKey("deployment.id", ondelete="SET NULL"), default=None
    )
    context_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(255), default=None)
    label: Mapped[str | None] = mapped_column(String(255), default=None)
    # Service endpoints announced in launches (AGS line items URL, NRPS URL, scopes).
    services: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Membership(Base):
    """A user's roles in a context, as sent in the latest launch."""

    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("context_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    context_id: Mapped[int] = mapped_column(ForeignKey("lti_context.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id", ondelete="CASCADE"), index=True)
    roles: Mapped[list[str]] = mapped_column(default=list)
    role: Mapped[str] = mapped_column(String(16))  # learner / facilitator / admin
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ResourceLink(Base):
    """A placement of the tool in a context."""

    __tablename__ = "resource_link"
    __table_args__ = (UniqueConstraint("context_id", "resource_link_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    context_id: Mapped[int] = mapped_column(ForeignKey("lti_context.id", ondelete="CASCADE"))
    resource_link_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(255), default=None)
    target_link_uri: Mapped[str | None] = mapped_column(String(1024), default=None)
    lineitem_url: Mapped[str | None] = mapped_column(String(1024), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
