"""Logging: a request id on every line, optionally one JSON object per line.

Secrets never reach the log: id_tokens, client assertions and keys are not logged, and
``extra`` fields named like secrets are masked.
"""

from __future__ import annotations

import json
import logging
import sys
import uuid
from contextvars import ContextVar, Token
from typing import Any

from flask import g, has_request_context, request

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}
_SECRET_WORDS = ("token", "secret", "password", "assertion", "private", "authorization")


# Set for each request by the outermost WSGI layer (``web/hot_path.py``), so that the lines
# of requests answered without Flask carry their id too.
_REQUEST_ID: ContextVar[str | None] = ContextVar("qc_request_id", default=None)


def request_id_from(incoming: str | None) -> str:
    """The caller's X-Request-ID when it is a sane token, else a new one."""
    if incoming and len(incoming) <= 64 and incoming.isprintable():
        return incoming
    return uuid.uuid4().hex


def bind_request_id(incoming: str | None) -> Token[str | None]:
    return _REQUEST_ID.set(request_id_from(incoming))


def unbind_request_id(token: Token[str | None]) -> None:
    _REQUEST_ID.reset(token)


def current_request_id() -> str:
    rid = _REQUEST_ID.get()
    if rid is not None:
        return rid
    if has_request_context():
        rid = getattr(g, "request_id", None)
        if rid is None:
            rid = g.request_id = request_id_from(request.headers.get("X-Request-ID"))
        return str(rid)
    return "-"


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in vars(record).items():
        if key in _STANDARD or key.startswith("_"):
            continue
        if any(word in key.lower() for word in _SECRET_WORDS):
            value = "***"
        out[key] = value
    return out


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        data.update(_extras(record))
        if record.exc_info:
            data["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        extras = _extras(record)
        if extras:
            base += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        return base


def configure_logging(json_logs: bool, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    if json_logs:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter(
            "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_lti_service", False):
            root.removeHandler(old)
    handler._lti_service = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
