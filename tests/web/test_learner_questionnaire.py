"""The learner's questionnaire over real HTTP: one page per area with the level
descriptors, autosave that never loses text (reload, two tabs, session expiry), resume,
submit with a list of what is missing, reopen, and a new cycle that keeps the old one."""

from __future__ import annotations

import re

from lti_service.assessment import frameworks
from lti_service.models import Assessment, CriterionAnswer
from tests.assessment.qdt_client import QdtUser, launch
from tests.conftest import IndependentPlatform, ToolServer
from tests.support.web_client import browser

MOBILITY = frameworks.registry()["mobility"]
ICT = frameworks.registry()["ict-schools"]


def _complete(user: QdtUser, framework: frameworks.Framework = ICT) -> int:
    aid = user.start(framework.key)
    user.answer_all(aid, framework, {})
    first = framework.criteria[0].id
    assert user.choose(aid, (first, "We want to learn this.")).status_code == 200
    return aid


def test_a_framework_placement_opens_the_overview_and_start_opens_the_first_area(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    user = launch(tool, test_platform)
    assert user.page.url.endswith("/qdt/mobility")
    assert "Quality in learning mobility" in user.page.text
    assert "Start the assessment" in user.page.text

    aid = user.start()
    page = user.get(f"/assessment/{aid}/area/A")
    assert page.status_code == 200
    assert "Area A: Strategy and management" in page.text
    # every criterion of the area, each level with its descriptor, and N/A
    for criterion in MOBILITY.area("A").criteria:  # type: ignore[union-attr]
        assert f'name="level-{criterion.id}" value="4"' in page.text
        assert f'name="level-{criterion.id}" value="na"' in page.text
    assert "Routine practice for most mobilities." in page.text
    assert 'id="qdt-status"' in page.text and 'role="status"' in page.text
    # a criterion's own descriptors replace the scale's (D2, the learning agreement)
    d_page = user.get(f"/assessment/{aid}/area/D").text
    assert "Almost every learner has an agreement signed by all three parties." in d_page


def test_autosave_keeps_every_field_and_a_reload_resumes_with_it(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    user = launch(tool, test_platform)
    aid = user.start()
    saved = user.save(aid, "A2", 0, level=3, comment="Budget line 4.2 <b>not bold</b>",
                      want_to_learn=True, can_share=False,
                      evidence=[{"type": "procedure", "note": "Staff plan",
                                 "link": "https://intranet.example.org/plan"}])
    assert saved.status_code == 200, saved.text
    assert saved.json()["answer"]["version"] == 1

    again = user.save(aid, "A2", 1, level=3, comment="Budget line 4.2, updated",
                      want_to_learn=True,
                      evidence=[{"type": "procedure", "note": "Staff plan",
                                 "link": "https://intranet.example.org/plan"}])
    assert again.status_code == 200 and again.json()["answer"]["version"] == 2

    # a reload (a new GET, even from a new launch of the same person) shows the saved answer
    page = user.get(f"/assessment/{aid}/area/A")
    assert "Budget line 4.2, updated" in page.text
    assert 'name="version-A2" value="2"' in page.text
    assert re.search(r'name="level-A2" value="3" checked', page.text)
    assert re.search(r'name="want-A2" value="1" checked', page.text)
    assert 'value="https://intranet.example.org/plan"' in page.text
    # overview resumes where answers are missing
    overview = user.get("/qdt/mobility")
    assert "1 of 38 criteria answered" in overview.text


def test_output_is_escaped(tool: ToolServer, test_platform: IndependentPlatform) -> None:
    user = launch(tool, test_platform)
    aid = user.start()
    user.save(aid, "A1", 0, level=1, comment="<script>alert(1)</script>")
    page = user.get(f"/assessment/{aid}/area/A")
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_two_tabs_the_newer_save_is_kept_and_the_stale_tab_is_told_with_its_own_text(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    user = launch(tool, test_platform)
    aid = user.start()
    # both tabs loaded the page while A1 was at version 1
    assert user.save(aid, "A1", 0, level=1, comment="first").status_code == 200
    tab_a = user.save(aid, "A1", 1, level=2, comment="tab A's text")
    assert tab_a.status_code == 200 and tab_a.json()["answer"]["version"] == 2

    tab_b = user.save(aid, "A1", 1, level=4, comment="tab B's text")
    assert tab_b.status_code == 409
    body = tab_b.json()
    assert body["error"] == "conflict"
    assert body["current"]["comment"] == "tab A's text"  # the newer save, shown to tab B
    assert body["current"]["version"] == 2
    assert user.answers(aid)["A1"]["comment"] == "tab A's text"  # nothing overwritten

    # tab B chooses to keep its own text: it saves on top of the version it was shown
    mine = user.save(aid, "A1", 2, level=4, comment="tab B's text")
    assert mine.status_code == 200
    assert user.answers(aid)["A1"] == {**user.answers(aid)["A1"], "comment": "tab B's text",
                                       "level": 4, "version": 3}


def test_a_stale_form_post_saves_the_rest_and_shows_the_text_that_was_not_saved(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    user = launch(tool, test_platform)
    aid = user.start()
    user.save(aid, "B1", 0, level=1, comment="saved elsewhere")
    form = {"go": "stay", "level-B1": "3", "comment-B1": "typed in the stale tab",
            "version-B1": "0", "level-B2": "2", "comment-B2": "new answer", "version-B2": "0"}
    page = user.post(f"/assessment/{aid}/area/B", form)
    assert page.status_code == 200
    assert "was changed in another tab or window" in page.text
    assert "typed in the stale tab" in page.text  # the user's own text, to copy
    answers = user.answers(aid)
    assert answers["B1"]["comment"] == "saved elsewhere"
    assert answers["B2"]["comment"] == "new answer"


def test_after_the_session_ends_a_save_is_refused_and_a_new_launch_saves_it(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    """Server side of session expiry: the page keeps the text (localStorage) and sends it
    again after the next launch; the answer keeps its version, so nothing is lost."""
    sub, course = "expiry-user", "expiry-course"
    first = launch(tool, test_platform, sub=sub, context=course)
    aid = first.start()
    assert first.save(aid, "C1", 0, level=2, comment="before expiry").status_code == 200

    gone = browser()  # a browser whose session cookie is gone
    refused = gone.post(f"{first.app}/assessment/{aid}/answer/C1",
                        json={"version": 1, "level": 3, "comment": "typed after expiry"},
                        headers={"Accept": "application/json"}, timeout=30)
    assert refused.status_code in (400, 401)
    assert first.answers(aid)["C1"]["comment"] == "before expiry"

    again = launch(tool, test_platform, sub=sub, context=course)
    assert "Cycle 1" in again.page.text
    resent = again.save(aid, "C1", 1, level=3, comment="typed after expiry")
    assert resent.status_code == 200
    assert again.answers(aid)["C1"]["comment"] == "typed after expiry"


def test_submit_lists_what_is_missing_and_changes_nothing(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    user = launch(tool, test_platform, framework="ict-schools")
    aid = user.start("ict-schools")
    user.save(aid, "R1", 0, level=1)
    review = user.get(f"/assessment/{aid}/review")
    assert "Still missing" in review.text
    for criterion in ICT.criteria[1:]:
        assert f"#c-{criterion.id}" in review.text
    assert "At least one peer-learning priority" in review.text

    refused = user.submit(aid)
    assert refused.status_code == 409
    assert "cannot be submitted yet" in refused.text
    with tool.session() as s:
        assessment = s.get(Assessment, aid)
        assert assessment is not None and assessment.status == "draft"
        assert assessment.submitted_at is None


def test_submit_reopen_submit_and_a_new_cycle_that_keeps_the_old_one(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    user = launch(tool, test_platform, framework="ict-schools")
    aid = _complete(user)
    submitted = user.submit(aid)
    assert submitted.status_code == 200 and submitted.url.endswith(f"/assessment/{aid}/report")
    with tool.session() as s:
        first = s.get(Assessment, aid)
        assert first is not None and first.status == "submitted" and first.submitted_at

    # submitted answers are read-only
    locked = user.save(aid, "R1", 1, level=4)
    assert locked.status_code == 409 and locked.json()["error"] == "not_editable"

    assert user.post(f"/assessment/{aid}/reopen").status_code == 200
    assert user.save(aid, "R1", 1, level=4).status_code == 200
    assert user.submit(aid).status_code == 200

    cycle2 = user.post("/qdt/ict-schools/new-cycle")
    assert cycle2.status_code == 200
    new_aid = int(re.search(r"/assessment/(\d+)/", cycle2.url).group(1))  # type: ignore[union-attr]
    assert new_aid != aid
    assert "Last cycle:" in cycle2.text  # the previous level is shown as a hint
    with tool.session() as s:
        old = s.get(Assessment, aid)
        new = s.get(Assessment, new_aid)
        assert old is not None and new is not None
        assert (old.status, old.cycle, new.status, new.cycle) == ("locked", 1, "draft", 2)
        assert s.query(CriterionAnswer).filter_by(assessment_id=aid).count() == len(ICT.criteria)
    # the old cycle stays readable and cannot be reopened
    assert user.get(f"/assessment/{aid}/report").status_code == 200
    assert user.post(f"/assessment/{aid}/reopen").status_code == 409
    overview = user.get("/qdt/ict-schools")
    assert "Earlier cycles" in overview.text and "Cycle 2" in overview.text


def test_the_facilitator_is_sent_to_the_cohort_and_cannot_fill_in(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    teacher = launch(tool, test_platform, role="facilitator")
    assert re.search(r"/cohort/mobility$", teacher.page.url)
    assert teacher.post("/qdt/mobility/start").status_code == 403
