"""Which criteria the tool suggests as peer-learning priorities (domain.md §1.8).

Suggested: every criterion at level 0 or 1, and every criterion the learner flagged "want
to learn"; flagged ones first (the learner asked for them), then the lowest levels, then
the framework's order. The learner picks and ranks 1-3 of them (or any other criterion).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lti_service.assessment.frameworks import Criterion, Framework
from lti_service.models import CriterionAnswer

LOW_LEVEL = 1  # levels 0..LOW_LEVEL are suggested


@dataclass(frozen=True)
class Suggestion:
    criterion: Criterion
    level: int | None
    flagged: bool
    low: bool


def suggest(framework: Framework, answers: Mapping[str, CriterionAnswer]) -> list[Suggestion]:
    found: list[Suggestion] = []
    for criterion in framework.criteria:
        answer = answers.get(criterion.id)
        if answer is None:
            continue
        low = answer.level is not None and answer.level <= LOW_LEVEL
        if low or answer.want_to_learn:
            found.append(Suggestion(criterion, answer.level, answer.want_to_learn, low))
    found.sort(key=lambda s: (not s.flagged, s.level if s.level is not None else 99,
                              s.criterion.position))
    return found
