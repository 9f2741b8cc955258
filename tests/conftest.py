"""Shared fixtures: a real database, the tool served over real HTTP, and two platforms.

Database: SQLite in a temporary folder by default; PostgreSQL when
``LTI_SERVICE_TEST_DATABASE_URL`` names one (CI runs the whole suite both ways). On
PostgreSQL each run gets its own fresh database, created next to the one named and dropped
afterwards. The schema is always built by the Alembic migrations.

Platforms: the embedded demo LMS (part of the served app, speaking real LTI over HTTP) and
an independent test platform running as a separate process (``support/platform_server.py``),
registered through ``lti-service platform add`` like an admin would.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from lti_service.app import create_app
from lti_service.config import Settings, load_settings
from lti_service.migrate import upgrade
from tests.support.web_client import browser, parse_form

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- database
@contextmanager
def fresh_postgres_database(url: str, prefix: str) -> Iterator[str]:
    """A new, empty database on the server of ``url`` (dropped afterwards), as a URL."""
    server = make_url(url)
    if server.drivername in ("postgresql", "postgres"):
        server = server.set(drivername="postgresql+psycopg")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    configured = os.environ.get("LTI_SERVICE_TEST_DATABASE_URL")
    if not configured:
        path = tmp_path_factory.mktemp("db") / "test.db"
        yield f"sqlite:///{path}"
        return
    with fresh_postgres_database(configured, "qc_test") as url:
        yield url


@pytest.fixture
def scratch_database_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of the same backend as the suite's, for schema tests."""
    if not database_url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'scratch.db'}"
        return
    with fresh_postgres_database(database_url, "qc_scratch") as url:
        yield url


@pytest.fixture(scope="session")
def migrated_database(database_url: str) -> str:
    upgrade(database_url)
    return database_url


@pytest.fixture(scope="session")
def is_postgres(database_url: str) -> bool:
    return database_url.startswith("postgresql")


# --------------------------------------------------------------------------- the tool
@dataclass
class ToolServer:
    base_url: str
    settings: Settings
    app: Any
    env: dict[str, str] = field(default_factory=dict)

    def session(self) -> Session:
        factory = self.app.extensions["lti_service"]["session_factory"]
        session: Session = factory()
        return session

    def count(self, model: Any, *where: Any) -> int:
        with self.session() as s:
            return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``lti-service`` as a separate process against the same database."""
        return subprocess.run(
            [sys.executable, "-m", "lti_service.cli", *args],
            env=self.env, capture_output=True, text=True, check=check, timeout=120,
        )


def _settings_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LTI_SERVICE_")}
    env.update({
        "LTI_SERVICE_INSTANCE_DIR": str(settings.instance_dir),
        "LTI_SERVICE_DATABASE_URL": settings.effective_database_url,
        "LTI_SERVICE_BASE_URL": settings.effective_base_url,
        "LTI_SERVICE_SECRET_KEY": settings.secret_key or "",
    })
    return env


@pytest.fixture(scope="session")
def tool(migrated_database: str, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[ToolServer]:
    port = free_port()
    settings = load_settings(
        instance_dir=tmp_path_factory.mktemp("instance"),
        database_url=migrated_database,
        base_url=f"http://127.0.0.1:{port}",
        secret_key="test-secret-" + "x" * 40,
        demo_lms=True,
        port=port,
        jwks_refetch_interval=0,
        registration_cache_seconds=0,  # operator changes seen at once (cache: test_registry)
    )
    app = create_app(settings, configure_logs=False)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield ToolServer(settings.effective_base_url, settings, app, _settings_env(settings))
    finally:
        server.shutdown()
        app.extensions["lti_service"]["engine"].dispose()
        if app.extensions["lti_service"].get("hot_engine") is not None:
            app.extensions["lti_service"]["hot_engine"].dispose()


# --------------------------------------------------------------------------- platforms
@dataclass
class IndependentPlatform:
    """Handle on the independent platform process."""

    base: str
    registration_id: int
    tool: ToolServer
    client_id: str = "test-client-42"
    deployment_id: str = "deploy-1"

    def login_url(self, **spec: Any) -> str:
        r = requests.get(self.base + "/login-url", params={"spec": json.dumps(spec)}, timeout=10)
        r.raise_for_status()
        return r.text

    def launch(self, client: requests.Session | None = None, **spec: Any) -> requests.Response:
        """A whole launch as a browser does it: login → platform auth → POST /lti/launch."""
        client = client or browser()
        form_page = self.authorize(client, **spec)
        action, fields = parse_form(form_page.text)
        return client.post(action, data=fields, allow_redirects=True, timeout=30)

    def authorize(self, client: requests.Session, **spec: Any) -> requests.Response:
        login = client.get(self.login_url(**spec), allow_redirects=False, timeout=30)
        assert login.status_code == 302, login.text[:500]
        auth = client.get(login.headers["Location"], timeout=30)
        assert auth.status_code == 200, auth.text
        return auth

    def jwks_requests(self) -> int:
        return int(requests.get(self.base + "/stats", timeout=10).json()["jwks_requests"])

    def registration_token(self) -> str:
        """A fresh single-use Dynamic Registration token, as the platform's admin page has."""
        return str(requests.post(self.base + "/dr/new-token", timeout=10).json()["token"])

    def registrations(self) -> list[dict[str, Any]]:
        reply: list[dict[str, Any]] = requests.get(self.base + "/dr/registrations",
                                                   timeout=10).json()
        return reply

    def rotate(self) -> str:
        return str(requests.post(self.base + "/rotate", timeout=10).json()["kid"])


@pytest.fixture(scope="session")
def test_platform(tool: ToolServer) -> Iterator[IndependentPlatform]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "support" / "platform_server.py"),
         "--tool", tool.base_url],
        stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    assert line and line[0] == "READY", line
    base = line[1]
    try:
        result = tool.cli(
            "platform", "add", "--issuer", base, "--client-id", "test-client-42",
            "--auth-login-url", base + "/auth", "--auth-token-url", base + "/token",
            "--key-set-url", base + "/jwks", "--deployment-id", "deploy-1",
            "--name", "Independent test platform",
        )
        yield IndependentPlatform(base=base, registration_id=int(result.stdout.strip()), tool=tool)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@dataclass
class DemoLms:
    tool: ToolServer

    @property
    def base(self) -> str:
        return self.tool.base_url + "/demo-lms"

    def launch(self, user: str = "learner", client: requests.Session | None = None,
               **params: str) -> requests.Response:
        """Open the demo course page as ``user`` and follow the iframe's launch to its end."""
        from tests.support.web_client import iframe_src

        client = client or browser()
        page = client.get(self.base + "/launch", params={"user": user, **params}, timeout=30)
        assert page.status_code == 200, page.text[:500]
        login = client.get(iframe_src(page.text), allow_redirects=False, timeout=30)
        assert login.status_code == 302, login.text[:500]
        auth = client.get(login.headers["Location"], timeout=30)
        assert auth.status_code == 200, auth.text[:1000]
        action, fields = parse_form(auth.text)
        return client.post(action, data=fields, timeout=30)


@pytest.fixture(scope="session")
def demo_lms(tool: ToolServer) -> DemoLms:
    return DemoLms(tool)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: Any) -> None:
    """In CI (QC_REQUIRE_ALL=1) a skipped test is a failure: every acceptance point runs."""
    skipped = terminalreporter.stats.get("skipped", [])
    if os.environ.get("QC_REQUIRE_ALL") == "1" and skipped:
        terminalreporter.write_line(
            f"QC_REQUIRE_ALL: {len(skipped)} test(s) were skipped; failing the run.", red=True)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if os.environ.get("QC_REQUIRE_ALL") == "1" and skipped and exitstatus == 0:
        session.exitstatus = 1
