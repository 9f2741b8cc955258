"""The facilitator's grade-sync status page and the course roster in the cohort view, over
real HTTP with the demo LMS (its roster service pages and names people who never launched);
German and French labels; only the launch's own course; a roster the LMS cannot give is an
error on the page, not a failed page."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import select

from lti_service.db import utcnow
from lti_service.demo_lms.platform import CLIENT_ID
from lti_service.models import (
    Context,
    GradeLineItem,
    GradeOutbox,
    Registration,
    RosterFetch,
    User,
)
from tests.assessment.qdt_client import launch, unique
from tests.conftest import DemoLms, IndependentPlatform, ToolServer
from tests.support.web_client import browser

NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"


class Page:
    def __init__(self, client: requests.Session, response: requests.Response) -> None:
        self.client = client
        match = re.search(r"(https?://[^/]+/app/[^/]+)/", response.url)
        assert match, response.url
        self.app = match.group(1)
        self.text = response.text

    def get(self, path: str) -> requests.Response:
        response = self.client.get(self.app + path, timeout=30)
        self.text = response.text
        return response

    def post(self, path: str, **data: str) -> requests.Response:
        token = re.search(r'name="csrf_token" value="([^"]+)"', self.text)
        assert token, self.text[:500]
        response = self.client.post(self.app + path, data={"csrf_token": token.group(1),
                                                           **data}, timeout=30)
        self.text = response.text
        return response


def _facilitator(demo_lms: DemoLms, locale: str = "en") -> Page:
    client = browser()
    return Page(client, demo_lms.launch("facilitator", client=client, locale=locale))


def _demo_course(tool: ToolServer) -> Context:
    with tool.session() as s:
        return s.scalars(select(Context).join(Registration).where(
            Context.context_id == "demo-course-1", Registration.client_id == CLIENT_ID,
            Registration.issuer == tool.base_url + "/demo-lms")).one()


@pytest.fixture
def small_pages(tool: ToolServer) -> Iterator[None]:
    """Read the roster two members per page, so the demo's six members take three pages."""
    settings: Any = tool.app.extensions["lti_service"]["settings"]
    before = settings.roster_page_size
    settings.roster_page_size = 2
    try:
        yield
    finally:
        settings.roster_page_size = before


def test_the_cohort_view_lists_roster_members_who_have_not_launched(
        tool: ToolServer, demo_lms: DemoLms, small_pages: None) -> None:
    page = _facilitator(demo_lms)
    demo_lms.launch("learner")  # Lena has opened the tool: not in the list
    with tool.session() as s:  # a roster read by an earlier test would be fresh: forget it
        fetch = s.get(RosterFetch, _demo_course(tool).id)
        if fetch is not None:
            s.delete(fetch)
            s.commit()
    cohort = page.get("/cohort/mobility")
    assert cohort.status_code == 200
    listed = re.search(r'<ul class="people" id="not-launched">(.*?)</ul>', cohort.text, re.S)
    assert listed, cohort.text[:3000]
    assert "Nora Newcomer" in listed.group(1) and "Omar Offline" in listed.group(1)
    assert "Lena Learner" not in listed.group(1)
    assert "Finn Facilitator" not in listed.group(1)  # only learners are listed
    assert "6 members in the course, 4 of them learners" in cohort.text
    with tool.session() as s:
        fetch = s.get(RosterFetch, _demo_course(tool).id)
        assert fetch is not None and fetch.pages == 3 and fetch.members == 6

    first_read = fetch.fetched_at
    assert first_read is not None
    again = page.get("/cohort/mobility")  # cached: not read again
    assert again.status_code == 200
    time.sleep(0.01)
    refreshed = page.post("/roster/refresh", framework="mobility")
    assert refreshed.status_code == 200 and refreshed.url.endswith("/cohort/mobility#roster-h")
    with tool.session() as s:
        fetch = s.get(RosterFetch, _demo_course(tool).id)
        assert fetch is not None and fetch.fetched_at is not None
        assert fetch.fetched_at > first_read


def test_a_roster_the_lms_cannot_give_is_reported_on_the_page(
        tool: ToolServer, test_platform: IndependentPlatform) -> None:
    claim = {NRPS_CLAIM: {"context_memberships_url": test_platform.base + "/memberships",
                          "service_versions": ["2.0"]}}
    teacher = launch(tool, test_platform, role="facilitator", context=unique("nrps"),
                     set=claim)
    assert teacher.page.status_code == 200
    assert 'id="roster-error"' in teacher.page.text
    assert "The roster could not be read from the LMS" in teacher.page.text
    assert "Refresh roster" in teacher.page.text


def _rows_for(tool: ToolServer, state: str, **values: Any) -> GradeOutbox:
    """An outbox row of the demo course for the second demo learner."""
    course = _demo_course(tool)
    with tool.session() as s:
        user = s.scalars(select(User).where(User.registration_id == course.registration_id,
                                            User.sub == "demo-learner-2")).one()
        item = GradeLineItem(registration_id=course.registration_id, context_id=course.id,
                             tag="qdt-assessment", resource_id=unique("sync"),
                             label="Quality Development Tool: Sync test", score_maximum=1.0)
        s.add(item)
        s.flush()
        row = GradeOutbox(registration_id=course.registration_id, context_id=course.id,
                          line_item_id=item.id, user_id=user.id, user_sub=user.sub,
                          activity_progress="Submitted", grading_progress="FullyGraded",
                          score_given=1.0, score_maximum=1.0, score_ts=int(time.time()),
                          due_at=time.time() + 3600, state=state, **values)
        s.add(row)
        s.commit()
        return row


def test_the_sync_status_page_shows_sent_pending_and_failed_with_the_reason(
        tool: ToolServer, demo_lms: DemoLms) -> None:
    demo_lms.launch("learner2")
    dead = _rows_for(tool, "dead", attempts=12, last_status=503,
                     last_error_kind="server", last_error="score: HTTP 503: maintenance")
    sent = _rows_for(tool, "sent", sent_version=1, sent_at=utcnow(), last_status=200)
    page = _facilitator(demo_lms)
    assert 'href="' in page.text and "/grades" in page.text  # linked from the home page
    status = page.get("/grades")
    assert status.status_code == 200
    assert "score: HTTP 503: maintenance" in status.text and "HTTP 503" in status.text
    assert 'data-state="dead"' in status.text and 'data-state="sent"' in status.text
    assert "Luca Lerner" in status.text

    retried = page.post("/grades/retry")
    assert retried.status_code == 200 and retried.url.endswith("/grades")
    with tool.session() as s:
        row = s.get(GradeOutbox, dead.id)
        assert row is not None and row.state == "pending" and row.attempts == 0
        assert s.get(GradeOutbox, sent.id).state == "sent"  # type: ignore[union-attr]
    with tool.session() as s:  # leave nothing due for other tests' workers
        for row_id in (dead.id, sent.id):
            obj = s.get(GradeOutbox, row_id)
            assert obj is not None
            s.delete(obj)
        s.commit()

    german = _facilitator(demo_lms, locale="de")
    assert "Übertragung der Bewertungen" in german.get("/grades").text
    assert "Kursliste" in german.get("/cohort/mobility").text
    french = _facilitator(demo_lms, locale="fr")
    assert "Synchronisation des notes" in french.get("/grades").text


def test_the_sync_page_is_for_facilitators_of_their_own_course_only(
        tool: ToolServer, demo_lms: DemoLms, test_platform: IndependentPlatform) -> None:
    client = browser()
    learner = Page(client, demo_lms.launch("learner", client=client))
    assert learner.post("/grades/retry").status_code == 403
    assert learner.get("/grades").status_code == 403
    other = launch(tool, test_platform, role="facilitator", context=unique("other"))
    page = other.get("/grades")
    assert page.status_code == 200
    assert "Lena Learner" not in page.text and "Luca Lerner" not in page.text
    assert 'id="no-gradebook"' in page.text
