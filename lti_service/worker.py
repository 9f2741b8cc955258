"""The grade-sync worker: drains the outbox (``lti-service worker``; ``demo`` runs it in a
thread).

One loop claims due jobs in batches (:func:`lti_service.grades.outbox.claim`) and hands them
to ``concurrency`` sender threads, each with its own keep-alive HTTP connection; results are
written back in batches. The loop keeps about two jobs per thread claimed, so the threads
never wait for the database and few leases are held if the process dies. SIGTERM/SIGINT
stop it cleanly (in-flight sends finish, unsent claims are released); after a SIGKILL the
leases of its claimed jobs expire and any worker takes them again — a score that did reach
the LMS then gets 409, which counts as delivered.

Several workers may run at once on PostgreSQL (claims use ``FOR UPDATE SKIP LOCKED``); on
SQLite run one.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from lti_service.config import Settings
from lti_service.db import make_engine, make_session_factory, session_scope
from lti_service.grades import outbox
from lti_service.grades.sender import Sender
from lti_service.lti.service_tokens import TokenCache

log = logging.getLogger(__name__)
FLUSH_EVERY = 0.2  # seconds between writes of finished results (or a batch's worth)


@dataclass
class WorkerStats:
    claimed: int = 0
    sent: int = 0
    conflicts: int = 0
    failed: int = 0
    started: float = field(default_factory=time.monotonic)

    def as_dict(self) -> dict[str, Any]:
        return {"claimed": self.claimed, "sent": self.sent, "conflicts_409": self.conflicts,
                "failed": self.failed, "seconds": round(time.monotonic() - self.started, 3)}


class Worker:
    def __init__(self, settings: Settings, *, factory: sessionmaker[Session] | None = None,
                 secret_key: str | None = None, concurrency: int | None = None,
                 tokens: TokenCache | None = None) -> None:
        self.settings = settings
        self.factory = factory or make_session_factory(
            make_engine(settings.effective_database_url))
        self.concurrency = concurrency or settings.worker_concurrency
        self.batch_size = settings.worker_batch_size
        self.tokens = tokens or TokenCache(margin=settings.service_token_margin,
                                           timeout=settings.service_timeout)
        self.sender = Sender(self.factory, secret_key or settings.resolve_secret_key(),
                             self.tokens, timeout=settings.service_timeout)
        self.policy = outbox.RetryPolicy(max_attempts=settings.worker_max_attempts,
                                         base=settings.worker_backoff_base,
                                         cap=settings.worker_backoff_cap)
        self.stats = WorkerStats()
        self.stop_event = threading.Event()

    # ----------------------------------------------------------------------------- loop
    def run(self, *, drain: bool = False) -> WorkerStats:
        """Work until :meth:`stop` (or, with ``drain``, until no job is pending)."""
        log.info("grade-sync worker started", extra={"concurrency": self.concurrency,
                                                     "batch_size": self.batch_size})
        todo: queue.Queue[outbox.Job | None] = queue.Queue()
        done: queue.Queue[outbox.Result] = queue.Queue()
        threads = [threading.Thread(target=self._send_loop, args=(todo, done), daemon=True,
                                    name=f"grade-send-{n}") for n in range(self.concurrency)]
        for thread in threads:
            thread.start()
        target = self.concurrency * 2  # claimed and not finished: in flight + queued
        outstanding = 0
        finished: list[outbox.Result] = []
        last_flush = time.monotonic()
        try:
            while not self.stop_event.is_set():
                room = target - outstanding
                if room >= self.concurrency or outstanding == 0:
                    for job in self._claim(min(self.batch_size, room)):
                        todo.put(job)
                        outstanding += 1
                if outstanding == 0:
                    self._flush(finished)
                    if drain and self._nothing_pending():
                        break
                    self.stop_event.wait(self.settings.worker_poll_interval)
                    continue
                try:
                    finished.append(done.get(timeout=FLUSH_EVERY))
                    outstanding -= 1
                    while True:
                        finished.append(done.get_nowait())
                        outstanding -= 1
                except queue.Empty:
                    pass
                if (len(finished) >= self.batch_size
                        or time.monotonic() - last_flush >= FLUSH_EVERY):
                    self._flush(finished)
                    last_flush = time.monotonic()
        finally:
            unsent: list[outbox.Job] = []
            while True:  # claimed but not started: give them back
                try:
                    waiting = todo.get_nowait()
                except queue.Empty:
                    break
                if waiting is not None:
                    unsent.append(waiting)
            for _ in threads:
                todo.put(None)
            for thread in threads:
                thread.join()  # sends in flight finish (each bounded by the timeout)
            while not done.empty():
                finished.append(done.get_nowait())
            self._flush(finished)
            if unsent:
                self._with_db(lambda s: outbox.release(s, unsent))
            log.info("grade-sync worker stopped", extra=self.stats.as_dict())
        return self.stats

    def _send_loop(self, todo: queue.Queue[outbox.Job | None],
                   done: queue.Queue[outbox.Result]) -> None:
        while True:
            job = todo.get()
            if job is None:
                return
            done.put(self.sender.send(job))  # send() never raises

    def stop(self) -> None:
        self.stop_event.set()

    # ----------------------------------------------------------------------------- steps
    def _with_db(self, fn: Any) -> Any:
        """``fn(session)`` in its own transaction, retried while the database is busy."""
        delay = 0.05
        while True:
            try:
                with session_scope(self.factory) as session:
                    return fn(session)
            except OperationalError as exc:  # locked (SQLite) or a dropped connection
                if self.stop_event.is_set() and delay > 1:
                    raise
                log.warning("database busy or unavailable: retrying", extra={"error": str(
                    exc.orig)[:200]})
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _claim(self, limit: int) -> list[outbox.Job]:
        if limit <= 0:
            return []
        jobs: list[outbox.Job] = self._with_db(
            lambda s: outbox.claim(s, limit, self.settings.worker_lease_seconds))
        self.stats.claimed += len(jobs)
        return jobs

    def _flush(self, finished: list[outbox.Result]) -> None:
        if not finished:
            return
        batch = list(finished)
        finished.clear()
        self._with_db(lambda s: outbox.complete(s, batch, self.policy))
        for result in batch:
            if result.ok:
                self.stats.sent += 1
                if result.status == 409:
                    self.stats.conflicts += 1
            else:
                self.stats.failed += 1

    def _nothing_pending(self) -> bool:
        count: int = self._with_db(outbox.pending_count)
        return count == 0


def run_forever(settings: Settings, *, concurrency: int | None = None,
                drain: bool = False) -> WorkerStats:
    """``lti-service worker``: run until SIGTERM/SIGINT (or drained)."""
    worker = Worker(settings, concurrency=concurrency)

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping after the sends in flight", signum)
        worker.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    return worker.run(drain=drain)


def start_in_thread(settings: Settings, factory: sessionmaker[Session],
                    secret_key: str) -> Worker:
    """The demo's in-process worker: a daemon thread sharing the app's database engine."""
    worker = Worker(settings, factory=factory, secret_key=secret_key)

    def _run() -> None:
        try:
            worker.run()
        except Exception:  # the demo's web server keeps running; say why grades stopped
            log.exception("the in-process grade-sync worker stopped")

    threading.Thread(target=_run, name="grade-sync-worker", daemon=True).start()
    return worker
