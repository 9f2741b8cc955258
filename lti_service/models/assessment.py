"""Quality Development Tool: assessments (one per cycle), criterion answers, priorities.

An assessment belongs to one user in one course context of one registration and one
framework; the registration is stored too, so every access can be checked against the
launch without a join. The area of each answer and priority is stored with it, so the
cohort report can group by area in the database (the framework itself lives in XML).
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_service.db import Base, utcnow


class AssessmentStatus(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    REOPENED = "reopened"
    LOCKED = "locked"  # an earlier cycle, kept read-only when a new one starts


EDITABLE = (AssessmentStatus.DRAFT.value, AssessmentStatus.REOPENED.value)
COMPLETED = (AssessmentStatus.SUBMITTED.value, AssessmentStatus.LOCKED.value)


class Assessment(Base):
    """One cycle of one learner's self-assessment against one framework in one course."""

    __tablename__ = "assessment"
    __table_args__ = (
        UniqueConstraint("context_id", "user_id", "framework_key", "cycle"),
        Index("ix_assessment_cohort", "context_id", "framework_key", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("registration.id", ondelete="CASCADE"))
    context_id: Mapped[int] = mapped_column(ForeignKey("lti_context.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id", ondelete="CASCADE"),
                                         index=True)
    framework_key: Mapped[str] = mapped_column(String(32))
    framework_version: Mapped[int] = mapped_column(default=1)
    cycle: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(String(16), default=AssessmentStatus.DRAFT.value)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    locked_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    answers: Mapped[list[CriterionAnswer]] = relationship(
        back_populates="assessment", cascade="all, delete-orphan",
        order_by="CriterionAnswer.id")
    priorities: Mapped[list[Priority]] = relationship(
        back_populates="assessment", cascade="all, delete-orphan", order_by="Priority.rank")

    @property
    def editable(self) -> bool:
        return self.status in EDITABLE


class CriterionAnswer(Base):
    """A learner's answer to one criterion; ``version`` rises with every save, so a save
    based on an older version (another tab, a stale page) is refused instead of
    overwriting newer text."""

    __tablename__ = "criterion_answer"
    __table_args__ = (UniqueConstraint("assessment_id", "criterion_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessment.id", ondelete="CASCADE"))
    criterion_id: Mapped[str] = mapped_column(String(32))
    area_id: Mapped[str] = mapped_column(String(32))
    level: Mapped[int | None] = mapped_column(default=None)  # None: unanswered or N/A
    not_applicable: Mapped[bool] = mapped_column(default=False)
    comment: Mapped[str] = mapped_column(Text, default="")
    # [{"type": "procedure", "note": "...", "link": "https://..."}], validated on save
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    want_to_learn: Mapped[bool] = mapped_column(default=False)
    can_share: Mapped[bool] = mapped_column(default=False)
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    assessment: Mapped[Assessment] = relationship(back_populates="answers")

    __mapper_args__ = {"version_id_col": version}

    @property
    def answered(self) -> bool:
        return self.level is not None or self.not_applicable


class Priority(Base):
    """One of a learner's 1-3 ranked peer-learning priorities (kept for club matching)."""

    __tablename__ = "assessment_priority"
    __table_args__ = (
        UniqueConstraint("assessment_id", "rank"),
        UniqueConstraint("assessment_id", "criterion_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessment.id", ondelete="CASCADE"))
    rank: Mapped[int]
    criterion_id: Mapped[str] = mapped_column(String(32))
    area_id: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    assessment: Mapped[Assessment] = relationship(back_populates="priorities")


class UserPreference(Base):
    """A user's own choice of interface language, which wins over the launch's locale."""

    __tablename__ = "user_preference"

    user_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id", ondelete="CASCADE"),
                                         primary_key=True)
    language: Mapped[str | None] = mapped_column(String(8), default=None)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
