"""The facilitator's cohort view over real HTTP: participation with names, anonymised
per-area distributions (hidden below 5 respondents), priorities overview, CSV export; only
ever the launch's own course."""

from __future__ import annotations

import csv
import io
import re

from lti_service.assessment import frameworks
from tests.assessment.qdt_client import QdtUser, launch, unique
from tests.conftest import IndependentPlatform, ToolServer

ICT = frameworks.registry()["ict-schools"]


def _submit(tool: ToolServer, platform: IndependentPlatform, course: str, level: int,
            pick: str) -> QdtUser:
    user = launch(tool, platform, context=course, framework="ict-schools")
    aid = user.start("ict-schools")
    user.answer_all(aid, ICT, dict.fromkeys((c.id for c in ICT.criteria), level))
    assert user.choose(aid, (pick, "why")).status_code == 200
    assert user.submit(aid).status_code == 200
    return user


def _count(page: str, state: str) -> int:
    match = re.search(rf'<tr data-state="{state}"><th scope="row">[^<]*</th>'
                      rf'<td class="num">(\d+)</td>', page)
    assert match, state
    return int(match.group(1))


def test_cohort_view_shows_participation_and_hides_small_groups(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    course = unique("cohort")
    for level in (1, 2, 3, 4):
        _submit(tool, test_platform, course, level, "R1")
    started = launch(tool, test_platform, context=course, framework="ict-schools")
    started.start("ict-schools")
    launch(tool, test_platform, context=course, framework="ict-schools")  # not started

    teacher = launch(tool, test_platform, context=course, role="facilitator",
                     framework="ict-schools")
    assert teacher.page.url.endswith("/cohort/ict-schools")
    page = teacher.page.text
    assert (_count(page, "not_started"), _count(page, "started"),
            _count(page, "submitted")) == (1, 1, 4)
    assert "not shown (too few respondents)" in page
    assert page.count("not shown (too few respondents)") == len(ICT.areas)
    assert 'id="priorities-hidden"' in page
    hidden_csv = teacher.get("/cohort/ict-schools.csv").text
    assert "hidden_fewer_than_5" in hidden_csv and "level_" not in hidden_csv

    _submit(tool, test_platform, course, 2, "N2")
    page = teacher.get("/cohort/ict-schools").text
    assert _count(page, "submitted") == 5
    row = re.search(r'<tr data-area="R">(.*?)</tr>', page, re.S)
    assert row
    cells = re.findall(r"<span>(\d+)</span>", row.group(1))
    assert cells == ["0", "1", "2", "1", "1"]  # levels 1, 2, 3, 4 and 2
    assert '<td class="num">2.4</td>' in row.group(1)  # (1+2+3+4+2)/5
    prio = re.search(r'<tr data-criterion="R1">.*?</tr>', page, re.S)
    assert prio and re.findall(r'<td class="num">(\d+)</td>', prio.group(0)) == ["4", "4", "0"]

    exported = teacher.get("/cohort/ict-schools.csv")
    assert exported.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))
    r_levels = {r["measure"]: r["value"] for r in rows
                if r["section"] == "area" and r["area_id"] == "R"}
    assert r_levels["respondents"] == "5" and r_levels["mean"] == "2.40"
    assert [r_levels[f"level_{i}"] for i in range(5)] == ["0", "1", "2", "1", "1"]
    chosen = {(r["criterion_id"], r["measure"]): r["value"] for r in rows
              if r["section"] == "priorities"}
    assert chosen[("R1", "chosen")] == "4" and chosen[("N2", "chosen")] == "1"
    assert "Test Learner" not in exported.text  # aggregates only, no names


def test_the_cohort_view_only_ever_shows_the_launchs_own_course(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    busy = unique("busy-course")
    for level in (0, 1, 2, 3, 4):
        _submit(tool, test_platform, busy, level, "R1")
    other = launch(tool, test_platform, context=unique("empty-course"), role="facilitator",
                   framework="ict-schools")
    page = other.page.text
    assert _count(page, "submitted") == 0 and 'id="priorities-hidden"' in page
    assert "Test Learner" not in page


def test_the_cohort_placement_opens_the_overview_and_the_home_links_to_it(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    client_page = test_platform.launch(user="instructor", context=unique("c"),
                                       target_link_uri=tool.base_url + "/lti/launch/cohort")
    assert client_page.status_code == 200
    assert client_page.url.endswith("/cohort/mobility")
    assert "Cohort overview" in client_page.text
    learner_page = test_platform.launch(user="learner", context=unique("c"),
                                        target_link_uri=tool.base_url + "/lti/launch/cohort")
    assert learner_page.status_code == 403
