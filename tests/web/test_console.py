"""The operator console, and tenant isolation of the institutional admin's view."""

from __future__ import annotations

import re
import subprocess
import sys

import requests

from lti_service.models import Deployment, Operator, Registration
from tests.conftest import DemoLms, IndependentPlatform, ToolServer
from tests.support.web_client import browser

PASSWORD = "correct horse battery staple"


def _operator(tool: ToolServer, name: str) -> None:
    if tool.count(Operator, Operator.username == name):
        return
    result = subprocess.run([sys.executable, "-m", "lti_service.cli", "admin", "create", name,
                             "--password-stdin"], input=PASSWORD + "\n", env=tool.env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def _csrf(page: requests.Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text[:1000]
    return match.group(1)


def _signed_in(tool: ToolServer, name: str = "ops") -> requests.Session:
    _operator(tool, name)
    client = browser()
    form = client.get(tool.base_url + "/console/login", timeout=30)
    page = client.post(tool.base_url + "/console/login", data={
        "csrf_token": _csrf(form), "username": name, "password": PASSWORD}, timeout=30)
    assert page.status_code == 200 and page.url.endswith("/console/"), page.text[:500]
    return client


def test_the_password_is_stored_as_an_argon2_hash(tool: ToolServer) -> None:
    _operator(tool, "hash-check")
    with tool.session() as s:
        op = s.query(Operator).filter_by(username="hash-check").one()
        assert op.password_hash.startswith("$argon2id$") and PASSWORD not in op.password_hash


def test_the_console_needs_a_signed_in_operator(tool: ToolServer) -> None:
    page = browser().get(tool.base_url + "/console/", timeout=30)
    assert page.url.startswith(tool.base_url + "/console/login")
    client = browser()
    form = client.get(tool.base_url + "/console/login", timeout=30)
    _operator(tool, "ops")
    wrong = client.post(tool.base_url + "/console/login", data={
        "csrf_token": _csrf(form), "username": "ops", "password": "nope"}, timeout=30)
    assert wrong.status_code == 401 and "Wrong username or password" in wrong.text


def test_repeated_failures_lock_the_account_for_a_while(tool: ToolServer) -> None:
    _operator(tool, "lockme")
    client = browser()
    token = _csrf(client.get(tool.base_url + "/console/login", timeout=30))
    for _ in range(5):
        client.post(tool.base_url + "/console/login", data={
            "csrf_token": token, "username": "lockme", "password": "bad"}, timeout=30)
    right = client.post(tool.base_url + "/console/login", data={
        "csrf_token": token, "username": "lockme", "password": PASSWORD}, timeout=30)
    assert right.status_code == 401
    with tool.session() as s:
        assert s.query(Operator).filter_by(username="lockme").one().locked_until is not None


def test_the_operator_sees_every_registration_and_approves_a_pending_one(
    tool: ToolServer, test_platform: IndependentPlatform, demo_lms: DemoLms
) -> None:
    with tool.session() as s:
        reg = Registration(issuer="https://pending.example", client_id="p-1", name="Pending U",
                           auth_login_url="https://pending.example/auth",
                           auth_token_url="https://pending.example/token",
                           key_set_url="https://pending.example/jwks", state="pending")
        reg.deployments.append(Deployment(deployment_id="d-1", active=True))
        s.add(reg)
        s.commit()
        reg_id = reg.id
    client = _signed_in(tool)
    index = client.get(tool.base_url + "/console/", timeout=30)
    for text in ("Pending U", test_platform.base, demo_lms.base, "pending", "Rotate"):
        assert text in index.text
    detail = client.get(f"{tool.base_url}/console/registrations/{reg_id}", timeout=30)
    approved = client.post(f"{tool.base_url}/console/registrations/{reg_id}/state",
                           data={"csrf_token": _csrf(detail), "action": "activate"}, timeout=30)
    assert approved.status_code == 200
    with tool.session() as s:
        assert s.get(Registration, reg_id).state == "active"  # type: ignore[union-attr]
    forged = client.post(f"{tool.base_url}/console/registrations/{reg_id}/state",
                         data={"action": "deactivate"}, timeout=30)
    assert forged.status_code == 400  # no CSRF token
    with tool.session() as s:
        assert s.get(Registration, reg_id).state == "active"  # type: ignore[union-attr]


def test_the_operator_rotates_the_tool_key(tool: ToolServer) -> None:
    client = _signed_in(tool)
    before = requests.get(tool.base_url + "/lti/jwks", timeout=10).json()["keys"]
    index = client.get(tool.base_url + "/console/", timeout=30)
    client.post(tool.base_url + "/console/keys/rotate", data={"csrf_token": _csrf(index)},
                timeout=30)
    after = requests.get(tool.base_url + "/lti/jwks", timeout=10).json()["keys"]
    assert len(after) == len(before) + 1
    assert {k["kid"] for k in before} < {k["kid"] for k in after}


def _admin_session(demo_lms: DemoLms) -> tuple[requests.Session, str]:
    client = browser()
    page = demo_lms.launch("admin", client=client)
    assert page.url.endswith("/admin")
    return client, page.url


def test_an_institution_admin_cannot_touch_another_platform(
    tool: ToolServer, demo_lms: DemoLms, test_platform: IndependentPlatform
) -> None:
    client, home_url = _admin_session(demo_lms)
    home = client.get(home_url, timeout=30)
    token = _csrf(home)
    with tool.session() as s:
        other = s.query(Deployment).filter_by(
            registration_id=test_platform.registration_id).first()
        assert other is not None
        other_id, other_active = other.id, other.active
    base = home_url.rsplit("/admin", 1)[0]
    # Another platform's deployment id in the URL: refused, nothing changed.
    response = client.post(f"{base}/admin/deployments/{other_id}/state",
                           data={"csrf_token": token, "action": "deactivate"}, timeout=30)
    assert response.status_code == 404
    with tool.session() as s:
        assert s.get(Deployment, other_id).active is other_active  # type: ignore[union-attr]
    # Nor can the console be reached with an LTI admin session.
    assert client.get(tool.base_url + "/console/", timeout=30).url.startswith(
        tool.base_url + "/console/login")
    # The admin's page never shows the other platform.
    assert test_platform.base not in home.text


def test_an_institution_admin_switches_their_own_deployment(tool: ToolServer,
                                                            demo_lms: DemoLms) -> None:
    client, home_url = _admin_session(demo_lms)
    home = client.get(home_url, timeout=30)
    with tool.session() as s:
        reg = s.query(Registration).filter_by(issuer=demo_lms.base,
                                              client_id="quality-club-demo").one()
        extra = Deployment(registration_id=reg.id, deployment_id="extra-" + str(reg.id),
                           active=False)
        s.add(extra)
        s.commit()
        extra_id = extra.id
    base = home_url.rsplit("/admin", 1)[0]
    done = client.post(f"{base}/admin/deployments/{extra_id}/state",
                       data={"csrf_token": _csrf(home), "action": "activate"}, timeout=30)
    assert done.status_code == 200
    with tool.session() as s:
        assert s.get(Deployment, extra_id).active is True  # type: ignore[union-attr]
    learner_client = browser()
    learner = demo_lms.launch("learner", client=learner_client)
    learner_base = learner.url.rsplit("/learner", 1)[0]
    token = _csrf(learner_client.get(tool.base_url + "/console/login", timeout=30))
    refused = learner_client.post(f"{learner_base}/admin/deployments/{extra_id}/state",
                                  data={"csrf_token": token, "action": "deactivate"}, timeout=30)
    assert refused.status_code == 403
    with tool.session() as s:
        assert s.get(Deployment, extra_id).active is True  # type: ignore[union-attr]


def test_an_unknown_action_or_registration_is_refused_and_changes_nothing(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    client = _signed_in(tool)
    token = _csrf(client.get(tool.base_url + "/console/", timeout=30))
    reg = test_platform.registration_id
    bad = client.post(f"{tool.base_url}/console/registrations/{reg}/state",
                      data={"csrf_token": token, "action": "delete"}, timeout=30)
    assert bad.status_code == 400
    missing = client.post(f"{tool.base_url}/console/registrations/999999/state",
                          data={"csrf_token": token, "action": "deactivate"}, timeout=30)
    assert missing.status_code == 404
    with tool.session() as s:
        assert s.get(Registration, reg).state == "active"  # type: ignore[union-attr]


def test_admin_create_refuses_a_short_password_and_a_taken_name(tool: ToolServer) -> None:
    def create(name: str, password: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "lti_service.cli", "admin", "create", name,
                               "--password-stdin"], input=password + "\n", env=tool.env,
                              capture_output=True, text=True, timeout=60)

    short = create("shorty", "too-short")
    assert short.returncode != 0 and "at least 12 characters" in short.stderr
    assert tool.count(Operator, Operator.username == "shorty") == 0
    _operator(tool, "ops")
    taken = create("ops", PASSWORD)
    assert taken.returncode != 0 and "already exists" in taken.stderr
