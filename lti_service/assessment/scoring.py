"""The numbers of a report, defined once and computed without the database.

Definitions (also in the README):

* A criterion's result is its level (0…max). "Not applicable" and unanswered criteria have
  no result and count nowhere.
* **Area score** = the mean of the levels of the area's criteria that have a result; an
  area without any has no score (shown as "—").
* **Overall score** = the mean of the area scores that exist, so each area weighs the same
  however many criteria it has (as the radar chart shows them).
* **Strongest** = up to three criteria with the highest levels; **weakest** = up to three
  with the lowest, not already among the strongest; ties keep the framework's order.
* **Change** = this cycle's score minus the previous submitted cycle's, per area and
  overall, where both exist; criteria whose level changed are listed with both levels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from statistics import fmean
from typing import Protocol

from lti_service.assessment.frameworks import Area, Criterion, Framework

TOP = 3


class Answer(Protocol):
    @property
    def level(self) -> int | None: ...

    @property
    def not_applicable(self) -> bool: ...


@dataclass(frozen=True)
class AreaResult:
    area: Area
    score: float | None
    rated: int  # criteria with a level
    not_applicable: int
    unanswered: int
    previous: float | None = None

    @property
    def delta(self) -> float | None:
        if self.score is None or self.previous is None:
            return None
        return self.score - self.previous


@dataclass(frozen=True)
class CriterionResult:
    criterion: Criterion
    level: int


@dataclass(frozen=True)
class LevelChange:
    criterion: Criterion
    before: int
    after: int


@dataclass(frozen=True)
class Report:
    framework: Framework
    overall: float | None
    areas: list[AreaResult]
    strongest: list[CriterionResult]
    weakest: list[CriterionResult]
    previous_overall: float | None
    changes: list[LevelChange]
    has_previous: bool

    @property
    def overall_delta(self) -> float | None:
        if self.overall is None or self.previous_overall is None:
            return None
        return self.overall - self.previous_overall


def levels(framework: Framework, answers: Mapping[str, Answer]) -> dict[str, int]:
    """Criterion id → level, for criteria that have a result."""
    found: dict[str, int] = {}
    for criterion in framework.criteria:
        answer = answers.get(criterion.id)
        if answer is not None and answer.level is not None and not answer.not_applicable:
            found[criterion.id] = answer.level
    return found


def area_scores(framework: Framework, rated: Mapping[str, int]) -> dict[str, float | None]:
    scores: dict[str, float | None] = {}
    for area in framework.areas:
        values = [rated[c.id] for c in area.criteria if c.id in rated]
        scores[area.id] = fmean(values) if values else None
    return scores


def overall_score(scores: Mapping[str, float | None]) -> float | None:
    present = [s for s in scores.values() if s is not None]
    return fmean(present) if present else None


def compute(framework: Framework, answers: Mapping[str, Answer],
            previous: Mapping[str, Answer] | None = None) -> Report:
    rated = levels(framework, answers)
    scores = area_scores(framework, rated)
    before_rated = levels(framework, previous) if previous is not None else {}
    before_scores = area_scores(framework, before_rated) if previous is not None else {}

    areas = []
    for area in framework.areas:
        na = sum(1 for c in area.criteria
                 if (a := answers.get(c.id)) is not None and a.not_applicable)
        rated_n = sum(1 for c in area.criteria if c.id in rated)
        areas.append(AreaResult(area=area, score=scores[area.id], rated=rated_n,
                                not_applicable=na,
                                unanswered=len(area.criteria) - rated_n - na,
                                previous=before_scores.get(area.id)))

    order = {c.id: c.position for c in framework.criteria}
    results = [CriterionResult(framework.criteria_by_id[cid], lv) for cid, lv in rated.items()]
    strongest = sorted(results, key=lambda r: (-r.level, order[r.criterion.id]))[:TOP]
    chosen = {r.criterion.id for r in strongest}
    weakest = [r for r in sorted(results, key=lambda r: (r.level, order[r.criterion.id]))
               if r.criterion.id not in chosen][:TOP]

    changes = [LevelChange(framework.criteria_by_id[cid], before_rated[cid], lv)
               for cid, lv in rated.items()
               if cid in before_rated and before_rated[cid] != lv]
    changes.sort(key=lambda ch: order[ch.criterion.id])
    return Report(
        framework=framework,
        overall=overall_score(scores),
        areas=areas,
        strongest=strongest,
        weakest=weakest,
        previous_overall=overall_score(before_scores) if previous is not None else None,
        changes=changes,
        has_previous=previous is not None,
    )
