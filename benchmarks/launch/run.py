"""Full LTI 1.3 launches over real HTTP against ``lti-service serve`` (gunicorn, PostgreSQL).

One command does everything and cleans up after itself (also on Ctrl+C and errors):

1. creates a scratch PostgreSQL database and migrates it (``lti-service db upgrade``);
2. starts the platform's JWKS server as its own process (``jwks_server.py``; it counts key
   set fetches) and registers the platform (``lti-service platform add``);
3. starts ``lti-service serve --workers 2`` and warms it up;
4. probes the floor: each cheap endpoint (``/healthz``, ``/lti/jwks``, a static file) at
   the same client concurrency; the one with the most requests/s is the floor;
5. in rounds, measures the floor and then full launches: ``GET /lti/login`` (302, binding
   cookie) -> the platform's part, done in this process (an id_token with the nonce and
   state of the redirect, signed here, so the signing never counts as tool CPU) ->
   ``POST /lti/launch`` (303 to ``/app/<lid>/``);
6. prints a markdown table and writes ``benchmarks/results/launch-<timestamp>.json``.

Tool CPU is read from ``/proc/<pid>/stat`` (utime + stime) of the gunicorn master and its
workers (plus the master's reaped children) before and after each phase. The load
generator is threads with ``http.client`` (keep-alive when the server offers it; gunicorn's
sync workers close every connection).

    .venv/bin/python benchmarks/launch/run.py [--launches N] [--concurrency C]
                                              [--database-url URL] [--profile MODE]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import platform as py_platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import jwt
import psycopg
from cryptography.hazmat.primitives.asymmetric import rsa

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
RESULTS = ROOT / "benchmarks" / "results"
CLK_TCK = os.sysconf("SC_CLK_TCK")

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
ROLE = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
CLIENT_ID = "bench-client-1"
DEPLOYMENT_ID = "bench-deploy-1"
BIND_COOKIE = "qc_lti_browser"

FLOOR_CANDIDATES = ("/healthz", "/lti/jwks", "/static/app.css")
INSTRUMENTED = ("sql", "cprofile", "sample")

TARGET_CPU_MS = 3.0
TARGET_RATIO = 0.30
TARGET_JWKS_PER_LAUNCH = 0.0

# A pylti1p3 tool measured on this machine (lti-notes.md, issue text), for the report.
REFERENCE = {"cpu_ms_per_launch": "8.5-46", "jwks_fetches_per_launch": 1,
             "ratio_to_floor": "0.035-0.11"}


class BenchError(RuntimeError):
    """The benchmark cannot go on; the message says why."""


# --------------------------------------------------------------------------- processes
@dataclass
class Processes:
    """Everything this run started, so that it can all be stopped again."""

    procs: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, name: str, cmd: list[str], env: dict[str, str], log: Path,
              stdout_pipe: bool = False, cwd: Path = ROOT) -> subprocess.Popen[bytes]:
        with open(log, "ab") as fh:
            proc = subprocess.Popen(
                cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if stdout_pipe else fh, stderr=fh,
                start_new_session=True,  # own process group: Ctrl+C reaches only us
            )
        self.procs.append((name, proc))
        return proc

    def stop(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM,
             timeout: float = 15.0) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout)
        # Whatever is left in the process group this run created (e.g. gunicorn workers).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)

    def stop_all(self) -> None:
        for _, proc in reversed(self.procs):
            self.stop(proc)
        self.procs.clear()


def _run_cli(args: list[str], env: dict[str, str], cwd: Path) -> str:
    cmd = [*_lti_service(), *args]
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise BenchError(f"`lti-service {' '.join(args)}` failed:\n{done.stdout}{done.stderr}")
    return done.stdout.strip()


def _lti_service() -> list[str]:
    script = Path(sys.executable).parent / "lti-service"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "lti_service.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(port: int, path: str, proc: subprocess.Popen[bytes], log: Path,
               timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"the server exited ({proc.returncode}); log:\n{_tail(log)}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                conn.close()
                return
            conn.close()
        except OSError:
            pass
        time.sleep(0.2)
    raise BenchError(f"no answer on :{port}{path} after {timeout:.0f}s; log:\n{_tail(log)}")


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --------------------------------------------------------------------------- CPU accounting
def _proc_stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces: split after its closing parenthesis.
    return raw[raw.rindex(")") + 2:].split()


def _children(pid: int) -> list[int]:
    found: set[int] = set()
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                text = Path(f"/proc/{pid}/task/{task}/children").read_text()
                found.update(int(x) for x in text.split())
    except OSError:
        pass
    return sorted(found)


def tree_cpu_seconds(master: int) -> tuple[float, dict[int, float]]:
    """CPU seconds of a gunicorn master, its live workers and its reaped children.

    Fields after the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
    A worker that exits moves its time into the master's cutime/cstime, so the sum stays
    right even if a worker is replaced during a phase.
    """
    stat = _proc_stat(master)
    if stat is None:
        raise BenchError("the gunicorn master is gone")
    total = sum(int(stat[i]) for i in (11, 12, 13, 14)) / CLK_TCK
    per: dict[int, float] = {master: (int(stat[11]) + int(stat[12])) / CLK_TCK}
    for child in _children(master):
        cstat = _proc_stat(child)
        if cstat is not None:
            seconds = (int(cstat[11]) + int(cstat[12])) / CLK_TCK
            per[child] = seconds
            total += seconds
    return total, per


def pids_cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        stat = _proc_stat(pid)
        if stat is not None:
            total += (int(stat[11]) + int(stat[12])) / CLK_TCK
    return total


def self_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def machine_busy_seconds() -> float:
    """Busy CPU seconds of the whole machine (all cores), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / CLK_TCK


# --------------------------------------------------------------------------- HTTP client
class Client:
    """One simulated browser connection: http.client, reconnecting when the server closes."""

    def __init__(self, port: int, extra_headers: dict[str, str]) -> None:
        self.port = port
        self.extra = extra_headers
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.reused = False

    def request(self, method: str, path: str, body: str | None = None,
                headers: dict[str, str] | None = None
                ) -> tuple[int, http.client.HTTPResponse, bytes]:
        all_headers = {**self.extra, **(headers or {})}
        for attempt in (0, 1):
            try:
                self.conn.request(method, path, body=body, headers=all_headers)
                resp = self.conn.getresponse()
                data = resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                # Only a kept-alive connection that the server closed meanwhile is retried.
                if attempt or not self.reused:
                    raise
                self.reused = False
                continue
            if resp.will_close:
                self.conn.close()
                self.reused = False
            else:
                self.reused = True
            return resp.status, resp, data
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


# --------------------------------------------------------------------------- the platform
class PlatformSigner:
    """The platform's side of the OIDC flow, in the load generator's process."""

    def __init__(self, issuer: str, tool_base: str, users: int, contexts: int) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "bench-" + uuid.uuid4().hex[:12]
        self.issuer = issuer
        self.tool_base = tool_base
        self.users = users
        self.contexts = contexts

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update(kid=self.kid, alg="RS256", use="sig")
        return {"keys": [jwk]}

    def login_query(self, n: int) -> str:
        user = n % self.users
        return urlencode({
            "iss": self.issuer,
            "login_hint": f"user-{user}",
            "target_link_uri": self.tool_base + "/lti/launch",
            "lti_message_hint": f"launch-{n}",
            "client_id": CLIENT_ID,
            "lti_deployment_id": DEPLOYMENT_ID,
        })

    def id_token(self, n: int, nonce: str) -> str:
        user = n % self.users
        course = user % self.contexts
        instructor = user % 10 == 0
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "sub": f"user-{user}",
            "iat": now,
            "exp": now + 60,
            "nonce": nonce,
            "name": f"Bench User {user}",
            "given_name": "Bench",
            "family_name": f"User {user}",
            "email": f"user{user}@platform.bench",
            LTI + "message_type": "LtiResourceLinkRequest",
            LTI + "version": "1.3.0",
            LTI + "deployment_id": DEPLOYMENT_ID,
            LTI + "target_link_uri": self.tool_base + "/lti/launch",
            LTI + "roles": [ROLE + ("Instructor" if instructor else "Learner")],
            LTI + "context": {"id": f"course-{course}", "label": f"C{course}",
                              "title": f"Bench course {course}"},
            LTI + "resource_link": {"id": f"rl-{course}", "title": "Quality Club"},
            LTI + "tool_platform": {"guid": "bench-platform", "name": "Bench platform"},
            LTI + "launch_presentation": {"document_target": "iframe", "locale": "en"},
        }
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})


# --------------------------------------------------------------------------- load phases
@dataclass
class Sample:
    ok: bool
    total_ms: float
    parts: dict[str, float] = field(default_factory=dict)
    error: str = ""
    item: int = -1  # the launch number, where a launch is measured in two phases


def _percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def _latency(values: list[float]) -> dict[str, float]:
    return {"p50": round(_percentile(values, 50), 2), "p95": round(_percentile(values, 95), 2),
            "p99": round(_percentile(values, 99), 2),
            "mean": round(sum(values) / len(values), 2) if values else float("nan")}


@dataclass
class PhaseResult:
    name: str
    count: int
    ok: int
    seconds: float
    tool_cpu_s: float
    db_cpu_s: float
    client_cpu_s: float
    platform_cpu_s: float
    jwks_fetches: int
    samples: list[Sample]
    workers_before: list[int]
    workers_after: list[int]
    machine_busy_s: float = 0.0

    @property
    def foreign_cpu_s(self) -> float:
        """CPU the machine spent on anything but this benchmark (another test run...)."""
        ours = self.tool_cpu_s + self.db_cpu_s + self.client_cpu_s + self.platform_cpu_s
        return max(0.0, self.machine_busy_s - ours)

    @classmethod
    def merge(cls, name: str, parts: list[PhaseResult]) -> PhaseResult:
        return cls(
            name=name, count=sum(p.count for p in parts), ok=sum(p.ok for p in parts),
            seconds=sum(p.seconds for p in parts),
            tool_cpu_s=sum(p.tool_cpu_s for p in parts),
            db_cpu_s=sum(p.db_cpu_s for p in parts),
            client_cpu_s=sum(p.client_cpu_s for p in parts),
            platform_cpu_s=sum(p.platform_cpu_s for p in parts),
            jwks_fetches=sum(p.jwks_fetches for p in parts),
            samples=[s for p in parts for s in p.samples],
            workers_before=parts[0].workers_before, workers_after=parts[-1].workers_after,
            machine_busy_s=sum(p.machine_busy_s for p in parts),
        )

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, Any]:
        ok = [s for s in self.samples if s.ok]
        parts: dict[str, list[float]] = {}
        for s in ok:
            for k, v in s.parts.items():
                parts.setdefault(k, []).append(v)
        errors: dict[str, int] = {}
        for s in self.samples:
            if not s.ok:
                errors[s.error] = errors.get(s.error, 0) + 1
        per = max(self.ok, 1)
        return {
            "count": self.count, "ok": self.ok, "errors": errors,
            "seconds": round(self.seconds, 3), "per_second": round(self.rate, 2),
            "latency_ms": _latency([s.total_ms for s in ok]),
            "latency_ms_by_step": {k: _latency(v) for k, v in parts.items()},
            "tool_cpu_s": round(self.tool_cpu_s, 3),
            "tool_cpu_ms_per_item": round(1000 * self.tool_cpu_s / per, 3),
            "postgres_cpu_ms_per_item": round(1000 * self.db_cpu_s / per, 3),
            "client_cpu_ms_per_item": round(1000 * self.client_cpu_s / per, 3),
            "platform_cpu_ms_per_item": round(1000 * self.platform_cpu_s / per, 3),
            "jwks_fetches": self.jwks_fetches,
            "jwks_fetches_per_item": round(self.jwks_fetches / per, 4),
            "workers_replaced": self.workers_before != self.workers_after,
            # Share of the 2 cores' time used by processes outside the benchmark: high
            # values mean the throughput figures were disturbed.
            "foreign_cpu_share": round(
                self.foreign_cpu_s / (self.seconds * (os.cpu_count() or 1)), 3)
            if self.seconds else 0.0,
        }


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.procs = Processes()
        self.tmp = Path(tempfile.mkdtemp(prefix="qc-bench-launch-"))
        self.admin_url = _plain_pg_url(args.database_url)
        self.db_name = f"qc_bench_launch_{os.getpid()}_{secrets.token_hex(3)}"
        self.db_created = False
        self.server: subprocess.Popen[bytes] | None = None
        self.platform_proc: subprocess.Popen[bytes] | None = None
        self.platform_url = ""
        self.port = 0
        self.signer: PlatformSigner | None = None
        self.stop_event = threading.Event()
        self.measure_headers: dict[str, str] = (
            {"X-Bench-Measure": "1"} if args.profile in INSTRUMENTED else {})
        self.pyspy: subprocess.Popen[bytes] | None = None
        self.profile_out: dict[str, Any] = {}
        self.secret = secrets.token_urlsafe(48)
        self.result_stem = RESULTS / "launch-unnamed"
        self._launch_offset = 0
        # Launches measured with the platform apart (split_launches).
        self._pending: dict[int, tuple[str, str, str]] = {}
        self._signed: dict[int, tuple[str, str, str]] = {}
        self.apart_sign_cpu_s = 0.0
        self.apart_sign_s = 0.0
        self.apart_signed = 0
        # The tool's code: the working tree, or a commit extracted with `git archive`.
        self.source = ROOT
        self.source_label = "working tree"

    # ---- setup
    def scratch_url(self) -> str:
        parts = urlsplit(self.admin_url)
        return urlunsplit((parts.scheme, parts.netloc, "/" + self.db_name, parts.query, ""))

    def create_database(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.db_name}"')
        self.db_created = True

    def drop_database(self) -> None:
        if not self.db_created:
            return
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
        self.db_created = False

    def db_backend_pids(self) -> list[int]:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.db_name,)
            ).fetchall()
        return sorted(int(r[0]) for r in rows)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LTI_SERVICE_")}
        env.update({
            "LTI_SERVICE_DATABASE_URL": self.scratch_url(),
            "LTI_SERVICE_BASE_URL": f"http://127.0.0.1:{self.port}",
            "LTI_SERVICE_SECRET_KEY": self.secret,
            "LTI_SERVICE_INSTANCE_DIR": str(self.tmp / "instance"),
            "LTI_SERVICE_LOG_LEVEL": self.args.log_level,
            "PYTHONUNBUFFERED": "1",
        })
        if self.source != ROOT:
            env["PYTHONPATH"] = os.pathsep.join(
                [str(self.source), *filter(None, [os.environ.get("PYTHONPATH")])])
        return env

    def extract_source(self, ref: str) -> None:
        """Benchmark the tool as committed at REF (the working tree may be mid-change)."""
        import io
        import tarfile

        sha = subprocess.run(["git", "rev-parse", "--verify", f"{ref}^{{commit}}"], cwd=ROOT,
                             capture_output=True, text=True, timeout=30)
        if sha.returncode != 0:
            raise BenchError(f"unknown git ref {ref!r}: {sha.stderr.strip()}")
        commit = sha.stdout.strip()
        archive = subprocess.run(["git", "archive", "--format=tar", commit, "lti_service",
                                  "templates", "xml"], cwd=ROOT, capture_output=True, timeout=60)
        if archive.returncode != 0:
            raise BenchError(f"git archive failed: {archive.stderr.decode(errors='replace')}")
        target = self.tmp / "source"
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(target, filter="data")
        self.source = target
        self.source_label = f"git {ref} ({commit[:12]})"

    def setup(self) -> None:
        if self.args.git_ref:
            self.extract_source(self.args.git_ref)
        self.port = _free_port()
        log(f"scratch database {self.db_name}")
        self.create_database()
        where = subprocess.run(
            [sys.executable, "-c", "import lti_service; print(lti_service.__file__)"],
            env=self.env(), cwd=self.source, capture_output=True, text=True, timeout=60)
        if not where.stdout.strip().startswith(str(self.source)):
            raise BenchError(f"lti_service is not imported from {self.source}: "
                             f"{where.stdout}{where.stderr}")
        log(f"tool code: {self.source_label}")
        _run_cli(["db", "upgrade"], self.env(), self.source)

        # The platform: key in this process, JWKS served by its own process.
        tool_base = f"http://127.0.0.1:{self.port}"
        jwks_file = self.tmp / "platform-jwks.json"
        signer = PlatformSigner("", tool_base, self.args.users, self.args.contexts)
        jwks_file.write_text(json.dumps(signer.jwks()))
        plog = self.tmp / "platform.log"
        self.platform_proc = self.procs.start(
            "platform", [sys.executable, str(HERE / "jwks_server.py"), "--jwks", str(jwks_file)],
            os.environ.copy(), plog, stdout_pipe=True)
        assert self.platform_proc.stdout is not None
        line = self.platform_proc.stdout.readline().decode().strip()
        if not line.startswith("READY "):
            raise BenchError(f"the platform did not start: {line!r}\n{_tail(plog)}")
        self.platform_url = line.split()[1]
        signer.issuer = self.platform_url
        self.signer = signer
        log(f"platform (JWKS server) {self.platform_url}, pid {self.platform_proc.pid}")

        reg_id = _run_cli([
            "platform", "add", "--issuer", self.platform_url, "--client-id", CLIENT_ID,
            "--auth-login-url", self.platform_url + "/auth",
            "--auth-token-url", self.platform_url + "/token",
            "--key-set-url", self.platform_url + "/jwks",
            "--deployment-id", DEPLOYMENT_ID, "--name", "Benchmark platform",
        ], self.env(), self.source)
        log(f"registration {reg_id}")

        slog = self.tmp / "server.log"
        serve_args = ["serve", "--bind", f"127.0.0.1:{self.port}",
                      "--workers", str(self.args.workers)]
        env = self.env()
        if self.args.profile in INSTRUMENTED:
            (self.tmp / "instrument").mkdir()
            env["QC_BENCH_INSTRUMENT"] = self.args.profile
            env["QC_BENCH_INSTRUMENT_DIR"] = str(self.tmp / "instrument")
            cmd = [sys.executable, str(HERE / "serve_instrumented.py"), *serve_args]
        else:
            cmd = [*_lti_service(), *serve_args]
        self.server = self.procs.start("server", cmd, env, slog, cwd=self.source)
        _wait_http(self.port, "/healthz", self.server, slog)
        deadline = time.monotonic() + 30
        while len(_children(self.server.pid)) < self.args.workers:
            if time.monotonic() > deadline:
                raise BenchError("gunicorn did not start all its workers")
            time.sleep(0.1)
        log(f"lti-service serve on :{self.port}, master pid {self.server.pid}, workers "
            f"{_children(self.server.pid)}")

    def jwks_count(self) -> int:
        conn = http.client.HTTPConnection(urlsplit(self.platform_url).hostname,
                                          urlsplit(self.platform_url).port, timeout=10)
        try:
            conn.request("GET", "/stats")
            return int(json.loads(conn.getresponse().read())["jwks_requests"])
        finally:
            conn.close()

    # ---- the work items
    def one_get(self, client: Client, path: str) -> Sample:
        t0 = time.perf_counter()
        try:
            status, _, _ = client.request("GET", path)
        except OSError as exc:
            return Sample(False, 0.0, error=f"{type(exc).__name__}")
        ms = 1000 * (time.perf_counter() - t0)
        return Sample(status == 200, ms, error="" if status == 200 else f"HTTP {status}")

    def _login(self, client: Client, n: int) -> tuple[str, str, str] | str:
        """``GET /lti/login`` as the browser does it: (state, nonce, cookie) or an error."""
        assert self.signer is not None
        status, resp, _ = client.request("GET", "/lti/login?" + self.signer.login_query(n))
        if status != 302:
            return f"login HTTP {status}"
        location = resp.getheader("Location") or ""
        query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        cookie = ""
        for header in resp.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            if name.strip() == BIND_COOKIE:
                cookie = rest.split(";", 1)[0]
        if not cookie or "state" not in query or "nonce" not in query:
            return "login: no state/nonce/cookie"
        if query.get("redirect_uri") != f"http://127.0.0.1:{self.port}/lti/launch":
            return "login: wrong redirect_uri"
        return query["state"], query["nonce"], cookie

    def _post(self, client: Client, token: str, state: str, cookie: str) -> str:
        """``POST /lti/launch`` (the platform's auto-submitted form): "" or an error."""
        status, resp, body = client.request(
            "POST", "/lti/launch",
            body=urlencode({"id_token": token, "state": state}),
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     "Cookie": f"{BIND_COOKIE}={cookie}"},
        )
        if status != 303 or "/app/" not in (resp.getheader("Location") or ""):
            snippet = body[:200].decode(errors="replace").replace("\n", " ")
            return f"launch HTTP {status}: {snippet}"
        return ""

    def one_launch(self, client: Client, n: int) -> Sample:
        """One whole launch, the platform's signing in between (on these cores)."""
        assert self.signer is not None
        t0 = time.perf_counter()
        try:
            login = self._login(client, n)
            t1 = time.perf_counter()
            if isinstance(login, str):
                return Sample(False, 0.0, error=login)
            state, nonce, cookie = login
            # The platform's authorization step: sign the id_token for this nonce.
            token = self.signer.id_token(n, nonce)
            t2 = time.perf_counter()
            error = self._post(client, token, state, cookie)
            t3 = time.perf_counter()
        except OSError as exc:
            return Sample(False, 0.0, error=f"{type(exc).__name__}")
        if error:
            return Sample(False, 0.0, error=error)
        return Sample(True, 1000 * (t3 - t0), parts={
            "login": 1000 * (t1 - t0), "platform_sign": 1000 * (t2 - t1),
            "launch": 1000 * (t3 - t2)})

    def one_login(self, client: Client, n: int) -> Sample:
        """The first request of a launch whose signing happens apart (``split_launches``)."""
        t0 = time.perf_counter()
        try:
            login = self._login(client, n)
        except OSError as exc:
            return Sample(False, 0.0, error=f"{type(exc).__name__}", item=n)
        if isinstance(login, str):
            return Sample(False, 0.0, error=login, item=n)
        self._pending[n] = login
        return Sample(True, 1000 * (time.perf_counter() - t0), item=n)

    def one_post(self, client: Client, n: int) -> Sample:
        signed = self._signed.get(n)
        if signed is None:
            return Sample(False, 0.0, error="its login failed", item=n)
        t0 = time.perf_counter()
        try:
            error = self._post(client, *signed)
        except OSError as exc:
            return Sample(False, 0.0, error=f"{type(exc).__name__}", item=n)
        if error:
            return Sample(False, 0.0, error=error, item=n)
        return Sample(True, 1000 * (time.perf_counter() - t0), item=n)

    # ---- a phase
    def run_phase(self, name: str, count: int, work: Callable[[Client, int], Sample],
                  measured: bool = True) -> PhaseResult:
        assert self.server is not None and self.platform_proc is not None
        concurrency = min(self.args.concurrency, count)
        headers = self.measure_headers if measured else {}
        next_item = iter(range(count))
        lock = threading.Lock()
        results: list[list[Sample]] = [[] for _ in range(concurrency)]
        start = threading.Barrier(concurrency + 1)
        failures: list[BaseException] = []

        def worker(slot: int) -> None:
            client = Client(self.port, headers)
            try:
                start.wait()
                while not self.stop_event.is_set():
                    with lock:
                        n = next(next_item, None)
                    if n is None:
                        break
                    results[slot].append(work(client, n))
            except BaseException as exc:  # reported by the main thread
                failures.append(exc)
            finally:
                client.close()

        threads = [threading.Thread(target=worker, args=(i,), daemon=True)
                   for i in range(concurrency)]
        for t in threads:
            t.start()
        db_pids = self.db_backend_pids()
        jwks0 = self.jwks_count()
        tool0, per0 = tree_cpu_seconds(self.server.pid)
        db0 = pids_cpu_seconds(db_pids)
        plat0 = pids_cpu_seconds([self.platform_proc.pid])
        client0 = self_cpu_seconds()
        machine0 = machine_busy_seconds()
        t0 = time.perf_counter()
        start.wait()
        for t in threads:
            while t.is_alive():
                t.join(0.2)
        seconds = time.perf_counter() - t0
        machine1 = machine_busy_seconds()
        client1 = self_cpu_seconds()
        tool1, per1 = tree_cpu_seconds(self.server.pid)
        db1 = pids_cpu_seconds(db_pids)
        plat1 = pids_cpu_seconds([self.platform_proc.pid])
        jwks1 = self.jwks_count()
        if failures:
            raise BenchError(f"{name}: a client thread failed: {failures[0]!r}")
        samples = [s for r in results for s in r]
        result = PhaseResult(
            name=name, count=count, ok=sum(1 for s in samples if s.ok), seconds=seconds,
            tool_cpu_s=tool1 - tool0, db_cpu_s=db1 - db0, client_cpu_s=client1 - client0,
            platform_cpu_s=plat1 - plat0, jwks_fetches=jwks1 - jwks0, samples=samples,
            workers_before=sorted(per0), workers_after=sorted(per1),
            machine_busy_s=machine1 - machine0,
        )
        bad = count - result.ok
        log(f"{name}: {result.ok}/{count} ok in {seconds:.2f}s = {result.rate:.1f}/s, "
            f"tool CPU {1000 * result.tool_cpu_s / max(result.ok, 1):.2f} ms/item, "
            f"foreign CPU {result.summary()['foreign_cpu_share']:.0%}"
            + (f", {bad} FAILED (e.g. {next(s.error for s in samples if not s.ok)})"
               if bad else ""))
        if bad > max(1, count // 100):
            raise BenchError(f"{name}: {bad} of {count} failed; server log:\n"
                             f"{_tail(self.tmp / 'server.log')}")
        return result

    def launches(self, name: str, count: int, measured: bool = True) -> PhaseResult:
        offset = self._launch_offset
        self._launch_offset += count
        return self.run_phase(name, count, lambda c, n: self.one_launch(c, offset + n),
                              measured)

    def split_launches(self, name: str, count: int) -> PhaseResult:
        """The same launches with the platform's signing outside the timed windows, as when
        the platform runs on its own machine: every login of the batch (timed), then the
        platform signs an id_token for each (not timed, its CPU reported apart), then every
        launch POST (timed). launches/s = launches / (login time + POST time)."""
        assert self.signer is not None
        offset = self._launch_offset
        self._launch_offset += count
        self._pending, self._signed = {}, {}
        logins = self.run_phase(f"{name} (logins)", count,
                                lambda c, n: self.one_login(c, offset + n))
        cpu0, t0 = self_cpu_seconds(), time.perf_counter()
        for n, (state, nonce, cookie) in self._pending.items():
            self._signed[n] = (self.signer.id_token(n, nonce), state, cookie)
        self.apart_sign_cpu_s += self_cpu_seconds() - cpu0
        self.apart_sign_s += time.perf_counter() - t0
        self.apart_signed += len(self._pending)
        posts = self.run_phase(f"{name} (launch POSTs)", count,
                               lambda c, n: self.one_post(c, offset + n))
        by_item = {s.item: s for s in logins.samples}
        samples = []
        for post in posts.samples:
            login = by_item.get(post.item)
            if post.ok and login is not None and login.ok:
                samples.append(Sample(True, login.total_ms + post.total_ms, parts={
                    "login": login.total_ms, "launch": post.total_ms}))
            else:
                samples.append(Sample(False, 0.0, error=post.error or "login failed"))
        return PhaseResult(
            name=name, count=count, ok=sum(1 for s in samples if s.ok),
            seconds=logins.seconds + posts.seconds,
            tool_cpu_s=logins.tool_cpu_s + posts.tool_cpu_s,
            db_cpu_s=logins.db_cpu_s + posts.db_cpu_s,
            client_cpu_s=logins.client_cpu_s + posts.client_cpu_s,
            platform_cpu_s=logins.platform_cpu_s + posts.platform_cpu_s,
            jwks_fetches=logins.jwks_fetches + posts.jwks_fetches, samples=samples,
            workers_before=logins.workers_before, workers_after=posts.workers_after,
            machine_busy_s=logins.machine_busy_s + posts.machine_busy_s,
        )

    def floor(self, name: str, path: str, count: int, measured: bool = True) -> PhaseResult:
        return self.run_phase(name, count, lambda c, n: self.one_get(c, path), measured)

    # ---- profiling with py-spy (sampling; the tool runs unmodified)
    def start_pyspy(self, round_no: int) -> None:
        assert self.server is not None
        exe = shutil.which("py-spy") or self.args.py_spy
        if not exe or not Path(exe).exists():
            raise BenchError("py-spy not found: pip install py-spy (e.g. into /tmp) and pass "
                             "--py-spy PATH")
        out = self.tmp / f"pyspy-{round_no}.txt"
        self.pyspy = self.procs.start(
            "py-spy",
            [exe, "record", "--pid", str(self.server.pid), "--subprocesses", "--nonblocking",
             "--rate", "200", "--format", "raw", "--output", str(out)],
            os.environ.copy(), self.tmp / "pyspy.log")
        time.sleep(1.5)  # let it attach to the workers

    def stop_pyspy(self) -> None:
        if self.pyspy is None:
            return
        self.procs.stop(self.pyspy, signal.SIGINT, timeout=60)
        self.pyspy = None

    def collect_instrument(self) -> None:
        """After the server stopped: merge what each instrumented worker wrote."""
        folder = self.tmp / "instrument"
        merged: dict[str, dict[str, Any]] = {}
        for path in sorted(folder.glob("worker-*.json")):
            if path.name.endswith(".samples.json"):
                continue
            for endpoint, s in json.loads(path.read_text()).items():
                m = merged.setdefault(endpoint, {"requests": 0, "cpu_s": 0.0, "wall_s": 0.0,
                                                 "statements": 0, "checkouts": 0, "begins": 0,
                                                 "commits": 0, "rollbacks": 0,
                                                 "by_statement": {}})
                for k in ("requests", "cpu_s", "wall_s", "statements", "checkouts", "begins",
                          "commits", "rollbacks"):
                    m[k] += s[k]
                for k, v in s["by_statement"].items():
                    m["by_statement"][k] = m["by_statement"].get(k, 0) + v
        per_endpoint = {}
        for endpoint, m in sorted(merged.items()):
            n = max(m["requests"], 1)
            per_endpoint[endpoint] = {
                "requests": m["requests"],
                "in_app_cpu_ms": round(1000 * m["cpu_s"] / n, 3),
                "in_app_wall_ms": round(1000 * m["wall_s"] / n, 3),
                "sql_statements": round(m["statements"] / n, 2),
                "pool_checkouts_pre_ping": round(m["checkouts"] / n, 2),
                "begin": round(m["begins"] / n, 2),
                "commit": round(m["commits"] / n, 2),
                "rollback": round(m["rollbacks"] / n, 2),
                "statements_by_kind": {k: round(v / n, 2) for k, v in
                                       sorted(m["by_statement"].items(), key=lambda kv: -kv[1])},
            }
        self.profile_out["per_endpoint"] = per_endpoint
        sample_files = sorted(folder.glob("worker-*.samples.json"))
        if sample_files:
            self.profile_out["cpu_samples"] = summarize_samples(sample_files, merged)
        profs = sorted(folder.glob("worker-*.prof"))
        if profs:
            import io
            import pstats

            stats = pstats.Stats(str(profs[0]), stream=io.StringIO())
            for p in profs[1:]:
                stats.add(str(p))
            text_out = io.StringIO()
            stats.stream = text_out  # type: ignore[attr-defined]
            stats.sort_stats("tottime").print_stats(40)
            stats.sort_stats("cumulative").print_stats(60)
            report = self.result_stem.with_suffix(".cprofile.txt")
            report.write_text(text_out.getvalue())
            merged_prof = self.result_stem.with_suffix(".prof")
            stats.dump_stats(str(merged_prof))
            self.profile_out["cprofile_report"] = str(report.relative_to(ROOT))

    # ---- the whole run
    def run(self) -> dict[str, Any]:
        a = self.args
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        RESULTS.mkdir(parents=True, exist_ok=True)
        self.result_stem = RESULTS / f"launch-{stamp}"
        self.setup()

        log("warm-up")
        self.launches("warm-up launches", a.warmup, measured=False)
        for path in FLOOR_CANDIDATES:
            self.floor(f"warm-up {path}", path, max(50, a.warmup // 2), measured=False)

        candidates: dict[str, dict[str, Any]] = {}
        for path in FLOOR_CANDIDATES:
            r = self.floor(f"floor probe {path}", path, a.probe_requests, measured=False)
            candidates[path] = r.summary()
        cheapest = max(candidates, key=lambda p: candidates[p]["per_second"])
        log(f"cheapest endpoint: {cheapest}")

        # Floor and launches alternate in rounds, so a disturbance on the machine (another
        # process, a CPU frequency change) hits both alike instead of one of them.
        floors: list[PhaseResult] = []
        launches: list[PhaseResult] = []
        apart: list[PhaseResult] = []
        rounds = a.rounds
        for r in range(rounds):
            share = (r + 1) * a.launches // rounds - r * a.launches // rounds
            fshare = (r + 1) * a.floor_requests // rounds - r * a.floor_requests // rounds
            tag = f"round {r + 1}/{rounds}"
            floors.append(self.floor(f"{tag} floor {cheapest}", cheapest, fshare))
            if a.profile == "pyspy":
                self.start_pyspy(r)
            launches.append(self.launches(f"{tag} launches", share))
            if a.profile == "pyspy":
                self.stop_pyspy()
            apart.append(self.split_launches(f"{tag} launches, platform apart", share))
        if a.profile == "pyspy":
            self.profile_out = summarize_pyspy(sorted(self.tmp.glob("pyspy-*.txt")))
        if a.profile in INSTRUMENTED:
            assert self.server is not None
            self.procs.stop(self.server)  # the workers write their files when they exit
            self.collect_instrument()
        return self.report(stamp, candidates, cheapest, floors, launches, apart)

    def report(self, stamp: str, candidates: dict[str, dict[str, Any]], cheapest: str,
               floors: list[PhaseResult], launches: list[PhaseResult],
               apart: list[PhaseResult]) -> dict[str, Any]:
        a = self.args
        floor_all = PhaseResult.merge("floor", floors)
        measured = PhaseResult.merge("launches", launches)
        apart_all = PhaseResult.merge("launches, platform apart", apart)
        fl, ms, ap = floor_all.summary(), measured.summary(), apart_all.summary()
        floor_rate = floor_all.rate
        inline_ratio = measured.rate / floor_rate if floor_rate else 0.0
        # The target is judged with the platform apart: in a deployment the LMS signs on its
        # own machines; here its signing would take the tool's cores (reported as well).
        ratio = apart_all.rate / floor_rate if floor_rate else 0.0
        ap["platform_sign_cpu_ms_per_item"] = round(
            1000 * self.apart_sign_cpu_s / max(self.apart_signed, 1), 3)
        # The same ratio from the tool's CPU alone: what it would be if the tool had the
        # cores to itself (no load generator, no PostgreSQL, no other processes).
        cpu_ratio = (fl["tool_cpu_ms_per_item"] / ms["tool_cpu_ms_per_item"]
                     if ms["tool_cpu_ms_per_item"] else 0.0)
        per_round = [{
            "floor_per_second": round(f.rate, 1), "launches_per_second": round(m.rate, 2),
            "launches_apart_per_second": round(p.rate, 2),
            "ratio": round(p.rate / f.rate, 4) if f.rate else None,
            "ratio_platform_inline": round(m.rate / f.rate, 4) if f.rate else None,
            "tool_cpu_ms_per_launch": round(1000 * m.tool_cpu_s / max(m.ok, 1), 2),
            "tool_cpu_ms_per_launch_apart": round(1000 * p.tool_cpu_s / max(p.ok, 1), 2),
            "floor_tool_cpu_ms_per_request": round(1000 * f.tool_cpu_s / max(f.ok, 1), 3),
            "foreign_cpu_share": m.summary()["foreign_cpu_share"],
        } for f, m, p in zip(floors, launches, apart, strict=True)]
        cpu_ms = ms["tool_cpu_ms_per_item"]
        jwks_per = ms["jwks_fetches_per_item"]
        targets = {
            "tool_cpu_ms_per_launch": {"value": cpu_ms, "target": f"<= {TARGET_CPU_MS}",
                                       "met": cpu_ms <= TARGET_CPU_MS},
            "jwks_fetches_per_launch": {"value": jwks_per, "target": "0 once warm",
                                        "met": jwks_per <= TARGET_JWKS_PER_LAUNCH},
            "ratio_to_floor": {"value": round(ratio, 4), "target": f">= {TARGET_RATIO}",
                               "met": ratio >= TARGET_RATIO},
        }
        result = {
            "benchmark": "launch",
            "timestamp": stamp,
            "command": " ".join([".venv/bin/python", "benchmarks/launch/run.py", *sys.argv[1:]]),
            "config": {
                "launches": a.launches, "warmup_launches": a.warmup,
                "concurrency": a.concurrency, "workers": a.workers,
                "floor_requests": a.floor_requests, "probe_requests": a.probe_requests,
                "rounds": a.rounds,
                "users": a.users, "contexts": a.contexts, "log_level": a.log_level,
                "profile": a.profile,
            },
            "environment": {
                "cpus": os.cpu_count(), "python": py_platform.python_version(),
                "machine": py_platform.machine(), "kernel": py_platform.release(),
                "git_commit": _git_commit(),
                "tool_code": self.source_label,
                "server": "gunicorn (sync workers) via `lti-service serve`",
                "database": "PostgreSQL (scratch database)",
            },
            "floor": {"candidates": candidates, "endpoint": cheapest, **fl},
            "launches": ms,
            "launches_platform_apart": ap,
            "ratio_launches_to_floor": round(ratio, 4),
            "ratio_launches_to_floor_platform_inline": round(inline_ratio, 4),
            "ratio_by_tool_cpu": round(cpu_ratio, 4),
            "rounds": per_round,
            "targets": targets,
            "all_targets_met": all(t["met"] for t in targets.values()),
            "reference_pylti1p3_tool": REFERENCE,
        }
        if self.profile_out:
            result["profile"] = self.profile_out
        path = self.result_stem.with_suffix(".json")
        path.write_text(json.dumps(result, indent=2) + "\n")
        result["_path"] = str(path.relative_to(ROOT))
        return result

    def cleanup(self) -> None:
        self.stop_event.set()
        try:
            self.procs.stop_all()
        finally:
            try:
                self.drop_database()
            except Exception as exc:  # report, keep cleaning
                log(f"could not drop {self.db_name}: {exc}")
            shutil.rmtree(self.tmp, ignore_errors=True)


def summarize_pyspy(paths: list[Path], top: int = 40) -> dict[str, Any]:
    """Self and inclusive sample shares per function from py-spy's collapsed stacks."""
    lines = [line for p in paths if p.exists() for line in p.read_text().splitlines()]
    if not lines:
        return {"error": "py-spy wrote nothing"}
    self_counts: dict[str, int] = {}
    incl_counts: dict[str, int] = {}
    total = 0
    for line in lines:
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if not f.startswith("process ")]
        if not frames:
            continue
        total += count
        self_counts[frames[-1]] = self_counts.get(frames[-1], 0) + count
        for frame in set(frames):
            incl_counts[frame] = incl_counts.get(frame, 0) + count

    def ranked(counts: dict[str, int]) -> list[dict[str, Any]]:
        items = sorted(counts.items(), key=lambda kv: -kv[1])[:top]
        return [{"function": f, "samples": c, "share": round(c / total, 4)} for f, c in items]

    return {"samples": total, "self": ranked(self_counts), "inclusive": ranked(incl_counts)}


# Where a CPU sample goes: the first frame from the leaf up that belongs to one of these.
BUCKETS = (
    ("psycopg/", "psycopg (driver)"),
    ("sqlalchemy/", "SQLAlchemy"),
    ("jwt/", "PyJWT"),
    ("cryptography/", "cryptography"),
    ("pylti1p3/", "pylti1p3"),
    ("logging/", "logging"),
    ("lti_service/logging_setup", "logging"),
    ("json/", "json"),
    ("itsdangerous/", "Flask session (itsdangerous)"),
    ("flask/sessions", "Flask session (itsdangerous)"),
    ("jinja2/", "Jinja2"),
    ("werkzeug/", "Werkzeug"),
    ("flask/", "Flask"),
    ("flask_wtf/", "Flask-WTF"),
    ("serve_instrumented", "instrumentation (SQL counting)"),
    ("gunicorn/", "gunicorn"),
    ("lti_service/", "tool code"),
)


def _bucket(stack: str) -> str:
    for frame in reversed(stack.split(";")):
        path = frame[frame.rfind("(") + 1:]
        for marker, name in BUCKETS:
            if marker in path:
                return name
    return "other (stdlib)"


def summarize_samples(files: list[Path], requests: dict[str, dict[str, Any]],
                      top: int = 30) -> dict[str, Any]:
    """CPU-time stack samples per endpoint: ms per request by package, function and line.

    The kernel delivers ITIMER_PROF at its tick, so the sample count is not CPU time by
    itself; each endpoint's shares are scaled to its measured in-app CPU (thread time).
    """
    per: dict[str, dict[str, Any]] = {}
    for path in files:
        data = json.loads(path.read_text())
        for endpoint, stack, leaf, tool_line, count in data["samples"]:
            e = per.setdefault(endpoint, {"total": 0, "bucket": {}, "self": {}, "line": {},
                                          "incl": {}, "tool_line": {}})
            key = tool_line or "(not under the tool's code)"
            e["tool_line"][key] = e["tool_line"].get(key, 0) + count
            e["total"] += count
            bucket = _bucket(stack)
            e["bucket"][bucket] = e["bucket"].get(bucket, 0) + count
            frames = stack.split(";")
            e["self"][frames[-1]] = e["self"].get(frames[-1], 0) + count
            e["line"][leaf] = e["line"].get(leaf, 0) + count
            for frame in set(frames):
                e["incl"][frame] = e["incl"].get(frame, 0) + count
    all_samples = sum(e["total"] for e in per.values())
    out: dict[str, Any] = {"samples": all_samples,
                           "share_by_endpoint": {k: round(e["total"] / all_samples, 4)
                                                 for k, e in per.items()}}
    for endpoint, e in sorted(per.items()):
        stats = requests.get(endpoint, {})
        n = max(int(stats.get("requests", 0)), 1)
        cpu_ms = 1000 * float(stats.get("cpu_s", 0.0)) / n  # measured, per request

        def ms(count: int, total: int = e["total"], cpu_ms: float = cpu_ms) -> float:
            return round(cpu_ms * count / total, 3) if cpu_ms else round(count / total, 4)

        def ranked(counts: dict[str, int], limit: int = top) -> list[list[Any]]:
            return [[k, ms(v)] for k, v in sorted(counts.items(), key=lambda kv: -kv[1])[:limit]]

        out[endpoint] = {
            "requests": n, "samples": e["total"],
            "unit": "ms of in-app CPU per request" if cpu_ms else "share of samples",
            "in_app_cpu_ms_per_request": round(cpu_ms, 3),
            "ms_per_request_by_package": dict(ranked(e["bucket"], 50)),
            "self_ms_by_function": ranked(e["self"]),
            "self_ms_by_line": ranked(e["line"], 20),
            "inclusive_ms_by_function": ranked(e["incl"], 60),
            "inclusive_ms_by_tool_function": ranked(
                {k: v for k, v in e["incl"].items() if "lti_service/" in k
                 and "lti_service/cli.py" not in k}, 25),
            # Everything below a line of the tool's code is charged to that line.
            "ms_by_innermost_tool_line": ranked(e["tool_line"], 40),
        }
    return out


# --------------------------------------------------------------------------- output
def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _git_commit() -> str:
    """HEAD, with "+dirty" when the tool's code differs from it (read-only git calls)."""
    with contextlib.suppress(Exception):
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "lti_service"],
                               cwd=ROOT, capture_output=True, text=True, timeout=10).stdout
        return head + ("+dirty" if dirty.strip() else "")
    return ""


def _plain_pg_url(url: str) -> str:
    for prefix in ("postgresql+psycopg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix):]
    return url


def _yes(met: bool) -> str:
    return "yes" if met else "**no**"


def markdown(result: dict[str, Any]) -> str:
    fl, la, tg = result["floor"], result["launches"], result["targets"]
    ap = result["launches_platform_apart"]
    cfg = result["config"]
    ratios = [r["ratio"] or 0.0 for r in result["rounds"]]
    inline = [r["ratio_platform_inline"] or 0.0 for r in result["rounds"]]
    lines = [
        f"### Launch benchmark {result['timestamp']} ({cfg['launches']} launches, "
        f"concurrency {cfg['concurrency']}, {cfg['workers']} gunicorn workers, PostgreSQL"
        + (f", profile={cfg['profile']}: figures inflated" if cfg["profile"] != "none" else "")
        + ")",
        "",
        "| endpoint (floor probe) | req/s | tool CPU ms/req | p50 ms | p99 ms |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for path, c in fl["candidates"].items():
        mark = " (floor)" if path == fl["endpoint"] else ""
        lines.append(f"| `{path}`{mark} | {c['per_second']:.0f} | "
                     f"{c['tool_cpu_ms_per_item']:.2f} | {c['latency_ms']['p50']:.2f} | "
                     f"{c['latency_ms']['p99']:.2f} |")
    steps = la["latency_ms_by_step"]
    lines += [
        "",
        "| figure | value | target | met |",
        "| --- | ---: | --- | --- |",
        f"| floor `{fl['endpoint']}` req/s | {fl['per_second']:.0f} | | |",
        f"| floor tool CPU ms/request | {fl['tool_cpu_ms_per_item']:.2f} | | |",
        f"| launches/s, platform apart (its signing outside the timed windows) | "
        f"{ap['per_second']:.1f} | | |",
        f"| launches/s, platform signing on these cores | {la['per_second']:.1f} | | |",
        f"| launches/s / floor req/s, platform apart | {result['ratio_launches_to_floor']:.3f} "
        f"(rounds {min(ratios):.3f}-{max(ratios):.3f}) | "
        f"{tg['ratio_to_floor']['target']} | {_yes(tg['ratio_to_floor']['met'])} |",
        f"| launches/s / floor req/s, platform signing on these cores | "
        f"{result['ratio_launches_to_floor_platform_inline']:.3f} "
        f"(rounds {min(inline):.3f}-{max(inline):.3f}) | | |",
        f"| same ratio from tool CPU alone (floor CPU/req / CPU/launch) | "
        f"{result['ratio_by_tool_cpu']:.3f} | | |",
        f"| tool CPU ms per launch (gunicorn master + workers) | "
        f"{la['tool_cpu_ms_per_item']:.2f} | {tg['tool_cpu_ms_per_launch']['target']} | "
        f"{_yes(tg['tool_cpu_ms_per_launch']['met'])} |",
        f"| JWKS fetches per launch (measured phase) | {la['jwks_fetches']} / {la['ok']} = "
        f"{la['jwks_fetches_per_item']:g} | {tg['jwks_fetches_per_launch']['target']} | "
        f"{_yes(tg['jwks_fetches_per_launch']['met'])} |",
        f"| launch latency p50 / p95 / p99 ms (login + sign + launch) | "
        f"{la['latency_ms']['p50']:.1f} / {la['latency_ms']['p95']:.1f} / "
        f"{la['latency_ms']['p99']:.1f} | | |",
    ]
    for step, label in (("login", "GET /lti/login"), ("launch", "POST /lti/launch"),
                        ("platform_sign", "platform signing (load generator)")):
        if step in steps:
            s = steps[step]
            lines.append(f"| {label} p50 / p95 / p99 ms | {s['p50']:.1f} / {s['p95']:.1f} / "
                         f"{s['p99']:.1f} | | |")
    lines += [
        f"| PostgreSQL CPU ms per launch (scratch db backends) | "
        f"{la['postgres_cpu_ms_per_item']:.2f} | | |",
        f"| load generator CPU ms per launch (incl. signing) | "
        f"{la['client_cpu_ms_per_item']:.2f} | | |",
        f"| platform apart: tool CPU ms per launch / load generator CPU ms per launch "
        f"(timed) / signing CPU ms (not timed) | {ap['tool_cpu_ms_per_item']:.2f} / "
        f"{ap['client_cpu_ms_per_item']:.2f} / {ap['platform_sign_cpu_ms_per_item']:.2f} | | |",
        f"| failed launches | {la['count'] - la['ok']} | | |",
        f"| CPU used by other processes (share of the cores, launches / floor) | "
        f"{la['foreign_cpu_share']:.0%} / {fl['foreign_cpu_share']:.0%} | | |",
        "",
        f"Reference pylti1p3 tool: {REFERENCE['cpu_ms_per_launch']} ms CPU/launch, "
        f"{REFERENCE['jwks_fetches_per_launch']} JWKS fetch/launch, "
        f"{REFERENCE['ratio_to_floor']} of its floor. "
        f"All targets met: **{'yes' if result['all_targets_met'] else 'no'}**.",
    ]
    prof = result.get("profile") or {}
    if prof.get("per_endpoint"):
        lines += ["", "| endpoint (instrumented) | in-app CPU ms | SQL stmts | pre-ping "
                  "checkouts | BEGIN | COMMIT | ROLLBACK |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for ep, s in prof["per_endpoint"].items():
            lines.append(f"| `{ep}` | {s['in_app_cpu_ms']:.2f} | {s['sql_statements']:g} | "
                         f"{s['pool_checkouts_pre_ping']:g} | {s['begin']:g} | "
                         f"{s['commit']:g} | {s['rollback']:g} |")
    samples = prof.get("cpu_samples") or {}
    sampled = [ep for ep in ("GET /lti/login", "POST /lti/launch") if ep in samples]
    if sampled:
        packages: dict[str, dict[str, float]] = {}
        for ep in sampled:
            for pkg, v in samples[ep]["ms_per_request_by_package"].items():
                packages.setdefault(pkg, {})[ep] = v
        lines += ["", "| CPU ms per request by package (CPU-time samples) | "
                  + " | ".join(f"`{ep}`" for ep in sampled) + " |",
                  "| --- |" + " ---: |" * len(sampled)]
        lines.append("| in-app total | " + " | ".join(
            f"{samples[ep]['in_app_cpu_ms_per_request']:.2f}" for ep in sampled) + " |")
        for pkg, row in sorted(packages.items(), key=lambda kv: -sum(kv[1].values())):
            lines.append(f"| {pkg} | " + " | ".join(f"{row.get(ep, 0.0):.2f}"
                                                     for ep in sampled) + " |")
        for ep in sampled:
            lines += ["", f"| `{ep}`: tool function (inclusive) | CPU ms |", "| --- | ---: |"]
            for name, v in samples[ep]["inclusive_ms_by_tool_function"][:12]:
                lines.append(f"| `{name}` | {v:.2f} |")
    if prof.get("self"):
        lines += ["", "| py-spy: function (self) | share |", "| --- | ---: |"]
        for row in prof["self"][:15]:
            lines.append(f"| `{row['function']}` | {100 * row['share']:.1f}% |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Full LTI 1.3 launches against `lti-service serve` (see README.md).")
    p.add_argument("--launches", type=int, default=2000, help="measured launches")
    p.add_argument("--concurrency", type=int, default=8,
                   help="client threads (8: the two workers always have a request queued)")
    p.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test",
                   help="any database on the PostgreSQL server; a scratch database is "
                        "created beside it and dropped at the end")
    p.add_argument("--warmup", type=int, default=300, help="launches before measuring")
    p.add_argument("--floor-requests", type=int, default=None,
                   help="floor requests in all rounds together (default: 2 x launches)")
    p.add_argument("--probe-requests", type=int, default=1000,
                   help="requests per floor candidate when choosing the cheapest")
    p.add_argument("--rounds", type=int, default=5,
                   help="floor and launch measurements alternate in this many rounds")
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    p.add_argument("--users", type=int, default=200, help="distinct platform users")
    p.add_argument("--contexts", type=int, default=20, help="distinct courses")
    p.add_argument("--log-level", default="INFO", help="the tool's LTI_SERVICE_LOG_LEVEL")
    p.add_argument("--profile", choices=("none", *INSTRUMENTED, "pyspy"), default="none",
                   help="sql/cprofile/sample: instrumented workers (serve_instrumented.py: "
                        "SQL counts per endpoint; cProfile; CPU-time stack sampling); "
                        "pyspy: wall-clock sampling of the unmodified workers")
    p.add_argument("--git-ref", default=None,
                   help="benchmark the tool as committed at this git ref (extracted with "
                        "`git archive` into the temp folder) instead of the working tree")
    p.add_argument("--py-spy", default="/tmp/pyspy-venv/bin/py-spy",  # noqa: S108
                   help="py-spy executable when not on PATH")
    args = p.parse_args(argv)
    if args.floor_requests is None:
        args.floor_requests = 2 * args.launches
    if min(args.launches, args.concurrency, args.rounds, args.warmup, args.floor_requests,
           args.probe_requests, args.users, args.contexts) < 1:
        p.error("counts must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def _terminate(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    # SIGINT too: a shell that starts us in the background makes Python ignore it.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _terminate)
    bench = Bench(args)
    try:
        result = bench.run()
    except KeyboardInterrupt:
        log("interrupted: cleaning up")
        return 130
    except (BenchError, psycopg.Error, OSError, subprocess.SubprocessError) as exc:
        log(f"error: {type(exc).__name__}: {exc}")
        return 1
    finally:
        bench.cleanup()
    print(markdown(result))
    print(f"\nresult: {result['_path']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
