"""Each role lands on its own home; a session only opens what its launch allows."""

from __future__ import annotations

import re

from tests.conftest import DemoLms, IndependentPlatform, ToolServer
from tests.support.web_client import browser


def _lid(url: str) -> str:
    match = re.search(r"/app/([^/]+)/", url)
    assert match, url
    return match.group(1)


def test_a_learner_sees_the_learner_home_with_their_name_and_course(demo_lms: DemoLms) -> None:
    page = demo_lms.launch("learner")
    assert page.status_code == 200
    assert page.url.endswith("/learner")
    assert "Welcome, Lena" in page.text
    assert "Quality in Learning Mobility (demo course)" in page.text


def test_a_facilitator_sees_the_cohort(demo_lms: DemoLms) -> None:
    demo_lms.launch("learner2")
    page = demo_lms.launch("facilitator")
    assert page.url.endswith("/facilitator")
    assert "Facilitator home" in page.text
    learners = re.search(r"<td>Learners</td><td>(\d+)</td>", page.text)
    assert learners and int(learners.group(1)) >= 1


def test_an_admin_sees_only_their_own_registration(
    demo_lms: DemoLms, test_platform: IndependentPlatform
) -> None:
    page = demo_lms.launch("admin")
    assert page.url.endswith("/admin")
    assert demo_lms.base in page.text  # the demo LMS issuer
    assert test_platform.base not in page.text  # never another platform's data


def test_a_learner_cannot_open_facilitator_or_admin_pages(tool: ToolServer,
                                                          demo_lms: DemoLms) -> None:
    client = browser()
    page = demo_lms.launch("learner", client=client)
    lid = _lid(page.url)
    for area in ("facilitator", "admin"):
        response = client.get(f"{tool.base_url}/app/{lid}/{area}", timeout=30)
        assert response.status_code == 403, area


def test_a_launch_id_is_useless_in_another_browser(tool: ToolServer, demo_lms: DemoLms) -> None:
    page = demo_lms.launch("facilitator")
    other = browser()
    response = other.get(page.url, timeout=30)
    assert response.status_code == 401
    assert "Open the tool again from your course" in response.text


def test_a_forged_launch_token_is_refused(tool: ToolServer) -> None:
    response = browser().get(tool.base_url + "/app/t.eyJ1c2VyX2lkIjoxfQ.forged/learner",
                             timeout=30)
    assert response.status_code == 401


def test_two_courses_in_one_browser_keep_their_own_launch(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    client = browser()
    first = test_platform.launch(client=client, user="instructor", context="course-A")
    second = test_platform.launch(client=client, user="learner", context="course-B")
    assert first.url.endswith("/facilitator") and second.url.endswith("/learner")
    again = client.get(first.url, timeout=30)
    assert again.status_code == 200 and "Facilitator home" in again.text


def test_opening_a_launch_url_directly_explains_what_to_do(tool: ToolServer) -> None:
    response = browser().get(tool.base_url + "/lti/launch/home", timeout=30)
    assert response.status_code == 400
    assert "Open Quality Club from your course" in response.text


def test_an_unknown_placement_is_refused_before_anything_is_stored(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    from lti_service.models import User

    response = test_platform.launch(sub="nobody-stored",
                                    target_link_uri=tool.base_url + "/lti/launch/nowhere")
    assert response.status_code == 404
    assert "unknown_placement" in response.text
    assert tool.count(User, User.sub == "nobody-stored") == 0
