"""Acceptance: in `lti-service demo`, a learner's submission arrives in the demo LMS's
gradebook, sent by the worker the demo runs in-process, into the grade column that Deep
Linking made (found by tag and resourceId, not duplicated)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import jwt
import requests

from lti_service.assessment import frameworks
from tests.assessment.qdt_client import QdtUser
from tests.conftest import DemoLms
from tests.support.demo_process import running_demo
from tests.support.web_client import browser, parse_form

MOBILITY = frameworks.registry()["mobility"]
ITEMS = "https://purl.imsglobal.org/spec/lti-dl/claim/content_items"


class _Tool:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url


def _cell(gradebook: str, sub: str) -> str:
    row = re.search(rf'<tr data-user="{sub}">(.*?)</tr>', gradebook, re.S)
    assert row, gradebook[:3000]
    return row.group(1)


def _wait_for(base: str, sub: str, text: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        page = requests.get(base + "/demo-lms/gradebook", timeout=10).text
        if text in _cell(page, sub):
            return page
        assert time.monotonic() < deadline, _cell(page, sub)
        time.sleep(0.2)


def test_a_submission_arrives_in_the_demo_gradebook(tmp_path: Path) -> None:
    with running_demo(tmp_path, LTI_SERVICE_WORKER_POLL_INTERVAL="0.1") as base:
        demo = DemoLms(_Tool(base))  # type: ignore[arg-type]
        assert 'id="no-columns"' in requests.get(base + "/demo-lms/gradebook", timeout=10).text

        # the facilitator places the mobility QDT: its lineItem makes the grade column
        teacher = browser()
        picker = demo.launch("facilitator", client=teacher, mode="deeplink")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', picker.text)
        assert csrf
        returned = teacher.post(picker.url, data={"csrf_token": csrf.group(1),
                                                  "placement": ["qdt-mobility"]}, timeout=30)
        action, fields = parse_form(returned.text)
        title = jwt.decode(fields["JWT"], options={"verify_signature": False})[ITEMS][0][
            "title"]
        assert teacher.post(action, data=fields, timeout=30).status_code == 200
        index = requests.get(base + "/demo-lms/", timeout=10).text
        link_id = re.search(r"link=(\d+)", index)
        assert link_id

        # the learner opens it from the course and completes the self-assessment
        client = browser()
        page = demo.launch("learner", client=client, link=link_id.group(1))
        assert page.url.endswith("/qdt/mobility"), page.url
        lid = re.search(r"/app/([^/]+)/", page.url)
        assert lid
        learner = QdtUser(tool=_Tool(base), client=client, lid=lid.group(1),  # type: ignore[arg-type]
                          page=page)
        learner._token(page.text)
        aid = learner.start()
        _wait_for(base, "demo-learner-1", "Started")  # opened → Started / NotReady
        learner.answer_all(aid, MOBILITY, {})
        assert learner.choose(aid, (MOBILITY.criteria[0].id, "why")).status_code == 200
        assert learner.submit(aid).status_code == 200

        gradebook = _wait_for(base, "demo-learner-1", "1 / 1")
        cell = _cell(gradebook, "demo-learner-1")
        assert "Submitted · FullyGraded" in cell
        assert "Self-assessment submitted" in cell
        assert gradebook.count("data-line-item=") == 1 + 4  # one column: header + 4 learners
        assert title in gradebook
        assert "Nora Newcomer" in gradebook  # enrolled learners are in the grader report
