"""Map LTI roles (full URIs or the short names Moodle sends) to the tool's three home views.

Least privilege: a launch with no role, an unknown role or only institution-level roles
gets the learner view; only context roles make a facilitator, only administrator roles
(system, institution or context) make an admin.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"


class AppRole(StrEnum):
    LEARNER = "learner"
    FACILITATOR = "facilitator"
    ADMIN = "admin"


_ADMIN = {
    LIS + "system/person#Administrator",
    LIS + "system/person#SysAdmin",
    LIS + "institution/person#Administrator",
    LIS + "membership#Administrator",
}
_FACILITATOR_CONTEXT = {"Instructor", "ContentDeveloper", "Mentor"}
_FACILITATOR_SUB = {"TeachingAssistant", "Grader", "Lecturer", "PrimaryInstructor",
                    "SecondaryInstructor", "TeachingAssistantSection"}


def _context_role(role: str) -> str | None:
    """The context (membership) role name of a full or short role, else None."""
    if role.startswith(LIS + "membership#"):
        return role.split("#", 1)[1]
    if role.startswith(LIS + "membership/"):
        # e.g. membership/Instructor#TeachingAssistant
        sub = role.split("#", 1)[1] if "#" in role else ""
        return sub or role.rsplit("/", 1)[1]
    if role.startswith("http://purl.imsglobal.org/vocab/lis/v2/") or ":" in role:
        return None  # institution/system roles and unknown URIs are not context roles
    return role  # short name as Moodle sends it ("Learner", "Instructor")


def classify(roles: Iterable[str]) -> AppRole:
    roles = [r.strip() for r in roles if isinstance(r, str) and r.strip()]
    if any(r in _ADMIN for r in roles):
        return AppRole.ADMIN
    names = [_context_role(r) for r in roles]
    if "Administrator" in names:
        return AppRole.ADMIN
    for name in names:
        if name in _FACILITATOR_CONTEXT or name in _FACILITATOR_SUB:
            return AppRole.FACILITATOR
    return AppRole.LEARNER
