"""Launch failures: each has a stable code (logged, shown) and an HTTP status."""

from __future__ import annotations


class LaunchError(Exception):
    """A launch or login that must be refused; nothing of it is stored.

    ``code`` is stable and machine-readable (logs, tests); ``message`` speaks to a person.
    """

    def __init__(self, code: str, message: str, status: int = 400, **details: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.details = details
