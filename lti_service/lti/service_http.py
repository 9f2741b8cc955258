"""HTTP to LMS services (token endpoint, AGS, NRPS): classified failures, never a crash.

Every failure becomes a :class:`ServiceError` with a ``kind`` the worker acts on, the HTTP
status and the start of the LMS's answer (kept for the operator), and ``retry_after`` when a
429 or 503 named one. A platform answering garbage JSON or an HTML error page is
``bad_response``, not an exception escaping into the worker.

Connections: one ``requests.Session`` per thread (keep-alive; a ``Session`` is not meant to
be shared between threads), made by :func:`thread_session`.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import os
import threading
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from lti_service import __version__

USER_AGENT = f"QualityClub/{__version__} (LTI 1.3 tool)"  # Canvas requires a User-Agent
DETAIL_LIMIT = 500

# kind -> retried with backoff?
RETRYABLE = {
    "auth": True,  # 401 after one re-authentication, or the token endpoint refused us
    "rate_limited": True,  # 429
    "server": True,  # 5xx
    "timeout": True,
    "network": True,  # connection refused, reset, DNS
    "bad_response": True,  # garbage where JSON was due (often a proxy's error page)
    "not_found": True,  # 404: the line item is looked up again before the next attempt
    "rejected": False,  # any other 4xx: the LMS refuses this request for good
    "config": False,  # the tool cannot send at all (no key, no line item URL)
}


class ServiceError(Exception):
    """A classified failure of a service call."""

    def __init__(self, kind: str, detail: str, *, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail[:DETAIL_LIMIT * 2]
        self.status = status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return RETRYABLE.get(self.kind, True)


def snippet(response: requests.Response) -> str:
    """The start of the body, on one line (what the LMS said)."""
    try:
        text = response.text
    except Exception:  # undecodable bytes
        text = repr(response.content[:DETAIL_LIMIT])
    text = " ".join(text.split())
    return text[:DETAIL_LIMIT] + ("…" if len(text) > DETAIL_LIMIT else "")


def retry_after(response: requests.Response) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date (RFC 9110)."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def classify_response(response: requests.Response, what: str) -> ServiceError:
    status = response.status_code
    detail = f"{what}: HTTP {status}: {snippet(response)}"
    if status == 401:
        return ServiceError("auth", detail, status=status)
    if status == 409:
        return ServiceError("conflict", detail, status=status)
    if status == 429:
        return ServiceError("rate_limited", detail, status=status,
                            retry_after=retry_after(response))
    if status == 404:
        return ServiceError("not_found", detail, status=status)
    if status == 408:
        return ServiceError("timeout", detail, status=status)
    if status >= 500:
        return ServiceError("server", detail, status=status, retry_after=retry_after(response))
    if 300 <= status < 400:
        return ServiceError("bad_response", f"{detail} (redirect to "
                            f"{response.headers.get('Location', '?')})", status=status)
    return ServiceError("rejected", detail, status=status)


def classify_exception(exc: requests.RequestException, what: str) -> ServiceError:
    if isinstance(exc, requests.Timeout):
        return ServiceError("timeout", f"{what}: timed out ({exc.__class__.__name__})")
    if isinstance(exc, requests.ConnectionError):
        return ServiceError("network", f"{what}: cannot connect: {exc}")
    return ServiceError("network", f"{what}: {exc.__class__.__name__}: {exc}")


def read_json(response: requests.Response, what: str) -> Any:
    """The JSON body, or ``bad_response`` (HTML error page, truncated or garbage JSON)."""
    try:
        return response.json()
    except (ValueError, json.JSONDecodeError):
        ctype = response.headers.get("Content-Type", "?")
        raise ServiceError(
            "bad_response",
            f"{what}: HTTP {response.status_code} with a body that is not JSON "
            f"({ctype}): {snippet(response)}", status=response.status_code) from None


def parse_link_header(value: str) -> dict[str, str]:
    """``Link`` header → {rel: URL}, the URL exactly as sent (case and encoding intact)."""
    links: dict[str, str] = {}
    for part in _split_links(value):
        part = part.strip()
        if not part.startswith("<") or ">" not in part:
            continue
        url, _, params = part[1:].partition(">")
        for param in params.split(";"):
            name, _, raw = param.strip().partition("=")
            if name.strip().lower() != "rel":
                continue
            for rel in raw.strip().strip('"').split():
                links.setdefault(rel.lower(), url.strip())
    return links


def _split_links(value: str) -> list[str]:
    """Split on commas outside <...> (a URL may contain commas)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(value):
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            parts.append(value[start:i])
            start = i + 1
    parts.append(value[start:])
    return parts


_LOCAL = threading.local()


_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")


def new_session(pool_size: int = 4) -> requests.Session:
    """A keep-alive session. Unless a proxy is configured in the environment, it reads the
    environment once here instead of on every request (requests' per-request proxy and
    ~/.netrc lookup cost more CPU per score than the rest of the request, measured in
    benchmarks/grade_sync); a CA bundle named by REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE is kept."""
    session = requests.Session()
    if not any(name.lower() in _PROXY_VARIABLES for name in os.environ):
        session.trust_env = False
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            session.verify = bundle
    adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


def thread_session() -> requests.Session:
    """This thread's keep-alive session."""
    session: requests.Session | None = getattr(_LOCAL, "session", None)
    if session is None:
        session = _LOCAL.session = new_session()
    return session
