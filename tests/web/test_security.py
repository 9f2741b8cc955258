"""Cookies and headers inside the LMS iframe."""

from __future__ import annotations

import re
from pathlib import Path

from flask import request

from lti_service.app import create_app
from lti_service.config import load_settings
from tests.conftest import DemoLms, IndependentPlatform, ToolServer
from tests.support.web_client import browser, parse_form


def _attributes(set_cookie: str) -> set[str]:
    return {part.strip().split("=")[0].lower() for part in set_cookie.split(";")[1:]}


def test_every_cookie_the_tool_sets_is_secure_samesite_none_partitioned_httponly(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    client = browser()
    seen: list[str] = []
    spec = {"user": "instructor", "message_type": "LtiDeepLinkingRequest"}
    login = client.get(test_platform.login_url(**spec), allow_redirects=False, timeout=30)
    seen += login.raw.headers.getlist("Set-Cookie")  # the browser binding (OIDC state)
    auth = client.get(login.headers["Location"], timeout=30)
    action, fields = parse_form(auth.text)
    launch = client.post(action, data=fields, allow_redirects=False, timeout=30)
    assert launch.status_code == 303
    seen += launch.raw.headers.getlist("Set-Cookie")
    picker = client.get(tool.base_url + launch.headers["Location"], timeout=30)
    seen += [c for r in [*picker.history, picker] for c in r.raw.headers.getlist("Set-Cookie")]
    names = {c.split("=")[0] for c in seen}
    assert names == {"qc_lti_browser", "qc_session"}  # binding, and the session (CSRF token)
    for cookie in seen:
        attrs = _attributes(cookie)
        assert {"secure", "httponly", "partitioned", "path"} <= attrs, cookie
        assert "SameSite=None" in cookie, cookie
        assert "Path=/" in cookie


def test_cookies_are_secure_even_when_the_request_is_plain_http(tool: ToolServer,
                                                                demo_lms: DemoLms) -> None:
    client = browser()
    response = demo_lms.launch("learner", client=client)
    assert response.url.startswith("http://")
    assert response.status_code == 200
    cookies = list(client.cookies)
    assert "qc_lti_browser" in {c.name for c in cookies}
    assert {c.name for c in cookies} <= {"qc_lti_browser", "qc_session"}
    for cookie in cookies:
        assert cookie.secure
        assert cookie.has_nonstandard_attr("Partitioned")
        assert cookie.get_nonstandard_attr("SameSite") == "None"


def test_frame_ancestors_lists_the_registered_platforms(
    tool: ToolServer, test_platform: IndependentPlatform, demo_lms: DemoLms
) -> None:
    tool.app.extensions["lti_service"]["frame_ancestors"].clear()
    page = demo_lms.launch("learner")
    csp = page.headers["Content-Security-Policy"]
    ancestors = re.search(r"frame-ancestors ([^;]+)", csp)
    assert ancestors is not None
    origins = ancestors.group(1).split()
    assert "'self'" in origins
    assert test_platform.base in origins
    assert "https://evil.example" not in origins
    assert "script-src 'self' 'nonce-" in csp
    assert page.headers["X-Content-Type-Options"] == "nosniff"


def test_behind_a_tls_proxy_the_forwarded_scheme_host_and_client_are_used(
    tmp_path: Path,
) -> None:
    from lti_service.migrate import upgrade

    settings = load_settings(instance_dir=tmp_path, proxy_fix=1,
                             base_url="https://tool.example", secret_key="s" * 40)
    upgrade(settings.effective_database_url)
    app = create_app(settings, configure_logs=False)
    seen: dict[str, str | None] = {}

    @app.get("/_probe")
    def _probe() -> str:
        seen["url"] = request.url
        seen["remote"] = request.remote_addr
        return "ok"

    app.test_client().get("/_probe", headers={"X-Forwarded-Proto": "https",
                                              "X-Forwarded-Host": "tool.example",
                                              "X-Forwarded-For": "203.0.113.9"})
    assert seen == {"url": "https://tool.example/_probe", "remote": "203.0.113.9"}


def test_without_proxy_fix_forwarded_headers_are_ignored(tmp_path: Path) -> None:
    from lti_service.migrate import upgrade

    settings = load_settings(instance_dir=tmp_path, secret_key="s" * 40)
    upgrade(settings.effective_database_url)
    app = create_app(settings, configure_logs=False)
    seen: dict[str, str | None] = {}

    @app.get("/_probe")
    def _probe() -> str:
        seen["url"] = request.url
        return "ok"

    app.test_client().get("/_probe", headers={"X-Forwarded-Proto": "https",
                                              "X-Forwarded-Host": "evil.example"})
    assert seen == {"url": "http://localhost/_probe"}
