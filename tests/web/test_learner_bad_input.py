"""Bad input and forged ids: a clear 400/403/404, nothing changed, earlier answers intact."""

from __future__ import annotations

from typing import Any

import pytest

from tests.assessment.qdt_client import QdtUser, launch
from tests.conftest import IndependentPlatform, ToolServer

EARLIER = {"level": 2, "comment": "earlier answer",
           "evidence": [{"type": "data", "note": "Survey 2025", "link": "https://example.org/s"}]}


@pytest.fixture
def learner(tool: ToolServer, test_platform: IndependentPlatform) -> tuple[QdtUser, int]:
    user = launch(tool, test_platform)
    aid = user.start()
    assert user.save(aid, "A1", 0, **EARLIER).status_code == 200
    return user, aid


def _intact(user: QdtUser, aid: int) -> None:
    answer = user.answers(aid)["A1"]
    assert (answer["version"], answer["level"], answer["comment"]) == (1, 2, "earlier answer")
    assert answer["evidence"] == EARLIER["evidence"]


@pytest.mark.parametrize(("change", "field"), [
    ({"level": 5}, "level"),
    ({"level": -1}, "level"),
    ({"level": "2.5"}, "level"),
    ({"level": "high"}, "level"),
    ({"level": True}, "level"),
    ({"comment": "x" * 4001}, "comment"),
    ({"comment": 42}, "comment"),
    ({"evidence": [{"type": "data", "note": "n" * 501}]}, "note"),
    ({"evidence": [{"type": "data", "link": "javascript:alert(1)"}]}, "link"),
    ({"evidence": [{"type": "data", "link": "ftp://files.example.org/x"}]}, "link"),
    ({"evidence": [{"type": "data", "link": "https://" + "a" * 1000 + ".org"}]}, "link"),
    ({"evidence": [{"type": "rumour", "note": "heard it"}]}, "evidence"),
    ({"evidence": [{"type": "data", "note": f"n{i}"} for i in range(11)]}, "evidence"),
    ({"evidence": "a string"}, "evidence"),
])
def test_an_invalid_answer_is_refused_and_the_earlier_one_is_kept(
    learner: tuple[QdtUser, int], change: dict[str, Any], field: str
) -> None:
    user, aid = learner
    response = user.save(aid, "A1", 1, **{**EARLIER, **change})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_input"
    assert response.json()["field"] == field
    _intact(user, aid)


def test_an_unknown_criterion_is_404(learner: tuple[QdtUser, int]) -> None:
    user, aid = learner
    response = user.save(aid, "Z9", 0, level=1)
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    assert "Z9" not in user.answers(aid)


def test_a_save_without_the_csrf_header_is_refused(learner: tuple[QdtUser, int]) -> None:
    user, aid = learner
    response = user.save(aid, "A1", 1, csrf="", level=4)
    assert response.status_code == 400 and response.json()["error"] == "csrf"
    _intact(user, aid)


def test_a_body_that_is_not_a_json_object_is_refused(learner: tuple[QdtUser, int]) -> None:
    user, aid = learner
    response = user.client.post(f"{user.app}/assessment/{aid}/answer/A1", data="level=4",
                                headers={"X-CSRFToken": user.csrf,
                                         "Accept": "application/json"}, timeout=30)
    assert response.status_code == 400
    _intact(user, aid)


def test_one_invalid_field_in_the_area_form_saves_nothing(
    learner: tuple[QdtUser, int]
) -> None:
    user, aid = learner
    form = {"go": "next", "level-A1": "3", "comment-A1": "changed", "version-A1": "1",
            "level-A2": "1", "version-A2": "0",
            "ev-A3-type": "data", "ev-A3-note": "bad link", "ev-A3-link": "mailto:x@y.z",
            "version-A3": "0"}
    response = user.post(f"/assessment/{aid}/area/A", form)
    assert response.status_code == 400
    assert "http://" in response.text  # the message says what a link must be
    _intact(user, aid)
    assert "A2" not in user.answers(aid)


def test_an_unknown_area_is_404(learner: tuple[QdtUser, int]) -> None:
    user, aid = learner
    assert user.get(f"/assessment/{aid}/area/Q").status_code == 404


def test_invalid_priorities_are_refused_and_the_earlier_ones_are_kept(
    learner: tuple[QdtUser, int]
) -> None:
    user, aid = learner
    assert user.choose(aid, ("A1", "First reason"), ("B2", "Second")).status_code == 200
    for picks, status in (
        ((("Z9", "unknown"),), 404),
        ((("A1", "same"), ("A1", "twice")), 400),
        ((("A2", ""),), 400),
        ((("A2", "r" * 201),), 400),
        ((), 400),
    ):
        response = user.choose(aid, *picks)
        assert response.status_code == status, (picks, response.text[:300])
    review = user.get(f"/assessment/{aid}/priorities").text
    assert 'value="First reason"' in review and 'value="Second"' in review


def test_a_forged_language_is_refused(learner: tuple[QdtUser, int]) -> None:
    user, _aid = learner
    assert user.post("/language", {"language": "xx", "next": "/"}).status_code == 400
