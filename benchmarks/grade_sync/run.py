"""Grade sync: 10,000 scores through ``lti-service worker`` to a platform with 50 ms latency.

One command sets everything up and cleans up after itself:

1. a scratch database (SQLite in a temp folder, or ``--database-url postgresql://…``: a
   scratch database created next to it and dropped afterwards), migrated; the tool's key;
2. the AGS platform process (``tests/support/ags_platform.py``: threaded ``http.server``
   with HTTP/1.1 keep-alive, ``--latency`` seconds of sleep in every request, Moodle's 409
   rule, an in-memory log of accepted scores), registered as a platform;
3. one course whose launch announced the line items container, ``--scores`` learners, and
   one queued score each, written by the outbox's own ``enqueue`` (as a submission would);
4. ``lti-service worker --drain --concurrency C`` as a separate process, timed from start to
   exit (startup, the token request and the line item's creation included); its peak RSS is
   read from ``wait4``;
5. the platform's log: every score accepted exactly once, token requests, connections.

The latency limit is C / latency scores/s; the target is at least 80 % of it, with one token
request for the run (one per token lifetime).

    .venv/bin/python benchmarks/grade_sync/run.py [--scores 10000] [--concurrency 8 16]
        [--latency 0.05] [--database-url postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform as py_platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))

from lti_service.db import make_engine, make_session_factory, session_scope  # noqa: E402
from lti_service.grades import outbox  # noqa: E402
from lti_service.grades.scores import Progress  # noqa: E402
from lti_service.lti import ags  # noqa: E402
from lti_service.lti import keys as tool_keys  # noqa: E402
from lti_service.migrate import upgrade  # noqa: E402
from lti_service.models import (  # noqa: E402
    Context,
    Deployment,
    GradeLineItem,
    Registration,
    User,
)

SECRET = "grade-sync-benchmark-secret-" + "z" * 24
CLIENT_ID = "ags-client-1"
TARGET = 0.80


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class ScratchDatabase:
    def __init__(self, configured: str | None, folder: Path) -> None:
        self.admin_url = None
        if not configured:
            self.url = f"sqlite:///{folder / 'bench.db'}"
            return
        url = make_url(configured).set(drivername="postgresql+psycopg")
        self.name = f"qc_bench_grades_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.admin_url = url
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        engine.dispose()
        self.url = url.set(database=self.name).render_as_string(hide_password=False)

    def drop(self) -> None:
        if self.admin_url is None:
            return
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :n AND pid <> pg_backend_pid()"),
                         {"n": self.name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}"'))
        engine.dispose()


def start_platform(jwks: Path, latency: float, token_lifetime: float
                   ) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "support" / "ags_platform.py"),
         "--jwks-file", str(jwks), "--latency", str(latency), "--overlap-window", "0",
         "--token-lifetime", str(token_lifetime)],
        stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    if not line or line[0] != "READY":
        raise RuntimeError(f"platform did not start: {line}")
    return proc, line[1]


def prepare(database_url: str, base: str, jwks: Path, scores: int) -> float:
    """Schema, key, registration, course, learners and one queued score each."""
    upgrade(database_url)
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    with session_scope(factory) as s:
        tool_keys.ensure_key(s, SECRET)
        jwks.write_text(json.dumps(tool_keys.jwks(s)))
        reg = Registration(issuer=base, client_id=CLIENT_ID, name="Benchmark platform",
                           auth_login_url=base + "/auth", auth_token_url=base + "/token",
                           key_set_url=base + "/jwks")
        reg.deployments.append(Deployment(deployment_id="bench"))
        s.add(reg)
        s.flush()
        ctx = Context(registration_id=reg.id, context_id="bench-course", title="Benchmark",
                      services={"ags": {"scope": [ags.SCOPE_LINEITEM, ags.SCOPE_SCORE],
                                        "lineitems": base + "/lineitems"}})
        s.add(ctx)
        s.flush()
        users = [User(registration_id=reg.id, sub=f"learner-{i:05d}", name=f"Learner {i}")
                 for i in range(scores)]
        s.add_all(users)
        s.flush()
        item = GradeLineItem(registration_id=reg.id, context_id=ctx.id, tag="qdt-assessment",
                             resource_id="qdt-mobility", label="Quality Development Tool",
                             score_maximum=1.0, container_url=base + "/lineitems")
        s.add(item)
        s.flush()
    started = time.perf_counter()
    submitted = Progress("Submitted", "FullyGraded", 1.0, 1.0, "Self-assessment submitted")
    with session_scope(factory) as s:
        item = s.get(GradeLineItem, item.id)
        assert item is not None
        for user in s.query(User).order_by(User.id):
            outbox.enqueue(s, item, user, submitted)
    enqueue_seconds = time.perf_counter() - started
    engine.dispose()
    return enqueue_seconds


def run_worker(database_url: str, folder: Path, concurrency: int) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LTI_SERVICE_")}
    env.update({"LTI_SERVICE_DATABASE_URL": database_url,
                "LTI_SERVICE_INSTANCE_DIR": str(folder / "instance"),
                "LTI_SERVICE_SECRET_KEY": SECRET, "LTI_SERVICE_LOG_LEVEL": "WARNING",
                "LTI_SERVICE_WORKER_POLL_INTERVAL": "0.2"})
    out = folder / f"worker-{concurrency}.out"
    with out.open("w") as fh:
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "lti_service.cli", "worker", "--drain",
                                 "--concurrency", str(concurrency)], env=env, stdout=fh,
                                stderr=subprocess.STDOUT, cwd=ROOT)
        _pid, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
    lines = out.read_text().strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"worker failed ({proc.returncode}): {out.read_text()[-3000:]}")
    stats = json.loads(lines[-1])
    return {"elapsed": elapsed, "peak_rss_mb": usage.ru_maxrss / 1024, "stats": stats,
            "cpu_seconds": usage.ru_utime + usage.ru_stime}


def one_run(args: argparse.Namespace, concurrency: int) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="qc-bench-grades-"))
    jwks = folder / "jwks.json"
    jwks.write_text('{"keys": []}')
    database = ScratchDatabase(args.database_url, folder)
    platform, base = start_platform(jwks, args.latency, args.token_lifetime)
    try:
        log(f"C={concurrency}: preparing {args.scores} scores on "
            f"{'PostgreSQL' if args.database_url else 'SQLite'} …")
        enqueue_seconds = prepare(database.url, base, jwks, args.scores)
        log(f"C={concurrency}: queued in {enqueue_seconds:.1f} s; running the worker …")
        worker = run_worker(database.url, folder, concurrency)
        result = requests.get(base + "/control/log", timeout=60).json()
        accepted = result["accepted"]
        keys = {(e["line_item"], e["userId"]) for e in accepted}
        if len(accepted) != args.scores or len(keys) != args.scores:
            raise RuntimeError(f"{len(accepted)} accepted for {len(keys)} keys, "
                               f"expected {args.scores}")
        window = max(e["received_at"] for e in accepted) - min(e["received_at"]
                                                             for e in accepted)
        limit = concurrency / args.latency
        rate = args.scores / worker["elapsed"]
        return {
            "concurrency": concurrency, "scores": args.scores, "latency_s": args.latency,
            "limit_per_s": limit, "scores_per_s": round(rate, 1),
            "ratio_to_limit": round(rate / limit, 3),
            "sending_window_per_s": round(args.scores / window, 1) if window else None,
            "elapsed_s": round(worker["elapsed"], 2),
            "token_requests": result["token_requests"],
            "token_lifetime_s": args.token_lifetime,
            "platform_connections": result["connections"],
            "score_requests": sum(v for k, v in result["requests"].items()
                                  if k.endswith("/scores")),
            "refused_409": len(result["refused"]),
            "peak_rss_mb": round(worker["peak_rss_mb"], 1),
            "worker_cpu_s": round(worker["cpu_seconds"], 2),
            "enqueue_s": round(enqueue_seconds, 2),
            "worker_stats": worker["stats"],
            "met_target": rate >= TARGET * limit,
        }
    finally:
        platform.terminate()
        platform.wait(timeout=10)
        database.drop()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scores", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8])
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--token-lifetime", type=float, default=3600)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    runs = [one_run(args, c) for c in args.concurrency]
    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(f"\nGrade sync: {args.scores} scores, {args.latency * 1000:.0f} ms per request, "
          f"{backend}, {os.cpu_count()} CPUs, Python {py_platform.python_version()}\n")
    print("| concurrency | limit (C/latency) | scores/s | of limit | elapsed | token requests "
          "| connections | peak RSS |")
    print("|---|---|---|---|---|---|---|---|")
    for r in runs:
        print(f"| {r['concurrency']} | {r['limit_per_s']:.0f}/s | {r['scores_per_s']}/s | "
              f"{100 * r['ratio_to_limit']:.0f} % | {r['elapsed_s']} s | {r['token_requests']} "
              f"| {r['platform_connections']} | {r['peak_rss_mb']} MB |")
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"grade-sync-{stamp}.json"
    path.write_text(json.dumps({"backend": backend, "cpus": os.cpu_count(),
                                "target_ratio": TARGET, "runs": runs}, indent=2))
    print(f"\nwritten to {path.relative_to(ROOT)}")
    return 0 if all(r["met_target"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
