"""Unit tests of the demo LMS platform logic (no Flask, no network)."""

from __future__ import annotations

import json
import stat
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from lti_service.config import load_settings
from lti_service.demo_lms.platform import (
    AGS_CLAIM,
    DL,
    JWT_BEARER,
    LTI,
    NRPS_CLAIM,
    NRPS_SCOPE,
    DemoPlatform,
    PlatformError,
)

TOOL = "http://127.0.0.1:5999"
SECRET = "s" * 40


class FakeTool:
    """A throwaway tool key pair whose JWKS is handed to the platform through a callback."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "tool-key-1"
        self.fetches = 0

    def jwks(self) -> dict[str, Any]:
        self.fetches += 1
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update(kid=self.kid, alg="RS256", use="sig")
        return {"keys": [jwk]}

    def sign(self, claims: dict[str, Any], kid: str | None = None) -> str:
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": kid or self.kid})


@pytest.fixture(scope="module")
def instance_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("instance")


@pytest.fixture(scope="module")
def tool() -> FakeTool:
    return FakeTool()


@pytest.fixture
def platform(instance_dir: Path) -> DemoPlatform:
    return DemoPlatform(load_settings(instance_dir=instance_dir), TOOL, SECRET)


def auth_params(platform: DemoPlatform, user: str = "learner", **launch: Any) -> dict[str, str]:
    """What the tool's login endpoint sends to the platform's auth endpoint."""
    login = parse_qs(urlsplit(platform.login_initiation_url(user, **launch)).query)
    return {
        "scope": "openid", "response_type": "id_token", "response_mode": "form_post",
        "prompt": "none", "client_id": login["client_id"][0],
        "redirect_uri": f"{TOOL}/lti/launch", "login_hint": login["login_hint"][0],
        "lti_message_hint": login["lti_message_hint"][0],
        "nonce": uuid.uuid4().hex, "state": uuid.uuid4().hex,
    }


def verify_id_token(platform: DemoPlatform, token: str) -> dict[str, Any]:
    header = jwt.get_unverified_header(token)
    jwk = next(k for k in platform.jwks()["keys"] if k["kid"] == header["kid"])
    claims: dict[str, Any] = jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["RS256"],
                                        audience=platform.client_id, issuer=platform.issuer)
    return claims


def dl_data(platform: DemoPlatform) -> str:
    result = platform.authorize(auth_params(platform, "facilitator",
                                            message_type="LtiDeepLinkingRequest"))
    data: str = result.claims[DL + "deep_linking_settings"]["data"]
    return data


def dl_response(platform: DemoPlatform, data: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": platform.client_id, "aud": platform.issuer, "iat": now, "exp": now + 300,
        "nonce": uuid.uuid4().hex,
        LTI + "deployment_id": "1",
        LTI + "message_type": "LtiDeepLinkingResponse",
        LTI + "version": "1.3.0",
        DL + "data": data,
        DL + "content_items": [{"type": "ltiResourceLink", "title": "QDT",
                                "url": f"{TOOL}/lti/launch/qdt/mobility"}],
    }
    claims.update(overrides)
    return claims


def assertion(platform: DemoPlatform, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": platform.client_id, "sub": platform.client_id, "aud": platform.token_url,
              "iat": now, "exp": now + 300, "jti": uuid.uuid4().hex}
    claims.update(overrides)
    return claims


def token_form(tool: FakeTool, claims: dict[str, Any]) -> dict[str, str]:
    return {"grant_type": "client_credentials", "client_assertion_type": JWT_BEARER,
            "client_assertion": tool.sign(claims),
            "scope": f"https://purl.imsglobal.org/spec/lti-ags/scope/score {NRPS_SCOPE}"}


# --- keys and login ---------------------------------------------------------------------------

def test_key_file_is_private_and_reused(platform: DemoPlatform, instance_dir: Path) -> None:
    assert stat.S_IMODE((instance_dir / "demo_lms_key.pem").stat().st_mode) == 0o600
    again = DemoPlatform(load_settings(instance_dir=instance_dir), TOOL, SECRET)
    assert again.kid == platform.kid
    (jwk,) = platform.jwks()["keys"]
    assert (jwk["kid"], jwk["alg"], jwk["use"], jwk["kty"]) == (platform.kid, "RS256", "sig", "RSA")
    assert "d" not in jwk


def test_login_initiation_url(platform: DemoPlatform) -> None:
    url = platform.login_initiation_url("facilitator")
    assert url.startswith(f"{TOOL}/lti/login?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query["iss"] == f"{TOOL}/demo-lms"
    assert query["login_hint"] == "demo-facilitator-1"
    assert query["target_link_uri"] == f"{TOOL}/lti/launch"
    assert query["client_id"] == "quality-club-demo"
    assert query["lti_deployment_id"] == "1"
    assert query["lti_message_hint"]
    with pytest.raises(PlatformError):
        platform.login_initiation_url("nobody")


# --- authorize --------------------------------------------------------------------------------

def test_authorize_accepts_a_correct_request(platform: DemoPlatform) -> None:
    params = auth_params(platform, "learner", resource_link_id="r-9", title="QC", locale="de")
    result = platform.authorize(params)
    assert result.redirect_uri == f"{TOOL}/lti/launch"
    assert result.state == params["state"]
    assert jwt.get_unverified_header(result.id_token)["kid"] == platform.kid
    claims = verify_id_token(platform, result.id_token)
    assert claims["aud"] == "quality-club-demo"
    assert claims["sub"] == "demo-learner-1"
    assert claims["nonce"] == params["nonce"]
    assert claims["exp"] == claims["iat"] + 60
    assert claims["name"] == "Lena Learner" and claims["email"] == "lena@example.org"
    assert claims["locale"] == "de"
    assert claims[LTI + "message_type"] == "LtiResourceLinkRequest"
    assert claims[LTI + "version"] == "1.3.0"
    assert claims[LTI + "deployment_id"] == "1"
    assert claims[LTI + "resource_link"] == {"id": "r-9", "title": "QC"}
    assert "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner" in claims[LTI + "roles"]
    assert claims[LTI + "context"]["id"] == "demo-course-1"
    assert claims[LTI + "launch_presentation"]["return_url"] == f"{TOOL}/demo-lms/"
    assert claims[AGS_CLAIM]["lineitems"].startswith(f"{TOOL}/demo-lms/api/lineitems")
    assert claims[NRPS_CLAIM]["service_versions"] == ["2.0"]
    assert LTI + "custom" not in claims


def test_authorize_deep_linking_request(platform: DemoPlatform) -> None:
    lms = "http://localhost:5999/demo-lms/"
    result = platform.authorize(auth_params(platform, "facilitator", lms_url=lms,
                                            message_type="LtiDeepLinkingRequest"))
    claims = verify_id_token(platform, result.id_token)
    settings = claims[DL + "deep_linking_settings"]
    assert settings["deep_link_return_url"] == f"{TOOL}/demo-lms/deep-link-return"
    assert settings["accept_types"] == ["ltiResourceLink"]
    assert platform.deep_linking_data(settings["data"])["lms"] == lms
    assert LTI + "resource_link" not in claims


def test_authorize_rejects_wrong_redirect_uri(platform: DemoPlatform) -> None:
    for wrong in (f"{TOOL}/lti/launch/", f"{TOOL}/lti/launch/qdt/x", "http://evil.test/lti/launch"):
        params = auth_params(platform) | {"redirect_uri": wrong}
        with pytest.raises(PlatformError, match="Invalid request") as info:
            platform.authorize(params)
        assert info.value.code == "invalid_request"


def test_authorize_rejects_unknown_login_hint(platform: DemoPlatform) -> None:
    params = auth_params(platform) | {"login_hint": "someone-else"}
    with pytest.raises(PlatformError) as info:
        platform.authorize(params)
    assert info.value.code == "access_denied"
    # a known user whose hint was minted for another user is refused too
    params = auth_params(platform, "learner") | {"login_hint": "demo-admin-1"}
    with pytest.raises(PlatformError, match="does not match"):
        platform.authorize(params)


def test_authorize_rejects_tampered_message_hint(platform: DemoPlatform) -> None:
    params = auth_params(platform)
    hint = params["lti_message_hint"]
    params["lti_message_hint"] = hint[:-2] + ("AA" if not hint.endswith("AA") else "BB")
    with pytest.raises(PlatformError, match="lti_message_hint"):
        platform.authorize(params)


@pytest.mark.parametrize("name, value", [
    ("scope", "openid profile"), ("response_type", "code"), ("response_mode", "query"),
    ("prompt", "login"), ("client_id", "other"), ("nonce", ""), ("state", ""),
])
def test_authorize_rejects_malformed_requests(platform: DemoPlatform, name: str,
                                              value: str) -> None:
    with pytest.raises(PlatformError):
        platform.authorize(auth_params(platform) | {name: value})


# --- Deep Linking response --------------------------------------------------------------------

def fetcher(tool: FakeTool) -> Callable[[], dict[str, Any]]:
    return tool.jwks


def test_deep_linking_response_accepted(platform: DemoPlatform, tool: FakeTool) -> None:
    claims = dl_response(platform, dl_data(platform))
    claims[DL + "content_items"].append({"type": "ltiResourceLink", "title": "Clubs",
                                         "url": f"{TOOL}/lti/launch/clubs/3",
                                         "custom": {"club": "3"},
                                         "lineItem": {"scoreMaximum": 10, "label": "Clubs"}})
    items = platform.verify_deep_linking_response(tool.sign(claims), fetcher(tool))
    assert [i["title"] for i in items] == ["QDT", "Clubs"]


def test_deep_linking_rejects_empty_custom(platform: DemoPlatform, tool: FakeTool) -> None:
    item = {"type": "ltiResourceLink", "title": "QDT", "url": f"{TOOL}/lti/launch", "custom": {}}
    claims = dl_response(platform, dl_data(platform), **{DL + "content_items": [item]})
    with pytest.raises(PlatformError, match=r"Moodle 4\.5"):
        platform.verify_deep_linking_response(tool.sign(claims), fetcher(tool))


def test_deep_linking_rejects_wrong_aud(platform: DemoPlatform, tool: FakeTool) -> None:
    claims = dl_response(platform, dl_data(platform), aud="http://other-lms.test")
    with pytest.raises(PlatformError, match="aud"):
        platform.verify_deep_linking_response(tool.sign(claims), fetcher(tool))


def test_deep_linking_accepts_aud_list(platform: DemoPlatform, tool: FakeTool) -> None:
    claims = dl_response(platform, dl_data(platform), aud=[platform.issuer])
    assert platform.verify_deep_linking_response(tool.sign(claims), fetcher(tool))


def test_deep_linking_rejects_replayed_nonce(platform: DemoPlatform, tool: FakeTool) -> None:
    token = tool.sign(dl_response(platform, dl_data(platform)))
    platform.verify_deep_linking_response(token, fetcher(tool))
    with pytest.raises(PlatformError, match="nonce already used"):
        platform.verify_deep_linking_response(token, fetcher(tool))


def test_deep_linking_rejects_unknown_kid(platform: DemoPlatform, tool: FakeTool) -> None:
    good = tool.sign(dl_response(platform, dl_data(platform)))
    platform.verify_deep_linking_response(good, fetcher(tool))  # fills the key cache
    before = tool.fetches
    bad = tool.sign(dl_response(platform, dl_data(platform)), kid="rotated-away")
    with pytest.raises(PlatformError, match="unknown kid"):
        platform.verify_deep_linking_response(bad, fetcher(tool))
    assert tool.fetches == before + 1  # re-fetched exactly once


def test_deep_linking_rejects_missing_kid_and_foreign_url(platform: DemoPlatform,
                                                          tool: FakeTool) -> None:
    no_kid = jwt.encode(dl_response(platform, dl_data(platform)), tool.key, algorithm="RS256")
    with pytest.raises(PlatformError, match="no kid"):
        platform.verify_deep_linking_response(no_kid, fetcher(tool))
    item = {"type": "ltiResourceLink", "title": "x", "url": f"{TOOL}0/lti/launch"}
    claims = dl_response(platform, dl_data(platform), **{DL + "content_items": [item]})
    with pytest.raises(PlatformError, match="not under the tool URL"):
        platform.verify_deep_linking_response(tool.sign(claims), fetcher(tool))


def test_deep_linking_rejects_forged_data(platform: DemoPlatform, tool: FakeTool) -> None:
    claims = dl_response(platform, "forged.data")
    with pytest.raises(PlatformError, match="data"):
        platform.verify_deep_linking_response(tool.sign(claims), fetcher(tool))


# --- token endpoint ---------------------------------------------------------------------------

def test_token_endpoint_issues_a_token(platform: DemoPlatform, tool: FakeTool) -> None:
    body, status = platform.token_endpoint(token_form(tool, assertion(platform)), fetcher(tool))
    assert status == 200, body
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["scope"].split() == ["https://purl.imsglobal.org/spec/lti-ags/scope/score",
                                     NRPS_SCOPE]
    assert platform.check_access_token(body["access_token"], NRPS_SCOPE)
    assert not platform.check_access_token(
        body["access_token"], "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem")
    assert not platform.check_access_token("made-up", NRPS_SCOPE)
    assert platform.token_requests == 1 and platform.tokens_issued == 1


def test_token_endpoint_rejects_replayed_jti(platform: DemoPlatform, tool: FakeTool) -> None:
    form = token_form(tool, assertion(platform))
    assert platform.token_endpoint(form, fetcher(tool))[1] == 200
    body, status = platform.token_endpoint(form, fetcher(tool))
    assert (body["error"], status) == ("invalid_client", 401)
    assert platform.token_requests == 2


def test_token_endpoint_rejects_bad_requests(platform: DemoPlatform, tool: FakeTool) -> None:
    wrong_aud = token_form(tool, assertion(platform, aud="http://elsewhere.test/token"))
    assert platform.token_endpoint(wrong_aud, fetcher(tool))[0]["error"] == "invalid_client"
    bad_scope = token_form(tool, assertion(platform)) | {"scope": "https://example.org/x"}
    body, status = platform.token_endpoint(bad_scope, fetcher(tool))
    assert (body["error"], status) == ("invalid_scope", 400)
    grant = token_form(tool, assertion(platform)) | {"grant_type": "password"}
    assert platform.token_endpoint(grant, fetcher(tool))[0]["error"] == "unsupported_grant_type"
