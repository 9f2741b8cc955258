"""Parsing learner input into checked values, before anything is written.

Answers are plain text (shown escaped, never as HTML), so nothing needs sanitising; what
is checked is the scale, sizes and that links are http(s) URLs. A request with any invalid
field is refused as a whole, so a failed save never half-changes an answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from lti_service.assessment.errors import N_, InvalidInput
from lti_service.assessment.frameworks import Framework

EVIDENCE_TYPES = ("procedure", "template", "agreement", "data", "feedback", "audit", "other")
MAX_COMMENT = 4000
MAX_EVIDENCE = 10
MAX_NOTE = 500
MAX_LINK = 1000
MAX_REASON = 200
MAX_PRIORITIES = 3


@dataclass(frozen=True)
class Evidence:
    type: str
    note: str
    link: str

    def as_dict(self) -> dict[str, str]:
        return {"type": self.type, "note": self.note, "link": self.link}


@dataclass(frozen=True)
class AnswerInput:
    level: int | None
    not_applicable: bool
    comment: str = ""
    evidence: tuple[Evidence, ...] = field(default_factory=tuple)
    want_to_learn: bool = False
    can_share: bool = False


def _text(value: Any, name: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(name, N_("Only text can be saved here."))
    text = value.replace("\r\n", "\n").strip()
    if len(text) > limit:
        raise InvalidInput(name, N_("The text is too long (at most %(limit)d characters)."),
                           limit=limit)
    if "\x00" in text:
        raise InvalidInput(name, N_("The text contains a character that is not allowed."))
    return text


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("1", "true", "on", "yes")


def check_link(value: str, name: str = "link") -> str:
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or " " in value:
        raise InvalidInput(name, N_("A link must be a web address starting with http:// or "
                                 "https://."))
    return value


def parse_level(value: Any, framework: Framework) -> tuple[int | None, bool]:
    """(level, not applicable) from ``""``/None (unanswered), ``"na"`` or a number."""
    if value is None or value == "":
        return None, False
    if isinstance(value, str) and value.lower() == "na":
        if framework.not_applicable is None:
            raise InvalidInput("level", N_("This framework has no “not applicable” answer."))
        return None, True
    if isinstance(value, bool):
        raise InvalidInput("level", N_("The level must be a number on the scale."))
    try:
        level = int(value)
    except (TypeError, ValueError):
        raise InvalidInput("level", N_("The level must be a number on the scale.")) from None
    if str(level) != str(value).strip() and not isinstance(value, int):
        raise InvalidInput("level", N_("The level must be a number on the scale."))
    if not 0 <= level <= framework.max_level:
        raise InvalidInput("level", N_("The level must be between 0 and %(max)d."),
                           max=framework.max_level)
    return level, False


def parse_evidence(items: Any) -> tuple[Evidence, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        raise InvalidInput("evidence", N_("Evidence must be a list."))
    found: list[Evidence] = []
    for item in items:
        if not isinstance(item, Mapping):
            raise InvalidInput("evidence", N_("Evidence must be a list."))
        kind = item.get("type") or "other"
        note = _text(item.get("note"), "note", MAX_NOTE)
        link = check_link(_text(item.get("link"), "link", MAX_LINK))
        if not note and not link:
            continue  # an empty row
        if kind not in EVIDENCE_TYPES:
            raise InvalidInput("evidence", N_("Unknown kind of evidence."))
        found.append(Evidence(str(kind), note, link))
    if len(found) > MAX_EVIDENCE:
        raise InvalidInput("evidence", N_("At most %(limit)d pieces of evidence per criterion."),
                           limit=MAX_EVIDENCE)
    return tuple(found)


def parse_answer(data: Mapping[str, Any], framework: Framework) -> AnswerInput:
    level, na = parse_level(data.get("level"), framework)
    return AnswerInput(
        level=level,
        not_applicable=na,
        comment=_text(data.get("comment"), "comment", MAX_COMMENT),
        evidence=parse_evidence(data.get("evidence")),
        want_to_learn=_bool(data.get("want_to_learn", False)),
        can_share=_bool(data.get("can_share", False)),
    )


def parse_version(value: Any) -> int:
    try:
        version = int(value)
    except (TypeError, ValueError):
        raise InvalidInput("version", N_("The answer's version is missing.")) from None
    if version < 0:
        raise InvalidInput("version", N_("The answer's version is missing."))
    return version


def parse_reason(value: Any) -> str:
    reason = " ".join(_text(value, "reason", MAX_REASON * 2).split())
    if len(reason) > MAX_REASON:
        raise InvalidInput("reason", N_("The text is too long (at most %(limit)d characters)."),
                           limit=MAX_REASON)
    if not reason:
        raise InvalidInput("reason", N_("Say in one line why you chose each priority."))
    return reason
