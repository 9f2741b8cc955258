"""Dynamic Registration (tool side) against a platform process that validates like Moodle 4.5,
the manual-values page, and the bad inputs that must store nothing."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
import requests

from lti_service.launch_records import RECENT
from lti_service.models import Deployment, Registration
from tests.conftest import IndependentPlatform, ToolServer
from tests.support.web_client import browser


@pytest.fixture(autouse=True)
def _forget_dynamic_registrations(tool: ToolServer,
                                  test_platform: IndependentPlatform) -> Iterator[None]:
    """Registrations made here by Dynamic Registration share the independent platform's
    issuer; they are removed afterwards, so other tests see it with its one registration.
    The tool itself never deletes a registration: SQLite may hand a deleted row's id to the
    next one, so the process's cache of recent launches is emptied with them."""
    yield
    with tool.session() as s:
        for reg in s.query(Registration).filter(
                Registration.issuer == test_platform.base,
                Registration.id != test_platform.registration_id):
            s.delete(reg)
        s.commit()
    RECENT.clear()


def _register_url(tool: ToolServer, config_url: str, token: str | None) -> str:
    params = {"openid_configuration": config_url}
    if token:
        params["registration_token"] = token
    return tool.base_url + "/lti/register?" + urlencode(params)


def _confirm(client: requests.Session, page: requests.Response) -> requests.Response:
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    blob = re.search(r'name="registration" value="([^"]+)"', page.text)
    assert csrf and blob, page.text[:1500]
    return client.post(page.url.split("?")[0], data={"csrf_token": csrf.group(1),
                                                     "registration": blob.group(1)}, timeout=30)


def _counts(tool: ToolServer) -> tuple[int, int]:
    return tool.count(Registration), tool.count(Deployment)


def test_dynamic_registration_completes_pending_and_launches_after_activation(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    client = browser()
    token = test_platform.registration_token()
    page = client.get(_register_url(tool, test_platform.base + "/.well-known/openid-configuration",
                                    token), timeout=30)
    assert page.status_code == 200, page.text[:800]
    assert "Register Quality Club" in page.text and test_platform.base in page.text
    done = _confirm(client, page)
    assert done.status_code == 200, done.text[:800]
    assert "waiting for approval" in done.text
    # The page posts org.imsglobal.lti.close to the platform's origin, never "*".
    assert f'data-origin="{test_platform.base}"' in done.text and 'data-auto="1"' in done.text

    [sent] = test_platform.registrations()[-1:]
    conf = sent["https://purl.imsglobal.org/spec/lti-tool-configuration"]
    assert sent["response_types"] == ["id_token"]
    assert sent["redirect_uris"] == [tool.base_url + "/lti/launch"]
    assert sent["token_endpoint_auth_method"] == "private_key_jwt"
    assert sent["initiate_login_uri"] == tool.base_url + "/lti/login"
    assert sent["jwks_uri"] == tool.base_url + "/.well-known/jwks.json"
    assert conf["domain"] == tool.base_url.split("//")[1]
    assert conf["target_link_uri"] == tool.base_url + "/lti/launch"
    assert {m["type"] for m in conf["messages"]} == {"LtiResourceLinkRequest",
                                                     "LtiDeepLinkingRequest"}
    assert set(sent["scope"].split()) == {
        "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
        "https://purl.imsglobal.org/spec/lti-ags/scope/score",
        "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
        "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"}

    client_id = sent["client_id"]
    deployment_id = conf["deployment_id"]
    with tool.session() as s:
        reg = s.query(Registration).filter_by(issuer=test_platform.base,
                                              client_id=client_id).one()
        assert (reg.state, reg.source) == ("pending", "dynamic")
        assert [d.deployment_id for d in reg.deployments] == [deployment_id]
        reg_id = reg.id

    pending = browser().get(test_platform.login_url(client_id=client_id,
                                                    deployment_id=deployment_id), timeout=30)
    assert pending.status_code == 403 and "waiting for approval" in pending.text
    tool.cli("platform", "activate", str(reg_id))
    home = test_platform.launch(client_id=client_id, deployment_id=deployment_id)
    assert home.status_code == 200 and home.url.endswith("/learner")


def test_a_trusted_issuer_is_active_at_once(tool: ToolServer,
                                            test_platform: IndependentPlatform) -> None:
    settings = tool.app.extensions["lti_service"]["settings"]
    settings.trusted_issuers = "http://127.0.0.1:*"
    try:
        client = browser()
        page = client.get(_register_url(
            tool, test_platform.base + "/.well-known/openid-configuration",
            test_platform.registration_token()), timeout=30)
        done = _confirm(client, page)
        assert done.status_code == 200 and "is <strong>active</strong>" in done.text
    finally:
        settings.trusted_issuers = ""
    sent = test_platform.registrations()[-1]
    deployment = sent["https://purl.imsglobal.org/spec/lti-tool-configuration"]["deployment_id"]
    home = test_platform.launch(client_id=sent["client_id"], deployment_id=deployment)
    assert home.status_code == 200, home.text[-1500:]


BAD_CONFIG = [
    ("wrong_token", {"token": "rt-not-issued"}, 400, "registration_token_refused"),
    ("no_token", {"token": None}, 400, "registration_token_refused"),
    ("unreachable", {"url": "http://127.0.0.1:9/.well-known/openid-configuration"}, 502,
     "configuration_unreachable"),
    ("not_json", {"query": "fault=not_json"}, 502, "configuration_not_json"),
    ("server_error", {"query": "fault=status_500"}, 502, "configuration_unavailable"),
    ("issuer_mismatch", {"query": "fault=issuer_mismatch"}, 400, "issuer_mismatch"),
    ("incomplete", {"query": "fault=incomplete"}, 502, "configuration_incomplete"),
    ("not_a_url", {"url": "file:///etc/passwd"}, 400, "bad_configuration_url"),
]


@pytest.mark.parametrize(("case", "status", "code"), [(c, s, k) for _, c, s, k in BAD_CONFIG],
                         ids=[n for n, *_ in BAD_CONFIG])
def test_a_bad_platform_configuration_is_refused_and_stores_nothing(
    tool: ToolServer, test_platform: IndependentPlatform, case: dict[str, str | None],
    status: int, code: str
) -> None:
    before = _counts(tool)
    url = case.get("url") or (test_platform.base + "/.well-known/openid-configuration"
                              + ("?" + str(case["query"]) if case.get("query") else ""))
    token = case["token"] if "token" in case else test_platform.registration_token()
    page = browser().get(_register_url(tool, str(url), token), timeout=30)
    assert page.status_code == status, page.text[:500]
    assert f"<code>{code}</code>" in page.text
    assert "Nothing was stored" in page.text
    assert _counts(tool) == before


BAD_REGISTRATION = [
    ("server_error", "status_500", 502, "registration_refused"),
    ("client_error", "status_400", 502, "registration_refused"),
    ("no_client_id", "no_client_id", 502, "no_client_id"),
    ("html_reply", "html", 502, "registration_reply_not_json"),
]


@pytest.mark.parametrize(("fault", "status", "code"), [(f, s, c) for _, f, s, c in
                                                       BAD_REGISTRATION],
                         ids=[n for n, *_ in BAD_REGISTRATION])
def test_a_failed_registration_post_stores_nothing(
    tool: ToolServer, test_platform: IndependentPlatform, fault: str, status: int, code: str
) -> None:
    before = _counts(tool)
    client = browser()
    page = client.get(_register_url(
        tool, test_platform.base + f"/.well-known/openid-configuration?reg_fault={fault}",
        test_platform.registration_token()), timeout=30)
    assert page.status_code == 200
    failed = _confirm(client, page)
    assert failed.status_code == status, failed.text[:500]
    assert f"<code>{code}</code>" in failed.text
    assert _counts(tool) == before


def test_a_replayed_registration_is_refused_and_changes_nothing(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    client = browser()
    token = test_platform.registration_token()
    url = _register_url(tool, test_platform.base + "/.well-known/openid-configuration", token)
    page = client.get(url, timeout=30)
    assert _confirm(client, page).status_code == 200
    before = _counts(tool)
    replay_post = _confirm(client, page)  # the same form again
    assert replay_post.status_code == 409
    assert "<code>registration_replayed</code>" in replay_post.text
    replay_start = client.get(url, timeout=30)  # the same token from the start
    assert replay_start.status_code == 409
    assert _counts(tool) == before


def test_a_tampered_registration_form_is_refused(tool: ToolServer) -> None:
    client = browser()
    page = client.get(tool.base_url + "/lti/register", timeout=30)
    assert page.status_code == 400 and "Dynamic Registration URL" in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get(
        tool.base_url + "/console/login", timeout=30).text)
    assert csrf
    before = _counts(tool)
    forged = client.post(tool.base_url + "/lti/register",
                         data={"csrf_token": csrf.group(1), "registration": "e30.forged"},
                         timeout=30)
    assert forged.status_code == 400 and "registration_tampered" in forged.text
    assert _counts(tool) == before


def test_the_config_json_has_every_manual_registration_value(tool: ToolServer) -> None:
    data = requests.get(tool.base_url + "/lti/config", timeout=10).json()
    base = tool.base_url
    assert data["target_link_uri"] == data["tool_url"] == base + "/lti/launch"
    assert data["initiate_login_uri"] == base + "/lti/login"
    assert data["redirect_uris"] == [base + "/lti/launch"]
    assert data["jwks_uri"] == base + "/.well-known/jwks.json"
    assert data["deep_linking_url"] == base + "/lti/launch"
    assert data["dynamic_registration_url"] == base + "/lti/register"
    assert "https://purl.imsglobal.org/spec/lti-ags/scope/score" in data["scopes"]
    assert "email" in data["claims"]
    assert data["public_jwk"]["kid"]


def test_the_config_page_shows_the_values_with_copy_buttons_and_per_lms_help(
    tool: ToolServer,
) -> None:
    page = requests.get(tool.base_url + "/lti/config",
                        headers={"Accept": "text/html,application/xhtml+xml"}, timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    for heading in ("Moodle 4.x", "Canvas", "Brightspace (D2L)", "Blackboard Learn"):
        assert f"<h2>{heading}</h2>" in page.text
    assert page.text.count("data-copy=") >= 6
    assert tool.base_url + "/lti/login" in page.text


def test_the_canvas_developer_key_json(tool: ToolServer) -> None:
    data = requests.get(tool.base_url + "/lti/config/canvas.json", timeout=10).json()
    assert data["oidc_initiation_url"] == tool.base_url + "/lti/login"
    assert data["public_jwk_url"] == tool.base_url + "/.well-known/jwks.json"
    [ext] = data["extensions"]
    assert ext["platform"] == "canvas.instructure.com"
    assert json.dumps(data).count("LtiDeepLinkingRequest") >= 1
