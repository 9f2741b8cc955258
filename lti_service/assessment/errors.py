"""What can go wrong with an assessment request, each with its HTTP status and a code.

Services raise these; views turn them into an error page or a JSON error. Messages are
English msgids, translated by the view (``gettext(err.message) % err.params``).
"""

from __future__ import annotations

from typing import Any


def N_(message: str) -> str:
    """Mark a message for extraction into the catalogs; it is translated when shown."""
    return message


class AssessmentError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params


class InvalidInput(AssessmentError):
    status = 400
    code = "invalid_input"

    def __init__(self, field: str, message: str, **params: Any) -> None:
        super().__init__(message, **params)
        self.field = field


class NotFound(AssessmentError):
    """Unknown ids, and ids of another user's or another course's assessment: the tool does
    not say which, so probing reveals nothing."""

    status = 404
    code = "not_found"


class NotEditable(AssessmentError):
    status = 409
    code = "not_editable"


class Incomplete(AssessmentError):
    status = 409
    code = "incomplete"

    def __init__(self, missing_criteria: list[str], needs_priority: bool) -> None:
        super().__init__(N_("The assessment cannot be submitted yet: some answers or a priority "
                         "are missing."))
        self.missing_criteria = missing_criteria
        self.needs_priority = needs_priority


class Conflict(AssessmentError):
    """A save based on an older version of an answer: the newer one is kept."""

    status = 409
    code = "conflict"

    def __init__(self, current: Any) -> None:
        super().__init__(N_("This answer was changed in another tab or window."))
        self.current = current
