"""A course's roster as the platform lists it (LTI Names and Role Provisioning Services).

Cached per context: :class:`RosterFetch` says when it was last read (and what went wrong),
:class:`RosterMember` holds one member each; a refresh replaces the whole set. Members are
matched to people who launched by ``(registration, sub)``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lti_service.db import Base, utcnow
from lti_service.models.people import display_name_of


class RosterMember(Base):
    __tablename__ = "roster_member"
    __table_args__ = (UniqueConstraint("context_id", "user_sub"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    context_id: Mapped[int] = mapped_column(ForeignKey("lti_context.id", ondelete="CASCADE"))
    user_sub: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255), default=None)
    given_name: Mapped[str | None] = mapped_column(String(255), default=None)
    family_name: Mapped[str | None] = mapped_column(String(255), default=None)
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    roles: Mapped[list[str]] = mapped_column(default=list)
    role: Mapped[str] = mapped_column(String(16))  # learner / facilitator / admin
    status: Mapped[str] = mapped_column(String(16), default="Active")
    fetched_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @property
    def display_name(self) -> str:
        return display_name_of(self.name, self.given_name, self.family_name, self.email,
                               self.user_sub)


class RosterFetch(Base):
    __tablename__ = "roster_fetch"

    context_id: Mapped[int] = mapped_column(
        ForeignKey("lti_context.id", ondelete="CASCADE"), primary_key=True)
    fetched_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    members: Mapped[int] = mapped_column(default=0)
    pages: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    error_at: Mapped[dt.datetime | None] = mapped_column(default=None)
