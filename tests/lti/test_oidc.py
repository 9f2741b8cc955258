"""OIDC login initiation: what the tool accepts, what it refuses, and what it sends on."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from lti_service.models import OidcLogin
from tests.conftest import IndependentPlatform, ToolServer
from tests.support.web_client import browser


def _login(tool: ToolServer, method: str = "GET", **params: str):  # type: ignore[no-untyped-def]
    client = browser()
    if method == "POST":
        return client.post(tool.base_url + "/lti/login", data=params, allow_redirects=False,
                           timeout=30)
    return client.get(tool.base_url + "/lti/login?" + urlencode(params), allow_redirects=False,
                      timeout=30)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_login_redirects_to_the_platform_with_state_nonce_and_the_fixed_redirect_uri(
    tool: ToolServer, test_platform: IndependentPlatform, method: str
) -> None:
    response = _login(tool, method, iss=test_platform.base, login_hint="u1",
                      target_link_uri=tool.base_url + "/lti/launch/home",
                      lti_message_hint="hint-42", client_id="test-client-42")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == test_platform.base + "/auth"
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert query["redirect_uri"] == tool.base_url + "/lti/launch"  # never the target link
    assert query["lti_message_hint"] == "hint-42"
    assert query["login_hint"] == "u1"
    assert (query["scope"], query["response_type"], query["response_mode"], query["prompt"]) == (
        "openid", "id_token", "form_post", "none")
    assert len(query["state"]) >= 32 and len(query["nonce"]) >= 32
    with tool.session() as s:
        login = s.get(OidcLogin, query["state"])
        assert login is not None and login.nonce == query["nonce"]


def test_client_id_may_be_omitted_when_the_issuer_has_one_registration(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    response = _login(tool, iss=test_platform.base, login_hint="u1",
                      target_link_uri=tool.base_url + "/lti/launch")
    assert response.status_code == 302


@pytest.mark.parametrize(("params", "status", "code"), [
    ({"login_hint": "u"}, 400, "missing_iss"),
    ({"iss": "PLATFORM"}, 400, "missing_login_hint"),
    ({"iss": "PLATFORM", "login_hint": "u", "target_link_uri": ""}, 400,
     "missing_target_link_uri"),
    ({"iss": "PLATFORM", "login_hint": "u", "target_link_uri": "https://evil.example/lti/launch"},
     400, "bad_target_link_uri"),
    ({"iss": "https://unknown.example", "login_hint": "u", "client_id": "x"}, 403,
     "unknown_platform"),
    ({"iss": "PLATFORM", "login_hint": "u", "client_id": "not-registered"}, 403,
     "unknown_platform"),
])
def test_a_bad_login_request_is_refused_and_stores_nothing(
    tool: ToolServer, test_platform: IndependentPlatform, params: dict[str, str], status: int,
    code: str
) -> None:
    params = {k: v.replace("PLATFORM", test_platform.base) for k, v in params.items()}
    params.setdefault("target_link_uri", tool.base_url + "/lti/launch")
    before = tool.count(OidcLogin)
    response = _login(tool, **params)
    assert response.status_code == status
    assert f"<code>{code}</code>" in response.text
    assert tool.count(OidcLogin) == before


def test_the_login_sets_one_partitioned_binding_cookie_whatever_the_number_of_launches(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    client = browser()
    cookies = []
    for _ in range(5):
        response = client.get(test_platform.login_url(), allow_redirects=False, timeout=30)
        cookies.append(response.headers["Set-Cookie"])
    assert all(c.startswith("qc_lti_browser=") for c in cookies)
    assert len({c.split(";")[0] for c in cookies}) == 1  # the same browser id is reused
    assert len(client.cookies) == 1  # no cookie per state (pylti1p3 piles them up: HTTP 431)


def test_expired_logins_are_swept(tool: ToolServer,
                                  test_platform: IndependentPlatform) -> None:
    import datetime as dt

    from lti_service.db import utcnow
    from lti_service.lti.oidc import purge_expired

    past = utcnow() - dt.timedelta(seconds=1)
    with tool.session() as s:
        s.add(OidcLogin(state="old-" + "x" * 20, nonce="old-nonce-1",
                        registration_id=test_platform.registration_id, browser_id="b",
                        expires_at=past, consumed_at=past))
        s.commit()
        assert purge_expired(s) >= 1
        s.commit()
        assert s.get(OidcLogin, "old-" + "x" * 20) is None
