"""Tenant isolation: a learner reaches only their own assessment in their own course;
every forged id is a 404 (or 403 for the wrong role) and changes nothing."""

from __future__ import annotations

import pytest

from tests.assessment.qdt_client import QdtUser, launch, unique
from tests.conftest import IndependentPlatform, ToolServer


@pytest.fixture
def owner(tool: ToolServer, test_platform: IndependentPlatform) -> tuple[QdtUser, int, str]:
    course = unique("iso-course")
    user = launch(tool, test_platform, context=course)
    aid = user.start()
    assert user.save(aid, "A1", 0, level=3, comment="mine").status_code == 200
    return user, aid, course


def _attempts(intruder: QdtUser, aid: int) -> list[int]:
    return [
        intruder.get(f"/assessment/{aid}/area/A").status_code,
        intruder.save(aid, "A1", 1, level=0, comment="overwritten").status_code,
        intruder.save(aid, "A2", 0, level=0).status_code,
        intruder.get(f"/assessment/{aid}/answers",
                     headers={"Accept": "application/json"}).status_code,
        intruder.choose(aid, ("A1", "forged")).status_code,
        intruder.get(f"/assessment/{aid}/review").status_code,
        intruder.submit(aid).status_code,
        intruder.post(f"/assessment/{aid}/reopen").status_code,
        intruder.get(f"/assessment/{aid}/report").status_code,
        intruder.get(f"/assessment/{aid}/report.csv").status_code,
        intruder.get(f"/assessment/{aid}/report.pdf").status_code,
    ]


def _untouched(user: QdtUser, aid: int) -> None:
    answers = user.answers(aid)
    assert list(answers) == ["A1"]
    assert (answers["A1"]["comment"], answers["A1"]["version"]) == ("mine", 1)


def test_another_learner_in_the_same_course_gets_404_everywhere(
    tool: ToolServer, test_platform: IndependentPlatform, owner: tuple[QdtUser, int, str]
) -> None:
    user, aid, course = owner
    other = launch(tool, test_platform, context=course)
    assert set(_attempts(other, aid)) == {404}
    _untouched(user, aid)


def test_the_same_person_in_another_course_gets_404(
    tool: ToolServer, test_platform: IndependentPlatform, owner: tuple[QdtUser, int, str]
) -> None:
    user, aid, _course = owner
    sub = unique("twin")
    first = launch(tool, test_platform, sub=sub, context=unique("course-x"))
    mine = first.start()
    elsewhere = launch(tool, test_platform, sub=sub, context=unique("course-y"))
    assert set(_attempts(elsewhere, mine)) == {404}
    assert set(_attempts(elsewhere, aid)) == {404}
    _untouched(user, aid)


def test_a_facilitator_cannot_open_or_change_a_learners_assessment(
    tool: ToolServer, test_platform: IndependentPlatform, owner: tuple[QdtUser, int, str]
) -> None:
    user, aid, course = owner
    teacher = launch(tool, test_platform, context=course, role="facilitator")
    assert set(_attempts(teacher, aid)) == {403}
    _untouched(user, aid)


def test_a_learner_cannot_open_the_cohort_view(
    tool: ToolServer, test_platform: IndependentPlatform, owner: tuple[QdtUser, int, str]
) -> None:
    user, _aid, _course = owner
    assert user.get("/cohort/mobility").status_code == 403
    assert user.get("/cohort/mobility.csv").status_code == 403
