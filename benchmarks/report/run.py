"""Cohort report with 10,000 submitted assessments, on SQLite and PostgreSQL.

One command seeds a scratch database per backend through the real migrations, bulk-inserts
a course with N learners who each submitted the mobility framework (38 answers, 1-3
priorities, some "can share" flags) plus a few who only started or never started, then
times the facilitator's cohort report as the view computes it: the aggregate queries of
``lti_service.assessment.cohort.cohort_report`` (GROUP BY in the database) and, separately,
the learner list of the page. Scratch databases are removed afterwards, also on errors.

    .venv/bin/python benchmarks/report/run.py [--assessments 10000] [--repeat 7]
        [--postgres-url postgresql://postgres@127.0.0.1:5432/test] [--skip-postgres]

Prints a markdown table and writes ``benchmarks/results/report-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform as py_platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))

from lti_service.assessment import cohort, frameworks  # noqa: E402
from lti_service.db import make_engine, utcnow  # noqa: E402
from lti_service.migrate import upgrade  # noqa: E402
from lti_service.models import (  # noqa: E402
    Assessment,
    Context,
    CriterionAnswer,
    Membership,
    Priority,
    Registration,
    User,
)

RESULTS = ROOT / "benchmarks" / "results"
BATCH = 20_000


@contextmanager
def scratch_sqlite() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="qc-bench-") as folder:
        yield f"sqlite:///{folder}/bench.db"


@contextmanager
def scratch_postgres(admin_url: str) -> Iterator[str]:
    url = make_url(admin_url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    name = f"qc_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def _batches(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), BATCH):
        yield rows[start:start + BATCH]


def seed(session: Session, n: int, seed_value: int = 7) -> tuple[int, dict[str, int]]:
    """Bulk-insert one course with ``n`` submitted assessments; returns the context id."""
    framework = frameworks.registry()["mobility"]
    rng = random.Random(seed_value)
    now = utcnow()
    site = "https://bench.example"
    reg = Registration(issuer=site, client_id="bench", auth_login_url=f"{site}/a",
                       auth_token_url=f"{site}/t", key_set_url=f"{site}/k")
    session.add(reg)
    session.flush()
    ctx = Context(registration_id=reg.id, context_id="bench-course")
    session.add(ctx)
    session.flush()
    extra_started, extra_not_started = n // 20, n // 20
    people = n + extra_started + extra_not_started
    session.execute(insert(User), [
        {"id": i, "registration_id": reg.id, "sub": f"u{i}", "name": f"Learner {i:05d}",
         "created_at": now, "last_launch_at": now} for i in range(1, people + 1)])
    session.execute(insert(Membership), [
        {"context_id": ctx.id, "user_id": i, "roles": [], "role": "learner", "updated_at": now}
        for i in range(1, people + 1)])
    assessments = [
        {"id": i, "registration_id": reg.id, "context_id": ctx.id, "user_id": i,
         "framework_key": framework.key, "framework_version": 1, "cycle": 1,
         "status": "submitted" if i <= n else "draft", "created_at": now, "updated_at": now,
         "submitted_at": now if i <= n else None}
        for i in range(1, n + extra_started + 1)]
    session.execute(insert(Assessment), assessments)
    answers: list[dict[str, Any]] = []
    priorities: list[dict[str, Any]] = []
    criteria = framework.criteria
    for aid in range(1, n + extra_started + 1):
        maturity = rng.uniform(0.5, 3.5)
        levels = []
        for c in criteria:
            na = rng.random() < 0.04
            level = None if na else max(0, min(4, round(rng.gauss(maturity, 1.0))))
            levels.append((c, level))
            answers.append({
                "assessment_id": aid, "criterion_id": c.id, "area_id": c.area_id,
                "level": level, "not_applicable": na, "comment": "", "evidence": [],
                "want_to_learn": level is not None and level <= 1 and rng.random() < 0.3,
                "can_share": level is not None and level >= 3 and rng.random() < 0.3,
                "version": 1, "updated_at": now})
        if aid <= n:
            low = sorted((lv, rng.random(), c) for c, lv in levels if lv is not None)
            for rank, (_lv, _r, c) in enumerate(low[: rng.randint(1, 3)], start=1):
                priorities.append({"assessment_id": aid, "rank": rank, "criterion_id": c.id,
                                   "area_id": c.area_id, "reason": "benchmark",
                                   "created_at": now})
    for chunk in _batches(answers):
        session.execute(insert(CriterionAnswer), chunk)
    for chunk in _batches(priorities):
        session.execute(insert(Priority), chunk)
    session.commit()
    return ctx.id, {"learners": people, "submitted": n, "answers": len(answers),
                    "priorities": len(priorities)}


def timed(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    fn()  # warm-up: plans, caches
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return {"median_ms": statistics.median(times), "max_ms": max(times),
            "min_ms": min(times)}


def run_backend(name: str, url: str, n: int, repeat: int) -> dict[str, Any]:
    upgrade(url)
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            started = time.perf_counter()
            context_id, counts = seed(session, n)
            seed_seconds = time.perf_counter() - started
        if url.startswith("postgresql"):
            with engine.connect() as conn:
                conn.execute(text("ANALYZE"))
                conn.commit()
        framework = frameworks.registry()["mobility"]
        with Session(engine) as session:
            report = cohort.cohort_report(session, context_id, framework)
            assert report.respondents == n, report.respondents
            assert report.counts["submitted"] == n
            assert all(d.shown for d in report.areas)
            measures = {
                "cohort report (all aggregates)": timed(
                    lambda: cohort.cohort_report(session, context_id, framework), repeat),
                "  participation counts": timed(
                    lambda: cohort.state_counts(session, context_id, framework.key), repeat),
                "  area distributions": timed(
                    lambda: cohort.area_distributions(session, context_id, framework),
                    repeat),
                "  priorities overview": timed(
                    lambda: cohort.priority_overview(session, context_id, framework.key),
                    repeat),
                "learner list (page)": timed(
                    lambda: cohort.people(session, context_id, framework.key), repeat),
            }
        return {"backend": name, "seed_seconds": round(seed_seconds, 1), **counts,
                "measures": measures}
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assessments", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test",
                        help="a database the benchmark may create a scratch database next to")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()

    results = []
    with scratch_sqlite() as url:
        results.append(run_backend("SQLite", url, args.assessments, args.repeat))
    if not args.skip_postgres:
        with scratch_postgres(args.postgres_url) as url:
            results.append(run_backend("PostgreSQL", url, args.assessments, args.repeat))

    print(f"\nCohort report, {args.assessments:,} submitted assessments "
          f"({results[0]['answers']:,} answers, {results[0]['priorities']:,} priorities), "
          f"median of {args.repeat} runs after a warm-up\n")
    names = list(results[0]["measures"])
    print("| query | " + " | ".join(r["backend"] for r in results) + " |")
    print("|---|" + "---:|" * len(results))
    for measure in names:
        cells = [f"{r['measures'][measure]['median_ms']:.0f} ms" for r in results]
        print(f"| {measure.strip() if not measure.startswith('  ') else '· ' + measure.strip()}"
              f" | " + " | ".join(cells) + " |")
    print("| (seeding, bulk insert) | " + " | ".join(f"{r['seed_seconds']} s" for r in results)
          + " |")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"report-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps({"assessments": args.assessments, "repeat": args.repeat,
                               "machine": py_platform.platform(), "results": results},
                              indent=2))
    print(f"\nwritten {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
