"""Launch failures: each has a stable code (logged, shown) and an HTTP status.

The message is an English msgid, extracted for translation straight from the calls
(``LaunchError`` is a keyword of the extraction, its second argument the message: see
``babel.cfg``); values in it are ``%(name)s`` placeholders filled from the details, so the
error page can show the message in the person's language (``web/errors.py``) while the log
keeps the English text and the details as fields.
"""

from __future__ import annotations


class LaunchError(Exception):
    """A launch or login that must be refused; nothing of it is stored.

    ``code`` is stable and machine-readable (logs, tests); ``message`` speaks to a person.
    """

    def __init__(self, code: str, message: str, status: int = 400, **details: str) -> None:
        text = message % details if details and "%(" in message else message
        super().__init__(f"{code}: {text}")
        self.code = code
        self.template = message  # the msgid
        self.message = text  # in English
        self.status = status
        self.details = details


def shown(value: object, limit: int = 80) -> str:
    """A value from the request, fit for a message and a log field: one line, bounded."""
    return " ".join(str(value).split())[:limit]
