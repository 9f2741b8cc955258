"""Cookies and response headers that keep the tool working, and safe, inside an LMS iframe.

Every cookie is ``Secure; SameSite=None; Partitioned; HttpOnly; Path=/``, always: browsers
that block third-party cookies (Chromium does by default) still keep partitioned (CHIPS)
cookies, and Chromium stores Secure cookies from http://localhost and http://127.0.0.1 too.
``frame-ancestors`` lists the registered platforms, so only they may frame the tool.
"""

from __future__ import annotations

import secrets
import threading
import time
from urllib.parse import urlsplit

from flask import g, request
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.http import dump_cookie
from werkzeug.wrappers import Response

from lti_service.models import Registration
from lti_service.web.launch_session import BIND_COOKIE

__all__ = [
    "BIND_COOKIE", "FrameAncestors", "apply_headers", "cookie_header", "csp_nonce", "set_cookie",
]


def cookie_header(name: str, value: str, max_age: int | None) -> str:
    """A ``Set-Cookie`` value with the attributes every cookie of the tool carries."""
    return dump_cookie(name, value, max_age=max_age, path="/", secure=True, httponly=True,
                       samesite="None", partitioned=True)


def set_cookie(response: Response, name: str, value: str, max_age: int | None) -> None:
    response.headers.add("Set-Cookie", cookie_header(name, value, max_age))


def csp_nonce() -> str:
    nonce = g.get("csp_nonce")
    if nonce is None:
        nonce = g.csp_nonce = secrets.token_urlsafe(16)
    return str(nonce)


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return None


class FrameAncestors:
    """Origins allowed to frame the tool: every registered platform. Cached briefly per
    process; the database is the truth, so a new registration is framed within seconds."""

    def __init__(self, ttl: float = 15.0) -> None:
        self._ttl = ttl
        self._lock = threading.Lock()
        self._value: tuple[float, list[str]] | None = None

    def origins(self, factory: sessionmaker[Session], extra: list[str]) -> list[str]:
        cached = self._value
        if cached is not None and time.monotonic() - cached[0] < self._ttl:
            return cached[1]
        found: set[str] = set(extra)
        with factory() as session:
            rows = list(session.execute(
                select(Registration.issuer, Registration.auth_login_url)))
        for issuer, auth_url in rows:
            for url in (issuer, auth_url):
                origin = _origin(url)
                if origin:
                    found.add(origin)
        value = sorted(found)
        with self._lock:
            self._value = (time.monotonic(), value)
        return value

    def clear(self) -> None:
        self._value = None


def apply_headers(response: Response, frame_origins: list[str], strict_scripts: bool) -> None:
    ancestors = " ".join(["'self'", *frame_origins])
    policy = [f"frame-ancestors {ancestors}", "base-uri 'self'", "object-src 'none'"]
    if strict_scripts:
        policy += [
            "default-src 'self'",
            f"script-src 'self' 'nonce-{csp_nonce()}'",
            "style-src 'self'",
            "img-src 'self' data:",
            "form-action *",  # auto-submitted forms post to the platform (Deep Linking)
        ]
    response.headers.setdefault("Content-Security-Policy", "; ".join(policy))
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    # In-app URLs carry the signed launch: never send them to another site.
    response.headers.setdefault("Referrer-Policy", "no-referrer" if "/app/t." in request.path
                                else "same-origin")
