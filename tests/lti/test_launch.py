"""Launch validation, specified by the 1EdTech certification cases, over real HTTP against an
independent platform process registered with ``lti-service platform add``."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from lti_service.models import (
    Context,
    Deployment,
    Membership,
    ResourceLink,
    UsedNonce,
    User,
)
from tests.conftest import IndependentPlatform, ToolServer
from tests.support.web_client import browser, parse_form

ROLE = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
INST = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#"


def stored_rows(tool: ToolServer) -> dict[str, int]:
    rows = {m.__name__: tool.count(m) for m in (User, Context, Membership, ResourceLink)}
    rows["spent nonces"] = tool.count(UsedNonce)
    return rows


def error_code(response: requests.Response) -> str:
    match = re.search(r"Error <code>([a-z_0-9]+)</code>", response.text)
    return match.group(1) if match else "<none>"


REJECTED = [
    ("no_kid", {"sign": "no_kid"}, "missing_kid"),
    ("unknown_kid", {"sign": "unknown_kid"}, "unknown_kid"),
    ("wrong_signature", {"sign": "wrong_key"}, "bad_signature"),
    ("alg_none", {"sign": "alg_none"}, "bad_alg"),
    ("alg_hs256", {"sign": "hs256"}, "bad_alg"),
    ("version_missing", {"drop": ["version"]}, "missing_version"),
    ("version_wrong", {"set": {"https://purl.imsglobal.org/spec/lti/claim/version": "1.2.0"}},
     "wrong_version"),
    ("message_type_missing", {"drop": ["message_type"]}, "missing_message_type"),
    ("roles_missing", {"drop": ["roles"]}, "missing_roles"),
    ("deployment_id_missing", {"drop": ["deployment_id"]}, "missing_deployment_id"),
    ("resource_link_id_missing", {"drop": ["resource_link.id"]}, "missing_resource_link_id"),
    ("sub_missing", {"drop": ["sub"]}, "missing_sub"),
    ("expired", {"iat_offset": -300}, "expired"),
    ("wrong_iss", {"set": {"iss": "https://evil.example.org"}}, "wrong_iss"),
    ("wrong_aud", {"aud": "someone-else"}, "wrong_aud"),
    ("aud_list_without_azp", {"aud": ["test-client-42", "other"]}, "wrong_azp"),
    ("azp_other", {"set": {"azp": "other"}}, "wrong_azp"),
    ("clock_10_minutes_ahead", {"iat_offset": 600}, "issued_in_future"),
    ("target_elsewhere", {"set": {
        "https://purl.imsglobal.org/spec/lti/claim/target_link_uri": "https://evil.example/x"}},
     "bad_target_link_uri"),
]


@pytest.mark.parametrize(("spec", "code"), [(s, c) for _, s, c in REJECTED],
                         ids=[n for n, _, _ in REJECTED])
def test_a_bad_launch_is_refused_with_a_4xx_page_and_stores_nothing(
    tool: ToolServer, test_platform: IndependentPlatform, spec: dict[str, Any], code: str
) -> None:
    before = stored_rows(tool)
    response = test_platform.launch(**spec)
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert error_code(response) == code
    assert "text/html" in response.headers["Content-Type"]
    assert stored_rows(tool) == before


ACCEPTED = [
    ("instructor", {"user": "instructor"}, "facilitator"),
    ("student", {"user": "learner"}, "learner"),
    ("no_pii", {"privacy_drop": ["name", "given_name", "family_name", "email"]}, "learner"),
    ("only_email", {"privacy_drop": ["name", "given_name", "family_name"]}, "learner"),
    ("only_names", {"privacy_drop": ["email"]}, "learner"),
    ("multiple_roles", {"roles": [ROLE + "Learner", ROLE + "Mentor", INST + "Student"]},
     "facilitator"),
    ("unknown_role", {"roles": ["http://example.org/roles#Wizard"]}, "learner"),
    ("no_role", {"roles": []}, "learner"),
    ("short_learner", {"roles": ["Learner"]}, "learner"),
    ("short_instructor", {"roles": ["Instructor"]}, "facilitator"),
    ("institution_roles", {"roles": [INST + "Faculty", INST + "Student"]}, "learner"),
    ("institution_admin", {"roles": [INST + "Administrator"]}, "admin"),
    ("aud_list_with_azp", {"aud": ["test-client-42", "other"],
                           "set": {"azp": "test-client-42"}}, "learner"),
    ("clock_3_seconds_ahead", {"iat_offset": 3}, "learner"),
]


@pytest.mark.parametrize(("spec", "view"), [(s, v) for _, s, v in ACCEPTED],
                         ids=[n for n, _, _ in ACCEPTED])
def test_a_valid_launch_opens_the_home_of_the_role(
    tool: ToolServer, test_platform: IndependentPlatform, spec: dict[str, Any], view: str
) -> None:
    import uuid

    sub = "u-" + uuid.uuid4().hex[:8]
    response = test_platform.launch(sub=sub, **spec)
    assert response.status_code == 200, response.text[:500]
    assert re.search(rf"/app/[^/]+/{view}$", response.url), response.url
    assert tool.count(User, User.sub == sub) == 1


def test_the_launch_records_user_context_membership_and_resource_link(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    response = test_platform.launch(sub="recorded-1", context="course-rec", resource_link="rl-9")
    assert response.status_code == 200
    with tool.session() as s:
        user = s.query(User).filter_by(sub="recorded-1").one()
        assert user.email == "learner@platform.test"
        assert user.registration_id == test_platform.registration_id
        ctx = s.query(Context).filter_by(context_id="course-rec").one()
        assert ctx.title == "Test course"
        membership = s.query(Membership).filter_by(context_id=ctx.id, user_id=user.id).one()
        assert membership.role == "learner"
        assert membership.roles == [ROLE + "Learner"]
        assert s.query(ResourceLink).filter_by(context_id=ctx.id,
                                               resource_link_id="rl-9").count() == 1
    # A second launch updates, never duplicates.
    test_platform.launch(sub="recorded-1", context="course-rec", resource_link="rl-9",
                         roles=["Instructor"])
    with tool.session() as s:
        user = s.query(User).filter_by(sub="recorded-1").one()
        ctx = s.query(Context).filter_by(context_id="course-rec").one()
        membership = s.query(Membership).filter_by(context_id=ctx.id, user_id=user.id).one()
        assert membership.role == "facilitator"


def test_a_replayed_launch_post_is_refused(test_platform: IndependentPlatform) -> None:
    client = browser()
    auth = test_platform.authorize(client)
    action, fields = parse_form(auth.text)
    first = client.post(action, data=fields, timeout=30)
    assert first.status_code == 200
    replay = client.post(action, data=fields, timeout=30)
    assert replay.status_code == 400
    assert error_code(replay) == "invalid_state"


def test_an_id_token_replayed_into_a_new_login_is_refused(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    client = browser()
    _, old = parse_form(test_platform.authorize(client).text)
    assert client.post(tool.base_url + "/lti/launch", data=old, timeout=30).status_code == 200
    # New login, new state; the attacker swaps in the old id_token.
    _, fresh = parse_form(test_platform.authorize(client).text)
    before = stored_rows(tool)
    replay = client.post(tool.base_url + "/lti/launch",
                         data={"id_token": old["id_token"], "state": fresh["state"]}, timeout=30)
    assert replay.status_code == 401
    assert error_code(replay) == "invalid_nonce"
    assert stored_rows(tool) == before


def test_a_launch_from_another_browser_is_not_accepted(test_platform: IndependentPlatform) -> None:
    victim = browser()
    _, fields = parse_form(test_platform.authorize(victim).text)
    attacker = browser()  # has no binding cookie from the login
    response = attacker.post(test_platform.tool.base_url + "/lti/launch", data=fields, timeout=30)
    assert response.status_code == 401
    assert "new window" in response.text
    # The victim's own launch still works afterwards.
    assert victim.post(test_platform.tool.base_url + "/lti/launch", data=fields,
                       timeout=30).status_code == 200


def test_a_missing_state_or_id_token_is_refused(tool: ToolServer) -> None:
    client = browser()
    r1 = client.post(tool.base_url + "/lti/launch", data={"state": "x"}, timeout=30)
    r2 = client.post(tool.base_url + "/lti/launch", data={"id_token": "a.b.c"}, timeout=30)
    r3 = client.post(tool.base_url + "/lti/launch", data={"id_token": "garbage", "state": "x"},
                     timeout=30)
    assert (r1.status_code, error_code(r1)) == (400, "missing_id_token")
    assert (r2.status_code, error_code(r2)) == (400, "missing_state")
    assert (r3.status_code, error_code(r3)) == (400, "not_a_jwt")


def test_an_unknown_deployment_is_recorded_inactive_and_refused_until_activated(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    before = stored_rows(tool)
    response = test_platform.launch(deployment_id="deploy-new")
    assert response.status_code == 403
    assert error_code(response) == "unknown_deployment"
    assert "activate" in response.text
    assert stored_rows(tool) == before
    with tool.session() as s:
        dep = s.query(Deployment).filter_by(registration_id=test_platform.registration_id,
                                            deployment_id="deploy-new").one()
        assert dep.active is False
    again = test_platform.launch(deployment_id="deploy-new")
    assert (again.status_code, error_code(again)) == (403, "deployment_inactive")
    tool.cli("platform", "activate", str(test_platform.registration_id),
             "--deployment-id", "deploy-new")
    assert test_platform.launch(deployment_id="deploy-new").status_code == 200


def test_a_deactivated_platform_cannot_log_in(tool: ToolServer,
                                              test_platform: IndependentPlatform) -> None:
    tool.cli("platform", "deactivate", str(test_platform.registration_id))
    try:
        client = browser()
        login = client.get(test_platform.login_url(), allow_redirects=False, timeout=30)
        assert login.status_code == 403
        assert error_code(login) == "registration_inactive"
    finally:
        tool.cli("platform", "activate", str(test_platform.registration_id))
    assert test_platform.launch().status_code == 200


def test_platform_keys_are_fetched_once_and_again_only_for_an_unknown_kid(
    test_platform: IndependentPlatform,
) -> None:
    assert test_platform.launch().status_code == 200  # warm
    warm = test_platform.jwks_requests()
    for _ in range(3):
        assert test_platform.launch().status_code == 200
    assert test_platform.jwks_requests() == warm
    test_platform.rotate()  # the platform now signs with a key the tool has not seen
    assert test_platform.launch().status_code == 200
    assert test_platform.jwks_requests() == warm + 1
    assert test_platform.launch().status_code == 200
    assert test_platform.jwks_requests() == warm + 1


def test_an_accepted_launch_spends_its_nonce(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    import jwt

    client = browser()
    _, fields = parse_form(test_platform.authorize(client).text)
    nonce = jwt.decode(fields["id_token"], options={"verify_signature": False})["nonce"]
    assert tool.count(UsedNonce, UsedNonce.nonce == nonce) == 0
    assert client.post(tool.base_url + "/lti/launch", data=fields, timeout=30).status_code == 200
    assert tool.count(UsedNonce, UsedNonce.nonce == nonce) == 1


def test_a_platform_deactivated_between_login_and_launch_is_refused(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    client = browser()
    _, fields = parse_form(test_platform.authorize(client).text)
    tool.cli("platform", "deactivate", str(test_platform.registration_id))
    try:
        before = stored_rows(tool)
        response = client.post(tool.base_url + "/lti/launch", data=fields, timeout=30)
        assert response.status_code == 403
        assert error_code(response) == "registration_inactive"
        assert stored_rows(tool) == before
    finally:
        tool.cli("platform", "activate", str(test_platform.registration_id))
    # The refused launch spent nothing: once reactivated, the same launch goes through.
    assert client.post(tool.base_url + "/lti/launch", data=fields, timeout=30).status_code == 200
