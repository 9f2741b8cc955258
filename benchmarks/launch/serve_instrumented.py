"""``lti-service serve`` with per-request instrumentation, for ``run.py --profile sql|cprofile``.

The tool's code is not changed: ``lti_service.app.create_app`` is wrapped before the CLI
runs, so every gunicorn worker builds the normal app and this module adds, around the WSGI
app, for the requests that carry ``X-Bench-Measure: 1`` (the measured phase only):

- ``sql``: per endpoint, the requests, the thread CPU and wall time spent inside the WSGI app,
  and the database round trips: SQL statements (by kind and table), connection checkouts
  (each one is a ``pool_pre_ping`` round trip), BEGIN, COMMIT and ROLLBACK;
- ``cprofile``: the same counts, plus a cProfile of those requests only, timed in thread CPU
  time (so waiting on the database or the network does not show);
- ``sample``: the same counts, plus a statistical profile in CPU time: from the first measured
  request on, ``ITIMER_PROF`` fires as the worker uses CPU (user + system; the kernel delivers
  it at its tick, so a few hundred samples per CPU second) and the Python stack is recorded,
  under the endpoint being served or "(outside the WSGI app)" (gunicorn's own work). Much
  lighter than cProfile, and unlike a wall-clock sampler it never counts waiting on
  PostgreSQL or the network.

Each worker writes ``worker-<pid>.json`` (and ``worker-<pid>.prof``) into
``QC_BENCH_INSTRUMENT_DIR`` when it exits. Usage: the arguments of ``lti-service``.
"""

from __future__ import annotations

import atexit
import cProfile
import json
import os
import re
import signal
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import event

import lti_service.app as app_module
from lti_service import cli

MODE = os.environ.get("QC_BENCH_INSTRUMENT", "sql")
OUT_DIR = os.environ["QC_BENCH_INSTRUMENT_DIR"]
SAMPLE_S = int(os.environ.get("QC_BENCH_SAMPLE_US", "500")) / 1e6
_PREFIXES = tuple(sorted({p for p in sys.path if p and p.startswith("/")}, key=len,
                         reverse=True))


def _short(path: str) -> str:
    for prefix in _PREFIXES:
        if path.startswith(prefix + "/"):
            return path[len(prefix) + 1:]
    return path

_original_create_app = app_module.create_app


def _endpoint(method: str, path: str) -> str:
    if path.startswith("/app/"):
        path = "/app/<lid>/" + path.split("/", 3)[-1] if path.count("/") >= 3 else "/app/<lid>"
    return f"{method} {path}"


_WORDS = re.compile(r"\b(FROM|INTO|UPDATE)\s+\"?(\w+)", re.IGNORECASE)


def _statement_kind(statement: str) -> str:
    verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "?"
    tables = sorted({m.group(2) for m in _WORDS.finditer(statement)})
    return f"{verb} {','.join(tables)}".strip()


class _Recorder:
    def __init__(self) -> None:
        self.current: dict[str, Any] | None = None
        self.stats: dict[str, dict[str, Any]] = defaultdict(lambda: {
            "requests": 0, "cpu_s": 0.0, "wall_s": 0.0, "statements": 0, "checkouts": 0,
            "begins": 0, "commits": 0, "rollbacks": 0, "by_statement": Counter(),
        })
        # Thread CPU time as the clock: waiting on PostgreSQL or the socket costs nothing.
        self.profiler = cProfile.Profile(time.thread_time) if MODE == "cprofile" else None
        self.endpoint: str | None = None
        self.sampling = False
        self.samples: Counter[tuple[str, str, str, str]] = Counter()
        if MODE == "sample":
            signal.signal(signal.SIGPROF, self.on_sample)

    def on_sample(self, signum: int, frame: Any) -> None:
        endpoint = self.endpoint or "(outside the WSGI app)"
        if frame is None:
            return
        stack = []
        tool_line = ""  # the innermost frame in the tool's own code, with its line
        f = frame
        while f is not None:
            code = f.f_code
            path = _short(code.co_filename)
            stack.append(f"{code.co_qualname} ({path})")
            if not tool_line and "lti_service/" in path and "lti_service/cli.py" not in path:
                tool_line = f"{code.co_qualname} ({path}:{f.f_lineno})"
            f = f.f_back
        stack.reverse()
        leaf = f"{frame.f_code.co_qualname} ({_short(frame.f_code.co_filename)}:{frame.f_lineno})"
        self.samples[(endpoint, ";".join(stack), leaf, tool_line)] += 1

    def bump(self, field: str, statement: str | None = None) -> None:
        cur = self.current
        if cur is None:
            return
        cur[field] += 1
        if statement is not None:
            cur["by_statement"][_statement_kind(statement)] += 1

    def dump(self) -> None:
        if self.sampling:
            signal.setitimer(signal.ITIMER_PROF, 0, 0)
        pid = os.getpid()
        data = {name: {**s, "by_statement": dict(s["by_statement"])}
                for name, s in self.stats.items()}
        with open(os.path.join(OUT_DIR, f"worker-{pid}.json"), "w") as fh:
            json.dump(data, fh, indent=1)
        if self.profiler is not None and data:
            self.profiler.dump_stats(os.path.join(OUT_DIR, f"worker-{pid}.prof"))
        if self.samples:
            with open(os.path.join(OUT_DIR, f"worker-{pid}.samples.json"), "w") as fh:
                json.dump({"interval_s": SAMPLE_S,
                           "samples": [[*k, v] for k, v in self.samples.items()]}, fh)


def _instrument(app: Any) -> Any:
    recorder = _Recorder()
    engine = app.extensions["lti_service"]["engine"]

    @event.listens_for(engine, "before_cursor_execute")
    def _statement(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        recorder.bump("statements", statement)

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        recorder.bump("begins")

    @event.listens_for(engine, "commit")
    def _commit(conn: Any) -> None:
        recorder.bump("commits")

    @event.listens_for(engine, "rollback")
    def _rollback(conn: Any) -> None:
        recorder.bump("rollbacks")

    @event.listens_for(engine.pool, "checkout")
    def _checkout(*args: Any) -> None:
        recorder.bump("checkouts")

    inner: Callable[..., Iterable[bytes]] = app.wsgi_app

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("HTTP_X_BENCH_MEASURE") != "1":
            return inner(environ, start_response)
        name = _endpoint(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""))
        current = recorder.stats[name]
        recorder.current = current
        t_cpu, t_wall = time.thread_time(), time.perf_counter()
        if recorder.profiler is not None:
            recorder.profiler.enable()
        if MODE == "sample":
            recorder.endpoint = name
            if not recorder.sampling:
                recorder.sampling = True
                signal.setitimer(signal.ITIMER_PROF, SAMPLE_S, SAMPLE_S)
        try:
            result = inner(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        finally:
            recorder.endpoint = None
            if recorder.profiler is not None:
                recorder.profiler.disable()
            current["requests"] += 1
            current["cpu_s"] += time.thread_time() - t_cpu
            current["wall_s"] += time.perf_counter() - t_wall
            recorder.current = None
        return [body]

    app.wsgi_app = wsgi
    atexit.register(recorder.dump)
    return app


def create_app(*args: Any, **kwargs: Any) -> Any:
    return _instrument(_original_create_app(*args, **kwargs))


app_module.create_app = create_app  # type: ignore[assignment]

if __name__ == "__main__":
    sys.argv[0] = "lti-service"
    cli.main()
