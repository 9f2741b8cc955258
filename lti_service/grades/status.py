"""The outbox as operators and facilitators see it: counts, per-learner states, re-queue."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from lti_service.db import utcnow
from lti_service.models import (
    Context,
    GradeLineItem,
    GradeOutbox,
    Membership,
    OutboxState,
    Registration,
    User,
)

PENDING, SENT, DEAD = OutboxState.PENDING.value, OutboxState.SENT.value, OutboxState.DEAD.value


@dataclass(frozen=True)
class Summary:
    pending: int  # waiting for their first send (or a newer version)
    retrying: int  # pending after at least one failed attempt
    sent: int
    dead: int
    oldest_pending_age: float | None  # seconds since the oldest due pending score was due


def summary(session: Session, context_id: int | None = None) -> Summary:
    where = [] if context_id is None else [GradeOutbox.context_id == context_id]
    failed_before = func.sum(case((GradeOutbox.attempts > 0, 1), else_=0))
    rows = session.execute(select(GradeOutbox.state, func.count(), failed_before)
                           .where(*where).group_by(GradeOutbox.state))
    counts = {PENDING: 0, "retrying": 0, SENT: 0, DEAD: 0}
    for state, n, failed in rows:
        if state == PENDING:
            counts["retrying"] += int(failed or 0)
            counts[PENDING] += int(n) - int(failed or 0)
        else:
            counts[state] = counts.get(state, 0) + int(n)
    oldest = session.scalar(select(func.min(GradeOutbox.due_at))
                            .where(GradeOutbox.state == PENDING, *where))
    age = max(0.0, time.time() - float(oldest)) if oldest is not None else None
    return Summary(counts[PENDING], counts["retrying"], counts[SENT], counts[DEAD], age)


@dataclass(frozen=True)
class JobView:
    id: int
    issuer: str
    course: str
    user_sub: str
    user_name: str
    line_item: str
    state: str  # pending / retrying / sent / dead
    activity_progress: str
    score: str
    attempts: int
    sent_at: dt.datetime | None
    due_in: float | None
    last_status: int | None
    last_error_kind: str | None
    last_error: str | None


def _view(row: GradeOutbox, item: GradeLineItem, user: User, issuer: str,
          course: str) -> JobView:
    state = row.state
    if state == PENDING and row.attempts > 0:
        state = "retrying"
    score = (f"{row.score_given:g}/{row.score_maximum:g}" if row.score_given is not None
             else "-")
    due_in = row.due_at - time.time() if row.state == PENDING else None
    return JobView(row.id, issuer, course, row.user_sub, user.display_name, item.label, state,
                   row.activity_progress, score, row.attempts, row.sent_at, due_in,
                   row.last_status, row.last_error_kind, row.last_error)


def jobs(session: Session, *, states: tuple[str, ...] | None = None,
         context_id: int | None = None, limit: int = 200) -> list[JobView]:
    stmt = (select(GradeOutbox, GradeLineItem, User, Registration.issuer,
                   func.coalesce(Context.label, Context.title, Context.context_id))
            .join(GradeLineItem, GradeLineItem.id == GradeOutbox.line_item_id)
            .join(User, User.id == GradeOutbox.user_id)
            .join(Registration, Registration.id == GradeOutbox.registration_id)
            .join(Context, Context.id == GradeOutbox.context_id))
    if states:
        stmt = stmt.where(GradeOutbox.state.in_(states))
    if context_id is not None:
        stmt = stmt.where(GradeOutbox.context_id == context_id)
    stmt = stmt.order_by(GradeOutbox.updated_at.desc(), GradeOutbox.id.desc()).limit(limit)
    return [_view(row, item, user, issuer, str(course))
            for row, item, user, issuer, course in session.execute(stmt)]


@dataclass(frozen=True)
class LearnerSync:
    user_id: int
    name: str
    jobs: list[JobView]

    @property
    def state(self) -> str:
        """The learner's worst state: dead > retrying > pending > sent > none."""
        order = ["dead", "retrying", "pending", "sent"]
        for state in order:
            if any(j.state == state for j in self.jobs):
                return state
        return "none"


def by_learner(session: Session, context_id: int, limit: int = 500) -> list[LearnerSync]:
    """Every learner of the course (who launched) with their scores' delivery states."""
    learners = session.execute(
        select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.context_id == context_id, Membership.role == "learner")
        .order_by(User.family_name, User.given_name, User.name, User.id).limit(limit)
    ).scalars().all()
    views: dict[int, list[JobView]] = {}
    rows = session.execute(
        select(GradeOutbox, GradeLineItem, User)
        .join(GradeLineItem, GradeLineItem.id == GradeOutbox.line_item_id)
        .join(User, User.id == GradeOutbox.user_id)
        .where(GradeOutbox.context_id == context_id)
        .order_by(GradeLineItem.label, GradeOutbox.id))
    for row, item, user in rows:
        views.setdefault(user.id, []).append(_view(row, item, user, "", ""))
    result = [LearnerSync(u.id, u.display_name, views.pop(u.id, [])) for u in learners]
    # anyone with scores but no learner membership any more (role changed)
    for jobs_ in views.values():
        result.append(LearnerSync(-1, jobs_[0].user_name, jobs_))
    return result


def retry(session: Session, *, ids: list[int] | None = None, context_id: int | None = None,
          include_failing: bool = False) -> int:
    """Re-queue dead jobs (and, with ``include_failing``, retrying ones at once)."""
    states = [DEAD, PENDING] if include_failing else [DEAD]
    stmt = update(GradeOutbox).where(GradeOutbox.state.in_(states))
    if include_failing:
        stmt = stmt.where((GradeOutbox.state == DEAD) | (GradeOutbox.attempts > 0))
    if ids:
        stmt = stmt.where(GradeOutbox.id.in_(ids))
    if context_id is not None:
        stmt = stmt.where(GradeOutbox.context_id == context_id)
    result = session.execute(
        stmt.values(state=PENDING, attempts=0, due_at=time.time(), updated_at=utcnow())
        .execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
