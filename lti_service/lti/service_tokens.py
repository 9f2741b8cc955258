"""OAuth 2 client-credentials access tokens for LTI Advantage services (AGS, NRPS).

The tool proves itself with a ``private_key_jwt`` client assertion signed by its active key
(a loaded key object, see :mod:`lti_service.lti.keys`; never a PEM reloaded per call).
Tokens are cached in process memory per (token URL, client_id, scopes) and reused until
``margin`` seconds before their ``expires_in`` runs out; one request per key at a time
(concurrent callers wait for the one fetch), so a worker with many threads makes one token
request per token lifetime. A 401 from a service invalidates exactly the token that failed.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from lti_service.lti.keys import Signer
from lti_service.lti.service_http import (
    ServiceError,
    classify_exception,
    classify_response,
    read_json,
)

log = logging.getLogger(__name__)

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = 300


@dataclass(frozen=True)
class PlatformAuth:
    """What a token request needs to know about one registration."""

    issuer: str
    client_id: str
    token_url: str
    audience: str | None = None  # the registration's auth_audience, else the token URL


@dataclass
class _Entry:
    token: str
    expires_at: float  # monotonic
    lock: threading.Lock


class TokenCache:
    """Access tokens per (token URL, client_id, scopes), shared by a process's threads."""

    def __init__(self, *, margin: float = 60.0, timeout: float = 10.0) -> None:
        self.margin = margin
        self.timeout = timeout
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str, tuple[str, ...]], _Entry] = {}
        self.requests_made = 0  # token endpoint calls (benchmarks and tests read it)

    @staticmethod
    def key(auth: PlatformAuth, scopes: tuple[str, ...]) -> tuple[str, str, tuple[str, ...]]:
        return (auth.token_url, auth.client_id, tuple(sorted(set(scopes))))

    def _entry(self, key: tuple[str, str, tuple[str, ...]]) -> _Entry:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry("", 0.0, threading.Lock())
            return entry

    def get(self, auth: PlatformAuth, scopes: tuple[str, ...], signer: Callable[[], Signer],
            http: requests.Session) -> str:
        """A valid token for ``scopes``; fetched only when none is cached or it is about to
        expire. Raises :class:`ServiceError` when the platform refuses or fails."""
        key = self.key(auth, scopes)
        entry = self._entry(key)
        if entry.token and time.monotonic() < entry.expires_at:
            return entry.token
        with entry.lock:  # single flight: other threads wait for this fetch
            if entry.token and time.monotonic() < entry.expires_at:
                return entry.token
            token, lifetime = self._request(auth, key[2], signer(), http)
            entry.token = token
            # renew `margin` seconds early, but never sooner than half the lifetime
            early = min(self.margin, lifetime / 2)
            entry.expires_at = time.monotonic() + max(lifetime - early, 1.0)
            return token

    def invalidate(self, auth: PlatformAuth, scopes: tuple[str, ...], token: str) -> None:
        """Forget ``token`` (after a 401), unless another thread already replaced it."""
        entry = self._entry(self.key(auth, scopes))
        with entry.lock:
            if entry.token == token:
                entry.token, entry.expires_at = "", 0.0

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _request(self, auth: PlatformAuth, scopes: tuple[str, ...], signer: Signer,
                 http: requests.Session) -> tuple[str, float]:
        now = int(time.time())
        assertion = signer.sign({
            "iss": auth.client_id,
            "sub": auth.client_id,
            "aud": auth.audience or auth.token_url,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
            "jti": secrets.token_urlsafe(24),
        })
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": JWT_BEARER,
            "client_assertion": assertion,
            "scope": " ".join(scopes),
        }
        with self._lock:
            self.requests_made += 1
        try:
            response = http.post(auth.token_url, data=form, timeout=self.timeout,
                                 headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            raise classify_exception(exc, "token request") from exc
        if response.status_code != 200:
            error = classify_response(response, "token request")
            # The token endpoint answers 400/401 for a refused client or scope: that is an
            # authentication failure of ours, not a refusal of the score itself.
            if error.kind in ("rejected", "auth"):
                error = ServiceError("auth", error.detail, status=error.status)
            raise error
        body = read_json(response, "token request")
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise ServiceError("bad_response", "token response without access_token",
                               status=response.status_code)
        lifetime = _lifetime(body)
        log.info("access token obtained", extra={"issuer": auth.issuer,
                                                 "client_id": auth.client_id,
                                                 "scopes": " ".join(scopes),
                                                 "expires_in": lifetime})
        return token, lifetime


def _lifetime(body: dict[str, Any]) -> float:
    value = body.get("expires_in", 3600)
    try:
        lifetime = float(value)
    except (TypeError, ValueError):
        return 3600.0
    return lifetime if lifetime > 0 else 3600.0


# One cache per process for web requests (the roster); workers make their own.
DEFAULT = TokenCache()
