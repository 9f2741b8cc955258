"""The grade-sync outbox: written with the domain change, drained by the worker.

Writing (in the caller's transaction, flush only):

* :func:`record` stores a learner's progress in a stage (:class:`GradeProgress`) if it moved
  forward and, when the course's platform accepts scores, queues the score in the outbox row
  of its (line item, user) key. One row per key: a newer score *replaces* a pending one
  (coalescing), ``version`` counts the writes, and ``score_ts`` — the AGS ``timestamp`` — is
  ``max(previous + 1 s, now)`` in whole seconds, so it strictly increases per key even when
  Moodle compares whole seconds. A row is not due before its timestamp, so two sends for
  one key are at least a second apart.

Draining (the worker, its own short transactions):

* :func:`claim` reserves due rows for one worker: ``SELECT … FOR UPDATE SKIP LOCKED`` on
  PostgreSQL (several workers share the load without waiting on each other), then a
  conditional UPDATE that sets a lease; only rows whose lease this call set are returned, so
  the claim is safe on SQLite too. A key has at most one send in flight: one row, one lease.
* :func:`complete` records results: a success (or a 409, meaning the platform already holds
  this timestamp or a newer one) marks the version sent — the row stays pending if a newer
  version arrived meanwhile; a failure schedules a retry with exponential backoff and jitter
  (or ``Retry-After``) or parks the row as ``dead`` with the LMS's answer. Every update is
  fenced by the lease token: a worker whose lease expired changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, and_, bindparam, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from lti_service.db import UTCDateTime, utcnow
from lti_service.grades.scores import Progress, advance, best, combined
from lti_service.lti import ags
from lti_service.lti.service_http import ServiceError
from lti_service.lti.service_tokens import PlatformAuth
from lti_service.models import (
    Context,
    GradeLineItem,
    GradeOutbox,
    GradeProgress,
    OutboxState,
    Registration,
    ResourceLink,
    User,
)

log = logging.getLogger(__name__)

PENDING, SENT, DEAD = OutboxState.PENDING.value, OutboxState.SENT.value, OutboxState.DEAD.value
COUPLED_TAG = ""  # the coupled line item's tag and resource id in grade_line_item


# --------------------------------------------------------------------------- destination
@dataclass(frozen=True)
class Destination:
    """Where a course's scores go: the line items container, or one coupled line item."""

    coupled: bool
    container_url: str | None = None
    lineitem_url: str | None = None
    can_create: bool = False
    link_title: str | None = None


def destination(session: Session, context: Context) -> Destination | None:
    """From the latest launch's AGS claim: None when the platform takes no scores."""
    ags_claim = (context.services or {}).get("ags") or {}
    scopes = set(ags_claim.get("scope") or [])
    if ags.SCOPE_SCORE not in scopes:
        return None
    container = ags_claim.get("lineitems")
    if isinstance(container, str) and container and ags.SCOPE_LINEITEM in scopes:
        return Destination(coupled=False, container_url=container, can_create=True)
    link = session.execute(
        select(ResourceLink.lineitem_url, ResourceLink.title)
        .where(ResourceLink.context_id == context.id, ResourceLink.lineitem_url.is_not(None))
        .order_by(ResourceLink.id).limit(1)).first()
    if link is not None:
        return Destination(coupled=True, lineitem_url=link[0], link_title=link[1])
    if isinstance(container, str) and container and ags.SCOPE_LINEITEM_READONLY in scopes:
        return Destination(coupled=False, container_url=container, can_create=False)
    return None


def scopes_for(context_services: dict[str, Any], coupled: bool) -> tuple[str, ...]:
    granted = set(((context_services or {}).get("ags") or {}).get("scope") or [])
    if coupled:
        return (ags.SCOPE_SCORE,)
    lineitem = ags.SCOPE_LINEITEM if ags.SCOPE_LINEITEM in granted else (
        ags.SCOPE_LINEITEM_READONLY)
    return tuple(sorted((lineitem, ags.SCOPE_SCORE)))


# --------------------------------------------------------------------------- writing
def _locked(session: Session, stmt: Any) -> Any:
    """The row for ``stmt``, locked until the transaction ends (PostgreSQL; SQLite has one
    writer at a time anyway)."""
    return session.scalars(stmt.with_for_update()).first()


def _insert_if_absent(session: Session, model: Any, values: dict[str, Any]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING (SQLite and PostgreSQL): a concurrent insert of the
    same key is no error. No SAVEPOINT: with pysqlite a SAVEPOINT opened before the
    transaction's first write becomes the outermost one, and its RELEASE commits."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    result = session.execute(insert(model).values(**values).on_conflict_do_nothing())
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _get_or_insert(session: Session, stmt: Any, model: Any,
                   values: dict[str, Any]) -> tuple[Any, bool]:
    """(row, created): the existing row or a new one, locked until the transaction ends."""
    row = _locked(session, stmt)
    if row is not None:
        return row, False
    created = _insert_if_absent(session, model, values)
    row = _locked(session, stmt)
    if row is None:
        raise RuntimeError(f"{model.__tablename__}: row neither found nor inserted")
    return row, created


def record(session: Session, *, registration_id: int, context_id: int, user_id: int,
           tag: str, resource_id: str, label: str, progress: Progress) -> bool:
    """Record progress in a stage; queue the score when it moved forward. Returns whether
    anything changed. Flushes; the caller commits (same transaction as the domain change)."""
    now = utcnow()
    stmt = select(GradeProgress).where(
        GradeProgress.context_id == context_id, GradeProgress.user_id == user_id,
        GradeProgress.tag == tag, GradeProgress.resource_id == resource_id)
    row, created = _get_or_insert(session, stmt, GradeProgress, dict(
        registration_id=registration_id, context_id=context_id, user_id=user_id, tag=tag,
        resource_id=resource_id, activity_progress=progress.activity,
        grading_progress=progress.grading, score_given=progress.score_given,
        score_maximum=progress.score_maximum, comment=progress.comment, updated_at=now))
    if not created:
        current = Progress(row.activity_progress, row.grading_progress, row.score_given,
                           row.score_maximum, row.comment)
        if advance(current, progress) is None:
            return False
        row.activity_progress, row.grading_progress = progress.activity, progress.grading
        row.score_given, row.score_maximum = progress.score_given, progress.score_maximum
        row.comment, row.updated_at = progress.comment, now
    session.flush()
    context = session.get(Context, context_id)
    if context is None:
        return True
    where = destination(session, context)
    if where is None:
        return True
    user = session.get(User, user_id)
    if user is None:
        return True
    if where.coupled:
        item = _line_item(session, context, COUPLED_TAG, COUPLED_TAG,
                          where.link_title or label, progress.score_maximum, where)
        parts = session.scalars(select(GradeProgress).where(
            GradeProgress.context_id == context_id, GradeProgress.user_id == user_id)).all()
        by_tag: dict[str, list[Progress]] = {}
        for p in parts:
            by_tag.setdefault(p.tag, []).append(Progress(
                p.activity_progress, p.grading_progress, p.score_given, p.score_maximum,
                p.comment))
        merged = combined({t: b for t, ps in by_tag.items() if (b := best(ps)) is not None})
        if merged is None:
            return True
        if item.score_maximum != merged.score_maximum:
            item.score_maximum = merged.score_maximum
        enqueue(session, item, user, merged)
    else:
        item = _line_item(session, context, tag, resource_id, label, progress.score_maximum,
                          where)
        enqueue(session, item, user, progress)
    return True


def _line_item(session: Session, context: Context, tag: str, resource_id: str, label: str,
               score_maximum: float, where: Destination) -> GradeLineItem:
    stmt = select(GradeLineItem).where(
        GradeLineItem.context_id == context.id, GradeLineItem.tag == tag,
        GradeLineItem.resource_id == resource_id)
    item = session.scalars(stmt).first()  # no lock: the worker may hold it while resolving
    if item is None:
        _insert_if_absent(session, GradeLineItem, dict(
            registration_id=context.registration_id, context_id=context.id, tag=tag,
            resource_id=resource_id, label=label[:255], score_maximum=score_maximum,
            coupled=where.coupled, url=where.lineitem_url if where.coupled else None,
            container_url=where.container_url,
            resolved_at=utcnow() if where.coupled else None))
        item = session.scalars(stmt).one()
        return item
    if not where.coupled and item.container_url != where.container_url and item.url is None:
        item.container_url = where.container_url
    return item


def enqueue(session: Session, item: GradeLineItem, user: User, progress: Progress,
            now: float | None = None) -> GradeOutbox:
    """Queue ``progress`` as the next score of (line item, user), replacing a pending one."""
    clock = time.time() if now is None else now
    second = int(clock)
    stmt = select(GradeOutbox).where(GradeOutbox.line_item_id == item.id,
                                     GradeOutbox.user_id == user.id)

    row, created = _get_or_insert(session, stmt, GradeOutbox, dict(
        registration_id=item.registration_id, context_id=item.context_id,
        line_item_id=item.id, user_id=user.id, user_sub=user.sub,
        activity_progress=progress.activity, grading_progress=progress.grading,
        score_given=progress.score_given, score_maximum=progress.score_maximum,
        comment=progress.comment[:1000], version=1, score_ts=second, state=PENDING,
        due_at=float(second), attempts=0, sent_version=0))
    if created:
        return row
    same = (row.activity_progress == progress.activity
            and row.grading_progress == progress.grading
            and row.score_given == progress.score_given
            and row.score_maximum == progress.score_maximum
            and row.comment == progress.comment[:1000])
    if same and row.state != DEAD:
        return row  # nothing new to say
    row.activity_progress, row.grading_progress = progress.activity, progress.grading
    row.score_given, row.score_maximum = progress.score_given, progress.score_maximum
    row.comment = progress.comment[:1000]
    row.version += 1
    row.score_ts = max(row.score_ts + 1, second)
    if row.state == PENDING:
        row.due_at = max(float(row.score_ts), row.due_at)  # keep a running backoff
    else:
        row.due_at = float(row.score_ts)
        row.attempts = 0
    row.state = PENDING
    row.updated_at = utcnow()
    session.flush()
    return row


# --------------------------------------------------------------------------- draining
@dataclass(frozen=True)
class Job:
    """One claimed outbox row with everything a send needs."""

    id: int
    lease_token: str
    version: int
    attempts: int
    line_item_id: int
    line_item_url: str | None
    container_url: str | None
    coupled: bool
    tag: str
    resource_id: str
    label: str
    line_item_maximum: float
    auth: PlatformAuth
    scopes: tuple[str, ...]
    can_create: bool
    score: ags.Score


@dataclass
class Result:
    job: Job
    ok: bool
    status: int | None = None
    error: ServiceError | None = None
    note: str = ""
    finished_at: float = field(default_factory=time.time)


# The claim's statements, built once (this runs for every batch of every worker).
_DUE = (
    select(GradeOutbox.id)
    .where(GradeOutbox.state == PENDING, GradeOutbox.due_at <= bindparam("now"),
           or_(GradeOutbox.lease_until.is_(None), GradeOutbox.lease_until < bindparam("now")))
    .order_by(GradeOutbox.due_at, GradeOutbox.id)
    .limit(bindparam("limit"))
)
_DUE_SKIP_LOCKED = _DUE.with_for_update(skip_locked=True)
_LEASE = (
    update(GradeOutbox)
    .where(GradeOutbox.id.in_(bindparam("ids", expanding=True)),
           GradeOutbox.state == PENDING,
           or_(GradeOutbox.lease_until.is_(None), GradeOutbox.lease_until < bindparam("now")))
    .values(lease_token=bindparam("token"), lease_until=bindparam("until"))
    .execution_options(synchronize_session=False)
)
# plain columns, no ORM entities
_CLAIMED = (
    select(GradeOutbox.id, GradeOutbox.version, GradeOutbox.attempts,
           GradeOutbox.user_sub, GradeOutbox.activity_progress,
           GradeOutbox.grading_progress, GradeOutbox.score_ts, GradeOutbox.score_given,
           GradeOutbox.score_maximum, GradeOutbox.comment,
           GradeLineItem.id, GradeLineItem.url, GradeLineItem.container_url,
           GradeLineItem.coupled, GradeLineItem.tag, GradeLineItem.resource_id,
           GradeLineItem.label, GradeLineItem.score_maximum,
           Registration.id, Registration.issuer, Registration.client_id,
           Registration.auth_token_url, Registration.auth_audience, Context.services)
    .join(GradeLineItem, GradeLineItem.id == GradeOutbox.line_item_id)
    .join(Registration, Registration.id == GradeOutbox.registration_id)
    .join(Context, Context.id == GradeOutbox.context_id)
    .where(GradeOutbox.lease_token == bindparam("token"))
    .order_by(GradeOutbox.due_at, GradeOutbox.id)
)


def claim(session: Session, limit: int, lease_seconds: float,
          now: float | None = None) -> list[Job]:
    """Reserve up to ``limit`` due rows; the caller commits at once."""
    clock = time.time() if now is None else now
    postgres = session.get_bind().dialect.name == "postgresql"
    ids = list(session.scalars(_DUE_SKIP_LOCKED if postgres else _DUE,
                               {"now": clock, "limit": limit}))
    if not ids:
        return []
    token = uuid.uuid4().hex
    session.execute(_LEASE, {"ids": ids, "now": clock, "token": token,
                             "until": clock + lease_seconds})
    rows = session.execute(_CLAIMED, {"token": token}).all()
    auths: dict[int, PlatformAuth] = {}
    jobs = []
    for (job_id, version, attempts, sub, activity, grading, score_ts, given, maximum, comment,
         item_id, item_url, container, coupled, tag, resource_id, label, item_max,
         reg_id, issuer, client_id, token_url, audience, services) in rows:
        auth = auths.get(reg_id)
        if auth is None:
            auth = auths[reg_id] = PlatformAuth(issuer=issuer, client_id=client_id,
                                                token_url=token_url, audience=audience)
        granted = set(((services or {}).get("ags") or {}).get("scope") or [])
        jobs.append(Job(
            id=job_id, lease_token=token, version=version, attempts=attempts,
            line_item_id=item_id, line_item_url=item_url, container_url=container,
            coupled=coupled, tag=tag, resource_id=resource_id, label=label,
            line_item_maximum=item_max, auth=auth, scopes=scopes_for(services, coupled),
            can_create=ags.SCOPE_LINEITEM in granted,
            score=ags.Score(user_id=sub, activity_progress=activity, grading_progress=grading,
                            timestamp=score_ts, score_given=given, score_maximum=maximum,
                            comment=comment)))
    return jobs


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 12
    base: float = 2.0
    cap: float = 900.0
    retry_after_cap: float = 3600.0

    def delay(self, attempts: int, error: ServiceError) -> float:
        """Seconds until the next attempt: the LMS's Retry-After when it gave one, else
        exponential backoff with jitter (between half and all of min(cap, base·2^(n-1)))."""
        if error.retry_after is not None:
            return min(max(error.retry_after, 0.0), self.retry_after_cap)
        ceiling = min(self.cap, self.base * (2 ** max(attempts - 1, 0)))
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not a secret


_SUCCESS = text("""
UPDATE grade_outbox SET
  sent_version = :version, sent_ts = :ts, sent_at = :now, updated_at = :now,
  last_status = :status, last_error_kind = :kind, last_error = :note,
  attempts = 0, lease_token = NULL, lease_until = NULL,
  state = CASE WHEN version = :version THEN 'sent' ELSE 'pending' END
WHERE id = :id AND lease_token = :token""").bindparams(
    bindparam("now", type_=UTCDateTime()), bindparam("ts", type_=BigInteger()))


def complete(session: Session, results: Iterable[Result], policy: RetryPolicy) -> int:
    """Write the outcome of sends; returns how many rows this worker still held."""
    results = list(results)
    now_dt = utcnow()
    params = [{"version": r.job.version, "ts": r.job.score.timestamp, "now": now_dt,
               "status": r.status, "kind": "conflict" if r.status == 409 else None,
               "note": r.note or None, "id": r.job.id, "token": r.job.lease_token}
              for r in results if r.ok]
    held = 0
    if params:  # executemany: one statement for the batch's successes
        cursor = session.connection().execute(_SUCCESS, params)
        held += max(cursor.rowcount, 0)
    for result in results:
        if result.ok:
            continue
        held += _failure(session, result, policy, now_dt)
    session.flush()
    return held


def _failure(session: Session, result: Result, policy: RetryPolicy, now: dt.datetime) -> int:
    job, error = result.job, result.error or ServiceError("internal", "unknown failure")
    row = session.scalars(select(GradeOutbox).where(
        GradeOutbox.id == job.id, GradeOutbox.lease_token == job.lease_token)
        .with_for_update()).first()
    if row is None:
        return 0  # the lease expired and another worker owns the row now
    row.attempts += 1
    row.last_attempt_at = now
    row.last_status = error.status
    row.last_error_kind = error.kind
    row.last_error = error.detail
    row.lease_token = None
    row.lease_until = None
    row.updated_at = now
    give_up = not error.retryable or row.attempts >= policy.max_attempts
    if give_up and row.version == job.version:
        row.state = DEAD
        log.warning("grade sync job is dead", extra={
            "job_id": row.id, "attempts": row.attempts, "kind": error.kind,
            "status": error.status, "detail": error.detail[:300]})
    else:
        if give_up:  # a newer version arrived meanwhile: it gets its own attempts
            row.attempts = 0
        row.due_at = max(row.due_at, result.finished_at + policy.delay(row.attempts, error))
    return 1


def release(session: Session, jobs: Iterable[Job]) -> None:
    """Give back claimed rows that were not sent (a worker stopping)."""
    for job in jobs:
        session.execute(
            update(GradeOutbox)
            .where(and_(GradeOutbox.id == job.id, GradeOutbox.lease_token == job.lease_token))
            .values(lease_token=None, lease_until=None)
            .execution_options(synchronize_session=False))


def pending_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(GradeOutbox)
                              .where(GradeOutbox.state == PENDING)) or 0)
