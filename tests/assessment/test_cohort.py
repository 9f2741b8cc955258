"""The cohort report, computed in the database, against a hand-computed fixture; and the
anonymity threshold (no group smaller than 5 is shown)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from lti_service.assessment import frameworks, service
from lti_service.assessment.cohort import MIN_GROUP, cohort_report, people
from lti_service.assessment.validation import AnswerInput
from lti_service.models import Context, Membership, Registration, User
from tests.conftest import ToolServer
from tests.support.records import registration_with_course

ICT = frameworks.registry()["ict-schools"]
Levels = dict[str, tuple[int | None, int | None, int | None]]  # None: not applicable


@pytest.fixture
def course(tool: ToolServer) -> Iterator[tuple[Session, Registration, Context]]:
    with tool.session() as s:
        reg, ctx = registration_with_course(s)
        yield s, reg, ctx
        s.rollback()


def _learner(s: Session, reg: Registration, ctx: Context, name: str) -> service.Owner:
    user = User(registration_id=reg.id, sub=f"{name}-{uuid.uuid4().hex[:6]}", name=name)
    s.add(user)
    s.flush()
    s.add(Membership(context_id=ctx.id, user_id=user.id, roles=[], role="learner"))
    s.flush()
    return service.Owner(reg.id, ctx.id, user.id)


def _fill(s: Session, owner: service.Owner, levels: Levels, picks: tuple[str, ...] = (),
          share: tuple[str, ...] = (), submit: bool = True, new_cycle: bool = False) -> None:
    assessment = (service.new_cycle if new_cycle else service.start)(s, owner, ICT)
    for area in ICT.areas:
        for criterion, level in zip(area.criteria, levels[area.id], strict=True):
            data = AnswerInput(level=level, not_applicable=level is None,
                               can_share=criterion.id in share)
            service.save_answer(s, assessment, ICT, criterion.id, data, 0)
    if picks:
        service.set_priorities(s, assessment, ICT, [(p, "why") for p in picks])
    s.refresh(assessment)
    if submit:
        service.submit(s, assessment, ICT)


ALL_NA: tuple[None, None, None] = (None, None, None)


def test_cohort_numbers_against_a_hand_computed_fixture(
    course: tuple[Session, Registration, Context]
) -> None:
    s, reg, ctx = course
    u = [_learner(s, reg, ctx, f"learner{i}") for i in range(1, 10)]
    # area R scores 1/3, 4/3, 2.5, 2, 11/3 -> bands 0, 1, 3 (halves up), 2, 4; u6 all N/A
    # area L: only four learners have a score -> hidden
    # area N scores 1, 2, 0, 3, 4, 7/3 -> bands 1, 2, 0, 3, 4, 2
    _fill(s, u[0], {"R": (0, 0, 1), "L": (1, 1, 1), "N": (1, 1, 1)}, ("R1", "N1"),
          share=("R1",))
    _fill(s, u[1], {"R": (1, 1, 2), "L": (2, 2, 2), "N": (2, 2, 2)}, ("R1",), share=("R1",))
    _fill(s, u[2], {"R": (2, 3, None), "L": (3, 3, 3), "N": (0, 0, 0)}, ("N2", "R2"))
    _fill(s, u[3], {"R": (2, 2, 2), "L": (4, 4, 4), "N": (3, 3, 3)}, ("R1",))
    _fill(s, u[4], {"R": (4, 4, 3), "L": ALL_NA, "N": (4, 4, 4)}, ("L1",), share=("L3",))
    # u6: cycle 1 (all zero, priority R3) is replaced by cycle 2, the one that counts
    _fill(s, u[5], {"R": ALL_NA, "L": ALL_NA, "N": (0, 0, 0)}, ("R3",))
    _fill(s, u[5], {"R": ALL_NA, "L": ALL_NA, "N": (2, 2, 3)}, ("N1",), new_cycle=True)
    # u7 started, u8 reopened a submitted cycle (both "started", not respondents)
    _fill(s, u[6], {"R": (4, 4, 4), "L": (4, 4, 4), "N": (4, 4, 4)}, submit=False)
    _fill(s, u[7], {"R": (4, 4, 4), "L": (4, 4, 4), "N": (4, 4, 4)}, ("R2",))
    service.reopen(s, service.cycles(s, u[7], ICT.key)[0])
    # u9 has not started

    report = cohort_report(s, ctx.id, ICT)
    assert report.counts == {"not_started": 1, "started": 2, "submitted": 6}
    assert report.respondents == 6
    by_area = {d.area_id: d for d in report.areas}
    r, lit, n = by_area["R"], by_area["L"], by_area["N"]
    assert (r.respondents, r.shown, r.bands) == (5, True, [1, 1, 1, 1, 1])
    assert r.mean == pytest.approx((1 / 3 + 4 / 3 + 2.5 + 2 + 11 / 3) / 5)
    assert (lit.respondents, lit.shown, lit.mean, lit.bands) == (4, False, None, [0] * 5)
    assert (n.respondents, n.shown, n.bands) == (6, True, [1, 1, 2, 1, 1])
    assert n.mean == pytest.approx((1 + 2 + 0 + 3 + 4 + 7 / 3) / 6)

    assert report.priorities_shown
    rows = {p.criterion_id: (p.chosen, p.first_choice, p.can_share)
            for p in report.criterion_priorities}
    assert rows == {"R1": (3, 3, 2), "N1": (2, 1, 0), "N2": (1, 1, 0), "R2": (1, 0, 0),
                    "L1": (1, 1, 0), "L3": (0, 0, 1)}
    assert [p.criterion_id for p in report.criterion_priorities][:2] == ["R1", "N1"]
    assert report.area_priorities == {"R": 4, "N": 3, "L": 1}

    states = {p.name: p.state for p in people(s, ctx.id, ICT.key)}
    assert states == {"learner1": "submitted", "learner2": "submitted",
                      "learner3": "submitted", "learner4": "submitted",
                      "learner5": "submitted", "learner6": "submitted",
                      "learner7": "started", "learner8": "started",
                      "learner9": "not_started"}


def test_no_group_smaller_than_five_is_shown(
    course: tuple[Session, Registration, Context]
) -> None:
    s, reg, ctx = course
    levels: Levels = {"R": (1, 2, 3), "L": (2, 2, 2), "N": (0, 1, 4)}
    for i in range(MIN_GROUP - 1):
        _fill(s, _learner(s, reg, ctx, f"p{i}"), levels, ("R1",))
    report = cohort_report(s, ctx.id, ICT)
    assert MIN_GROUP == 5  # the product rule: no group smaller than five is shown
    assert report.respondents == MIN_GROUP - 1
    assert not any(d.shown for d in report.areas)
    assert all(d.mean is None and sum(d.bands) == 0 for d in report.areas)
    assert not report.priorities_shown and report.criterion_priorities == []

    _fill(s, _learner(s, reg, ctx, "fifth"), levels, ("R1",))
    report = cohort_report(s, ctx.id, ICT)
    assert all(d.shown and d.respondents == MIN_GROUP for d in report.areas)
    assert report.priorities_shown and report.criterion_priorities[0].chosen == MIN_GROUP


def test_another_course_is_never_counted(
    course: tuple[Session, Registration, Context]
) -> None:
    s, reg, ctx = course
    other = Context(registration_id=reg.id, context_id=f"other-{uuid.uuid4().hex[:6]}")
    s.add(other)
    s.flush()
    for i in range(MIN_GROUP):
        _fill(s, _learner(s, reg, other, f"o{i}"), {"R": (4, 4, 4), "L": (4, 4, 4),
                                                    "N": (4, 4, 4)}, ("R1",))
    report = cohort_report(s, ctx.id, ICT)
    assert report.respondents == 0 and report.learners == 0
    assert cohort_report(s, other.id, ICT).respondents == MIN_GROUP
