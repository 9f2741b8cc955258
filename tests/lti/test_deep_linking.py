"""Deep Linking: a facilitator places Quality Club in a course; the platform accepts the
signed response (the demo LMS verifies signature, aud, nonce, deployment like Moodle)."""

from __future__ import annotations

import re

import jwt

from lti_service.lti.deep_linking import Placement, content_item
from lti_service.models import DemoLmsLink
from tests.conftest import DemoLms, IndependentPlatform, ToolServer
from tests.support.web_client import browser, parse_form

ITEMS = "https://purl.imsglobal.org/spec/lti-dl/claim/content_items"


def _respond(client, picker, placements=("home",)):  # type: ignore[no-untyped-def]
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', picker.text)
    assert csrf, picker.text[:1000]
    return client.post(picker.url, data={"csrf_token": csrf.group(1),
                                         "placement": list(placements)}, timeout=30)


def test_a_facilitator_places_the_tool_and_the_platform_accepts_it(
    tool: ToolServer, demo_lms: DemoLms
) -> None:
    client = browser()
    picker = demo_lms.launch("facilitator", client=client, mode="deeplink")
    assert picker.status_code == 200
    assert re.search(r"/app/[^/]+/deep-linking$", picker.url)
    assert "Add Quality Club to your course" in picker.text

    returned = _respond(client, picker)
    assert returned.status_code == 200
    action, fields = parse_form(returned.text)
    assert action == demo_lms.base + "/deep-link-return"
    header = jwt.get_unverified_header(fields["JWT"])
    claims = jwt.decode(fields["JWT"], options={"verify_signature": False})
    assert header["kid"] in {k["kid"] for k in client.get(
        tool.base_url + "/.well-known/jwks.json", timeout=10).json()["keys"]}
    assert claims["https://purl.imsglobal.org/spec/lti/claim/message_type"] == (
        "LtiDeepLinkingResponse")
    [item] = claims[ITEMS]
    assert item["type"] == "ltiResourceLink"
    assert item["url"] == tool.base_url + "/lti/launch/home"
    assert item["title"] == "Quality Club"
    assert "custom" not in item  # Moodle 4.5 crashes on "custom": {}

    before = tool.count(DemoLmsLink)
    accepted = client.post(action, data=fields, timeout=30)
    assert accepted.status_code == 200, accepted.text[:500]
    assert tool.count(DemoLmsLink) == before + 1
    # The platform verifies the nonce: the same response cannot be posted twice.
    assert client.post(action, data=fields, timeout=30).status_code == 400

    with tool.session() as s:
        link = s.query(DemoLmsLink).order_by(DemoLmsLink.id.desc()).first()
        assert link is not None
        link_id = link.id
    home = demo_lms.launch("learner", link=str(link_id))
    assert home.status_code == 200
    assert re.search(r"/app/[^/]+/learner$", home.url)


def test_a_learner_cannot_deep_link(demo_lms: DemoLms) -> None:
    response = demo_lms.launch("learner", mode="deeplink")
    assert response.status_code == 403
    assert "deep_linking_forbidden" in response.text


def test_the_picker_needs_the_form_token(demo_lms: DemoLms) -> None:
    client = browser()
    picker = demo_lms.launch("facilitator", client=client, mode="deeplink")
    forged = client.post(picker.url, data={"placement": "home"}, timeout=30)
    assert forged.status_code == 400
    assert "csrf" in forged.text


def test_deep_linking_from_the_independent_platform_returns_a_verifiable_jwt(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    client = browser()
    picker = test_platform.launch(client=client, user="instructor",
                                  message_type="LtiDeepLinkingRequest")
    assert picker.status_code == 200, picker.text[:500]
    action, fields = parse_form(_respond(client, picker).text)
    assert action == test_platform.base + "/dl-return"
    keys = jwt.PyJWKClient(tool.base_url + "/.well-known/jwks.json")
    signing_key = keys.get_signing_key_from_jwt(fields["JWT"])
    claims = jwt.decode(fields["JWT"], signing_key.key, algorithms=["RS256"],
                        audience=test_platform.base, issuer="test-client-42")
    assert claims["https://purl.imsglobal.org/spec/lti/claim/deployment_id"] == "deploy-1"
    assert claims["https://purl.imsglobal.org/spec/lti-dl/claim/data"].startswith("opaque-")
    assert claims["nonce"]


def test_a_graded_placement_carries_a_line_item_and_no_empty_custom() -> None:
    item = content_item(
        Placement(key="qdt-mobility", title="Quality Development Tool", path="qdt/mobility",
                  graded_tag="qdt-assessment"),
        "https://tool.example",
    )
    assert item == {
        "type": "ltiResourceLink",
        "title": "Quality Development Tool",
        "url": "https://tool.example/lti/launch/qdt/mobility",
        "lineItem": {"scoreMaximum": 1.0, "label": "Quality Development Tool",
                     "resourceId": "qdt-mobility", "tag": "qdt-assessment"},
    }


def test_a_german_facilitator_places_items_titled_in_german(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    client = browser()
    presentation = "https://purl.imsglobal.org/spec/lti/claim/launch_presentation"
    picker = test_platform.launch(client=client, user="instructor",
                                  message_type="LtiDeepLinkingRequest",
                                  set={presentation: {"document_target": "iframe",
                                                      "locale": "de-DE"}})
    assert picker.status_code == 200, picker.text[:500]
    assert "Quality Club: Kohortenübersicht" in picker.text
    _, fields = parse_form(_respond(client, picker, ("qdt-mobility", "cohort")).text)
    claims = jwt.decode(fields["JWT"], options={"verify_signature": False})
    titles = [item["title"] for item in claims[ITEMS]]
    assert titles == ["Quality Development Tool: Qualität in der Lernmobilität",
                      "Quality Club: Kohortenübersicht"]
    assert all(item["text"] and "the" not in item["text"].split() for item in claims[ITEMS])
