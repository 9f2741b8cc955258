"""The launch hot path (plain WSGI in front of Flask) behaves exactly as the Flask views do:
for every body a platform may send, behind a proxy, and in its logs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests

from lti_service.app import create_app
from lti_service.logging_setup import RequestIdFilter
from lti_service.models import UsedNonce
from tests.conftest import IndependentPlatform, ToolServer
from tests.lti.test_launch import error_code, stored_rows
from tests.support.web_client import browser, parse_form


def _signed_launch_form(test_platform: IndependentPlatform, client: requests.Session,
                        **spec: str) -> dict[str, str]:
    _, fields = parse_form(test_platform.authorize(client, **spec).text)
    return fields


def test_a_launch_posted_as_multipart_is_accepted_like_an_urlencoded_one(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    client = browser()
    fields = _signed_launch_form(test_platform, client, user="learner")
    # Multipart is left to Werkzeug's parser; the result must be the same launch.
    response = client.post(tool.base_url + "/lti/launch",
                           files={k: (None, v) for k, v in fields.items()},
                           allow_redirects=False, timeout=30)
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/app/c.")
    home = client.get(tool.base_url + response.headers["Location"], timeout=30)
    assert home.status_code == 200


def test_a_repeated_launch_post_is_refused_whichever_path_answers_it(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    client = browser()
    fields = _signed_launch_form(test_platform, client, user="learner")
    first = client.post(tool.base_url + "/lti/launch", data=fields, allow_redirects=False,
                        timeout=30)
    assert first.status_code == 303
    before = stored_rows(tool)
    again = client.post(tool.base_url + "/lti/launch",
                        files={k: (None, v) for k, v in fields.items()},
                        allow_redirects=False, timeout=30)
    assert again.status_code == 400 and error_code(again) == "invalid_state"
    assert stored_rows(tool) == before


def test_a_launch_body_over_the_size_limit_is_refused_with_413_and_stores_nothing(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    client = browser()
    fields = _signed_launch_form(test_platform, client, user="learner")
    before = stored_rows(tool)
    response = client.post(tool.base_url + "/lti/launch",
                           data={**fields, "padding": "x" * (3 * 1024 * 1024)},
                           allow_redirects=False, timeout=30)
    assert response.status_code == 413
    assert stored_rows(tool) == before


def test_a_launch_with_malformed_form_encoding_gets_a_4xx_page(tool: ToolServer) -> None:
    before = stored_rows(tool)
    response = requests.post(tool.base_url + "/lti/launch", data=b"id_token=%zz&state=%",
                             headers={"Content-Type": "application/x-www-form-urlencoded"},
                             allow_redirects=False, timeout=30)
    assert 400 <= response.status_code < 500
    assert "text/html" in response.headers["Content-Type"]
    assert stored_rows(tool) == before


@pytest.fixture()
def request_ids(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.handler.addFilter(RequestIdFilter())
    caplog.set_level(logging.INFO)
    yield caplog


def test_the_launch_and_its_log_line_carry_the_callers_request_id(
    tool: ToolServer, test_platform: IndependentPlatform,
    request_ids: pytest.LogCaptureFixture
) -> None:
    client = browser()
    login = client.get(test_platform.login_url(user="learner"), allow_redirects=False,
                       headers={"X-Request-ID": "login-rid-1"}, timeout=30)
    assert login.status_code == 302
    assert login.headers["X-Request-ID"] == "login-rid-1"
    auth = client.get(login.headers["Location"], timeout=30)
    action, fields = parse_form(auth.text)
    launch = client.post(action, data=fields, allow_redirects=False,
                         headers={"X-Request-ID": "launch-rid-1"}, timeout=30)
    assert launch.status_code == 303
    assert launch.headers["X-Request-ID"] == "launch-rid-1"
    accepted = [r for r in request_ids.records if r.getMessage() == "lti launch accepted"
                and getattr(r, "request_id", None) == "launch-rid-1"]
    assert len(accepted) == 1
    assert accepted[0].role == "learner"  # type: ignore[attr-defined]
    assert accepted[0].registration_id == test_platform.registration_id  # type: ignore[attr-defined]


def test_without_a_request_id_each_launch_request_gets_its_own(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    client = browser()
    login = client.get(test_platform.login_url(user="learner"), allow_redirects=False,
                       timeout=30)
    auth = client.get(login.headers["Location"], timeout=30)
    action, fields = parse_form(auth.text)
    launch = client.post(action, data=fields, allow_redirects=False, timeout=30)
    ids = {login.headers["X-Request-ID"], launch.headers["X-Request-ID"]}
    assert len(ids) == 2 and all(len(i) == 32 for i in ids)


def test_behind_a_proxy_with_a_path_prefix_the_launch_redirects_under_the_prefix(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    settings = tool.settings.model_copy(update={"proxy_fix": 1, "demo_lms": False})
    app = create_app(settings, configure_logs=False)
    proxied = app.test_client()
    forwarded = {"X-Forwarded-Prefix": "/qc", "X-Forwarded-Proto": "http"}
    query = urlsplit(test_platform.login_url(user="learner")).query
    login = proxied.get("/lti/login?" + query, headers=forwarded)
    assert login.status_code == 302
    cookie = login.headers["Set-Cookie"].split(";", 1)[0]
    auth = requests.get(login.headers["Location"], timeout=30)
    _, fields = parse_form(auth.text)
    spent = tool.count(UsedNonce)
    launch = proxied.post("/lti/launch", data=fields, headers={**forwarded, "Cookie": cookie})
    assert launch.status_code == 303
    assert launch.headers["Location"].startswith("/qc/app/c.")
    assert tool.count(UsedNonce) == spent + 1
    app.extensions["lti_service"]["engine"].dispose()
