"""The assessment's life: start, autosave answers, priorities, submit, reopen, new cycle.

States: draft → submitted → reopened → submitted → … → locked (when the next cycle
starts). Every function takes the request's session, checks what it is given, changes
rows and flushes; the caller commits once. Access is checked by :func:`load_own`, which
every learner-facing call goes through.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from lti_service.assessment.errors import (
    N_,
    Conflict,
    Incomplete,
    InvalidInput,
    NotEditable,
    NotFound,
)
from lti_service.assessment.frameworks import Framework
from lti_service.assessment.validation import MAX_PRIORITIES, AnswerInput
from lti_service.db import utcnow
from lti_service.grades import record_qdt
from lti_service.models import Assessment, AssessmentStatus, CriterionAnswer, Priority

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Owner:
    """Whose assessments a request may touch: one user in one context of one platform."""

    registration_id: int
    context_id: int
    user_id: int


def load_own(session: Session, owner: Owner, assessment_id: int) -> Assessment:
    """The owner's assessment, or NotFound for anyone else's (no hint that it exists)."""
    assessment = session.get(Assessment, assessment_id)
    if (assessment is None or assessment.user_id != owner.user_id
            or assessment.context_id != owner.context_id
            or assessment.registration_id != owner.registration_id):
        raise NotFound(N_("There is no such assessment in this course."))
    return assessment


def cycles(session: Session, owner: Owner, framework_key: str) -> list[Assessment]:
    """The owner's cycles of one framework, newest first."""
    return list(session.scalars(
        select(Assessment).where(
            Assessment.registration_id == owner.registration_id,
            Assessment.context_id == owner.context_id,
            Assessment.user_id == owner.user_id,
            Assessment.framework_key == framework_key,
        ).order_by(Assessment.cycle.desc())
    ))


def start(session: Session, owner: Owner, framework: Framework) -> Assessment:
    """The current cycle, or cycle 1 as a new draft (idempotent)."""
    existing = cycles(session, owner, framework.key)
    if existing:
        return existing[0]
    return _new(session, owner, framework, 1)


def _new(session: Session, owner: Owner, framework: Framework, cycle: int) -> Assessment:
    """A new draft of ``cycle``, or the one another request started a moment ago.

    One INSERT … ON CONFLICT DO NOTHING rather than a SAVEPOINT around an ORM add: with
    pysqlite a SAVEPOINT opened before the transaction's first write becomes the outermost
    transaction and its RELEASE commits, so a later failure of the request could not undo it.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    new_id = session.execute(
        insert(Assessment)
        .values(registration_id=owner.registration_id, context_id=owner.context_id,
                user_id=owner.user_id, framework_key=framework.key,
                framework_version=framework.version, cycle=cycle,
                status=AssessmentStatus.DRAFT.value)
        .on_conflict_do_nothing(index_elements=["context_id", "user_id", "framework_key",
                                                "cycle"])
        .returning(Assessment.id)
    ).scalar()
    if new_id is None:  # another request started the same cycle: use that one
        return session.scalars(select(Assessment).where(
            Assessment.context_id == owner.context_id, Assessment.user_id == owner.user_id,
            Assessment.framework_key == framework.key, Assessment.cycle == cycle)).one()
    assessment = session.get_one(Assessment, new_id)
    log.info("assessment started", extra={"assessment_id": assessment.id, "cycle": cycle,
                                          "framework": framework.key})
    record_qdt(session, assessment, framework, "opened")  # grade sync, same transaction
    return assessment


def answers_by_criterion(assessment: Assessment) -> dict[str, CriterionAnswer]:
    return {a.criterion_id: a for a in assessment.answers}


def save_answer(session: Session, assessment: Assessment, framework: Framework,
                criterion_id: str, data: AnswerInput, base_version: int) -> CriterionAnswer:
    """Save one criterion's answer if it is still at ``base_version`` (0: not saved yet).

    A save based on an older version raises :class:`Conflict` carrying the newer answer,
    which is kept: two tabs can never silently overwrite each other. The check is repeated
    by the UPDATE itself (``version`` is the mapper's version counter), so two requests
    racing past the first check cannot both win.
    """
    if not assessment.editable:
        raise NotEditable(N_("This assessment has been submitted. Reopen it to change answers."))
    criterion = framework.criteria_by_id.get(criterion_id)
    if criterion is None:
        raise NotFound(N_("There is no criterion %(id)s in this framework."), id=criterion_id[:40])
    answer = answers_by_criterion(assessment).get(criterion_id)
    current_version = answer.version if answer is not None else 0
    if current_version != base_version:
        raise Conflict(answer)
    now = utcnow()
    # Write first, then open the SAVEPOINT: with pysqlite a SAVEPOINT opened before the
    # transaction's first write becomes the outermost transaction and its RELEASE commits,
    # so the request's later rollback could not undo it.
    assessment.updated_at = now
    session.flush()
    try:
        # The SAVEPOINT covers only this answer, so a lost race rolls back just the answer
        # and the request's session stays usable.
        with session.begin_nested():
            if answer is None:
                answer = CriterionAnswer(criterion_id=criterion_id, area_id=criterion.area_id)
                assessment.answers.append(answer)
            _apply(answer, data)
            answer.updated_at = now
            assessment.updated_at = now
            session.flush()
    except (IntegrityError, StaleDataError):
        session.expire(assessment)
        newer = session.scalars(select(CriterionAnswer).where(
            CriterionAnswer.assessment_id == assessment.id,
            CriterionAnswer.criterion_id == criterion_id)).one_or_none()
        raise Conflict(newer) from None
    record_qdt(session, assessment, framework, "saved")  # grade sync, same transaction
    return answer


def _apply(answer: CriterionAnswer, data: AnswerInput) -> None:
    answer.level = data.level
    answer.not_applicable = data.not_applicable
    answer.comment = data.comment
    answer.evidence = [e.as_dict() for e in data.evidence]
    answer.want_to_learn = data.want_to_learn
    answer.can_share = data.can_share


def set_priorities(session: Session, assessment: Assessment, framework: Framework,
                   picks: list[tuple[str, str]]) -> list[Priority]:
    """Replace the priorities with ``picks`` (criterion id, reason), ranked in that order."""
    if not assessment.editable:
        raise NotEditable(N_("This assessment has been submitted. Reopen it to change answers."))
    if not 1 <= len(picks) <= MAX_PRIORITIES:
        raise InvalidInput("priorities", N_("Choose between 1 and %(max)d priorities."),
                           max=MAX_PRIORITIES)
    seen: set[str] = set()
    for criterion_id, _ in picks:
        if criterion_id not in framework.criteria_by_id:
            raise NotFound(N_("There is no criterion %(id)s in this framework."),
                           id=criterion_id[:40])
        if criterion_id in seen:
            raise InvalidInput("priorities", N_("Each criterion can be chosen only once."))
        seen.add(criterion_id)
    session.execute(delete(Priority).where(Priority.assessment_id == assessment.id))
    session.expire(assessment, ["priorities"])
    created = [
        Priority(assessment_id=assessment.id, rank=rank, criterion_id=cid,
                 area_id=framework.criteria_by_id[cid].area_id, reason=reason)
        for rank, (cid, reason) in enumerate(picks, start=1)
    ]
    session.add_all(created)
    assessment.updated_at = utcnow()
    session.flush()
    session.expire(assessment, ["priorities"])
    record_qdt(session, assessment, framework, "saved")  # grade sync, same transaction
    return created


@dataclass(frozen=True)
class Missing:
    criteria: list[str]  # criterion ids without a level or N/A, in framework order
    needs_priority: bool

    @property
    def complete(self) -> bool:
        return not self.criteria and not self.needs_priority


def missing_items(assessment: Assessment, framework: Framework) -> Missing:
    answers = answers_by_criterion(assessment)
    unanswered = [c.id for c in framework.criteria
                  if c.id not in answers or not answers[c.id].answered]
    return Missing(unanswered, not assessment.priorities)


def submit(session: Session, assessment: Assessment, framework: Framework) -> Assessment:
    """Submit a complete assessment (every criterion answered, at least one priority).

    This is the one place an assessment becomes submitted: the grade-sync outbox row for
    the ``qdt-assessment`` line item is written here, in the same transaction.
    """
    if not assessment.editable:
        raise NotEditable(N_("This assessment has already been submitted."))
    missing = missing_items(assessment, framework)
    if not missing.complete:
        raise Incomplete(missing.criteria, missing.needs_priority)
    now = utcnow()
    assessment.status = AssessmentStatus.SUBMITTED.value
    assessment.submitted_at = now
    assessment.updated_at = now
    session.flush()
    log.info("assessment submitted", extra={"assessment_id": assessment.id,
                                            "cycle": assessment.cycle})
    record_qdt(session, assessment, framework, "submitted")  # grade sync, same transaction
    return assessment


def reopen(session: Session, assessment: Assessment) -> Assessment:
    if assessment.status != AssessmentStatus.SUBMITTED.value:
        raise NotEditable(N_("Only a submitted assessment of the current cycle can be reopened."))
    assessment.status = AssessmentStatus.REOPENED.value
    assessment.updated_at = utcnow()
    session.flush()
    return assessment


def new_cycle(session: Session, owner: Owner, framework: Framework) -> Assessment:
    """Lock the submitted current cycle (kept, read-only) and start the next one."""
    existing = cycles(session, owner, framework.key)
    if not existing:
        return start(session, owner, framework)
    current = existing[0]
    if current.status != AssessmentStatus.SUBMITTED.value:
        raise NotEditable(N_("Submit the current cycle before starting a new one."))
    now = utcnow()
    current.status = AssessmentStatus.LOCKED.value
    current.locked_at = now
    session.flush()
    record_qdt(session, current, framework, "locked")  # grade sync, same transaction
    return _new(session, owner, framework, current.cycle + 1)


def previous_completed(session: Session, assessment: Assessment) -> Assessment | None:
    """The latest earlier cycle that was submitted (for the change since last time)."""
    return session.scalars(
        select(Assessment).where(
            Assessment.context_id == assessment.context_id,
            Assessment.user_id == assessment.user_id,
            Assessment.framework_key == assessment.framework_key,
            Assessment.cycle < assessment.cycle,
            Assessment.submitted_at.is_not(None),
        ).order_by(Assessment.cycle.desc()).limit(1)
    ).first()


def count_answered(session: Session, assessment_id: int) -> int:
    return int(session.scalar(
        select(func.count()).select_from(CriterionAnswer).where(
            CriterionAnswer.assessment_id == assessment_id,
            (CriterionAnswer.level.is_not(None)) | CriterionAnswer.not_applicable)) or 0)
