"""Report numbers against hand-computed fixtures (ICT framework: areas R, L, N with three
criteria each). Definitions are in ``lti_service/assessment/scoring.py``."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from lti_service.assessment import frameworks
from lti_service.assessment.scoring import compute

ICT = frameworks.registry()["ict-schools"]


@dataclass
class A:
    level: int | None
    not_applicable: bool = False


NA = A(None, True)
# cycle 1: R = (0+1)/2 = 0.5 (R3 N/A); L = (2+3+4)/3 = 3; N = (1+1+0)/3 = 2/3
CYCLE1 = {"R1": A(0), "R2": A(1), "R3": NA, "L1": A(2), "L2": A(3), "L3": A(4),
          "N1": A(1), "N2": A(1), "N3": A(0)}
# cycle 2: R = (2+1+2)/3 = 5/3; L = 3; N has no score (all N/A)
CYCLE2 = {"R1": A(2), "R2": A(1), "R3": A(2), "L1": A(2), "L2": A(3), "L3": A(4),
          "N1": NA, "N2": NA, "N3": NA}


def test_area_and_overall_scores_of_a_first_cycle() -> None:
    report = compute(ICT, CYCLE1)
    scores = {a.area.id: a.score for a in report.areas}
    assert scores == pytest.approx({"R": 0.5, "L": 3.0, "N": 2 / 3})
    # overall = mean of the three area scores = (0.5 + 3 + 2/3) / 3 = 1.3889
    assert report.overall == pytest.approx(25 / 18)
    r = report.areas[0]
    assert (r.rated, r.not_applicable, r.unanswered) == (2, 1, 0)
    assert not report.has_previous and report.overall_delta is None
    assert [x.criterion.id for x in report.strongest] == ["L3", "L2", "L1"]
    assert [x.criterion.id for x in report.weakest] == ["R1", "N3", "R2"]


def test_change_since_the_previous_cycle() -> None:
    report = compute(ICT, CYCLE2, previous=CYCLE1)
    by_area = {a.area.id: a for a in report.areas}
    assert by_area["R"].score == pytest.approx(5 / 3)
    assert by_area["R"].delta == pytest.approx(5 / 3 - 0.5)
    assert by_area["L"].delta == pytest.approx(0.0)
    assert by_area["N"].score is None and by_area["N"].delta is None
    # overall = mean(5/3, 3) = 7/3; it was 25/18
    assert report.overall == pytest.approx(7 / 3)
    assert report.previous_overall == pytest.approx(25 / 18)
    assert report.overall_delta == pytest.approx(7 / 3 - 25 / 18)
    # R1 0 -> 2 changed; R3 (N/A before) and N (N/A now) are not level changes
    assert [(c.criterion.id, c.before, c.after) for c in report.changes] == [("R1", 0, 2)]
    assert [x.criterion.id for x in report.strongest] == ["L3", "L2", "R1"]
    assert [x.criterion.id for x in report.weakest] == ["R2", "R3", "L1"]


def test_unanswered_criteria_count_nowhere_and_an_empty_assessment_has_no_score() -> None:
    report = compute(ICT, {"R1": A(4)})
    assert report.overall == pytest.approx(4.0)
    assert report.areas[0].unanswered == 2
    empty = compute(ICT, {})
    assert empty.overall is None and empty.strongest == [] and empty.weakest == []
