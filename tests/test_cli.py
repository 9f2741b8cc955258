"""The ``lti-service`` command line, run as a separate process like an operator does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import IndependentPlatform, ToolServer


@pytest.fixture
def cli_env(scratch_database_url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LTI_SERVICE_")}
    env.update(LTI_SERVICE_INSTANCE_DIR=str(tmp_path / "instance"),
               LTI_SERVICE_DATABASE_URL=scratch_database_url)
    return env


def run(env: dict[str, str], *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "lti_service.cli", *args], env=env,
                            capture_output=True, text=True, timeout=120)
    if ok:
        assert result.returncode == 0, result.stderr
    return result


MOODLE = ["--issuer", "https://moodle.example.edu", "--client-id", "aB3dE5fG7hI9jK1",
          "--auth-login-url", "https://moodle.example.edu/mod/lti/auth.php",
          "--auth-token-url", "https://moodle.example.edu/mod/lti/token.php",
          "--key-set-url", "https://moodle.example.edu/mod/lti/certs.php"]


def test_an_operator_registers_lists_and_switches_a_platform(cli_env: dict[str, str]) -> None:
    assert "up to date" in run(cli_env, "db", "upgrade").stdout
    reg_id = run(cli_env, "platform", "add", *MOODLE, "--deployment-id", "3",
                 "--deployment-id", "4").stdout.strip()
    assert reg_id.isdigit()
    [row] = json.loads(run(cli_env, "platform", "list", "--json").stdout)
    assert row["id"] == int(reg_id) and row["state"] == "active"
    assert [d["deployment_id"] for d in row["deployments"]] == ["3", "4"]
    assert "moodle.example.edu" in run(cli_env, "platform", "list").stdout

    run(cli_env, "platform", "deactivate", reg_id)
    assert json.loads(run(cli_env, "platform", "list", "--json").stdout)[0]["state"] == (
        "inactive")
    run(cli_env, "platform", "activate", reg_id)
    assert json.loads(run(cli_env, "platform", "list", "--json").stdout)[0]["state"] == "active"
    run(cli_env, "platform", "deactivate", reg_id, "--deployment-id", "4")
    deployments = json.loads(run(cli_env, "platform", "list", "--json").stdout)[0]["deployments"]
    assert deployments == [{"deployment_id": "3", "active": True},
                           {"deployment_id": "4", "active": False}]


def test_bad_platform_values_are_refused_with_a_message(cli_env: dict[str, str]) -> None:
    run(cli_env, "db", "upgrade")
    dup = run(cli_env, "platform", "add", *MOODLE, "--deployment-id", "1")
    again = run(cli_env, "platform", "add", *MOODLE, "--deployment-id", "1", ok=False)
    assert dup.returncode == 0 and again.returncode != 0
    assert "already exists" in again.stderr
    bad_url = [v if v != "https://moodle.example.edu/mod/lti/certs.php" else "certs.php"
               for v in MOODLE]
    result = run(cli_env, "platform", "add", *bad_url, "--deployment-id", "1", ok=False)
    assert result.returncode != 0 and "key set URL" in result.stderr
    missing = run(cli_env, "platform", "activate", "999", ok=False)
    assert missing.returncode != 0 and "no registration with id 999" in missing.stderr


def test_keys_rotate_and_list(cli_env: dict[str, str]) -> None:
    run(cli_env, "db", "upgrade")
    first = run(cli_env, "keys", "rotate").stdout.split()[-1]
    second = run(cli_env, "keys", "rotate").stdout.split()[-1]
    listing = run(cli_env, "keys", "list").stdout
    assert f"{first}  retired" in listing and f"{second}  active" in listing
    assert run(cli_env, "keys", "delete", second, ok=False).returncode != 0
    run(cli_env, "keys", "delete", first)
    assert first not in run(cli_env, "keys", "list").stdout


def test_the_id_printed_by_platform_add_is_usable_for_launches_at_once(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    """The independent platform was registered by `lti-service platform add` (conftest)."""
    listing = json.loads(tool.cli("platform", "list", "--json").stdout)
    [row] = [r for r in listing if r["id"] == test_platform.registration_id]
    assert row["issuer"] == test_platform.base and row["state"] == "active"
    assert test_platform.launch().status_code == 200


def test_serve_refuses_to_start_without_production_settings(cli_env: dict[str, str]) -> None:
    result = run(cli_env, "serve", ok=False)
    assert result.returncode != 0
    assert "LTI_SERVICE_BASE_URL" in result.stderr and "LTI_SERVICE_SECRET_KEY" in result.stderr


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_a_server_does_not_start_on_a_broken_framework_and_says_where(
        cli_env: dict[str, str], tmp_path: Path, command: str) -> None:
    from lti_service.assessment.frameworks import DEFAULT_DIR

    folder = tmp_path / "frameworks"
    folder.mkdir()
    for name in ("framework.xsd", "xml.xsd"):
        (folder / name).write_bytes((DEFAULT_DIR / name).read_bytes())
    text = (DEFAULT_DIR / "ict-schools.xml").read_text(encoding="utf-8")
    (folder / "ict.xml").write_text(text.replace('<level value="3">', '<level value="x">', 1),
                                    encoding="utf-8")
    line = next(n for n, row in enumerate((folder / "ict.xml").read_text().splitlines(), 1)
                if 'value="x"' in row)
    env = {**cli_env, "LTI_SERVICE_FRAMEWORKS_DIR": str(folder),
           "LTI_SERVICE_BASE_URL": "https://qc.example.org",
           "LTI_SERVICE_SECRET_KEY": "k" * 40}
    args = ["--port", "0"] if command == "demo" else ["--bind", "127.0.0.1:0"]
    result = run(env, command, *args, ok=False)
    assert result.returncode == 1
    assert f"ict.xml:{line}: does not match framework.xsd" in result.stderr
    assert "Traceback" not in result.stderr
