"""Health endpoint and logging: request ids, JSON lines, no secrets."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import requests

from lti_service.app import create_app
from lti_service.config import load_settings
from lti_service.logging_setup import JsonFormatter, RequestIdFilter
from lti_service.migrate import upgrade
from tests.conftest import ToolServer


def test_healthz_answers_ok_when_the_database_answers(tool: ToolServer) -> None:
    response = requests.get(tool.base_url + "/healthz", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["X-Request-ID"]


def test_healthz_answers_503_when_the_database_does_not(tmp_path: Path) -> None:
    settings = load_settings(instance_dir=tmp_path, secret_key="s" * 40,
                             database_url="postgresql://nobody@127.0.0.1:1/none")
    app = create_app(settings, configure_logs=False)
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json == {"status": "error", "database": "unavailable"}


def test_a_request_id_is_on_every_log_line_and_echoed(tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings(instance_dir=tmp_path, secret_key="s" * 40)
    upgrade(settings.effective_database_url)
    app = create_app(settings, configure_logs=False)
    handler = caplog.handler
    handler.addFilter(RequestIdFilter())
    caplog.set_level(logging.INFO)
    response = app.test_client().get("/lti/login?login_hint=x",
                                     headers={"X-Request-ID": "abc-123"})
    assert response.status_code == 400
    assert response.headers["X-Request-ID"] == "abc-123"
    refused = [r for r in caplog.records if r.getMessage() == "lti request refused"]
    assert refused and all(r.request_id == "abc-123" for r in refused)  # type: ignore[attr-defined]
    assert refused[0].code == "missing_iss"  # type: ignore[attr-defined]


def test_json_logs_are_one_object_per_line_and_mask_secrets() -> None:
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "launch refused", None, None)
    record.request_id = "rid-1"
    record.code = "expired"
    record.id_token = "eyJhbGciOi..."
    record.client_secret = "hunter2"
    line = JsonFormatter().format(record)
    data = json.loads(line)
    assert data["message"] == "launch refused" and data["request_id"] == "rid-1"
    assert data["code"] == "expired"
    assert data["id_token"] == "***" and data["client_secret"] == "***"
    assert "hunter2" not in line and "eyJhbGciOi" not in line


def test_an_unexpected_error_is_a_500_page_with_the_request_id(tmp_path: Path) -> None:
    settings = load_settings(instance_dir=tmp_path, secret_key="s" * 40)
    upgrade(settings.effective_database_url)
    app = create_app(settings, configure_logs=False)

    @app.get("/_boom")
    def _boom() -> str:
        raise RuntimeError("boom")

    response = app.test_client().get("/_boom", headers={"X-Request-ID": "r-500"})
    assert response.status_code == 500
    assert b"r-500" in response.data and b"boom" not in response.data
    json_response = app.test_client().get("/_boom", headers={"Accept": "application/json"})
    assert json_response.json["error"] == "internal_error"
