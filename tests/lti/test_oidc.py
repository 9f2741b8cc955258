"""OIDC login initiation: what the tool accepts, what it refuses, and what it sends on."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from lti_service.lti.login_state import StateCodec
from lti_service.models import UsedNonce
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
    assert len(query["nonce"]) >= 32
    # The state is a signed token naming the registration and the nonce; nothing is stored.
    codec = StateCodec(tool.app.config["SECRET_KEY"])
    login = codec.decode(query["state"], max_age=600)
    assert login is not None
    assert login.nonce == query["nonce"] and login.registration_id == (
        test_platform.registration_id)
    assert StateCodec("another secret" * 3).decode(query["state"], max_age=600) is None
    tampered = query["state"][:-2] + ("AA" if query["state"][-2:] != "AA" else "BB")
    assert codec.decode(tampered, max_age=600) is None


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
    before = tool.count(UsedNonce)
    response = _login(tool, **params)
    assert response.status_code == status
    assert f"<code>{code}</code>" in response.text
    assert tool.count(UsedNonce) == before


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


def test_spent_nonces_are_swept_once_they_could_not_be_replayed_anyway(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    import datetime as dt

    from lti_service.db import utcnow
    from lti_service.lti.oidc import purge_expired

    past = utcnow() - dt.timedelta(seconds=1)
    with tool.session() as s:
        s.add(UsedNonce(registration_id=test_platform.registration_id, nonce="old-nonce-1",
                        expires_at=past))
        s.add(UsedNonce(registration_id=test_platform.registration_id, nonce="live-nonce-1",
                        expires_at=past + dt.timedelta(hours=1)))
        s.commit()
        assert purge_expired(s) >= 1
        s.commit()
        nonces = {n for (n,) in s.query(UsedNonce.nonce)}
        assert "old-nonce-1" not in nonces and "live-nonce-1" in nonces


def test_an_expired_login_state_is_refused(tool: ToolServer,
                                           test_platform: IndependentPlatform) -> None:
    import time

    codec = StateCodec(tool.app.config["SECRET_KEY"])
    client = browser()
    auth = test_platform.authorize(client)
    from tests.support.web_client import parse_form

    _, fields = parse_form(auth.text)
    time.sleep(2.1)  # itsdangerous counts whole seconds
    assert codec.decode(fields["state"], max_age=1) is None
    assert codec.decode(fields["state"], max_age=600) is not None
