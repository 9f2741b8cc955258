"""A grade-sync test bed: a fresh database, the fault-injecting AGS platform process
(``tests/support/ags_platform.py``), courses and learners pointing at it, and workers run as
``lti-service worker`` processes (so they can be killed with SIGKILL).

Settings for the worker are fast (backoff base 0.1 s, cap 0.4 s, lease 3 s, timeout 1 s) so
fault tests take seconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from lti_service.db import make_engine, make_session_factory, session_scope
from lti_service.grades import outbox
from lti_service.grades.scores import Progress
from lti_service.lti import ags
from lti_service.lti import keys as tool_keys
from lti_service.models import (
    Context,
    Deployment,
    GradeLineItem,
    GradeOutbox,
    Registration,
    ResourceLink,
    User,
)

ROOT = Path(__file__).resolve().parent.parent.parent
CLIENT_ID = "ags-client-1"
SECRET = "grade-sync-test-secret-" + "y" * 30
ALL_AGS = [ags.SCOPE_LINEITEM, ags.SCOPE_LINEITEM_READONLY, ags.SCOPE_RESULT_READONLY,
           ags.SCOPE_SCORE]
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
FAST = {
    "LTI_SERVICE_WORKER_CONCURRENCY": "4",
    "LTI_SERVICE_WORKER_BATCH_SIZE": "20",
    "LTI_SERVICE_WORKER_MAX_ATTEMPTS": "12",
    "LTI_SERVICE_WORKER_BACKOFF_BASE": "0.1",
    "LTI_SERVICE_WORKER_BACKOFF_CAP": "0.4",
    "LTI_SERVICE_WORKER_POLL_INTERVAL": "0.05",
    "LTI_SERVICE_WORKER_LEASE_SECONDS": "3",
    "LTI_SERVICE_SERVICE_TIMEOUT": "1.0",
}


class AgsPlatform:
    """Handle on the platform process."""

    def __init__(self, base: str, proc: subprocess.Popen[str], jwks_file: Path) -> None:
        self.base = base
        self.proc = proc
        self.jwks_file = jwks_file

    def reset(self, **options: Any) -> None:
        requests.post(self.base + "/control/reset", json=options, timeout=10).raise_for_status()

    def faults(self, *rules: dict[str, Any]) -> None:
        requests.post(self.base + "/control/faults", json={"rules": list(rules)},
                      timeout=10).raise_for_status()

    def clear_faults(self) -> None:
        requests.post(self.base + "/control/clear-faults", timeout=10).raise_for_status()

    def down(self, seconds: float) -> None:
        requests.post(self.base + "/control/down", json={"seconds": seconds},
                      timeout=10).raise_for_status()

    def new_line_item(self, **body: Any) -> str:
        reply = requests.post(self.base + "/control/lineitem", json=body, timeout=10)
        reply.raise_for_status()
        return str(reply.json()["id"])

    def log(self) -> dict[str, Any]:
        data: dict[str, Any] = requests.get(self.base + "/control/log", timeout=10).json()
        return data


def start_platform(jwks_file: Path, *extra: str) -> AgsPlatform:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "support" / "ags_platform.py"),
         "--jwks-file", str(jwks_file), "--stall", "1.6", *extra],
        stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    assert line and line[0] == "READY", line
    return AgsPlatform(line[1], proc, jwks_file)


@dataclass
class Course:
    context_id: int
    users: list[User]
    subs: list[str]


@dataclass
class GradeEnv:
    database_url: str
    instance: Path
    platform: AgsPlatform
    factory: sessionmaker[Session] = field(init=False)
    registration_id: int = field(init=False)
    workers: list[subprocess.Popen[str]] = field(default_factory=list)
    written: dict[tuple[int, str], list[float]] = field(default_factory=lambda: defaultdict(list))

    def __post_init__(self) -> None:
        self.engine = make_engine(self.database_url)
        self.factory = make_session_factory(self.engine)
        with session_scope(self.factory) as s:
            tool_keys.ensure_key(s, SECRET)
            self.platform.jwks_file.write_text(json.dumps(tool_keys.jwks(s)))
            reg = Registration(issuer=self.platform.base, client_id=CLIENT_ID,
                               name="AGS test platform",
                               auth_login_url=self.platform.base + "/auth",
                               auth_token_url=self.platform.base + "/token",
                               key_set_url=self.platform.base + "/jwks")
            reg.deployments.append(Deployment(deployment_id="d1"))
            s.add(reg)
            s.flush()
            self.registration_id = reg.id

    # ------------------------------------------------------------------ courses and scores
    def course(self, users: int = 3, *, scopes: list[str] | None = None,
               container: bool = True, coupled: bool = False, nrps: bool = False) -> Course:
        services: dict[str, Any] = {"ags": {"scope": ALL_AGS if scopes is None else scopes}}
        if container:
            services["ags"]["lineitems"] = self.platform.base + "/lineitems"
        if nrps:
            services["nrps"] = {"context_memberships_url": self.platform.base + "/memberships"}
        with session_scope(self.factory) as s:
            ctx = Context(registration_id=self.registration_id,
                          context_id=f"course-{uuid.uuid4().hex[:8]}", title="Grades course",
                          services=services)
            s.add(ctx)
            s.flush()
            if coupled:
                url = self.platform.new_line_item(label="Quality Club", scoreMaximum=1,
                                                  resourceLinkId="rl-1")
                s.add(ResourceLink(context_id=ctx.id, resource_link_id="rl-1",
                                   title="Quality Club", lineitem_url=url))
            people = [User(registration_id=self.registration_id,
                           sub=f"u{i}-{uuid.uuid4().hex[:6]}", name=f"Learner {i}")
                      for i in range(users)]
            s.add_all(people)
            s.flush()
            return Course(ctx.id, people, [p.sub for p in people])

    def line_item(self, course: Course, tag: str = "qdt-assessment",
                  resource_id: str = "qdt-mobility") -> GradeLineItem:
        with session_scope(self.factory) as s:
            ctx = s.get(Context, course.context_id)
            assert ctx is not None
            where = outbox.destination(s, ctx)
            assert where is not None
            return outbox._line_item(s, ctx, tag, resource_id, "Quality Development Tool",
                                     1.0, where)

    def write(self, course: Course, item: GradeLineItem, score: float,
              users: list[int] | None = None, maximum: float = 100.0) -> None:
        """Queue ``score`` for the given learners (one transaction, like a request)."""
        with session_scope(self.factory) as s:
            for index in users if users is not None else range(len(course.users)):
                user = s.get(User, course.users[index].id)
                assert user is not None
                outbox.enqueue(s, item, user, Progress(
                    "InProgress", "FullyGraded", score, maximum, f"score {score:g}"))
                self.written[(item.id, user.sub)].append(score)

    # ------------------------------------------------------------------ workers
    def env(self, **overrides: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LTI_SERVICE_")}
        env.update(FAST)
        env.update({"LTI_SERVICE_DATABASE_URL": self.database_url,
                    "LTI_SERVICE_INSTANCE_DIR": str(self.instance),
                    "LTI_SERVICE_SECRET_KEY": SECRET, "LTI_SERVICE_LOG_LEVEL": "WARNING"})
        env.update(overrides)
        return env

    def start_worker(self, *args: str, **overrides: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen([sys.executable, "-m", "lti_service.cli", "worker", *args],
                                env=self.env(**overrides), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        self.workers.append(proc)
        return proc

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "lti_service.cli", *args],
                              env=self.env(), capture_output=True, text=True, timeout=60,
                              check=True)

    def stop_workers(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.workers:
            try:
                proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
        self.workers.clear()

    def close(self) -> None:
        self.stop_workers()
        self.engine.dispose()

    # ------------------------------------------------------------------ checks
    def counts(self) -> dict[str, int]:
        with session_scope(self.factory) as s:
            rows = s.execute(select(GradeOutbox.state, func.count())
                             .group_by(GradeOutbox.state)).all()
        return {state: int(n) for state, n in rows}

    def rows(self) -> list[GradeOutbox]:
        with session_scope(self.factory) as s:
            return list(s.scalars(select(GradeOutbox).order_by(GradeOutbox.id)))

    def wait_delivered(self, timeout: float = 30.0) -> None:
        """Until every row is sent at its latest version (no pending, no dead)."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.rows()
            if rows and all(r.state == "sent" and r.sent_version == r.version for r in rows):
                return
            for proc in self.workers:
                if proc.poll() not in (None, 0):
                    raise AssertionError(f"worker died: {proc.communicate()[1][-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"not delivered in {timeout} s: "
                                     f"{[(r.id, r.state, r.last_error) for r in rows][:10]}")
            time.sleep(0.1)

    def assert_exactly_once_in_order(self) -> dict[str, Any]:
        """The platform's log: per (line item, user) every accepted score is one the tool
        wrote, each at most once, in the order written, with strictly increasing whole-second
        timestamps, and the last one written is there."""
        log = self.platform.log()
        items = {li["id"]: li for li in log["line_items"]}
        with session_scope(self.factory) as s:
            urls = {i.id: i.url for i in s.scalars(select(GradeLineItem))}
        number = {}
        for our_id, url in urls.items():
            assert url in items, (url, list(items))
            number[our_id] = int(url.split("/lineitems/")[1].split("/")[0])
        accepted: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
        for entry in log["accepted"]:
            accepted[(entry["line_item"], entry["userId"])].append(entry)
        for (item_id, sub), scores in self.written.items():
            got = accepted.pop((number[item_id], sub), [])
            assert got, f"nothing arrived for {sub}"
            values = [e["scoreGiven"] for e in got]
            seconds = [e["seconds"] for e in got]
            assert seconds == sorted(set(seconds)), f"timestamps not increasing: {got}"
            positions = [scores.index(v) for v in values]  # KeyError-like if unknown
            assert positions == sorted(set(positions)), f"out of order or twice: {values}"
            assert values[-1] == scores[-1], f"the latest score is missing: {values} {scores}"
        assert not accepted, f"scores nobody wrote: {accepted}"
        assert log["max_parallel_per_key"] <= 1
        return log
