"""What is sent to the gradebook: participation per stage, never maturity levels.

Each stage of the learner's work has a line item, told apart by ``tag`` (design.md §6;
``qdt-assessment`` now, the club stages arrive with the club workspace) and by
``resourceId`` (which framework's placement, as Deep Linking declared it). Progress only
moves forward: reopening a submitted assessment or starting a new cycle never takes a grade
away (Moodle drops ``scoreGiven`` unless FullyGraded, Canvas ignores NotReady).

When the platform gives only a coupled line item (grade sync without column management),
every stage goes into that one column: with one stage it mirrors the stage; with several,
the weighted percentage, and the breakdown is in the comment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lti_service.lti.ags import ACTIVITY_PROGRESS

ACTIVITY_RANK = {name: rank for rank, name in enumerate(ACTIVITY_PROGRESS)}
QDT_TAG = "qdt-assessment"
COMBINED_MAXIMUM = 100.0


@dataclass(frozen=True)
class Progress:
    activity: str
    grading: str
    score_given: float | None
    score_maximum: float
    comment: str = ""

    @property
    def rank(self) -> int:
        return ACTIVITY_RANK.get(self.activity, 0)

    @property
    def fraction(self) -> float:
        if self.score_given is None or self.grading != "FullyGraded" or not self.score_maximum:
            return 0.0
        return max(0.0, min(1.0, self.score_given / self.score_maximum))


@dataclass(frozen=True)
class Stage:
    """A graded stage: its tag, a short name for comments, its maximum and weight."""

    tag: str
    name: str
    score_maximum: float
    weight: float = 1.0


STAGES: dict[str, Stage] = {
    QDT_TAG: Stage(QDT_TAG, "Quality Development Tool", 1.0),
}

# domain.md §4: qdt-assessment events → (activityProgress, gradingProgress, score)
QDT_EVENTS: dict[str, Progress] = {
    "opened": Progress("Started", "NotReady", None, 1.0, "Self-assessment started"),
    "saved": Progress("InProgress", "NotReady", None, 1.0, "Self-assessment in progress"),
    "submitted": Progress("Submitted", "FullyGraded", 1.0, 1.0, "Self-assessment submitted"),
    "locked": Progress("Completed", "FullyGraded", 1.0, 1.0,
                       "Self-assessment cycle completed"),
}


def advance(current: Progress | None, new: Progress) -> Progress | None:
    """``new`` when it is further along than ``current``, else None (nothing to send)."""
    if current is None or new.rank > current.rank:
        return new
    if new.rank == current.rank and new.fraction > current.fraction:
        return new  # e.g. one more critical-friend review given (same stage, more points)
    return None


def best(parts: list[Progress]) -> Progress | None:
    """The furthest progress among several line items of one stage (one per framework)."""
    found: Progress | None = None
    for part in parts:
        if found is None or (part.rank, part.fraction) > (found.rank, found.fraction):
            found = part
    return found


def combined(by_tag: Mapping[str, Progress]) -> Progress | None:
    """One score for the coupled line item from every stage's progress."""
    known = {tag: p for tag, p in by_tag.items() if tag in STAGES}
    if not known:
        return None
    if len(STAGES) == 1:
        (tag, only), = known.items()
        return Progress(only.activity, only.grading, only.score_given, only.score_maximum,
                        f"{STAGES[tag].name}: {only.comment}" if only.comment else "")
    total_weight = sum(s.weight for s in STAGES.values())
    points = sum(STAGES[t].weight * p.fraction for t, p in known.items())
    percent = round(COMBINED_MAXIMUM * points / total_weight, 2)
    ranks = [known[t].rank if t in known else 0 for t in STAGES]
    if all(r == ACTIVITY_RANK["Completed"] for r in ranks):
        activity = "Completed"
    elif max(ranks) <= ACTIVITY_RANK["Initialized"]:
        activity = "Initialized"
    else:
        activity = "InProgress"
    graded = any(p.grading == "FullyGraded" for p in known.values())
    breakdown = "; ".join(
        f"{STAGES[t].name}: {known[t].comment or known[t].activity}" if t in known
        else f"{STAGES[t].name}: not started" for t in STAGES)
    return Progress(activity, "FullyGraded" if graded else "NotReady",
                    percent if graded else None, COMBINED_MAXIMUM, breakdown[:1000])
