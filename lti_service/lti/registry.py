"""A short-lived per-process copy of registrations' identity (issuer, client id, URLs).

Every launch needs the registration before anything else (to find the platform's key set),
and reading it from the database costs a round trip per request. The copy never decides
whether a platform may launch: that is checked in the database in the same statement that
writes the login or consumes it, so an operator's approval or deactivation takes effect at
once on every instance for launches; a login may still be started for up to ``ttl`` seconds
(its launch is then refused).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Engine

from lti_service.models import Registration


@dataclass(frozen=True)
class RegistrationInfo:
    id: int
    issuer: str
    client_id: str
    auth_login_url: str
    key_set_url: str
    state: str


class Registry:
    def __init__(self, engine: Engine, ttl: float = 5.0) -> None:
        self.engine = engine
        self.ttl = ttl
        self._lock = threading.Lock()
        self._by_key: dict[tuple[str, str | None], tuple[float, list[RegistrationInfo]]] = {}
        self._by_id: dict[int, tuple[float, RegistrationInfo]] = {}

    def by_id(self, registration_id: int) -> RegistrationInfo | None:
        cached = self._by_id.get(registration_id)
        if cached is not None and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        with self.engine.connect() as conn:
            row = conn.execute(
                select(Registration.id, Registration.issuer, Registration.client_id,
                       Registration.auth_login_url, Registration.key_set_url, Registration.state)
                .where(Registration.id == registration_id)
            ).first()
        if row is None:
            return None
        info = RegistrationInfo(*row)
        with self._lock:
            self._by_id[registration_id] = (time.monotonic(), info)
        return info

    def find(self, issuer: str, client_id: str | None,
             fresh: bool = False) -> list[RegistrationInfo]:
        """Registrations for (issuer, client_id); all of the issuer's if client_id is None."""
        key = (issuer, client_id)
        cached = self._by_key.get(key)
        if not fresh and cached is not None and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        query = select(Registration.id, Registration.issuer, Registration.client_id,
                       Registration.auth_login_url, Registration.key_set_url,
                       Registration.state).where(Registration.issuer == issuer)
        if client_id is not None:
            query = query.where(Registration.client_id == client_id)
        with self.engine.connect() as conn:
            found = [RegistrationInfo(*row) for row in conn.execute(query.limit(2))]
        with self._lock:
            self._by_key[key] = (time.monotonic(), found)
        return found

    def clear(self) -> None:
        with self._lock:
            self._by_key.clear()
            self._by_id.clear()
