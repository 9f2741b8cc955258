"""Deep Linking offers one graded placement per framework (AGS line item tagged
``qdt-assessment``, maximum 1) and one for the cohort view; the LMS accepts them and a
launch of each opens the right page."""

from __future__ import annotations

import re

import jwt

from lti_service.assessment import frameworks
from lti_service.models import DemoLmsLink
from tests.conftest import DemoLms, ToolServer
from tests.support.web_client import browser, parse_form

ITEMS = "https://purl.imsglobal.org/spec/lti-dl/claim/content_items"


def test_each_framework_and_the_cohort_view_can_be_placed(
    tool: ToolServer, demo_lms: DemoLms
) -> None:
    client = browser()
    picker = demo_lms.launch("facilitator", client=client, mode="deeplink")
    offered = re.findall(r'name="placement" value="([^"]+)"', picker.text)
    expected = [f"qdt-{key}" for key in frameworks.registry()]
    assert offered == ["home", *expected, "cohort"]

    csrf = re.search(r'name="csrf_token" value="([^"]+)"', picker.text)
    assert csrf
    returned = client.post(picker.url, data={"csrf_token": csrf.group(1),
                                             "placement": ["qdt-mobility", "cohort"]},
                           timeout=30)
    action, fields = parse_form(returned.text)
    items = jwt.decode(fields["JWT"], options={"verify_signature": False})[ITEMS]
    qdt, cohort = items
    assert qdt["url"] == tool.base_url + "/lti/launch/qdt/mobility"
    assert qdt["lineItem"] == {"scoreMaximum": 1.0, "label": qdt["title"],
                               "resourceId": "qdt-mobility", "tag": "qdt-assessment"}
    assert cohort["url"] == tool.base_url + "/lti/launch/cohort"
    assert "lineItem" not in cohort

    assert client.post(action, data=fields, timeout=30).status_code == 200
    with tool.session() as s:
        links = {link.url: link.id for link in s.query(DemoLmsLink).all()}
    learner = demo_lms.launch("learner", link=str(links[qdt["url"]]))
    assert learner.status_code == 200 and learner.url.endswith("/qdt/mobility")
    teacher = demo_lms.launch("facilitator", link=str(links[cohort["url"]]))
    assert teacher.status_code == 200 and teacher.url.endswith("/cohort/mobility")
    # the seeded sample cohort of the demo course has enough respondents to show results
    assert "not shown (too few respondents)" not in teacher.text
