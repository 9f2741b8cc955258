"""Grade sync (LTI Assignment and Grade Services): line items, progress, and the outbox.

* :class:`GradeLineItem` — a gradebook column of one course: found or created by ``tag`` and
  ``resourceId`` in the platform's line items container, or the one *coupled* line item of a
  resource link when the platform offers no column management (then ``tag`` and
  ``resource_id`` are empty and every stage is combined into it).
* :class:`GradeProgress` — what a learner has done in a stage (the domain fact, written by the
  domain services); it only ever moves forward.
* :class:`GradeOutbox` — the delivery state of one (line item, user): the latest score to
  send, its version and timestamp, and where sending it stands. There is one row per key, so
  a newer score *replaces* a pending one (coalescing) and the timestamp strictly increases per
  key in whole seconds. Scheduling columns (``due_at``, ``lease_until``) are Unix epoch
  seconds, compared with plain arithmetic on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import BigInteger, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lti_service.db import Base, utcnow


class OutboxState(enum.StrEnum):
    PENDING = "pending"  # a version not yet delivered (maybe waiting for a retry)
    SENT = "sent"  # the latest version was delivered
    DEAD = "dead"  # gave up after the configured attempts, or refused for good


class GradeLineItem(Base):
    __tablename__ = "grade_line_item"
    __table_args__ = (UniqueConstraint("context_id", "tag", "resource_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("registration.id", ondelete="CASCADE"))
    context_id: Mapped[int] = mapped_column(ForeignKey("lti_context.id", ondelete="CASCADE"))
    tag: Mapped[str] = mapped_column(String(64))  # "" for the coupled (combined) line item
    resource_id: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(255))
    score_maximum: Mapped[float] = mapped_column(Float)
    # True: the resource link's own line item (grade sync without column management).
    coupled: Mapped[bool] = mapped_column(default=False)
    # The platform's line item URL; None until found or created in the container.
    url: Mapped[str | None] = mapped_column(String(1024), default=None)
    # The platform's line items container (from the launch), where it is found or created.
    container_url: Mapped[str | None] = mapped_column(String(1024), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class GradeProgress(Base):
    __tablename__ = "grade_progress"
    __table_args__ = (UniqueConstraint("context_id", "user_id", "tag", "resource_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("registration.id", ondelete="CASCADE"))
    context_id: Mapped[int] = mapped_column(ForeignKey("lti_context.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id", ondelete="CASCADE"),
                                         index=True)
    tag: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(64))
    activity_progress: Mapped[str] = mapped_column(String(16))
    grading_progress: Mapped[str] = mapped_column(String(16))
    score_given: Mapped[float | None] = mapped_column(Float, default=None)
    score_maximum: Mapped[float] = mapped_column(Float)
    comment: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class GradeOutbox(Base):
    __tablename__ = "grade_outbox"
    __table_args__ = (
        UniqueConstraint("line_item_id", "user_id"),
        Index("ix_grade_outbox_due", "state", "due_at"),
        Index("ix_grade_outbox_context", "context_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("registration.id", ondelete="CASCADE"))
    context_id: Mapped[int] = mapped_column(ForeignKey("lti_context.id", ondelete="CASCADE"))
    line_item_id: Mapped[int] = mapped_column(
        ForeignKey("grade_line_item.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id", ondelete="CASCADE"),
                                         index=True)
    user_sub: Mapped[str] = mapped_column(String(255))  # the AGS userId
    # the latest score (what the next send carries)
    activity_progress: Mapped[str] = mapped_column(String(16))
    grading_progress: Mapped[str] = mapped_column(String(16))
    score_given: Mapped[float | None] = mapped_column(Float, default=None)
    score_maximum: Mapped[float] = mapped_column(Float)
    comment: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(default=1)
    score_ts: Mapped[int] = mapped_column(BigInteger)  # whole seconds, strictly increasing
    # delivery
    state: Mapped[str] = mapped_column(String(8), default=OutboxState.PENDING.value)
    due_at: Mapped[float] = mapped_column(Float)  # epoch seconds: not sent before
    attempts: Mapped[int] = mapped_column(default=0)
    lease_until: Mapped[float | None] = mapped_column(Float, default=None)
    lease_token: Mapped[str | None] = mapped_column(String(32), default=None)
    sent_version: Mapped[int] = mapped_column(default=0)
    sent_ts: Mapped[int | None] = mapped_column(BigInteger, default=None)
    sent_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_status: Mapped[int | None] = mapped_column(default=None)  # the LMS's HTTP status
    last_error_kind: Mapped[str | None] = mapped_column(String(32), default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)  # the LMS's answer
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
