"""The report after submit over real HTTP, checked against the hand-computed fixture of
``tests/assessment/test_scoring.py``: overall and per-area scores, the radar chart with
its data table, strongest and weakest criteria, the change since the previous cycle, CSV
and PDF exports; and the priority step's suggestions."""

from __future__ import annotations

import csv
import io
import re

from lti_service.assessment import frameworks
from tests.assessment.qdt_client import QdtUser, launch
from tests.conftest import IndependentPlatform, ToolServer

ICT = frameworks.registry()["ict-schools"]
CYCLE1 = {"R1": 0, "R2": 1, "R3": "na", "L1": 2, "L2": 3, "L3": 4, "N1": 1, "N2": 1, "N3": 0}
CYCLE2 = {"R1": 2, "R2": 1, "R3": 2, "L1": 2, "L2": 3, "L3": 4, "N1": "na", "N2": "na",
          "N3": "na"}


def _cycle(user: QdtUser, aid: int, levels: dict[str, int | str]) -> None:
    for cid, level in levels.items():
        assert user.save(aid, cid, 0, level=level, comment=f"about {cid}").status_code == 200
    assert user.choose(aid, ("R1", "Our weakest point")).status_code == 200
    assert user.submit(aid).status_code == 200


def _row(page: str, area: str) -> list[str]:
    row = re.search(rf'<tr data-area="{area}">(.*?)</tr>', page, re.S)
    assert row, area
    return re.findall(r'<td class="num">([^<]*)</td>', row.group(1))


def test_report_numbers_chart_and_change_since_the_previous_cycle(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    user = launch(tool, test_platform, framework="ict-schools")
    first = user.start("ict-schools")
    _cycle(user, first, CYCLE1)
    page = user.get(f"/assessment/{first}/report").text
    assert '<span id="overall-score">1.4</span>' in page  # (0.5 + 3 + 0.667) / 3
    assert _row(page, "R") == ["0.5", "1"] and _row(page, "L") == ["3.0", "0"]
    assert _row(page, "N") == ["0.7", "0"]
    strongest = re.search(r'<ul class="plain" id="strongest">(.*?)</ul>', page, re.S)
    assert strongest and re.findall(r'class="cid">(\w+)<', strongest.group(1)) == [
        "L3", "L2", "L1"]
    # the radar is server-side SVG with a title/description, beside a data table
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in page and 'role="img"' in page
    assert '<table id="area-table">' in page
    assert "<script" not in page.split("<footer>")[0].split("</header>")[1]

    user.post("/qdt/ict-schools/new-cycle")
    second = max(int(x) for x in re.findall(r"/assessment/(\d+)/", user.get(
        "/qdt/ict-schools").text))
    assert second != first
    _cycle(user, second, CYCLE2)
    page = user.get(f"/assessment/{second}/report").text
    assert '<span id="overall-score">2.3</span>' in page  # mean(5/3, 3)
    assert '<strong id="overall-delta">+0.9</strong>' in page  # 7/3 - 25/18
    assert _row(page, "R") == ["1.7", "0.5", "+1.2", "0"]
    assert _row(page, "N") == ["—", "0.7", "—", "3"]
    changes = re.search(r'<table id="changes">(.*?)</table>', page, re.S)
    assert changes and re.findall(r'class="cid">(\w+)<', changes.group(1)) == ["R1"]
    assert page.count("<polygon") >= 2 + ICT.max_level  # rings + this + previous cycle

    exported = user.get(f"/assessment/{second}/report.csv")
    assert exported.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))
    areas = {r["area_id"]: r for r in rows if r["row"] == "area"}
    assert (areas["R"]["score"], areas["R"]["previous_score"], areas["R"]["change"]) == (
        "1.67", "0.50", "1.17")
    overall = next(r for r in rows if r["row"] == "overall")
    assert (overall["score"], overall["previous_score"], overall["change"]) == (
        "2.33", "1.39", "0.94")
    r1 = next(r for r in rows if r["criterion_id"] == "R1" and r["row"] == "criterion")
    assert (r1["level"], r1["previous_level"], r1["comment"]) == ("2", "0", "about R1")
    assert any(r["row"] == "priority 1" and r["criterion_id"] == "R1" for r in rows)

    pdf = user.get(f"/assessment/{second}/report.pdf")
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-") and len(pdf.content) > 2000


def test_csv_cells_that_look_like_formulas_are_neutralised(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    user = launch(tool, test_platform, framework="ict-schools")
    aid = user.start("ict-schools")
    user.answer_all(aid, ICT, {})
    user.save(aid, "R1", 1, level=2, comment="=HYPERLINK(\"http://evil\")")
    user.choose(aid, ("R1", "@risk"))
    user.submit(aid)
    text = user.get(f"/assessment/{aid}/report.csv").text
    assert "'=HYPERLINK" in text and "'@risk" in text


def test_there_is_no_report_before_the_first_submit(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    user = launch(tool, test_platform)
    aid = user.start()
    assert user.get(f"/assessment/{aid}/report").status_code == 409
    assert user.get(f"/assessment/{aid}/report.pdf").status_code == 409


def test_the_priority_step_suggests_low_levels_and_flagged_criteria(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    user = launch(tool, test_platform, framework="ict-schools")
    aid = user.start("ict-schools")
    levels = {"R1": 3, "R2": 1, "R3": 0, "L1": 4, "L2": 2, "L3": "na", "N1": 2, "N2": 1,
              "N3": 3}
    for cid, level in levels.items():
        user.save(aid, cid, 0, level=level, want_to_learn=cid in ("N3", "L1"))
    page = user.get(f"/assessment/{aid}/priorities").text
    block = re.search(r'<ul class="suggestions">(.*?)</ul>', page, re.S)
    assert block
    # flagged first, then the others; each group by level, then in the framework's order
    assert re.findall(r'class="cid">(\w+)<', block.group(1)) == ["N3", "L1", "R3", "R2", "N2"]

    saved = user.choose(aid, ("N2", "Online platforms are new for us"),
                        ("R3", "Licences are unclear"), ("L1", "Want to learn"))
    assert saved.status_code == 200 and saved.url.endswith("/review")
    again = user.get(f"/assessment/{aid}/priorities").text
    for rank, cid in ((1, "N2"), (2, "R3"), (3, "L1")):
        select = re.search(rf'<select id="priority-{rank}".*?</select>', again, re.S)
        assert select and re.search(rf'value="{cid}" selected', select.group(0)), rank
    # stored for club matching: rank, criterion, its area and the reason
    from lti_service.models import Priority

    with tool.session() as s:
        rows = s.query(Priority).filter_by(assessment_id=aid).order_by(Priority.rank).all()
        assert [(p.rank, p.criterion_id, p.area_id, p.reason) for p in rows] == [
            (1, "N2", "N", "Online platforms are new for us"),
            (2, "R3", "R", "Licences are unclear"), (3, "L1", "L", "Want to learn")]
