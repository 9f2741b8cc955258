"""Dynamic Registration end to end: the demo LMS's admin page registers the tool by URL."""

from __future__ import annotations

import re
from typing import Any

import pytest

from lti_service.demo_lms.platform import PlatformError
from lti_service.demo_lms.registration import validate_registration
from lti_service.models import DemoLmsTool, Registration
from tests.conftest import DemoLms, ToolServer
from tests.support.web_client import browser, iframe_src, parse_form


def test_the_demo_lms_registers_the_tool_which_launches_after_approval(
    tool: ToolServer, demo_lms: DemoLms
) -> None:
    client = browser()
    page = client.get(demo_lms.base + "/admin/register",
                      params={"tool_url": tool.base_url + "/lti/register"}, timeout=30)
    assert page.status_code == 200
    confirm = client.get(iframe_src(page.text), timeout=30)
    assert confirm.status_code == 200, confirm.text[:500]
    action, fields = parse_form(confirm.text)
    done = client.post(tool.base_url + action, data=fields, timeout=30)
    assert done.status_code == 200, done.text[:500]
    assert f'data-origin="{tool.base_url}"' in done.text  # the demo LMS's origin

    with tool.session() as s:
        row = s.query(DemoLmsTool).order_by(DemoLmsTool.id.desc()).first()
        assert row is not None
        reg = s.query(Registration).filter_by(issuer=demo_lms.base,
                                              client_id=row.client_id).one()
        assert reg.state == "pending"
        assert [d.deployment_id for d in reg.deployments] == [row.deployment_id]
        tool_row, reg_id = row.id, reg.id

    # Pending: the launch page says so.
    launch_page = browser().get(demo_lms.base + "/launch",
                                params={"user": "learner", "tool": str(tool_row)}, timeout=30)
    pending = browser().get(iframe_src(launch_page.text), timeout=30)
    assert pending.status_code == 403 and "waiting for approval" in pending.text

    tool.cli("platform", "activate", str(reg_id))
    home = demo_lms.launch("learner", tool=str(tool_row))
    assert home.status_code == 200 and home.url.endswith("/learner")
    assert re.search(r"Welcome, Lena", home.text)

    # The registration token was single use: the same page cannot register twice.
    again = client.get(iframe_src(page.text), timeout=30)
    assert again.status_code in (400, 409)


GOOD: dict[str, Any] = {
    "response_types": ["id_token"],
    "redirect_uris": ["https://tool.example/lti/launch"],
    "token_endpoint_auth_method": "private_key_jwt",
    "initiate_login_uri": "https://tool.example/lti/login",
    "jwks_uri": "https://tool.example/jwks",
    "client_name": "Tool",
    "scope": "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    "https://purl.imsglobal.org/spec/lti-tool-configuration": {
        "domain": "tool.example", "target_link_uri": "https://tool.example/lti/launch",
        "messages": [{"type": "LtiDeepLinkingRequest"}]},
}


def test_a_moodle_conform_registration_is_accepted() -> None:
    tool = validate_registration(GOOD)
    assert len(tool.client_id) == 15 and tool.redirect_uris == GOOD["redirect_uris"]


@pytest.mark.parametrize(("change", "message"), [
    ({"response_types": ["code"]}, "id_token"),
    ({"redirect_uris": "https://tool.example/lti/launch"}, "array"),
    ({"token_endpoint_auth_method": "client_secret_basic"}, "private_key_jwt"),
    ({"https://purl.imsglobal.org/spec/lti-tool-configuration": {
        "domain": "other.example", "target_link_uri": "https://tool.example/lti/launch",
        "messages": [{"type": "LtiDeepLinkingRequest"}]}}, "domain"),
    ({"https://purl.imsglobal.org/spec/lti-tool-configuration": {
        "domain": "tool.example", "target_link_uri": "https://tool.example/lti/launch",
        "messages": [{"type": "LtiResourceLinkRequest"}]}}, "LtiDeepLinkingRequest"),
])
def test_the_demo_lms_refuses_what_moodle_refuses(change: dict[str, Any], message: str) -> None:
    with pytest.raises(PlatformError, match=message):
        validate_registration({**GOOD, **change})
