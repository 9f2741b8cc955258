"""Sending one claimed score: find or create its line item, get a token, POST, classify.

Runs in the worker's sender threads. Every outcome is a :class:`Result`; nothing raised by
an LMS (garbage JSON, an HTML error page, a reset connection) escapes as an exception.

* Access tokens come from a :class:`TokenCache` (one per worker process) keyed by token URL,
  client_id and scopes; a 401 invalidates the token that failed and the request is repeated
  once with a new one.
* A 409 to a score means the platform already holds this timestamp or a newer one (Moodle
  compares whole seconds): this score, or a newer one, was delivered — counted as sent, so a
  retry after a crash never duplicates.
* A line item without a URL is looked up in the container by tag and resourceId, and
  created when there is none (with the ``lineitem`` scope). On PostgreSQL the line item row
  is locked (``FOR NO KEY UPDATE``) while that happens, so two workers never both create it.
* A 404 for a line item that was looked up forgets its URL, so the next attempt looks again
  (a column deleted in the LMS is recreated).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import requests
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from lti_service.db import session_scope, utcnow
from lti_service.grades.outbox import Job, Result
from lti_service.lti import ags
from lti_service.lti import keys as tool_keys
from lti_service.lti.service_http import ServiceError, thread_session
from lti_service.lti.service_tokens import TokenCache
from lti_service.models import GradeLineItem

log = logging.getLogger(__name__)
T = TypeVar("T")
SIGNER_TTL = 60.0  # seconds a loaded signer is reused (key rotation is seen within a minute)


class Sender:
    def __init__(self, factory: sessionmaker[Session], secret_key: str, tokens: TokenCache,
                 *, timeout: float = 10.0) -> None:
        self.factory = factory
        self.secret_key = secret_key
        self.tokens = tokens
        self.timeout = timeout
        self._lock = threading.Lock()
        self._signer: tuple[float, tool_keys.Signer] | None = None
        self._urls: dict[int, str] = {}  # line item id -> URL, once resolved
        self._resolving: dict[int, threading.Lock] = {}
        self.score_requests = 0

    # -- helpers ----------------------------------------------------------------------------
    def signer(self) -> tool_keys.Signer:
        with self._lock:
            cached = self._signer
            if cached is not None and time.monotonic() - cached[0] < SIGNER_TTL:
                return cached[1]
        with session_scope(self.factory) as session:
            signer = tool_keys.signer(session, self.secret_key)
        with self._lock:
            self._signer = (time.monotonic(), signer)
        return signer

    def _authorized(self, job: Job, call: Callable[[str], T]) -> T:
        """``call(token)``, re-authenticating once on a 401."""
        http = thread_session()
        try:
            signer = self.signer
            token = self.tokens.get(job.auth, job.scopes, signer, http)
        except tool_keys.KeyError_ as exc:
            raise ServiceError("config", str(exc)) from exc
        try:
            return call(token)
        except ServiceError as error:
            if error.kind != "auth":
                raise
            log.info("service answered 401: re-authenticating once",
                     extra={"issuer": job.auth.issuer, "job_id": job.id})
            self.tokens.invalidate(job.auth, job.scopes, token)
            token = self.tokens.get(job.auth, job.scopes, signer, http)
            return call(token)

    # -- line items -------------------------------------------------------------------------
    def line_item_url(self, job: Job) -> str:
        if job.line_item_url:
            return job.line_item_url
        known = self._urls.get(job.line_item_id)
        if known:
            return known
        with self._lock:
            lock = self._resolving.setdefault(job.line_item_id, threading.Lock())
        with lock:
            known = self._urls.get(job.line_item_id)
            if known:
                return known
            url = self._resolve(job)
            self._urls[job.line_item_id] = url
            return url

    def _resolve(self, job: Job) -> str:
        if job.coupled or not job.container_url:
            raise ServiceError("config", "the line item has no URL and the platform offered "
                               "no line items container")
        container = job.container_url
        with session_scope(self.factory) as session:
            stmt = select(GradeLineItem).where(GradeLineItem.id == job.line_item_id)
            if session.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update(key_share=True)  # FOR NO KEY UPDATE
            item = session.scalars(stmt).first()
            if item is None:
                raise ServiceError("config", "the line item row is gone")
            if item.url:
                return item.url
            http = thread_session()
            found = self._authorized(job, lambda token: ags.find_line_items(
                http, container, token, tag=job.tag, resource_id=job.resource_id or None,
                timeout=self.timeout))
            if found:
                url = str(found[0]["id"])
                how = "found"
            elif job.can_create:
                created = self._authorized(job, lambda token: ags.create_line_item(
                    http, container, token, label=job.label,
                    score_maximum=job.line_item_maximum, tag=job.tag or None,
                    resource_id=job.resource_id or None, timeout=self.timeout))
                url = str(created["id"])
                how = "created"
            else:
                raise ServiceError("config", f"no line item tagged {job.tag!r} in the "
                                   "platform, and no permission to create one (lineitem scope)")
            item.url = url
            item.resolved_at = utcnow()
            log.info("line item %s", how, extra={"line_item_id": item.id, "tag": item.tag,
                                                 "resource_id": item.resource_id, "url": url})
            return url

    def forget_line_item(self, job: Job) -> None:
        """After a 404: look the line item up again next time (not for a coupled one)."""
        self._urls.pop(job.line_item_id, None)
        if job.coupled:
            return
        with session_scope(self.factory) as session:
            session.execute(update(GradeLineItem).where(GradeLineItem.id == job.line_item_id)
                            .values(url=None, resolved_at=None))

    # -- sending ----------------------------------------------------------------------------
    def send(self, job: Job) -> Result:
        try:
            url = self.line_item_url(job)
            http = thread_session()
            status = self._authorized(job, lambda token: self._post(http, url, token, job))
            return Result(job, ok=True, status=status)
        except ServiceError as error:
            if error.kind == "conflict":
                # The platform holds this timestamp or a newer one: delivered (idempotent).
                return Result(job, ok=True, status=409,
                              note="the platform already had this score or a newer one")
            if error.kind == "not_found":
                self.forget_line_item(job)
            log.warning("score not delivered", extra={
                "job_id": job.id, "kind": error.kind, "status": error.status,
                "attempt": job.attempts + 1, "detail": error.detail[:300]})
            return Result(job, ok=False, status=error.status, error=error)
        except Exception as exc:  # a bug or an unexpected library error: never kill the worker
            log.exception("score send failed unexpectedly", extra={"job_id": job.id})
            return Result(job, ok=False, error=ServiceError(
                "internal", f"{exc.__class__.__name__}: {exc}"))

    def _post(self, http: requests.Session, url: str, token: str, job: Job) -> int:
        with self._lock:
            self.score_requests += 1
        return ags.post_score(http, url, token, job.score, timeout=self.timeout)
