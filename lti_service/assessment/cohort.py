"""The facilitator's cohort report for one course and framework, computed in the database.

Every figure is one aggregate query (GROUP BY in SQL, never a Python loop over answer
rows), so a cohort of thousands costs a few index scans: see ``benchmarks/report``.

Who counts:
* **Learners** are the context's memberships with the learner role (a later issue adds the
  LMS roster). Each one's state comes from their latest cycle: none → *not started*;
  draft or reopened → *started*; submitted or locked → *submitted*.
* **Respondents** are the people with a submitted (or locked) cycle; each counts once,
  with their latest such cycle.
* **Area distribution**: each respondent's area score (mean of their levels in the area,
  N/A excluded) rounded to the nearest level, halves up, and how many fall on each level;
  plus the mean of the area scores.

Anonymity: a group of fewer than :data:`MIN_GROUP` respondents is never shown — an area's
distribution needs at least that many respondents with a score in the area, and the
priorities overview needs at least that many respondents in all.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import Float, case, cast, distinct, exists, func, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import ColumnElement, Subquery

from lti_service.assessment.frameworks import Framework
from lti_service.models import Assessment, CriterionAnswer, Membership, Priority, User
from lti_service.models.assessment import COMPLETED, EDITABLE

MIN_GROUP = 5
NOT_STARTED, STARTED, SUBMITTED = "not_started", "started", "submitted"


@dataclass(frozen=True)
class PersonState:
    user_id: int
    name: str
    state: str
    cycle: int | None
    updated_at: dt.datetime | None
    submitted_at: dt.datetime | None


@dataclass(frozen=True)
class AreaDistribution:
    area_id: str
    respondents: int
    shown: bool
    mean: float | None  # None when not shown
    bands: list[int]  # respondents per level 0..max (zeros when not shown)


@dataclass(frozen=True)
class CriterionPriority:
    criterion_id: str
    area_id: str
    chosen: int
    first_choice: int
    can_share: int


@dataclass
class CohortReport:
    framework: Framework
    counts: dict[str, int]
    respondents: int
    areas: list[AreaDistribution]
    priorities_shown: bool
    criterion_priorities: list[CriterionPriority] = field(default_factory=list)
    area_priorities: dict[str, int] = field(default_factory=dict)

    @property
    def learners(self) -> int:
        return sum(self.counts.values())


def _scope(context_id: int, framework_key: str) -> list[ColumnElement[bool]]:
    return [Assessment.context_id == context_id, Assessment.framework_key == framework_key]


def latest_cycles(context_id: int, framework_key: str, *, completed: bool) -> Subquery:
    """(assessment id, user, status, …) of each user's latest cycle (or latest completed one).

    "Latest" is spelled as NOT EXISTS a later cycle, which both backends answer from the
    unique index on (context, user, framework, cycle); a join on a grouped MAX(cycle)
    derived table made SQLite rescan it for every learner (seconds at 10,000).
    """
    newer = aliased(Assessment)
    later = [newer.context_id == Assessment.context_id, newer.user_id == Assessment.user_id,
             newer.framework_key == Assessment.framework_key, newer.cycle > Assessment.cycle]
    where = _scope(context_id, framework_key)
    if completed:
        where.append(Assessment.status.in_(COMPLETED))
        later.append(newer.status.in_(COMPLETED))
    return (
        select(Assessment.id.label("assessment_id"), Assessment.user_id, Assessment.status,
               Assessment.cycle, Assessment.updated_at, Assessment.submitted_at)
        .where(*where, ~exists().where(*later))
        .subquery()
    )


def _state(status: ColumnElement[str | None]) -> ColumnElement[str]:
    return case((status.is_(None), NOT_STARTED), (status.in_(EDITABLE), STARTED),
                else_=SUBMITTED)


def state_counts(session: Session, context_id: int, framework_key: str) -> dict[str, int]:
    current = latest_cycles(context_id, framework_key, completed=False)
    state = _state(current.c.status).label("state")
    rows = session.execute(
        select(state, func.count())
        .select_from(Membership)
        .outerjoin(current, current.c.user_id == Membership.user_id)
        .where(Membership.context_id == context_id, Membership.role == "learner")
        .group_by(state)
    )
    counts = {NOT_STARTED: 0, STARTED: 0, SUBMITTED: 0}
    counts.update({str(s): int(n) for s, n in rows})
    return counts


def people(session: Session, context_id: int, framework_key: str) -> list[PersonState]:
    """Every learner of the context with their state (names are for the facilitator)."""
    current = latest_cycles(context_id, framework_key, completed=False)
    rows = session.execute(
        select(User, _state(current.c.status), current.c.cycle, current.c.updated_at,
               current.c.submitted_at)
        .select_from(Membership)
        .join(User, User.id == Membership.user_id)
        .outerjoin(current, current.c.user_id == Membership.user_id)
        .where(Membership.context_id == context_id, Membership.role == "learner")
        .order_by(User.family_name, User.given_name, User.name, User.id)
    )
    return [PersonState(u.id, u.display_name, str(s), c, up, sub)
            for u, s, c, up, sub in rows]


def _band(score: ColumnElement[float], max_level: int) -> ColumnElement[int]:
    """The nearest level (halves up), portable: CAST rounds on PostgreSQL but truncates on
    SQLite, so the bands are spelled out."""
    whens = [(score < level + 0.5, level) for level in range(max_level)]
    return case(*whens, else_=max_level)


def area_distributions(session: Session, context_id: int, framework: Framework
                       ) -> list[AreaDistribution]:
    done = latest_cycles(context_id, framework.key, completed=True)
    scores = (
        select(CriterionAnswer.area_id,
               func.avg(cast(CriterionAnswer.level, Float)).label("score"))
        .join(done, done.c.assessment_id == CriterionAnswer.assessment_id)
        .where(CriterionAnswer.level.is_not(None))
        .group_by(CriterionAnswer.assessment_id, CriterionAnswer.area_id)
        .subquery()
    )
    band = _band(scores.c.score, framework.max_level).label("band")
    rows = session.execute(
        select(scores.c.area_id, band, func.count(), func.sum(scores.c.score))
        .group_by(scores.c.area_id, band))
    bands: dict[str, list[int]] = {a.id: [0] * (framework.max_level + 1)
                                   for a in framework.areas}
    totals: dict[str, tuple[int, float]] = {}
    for area_id, level, n, total in rows:
        if area_id in bands:
            bands[area_id][int(level)] = int(n)
            count, sum_ = totals.get(area_id, (0, 0.0))
            totals[area_id] = (count + int(n), sum_ + float(total))
    summary = {a: (n, total / n) for a, (n, total) in totals.items() if n}
    result = []
    for area in framework.areas:
        n, mean = summary.get(area.id, (0, 0.0))
        shown = n >= MIN_GROUP
        result.append(AreaDistribution(
            area_id=area.id, respondents=n, shown=shown, mean=mean if shown else None,
            bands=bands[area.id] if shown else [0] * (framework.max_level + 1)))
    return result


def respondents(session: Session, context_id: int, framework_key: str) -> int:
    done = latest_cycles(context_id, framework_key, completed=True)
    return int(session.scalar(select(func.count()).select_from(done)) or 0)


def priority_overview(session: Session, context_id: int, framework_key: str
                      ) -> tuple[list[CriterionPriority], dict[str, int]]:
    done = latest_cycles(context_id, framework_key, completed=True)
    chosen = session.execute(
        select(Priority.criterion_id, Priority.area_id, func.count(),
               func.sum(case((Priority.rank == 1, 1), else_=0)))
        .join(done, done.c.assessment_id == Priority.assessment_id)
        .group_by(Priority.criterion_id, Priority.area_id)
    ).all()
    sharing = {str(cid): int(n) for cid, n in session.execute(
        select(CriterionAnswer.criterion_id, func.count())
        .join(done, done.c.assessment_id == CriterionAnswer.assessment_id)
        .where(CriterionAnswer.can_share.is_(True))
        .group_by(CriterionAnswer.criterion_id)
    )}
    by_area = {str(aid): int(n) for aid, n in session.execute(
        select(Priority.area_id, func.count(distinct(Priority.assessment_id)))
        .join(done, done.c.assessment_id == Priority.assessment_id)
        .group_by(Priority.area_id)
    )}
    rows = {cid: CriterionPriority(cid, aid, int(n), int(first or 0), int(sharing.get(cid, 0)))
            for cid, aid, n, first in chosen}
    for cid, n in sharing.items():
        rows.setdefault(cid, CriterionPriority(cid, "", 0, 0, n))
    return list(rows.values()), by_area


def cohort_report(session: Session, context_id: int, framework: Framework) -> CohortReport:
    counts = state_counts(session, context_id, framework.key)
    total = respondents(session, context_id, framework.key)
    areas = area_distributions(session, context_id, framework)
    report = CohortReport(framework=framework, counts=counts, respondents=total, areas=areas,
                          priorities_shown=total >= MIN_GROUP)
    if report.priorities_shown:
        crits, by_area = priority_overview(session, context_id, framework.key)
        order = {c.id: c.position for c in framework.criteria}
        fixed = []
        for row in crits:
            if row.criterion_id not in order:
                continue  # a criterion no longer in the framework
            area_id = row.area_id or framework.criteria_by_id[row.criterion_id].area_id
            fixed.append(CriterionPriority(row.criterion_id, area_id, row.chosen,
                                           row.first_choice, row.can_share))
        report.criterion_priorities = sorted(
            fixed, key=lambda r: (-r.chosen, -r.first_choice, order[r.criterion_id]))
        report.area_priorities = by_area
    return report
