"""Content items the demo LMS received by Deep Linking (only used when the demo LMS is on)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, String, Text, UniqueConstraint
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


class DemoLmsLineItem(Base):
    """A gradebook column of the demo course (AGS line item), made by the tool or by Deep
    Linking (a content item with a ``lineItem``)."""

    __tablename__ = "demo_lms_line_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    course: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(64))  # a tool sees only its own columns
    label: Mapped[str] = mapped_column(String(255))
    score_maximum: Mapped[float] = mapped_column(Float)
    tag: Mapped[str | None] = mapped_column(String(255), default=None)
    resource_id: Mapped[str | None] = mapped_column(String(255), default=None)
    resource_link_id: Mapped[str | None] = mapped_column(String(255), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DemoLmsGrade(Base):
    """The demo gradebook's cell for one (line item, user), as Moodle keeps it: the latest
    score, its timestamp in whole seconds, ``scoreGiven`` only when FullyGraded."""

    __tablename__ = "demo_lms_grade"
    __table_args__ = (UniqueConstraint("line_item_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    line_item_id: Mapped[int] = mapped_column(
        ForeignKey("demo_lms_line_item.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(255))
    score_given: Mapped[float | None] = mapped_column(Float, default=None)
    score_maximum: Mapped[float] = mapped_column(Float)
    activity_progress: Mapped[str] = mapped_column(String(16))
    grading_progress: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str | None] = mapped_column(Text, default=None)
    timestamp: Mapped[int] = mapped_column(BigInteger)  # whole seconds, as Moodle compares
    scores_received: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
