"""Platform public keys: fetched once, cached in the database and per process.

pylti1p3 fetches the platform JWKS on every launch and never re-fetches on an unknown
``kid`` (launches break for hours after a platform rotates, as Brightspace does hourly).
Here: a process cache of parsed keys, backed by a database row every instance shares;
an unknown ``kid`` triggers one re-fetch, rate limited per key set URL.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
import requests
from sqlalchemy import select
from sqlalchemy.engine import Engine

from lti_service.db import make_session_factory, utcnow
from lti_service.lti.errors import LaunchError
from lti_service.models import PlatformKeySet

log = logging.getLogger(__name__)

USER_AGENT = "QualityClub-LTI/0.1 (+https://www.imsglobal.org/spec/lti/v1p3)"


@dataclass
class _Entry:
    keys: dict[str, Any]  # kid -> public key object
    loaded_at: float
    fetched_at: float  # when the platform was last asked (wall clock)


@dataclass
class KeyStore:
    """Per-process cache; the database row is the shared truth."""

    engine: Engine
    cache_seconds: int = 3600
    refetch_interval: int = 10
    http: requests.Session = field(default_factory=requests.Session)
    fetch_count: int = 0
    _entries: dict[str, _Entry] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.http.headers["User-Agent"] = USER_AGENT

    def key_for(self, url: str, kid: str) -> Any:
        """The public key with ``kid`` from the key set at ``url``; one re-fetch if unknown."""
        entry = self._entries.get(url)
        now = time.time()
        if entry is None or now - entry.fetched_at > self.cache_seconds:
            entry = self._load(url, force=False)
        key = entry.keys.get(kid)
        if key is not None:
            return key
        if now - entry.fetched_at >= self.refetch_interval:
            entry = self._load(url, force=True)
            key = entry.keys.get(kid)
            if key is not None:
                return key
        raise LaunchError(
            "unknown_kid",
            "The platform signed the launch with a key (kid) that is not in its published "
            "key set.",
            status=401,
            kid=kid,
        )

    def _load(self, url: str, force: bool) -> _Entry:
        """From the shared row if fresh (another instance fetched it), else from the platform.
        Own connections and transactions: this is a cache, not launch data, and must not be
        lost when the launch itself is refused."""
        with self._lock:
            with self.engine.connect() as conn:
                row = conn.execute(select(PlatformKeySet.keys_json, PlatformKeySet.fetched_at)
                                   .where(PlatformKeySet.url == url)).first()
            if row is not None and not force:
                fetched_at = row[1] if row[1].tzinfo else row[1].replace(tzinfo=dt.UTC)
                if (utcnow() - fetched_at).total_seconds() <= self.cache_seconds:
                    entry = _Entry(_parse(json.loads(row[0])), time.time(),
                                   fetched_at.timestamp())
                    self._entries[url] = entry
                    return entry
            data = self._fetch(url)
            now = utcnow()
            _store(self.engine, url, data, now)
            entry = _Entry(_parse(data), time.time(), now.timestamp())
            self._entries[url] = entry
            return entry

    def _fetch(self, url: str) -> dict[str, Any]:
        self.fetch_count += 1
        try:
            response = self.http.get(url, timeout=10)
            response.raise_for_status()
            data = response.json()
        except (requests.RequestException, ValueError) as exc:
            log.warning("platform key set fetch failed", extra={"url": url, "error": str(exc)})
            raise LaunchError(
                "platform_keys_unavailable",
                "The platform's public key set could not be fetched, so the launch cannot be "
                "verified. Try again in a moment.",
                status=502,
            ) from exc
        if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
            raise LaunchError("platform_keys_invalid", "The platform's key set is not a JWKS.",
                              status=502)
        log.info("platform key set fetched", extra={"url": url, "keys": len(data["keys"])})
        return data


def _parse(data: dict[str, Any]) -> dict[str, Any]:
    keys: dict[str, Any] = {}
    for jwk in data.get("keys", []):
        kid = jwk.get("kid")
        if not kid or jwk.get("kty") != "RSA" or jwk.get("use", "sig") != "sig":
            continue
        try:
            keys[kid] = jwt.PyJWK(jwk, algorithm="RS256").key
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            log.warning("skipping unusable platform key", extra={"kid": kid})
    return keys


def _store(engine: Engine, url: str, data: dict[str, Any], now: dt.datetime) -> None:
    factory = make_session_factory(engine)
    with factory() as own:
        row = own.scalars(select(PlatformKeySet).where(PlatformKeySet.url == url)).first()
        if row is None:
            own.add(PlatformKeySet(url=url, keys_json=json.dumps(data), fetched_at=now))
        else:
            row.keys_json = json.dumps(data)
            row.fetched_at = now
        try:
            own.commit()
        except Exception:  # a concurrent instance stored it first: fine, it is a cache
            own.rollback()
