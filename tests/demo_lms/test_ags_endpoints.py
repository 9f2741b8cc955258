"""The demo LMS's Assignment and Grade Services and roster over real HTTP, with Moodle
4.5's rules: ``?type_id=`` in line item URLs, 409 for a timestamp not newer in whole seconds,
``scoreGiven`` kept only when FullyGraded, paging by ``limit`` with a case-sensitive next
link, short role names. Called with the tool's own protocol code and access tokens."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest
import requests

from lti_service.demo_lms.platform import CLIENT_ID
from lti_service.lti import ags, nrps
from lti_service.lti import keys as tool_keys
from lti_service.lti.service_http import ServiceError, new_session
from lti_service.lti.service_tokens import PlatformAuth, TokenCache
from tests.conftest import ToolServer

AGS_SCOPES = (ags.SCOPE_LINEITEM, ags.SCOPE_RESULT_READONLY, ags.SCOPE_SCORE)


class Client:
    def __init__(self, tool: ToolServer) -> None:
        self.tool = tool
        self.base = tool.base_url + "/demo-lms"
        self.auth = PlatformAuth(issuer=self.base, client_id=CLIENT_ID,
                                 token_url=self.base + "/token")
        self.tokens = TokenCache()
        self.http = new_session()

    def signer(self) -> tool_keys.Signer:
        with self.tool.session() as s:
            return tool_keys.signer(s, self.tool.settings.resolve_secret_key())

    def token(self, *scopes: str) -> str:
        return self.tokens.get(self.auth, scopes or AGS_SCOPES, self.signer, self.http)

    @property
    def container(self) -> str:
        return self.base + "/api/lineitems?course=demo-course-1"


@pytest.fixture
def client(tool: ToolServer) -> Client:
    return Client(tool)


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="microseconds")


def _score(client: Client, url: str, seconds: float, **body: object) -> requests.Response:
    payload = {"userId": "demo-learner-2", "activityProgress": "Submitted",
               "gradingProgress": "FullyGraded", "scoreGiven": 1, "scoreMaximum": 1,
               "timestamp": _iso(seconds), **body}
    return client.http.post(ags.scores_url(url), json=payload, timeout=10, headers={
        "Authorization": f"Bearer {client.token()}", "Content-Type": ags.MT_SCORE})


def test_line_items_by_tag_with_type_id_urls_and_paging(client: Client) -> None:
    tag = f"t-{uuid.uuid4().hex[:6]}"
    made = [ags.create_line_item(client.http, client.container, client.token(), label=f"L{i}",
                                 score_maximum=i + 1, tag=tag, resource_id=f"r{i % 2}")
            for i in range(3)]
    assert all(m["id"].endswith("/lineitem?type_id=1") for m in made)
    found = ags.find_line_items(client.http, client.container, client.token(), tag=tag,
                                limit=1)  # three pages, each next link followed as sent
    assert [f["label"] for f in found] == ["L0", "L1", "L2"]
    only = ags.find_line_items(client.http, client.container, client.token(), tag=tag,
                               resource_id="r1")
    assert [f["label"] for f in only] == ["L1"]
    first = client.http.get(ags.with_query(client.container, tag=tag, limit=1), timeout=10,
                            headers={"Authorization": f"Bearer {client.token()}"})
    next_url = first.links["next"]["url"]
    assert "Cursor=" in next_url
    lowered = client.http.get(next_url.lower(), timeout=10,
                              headers={"Authorization": f"Bearer {client.token()}"})
    assert lowered.status_code in (400, 404)  # a lowercased next link is not the same link


def test_scores_follow_moodles_rules(client: Client, tool: ToolServer) -> None:
    item = ags.create_line_item(client.http, client.container, client.token(), label="Rules",
                                score_maximum=1, tag=f"t-{uuid.uuid4().hex[:6]}")
    url = item["id"]
    now = int(time.time())
    assert _score(client, url, now + 0.1).status_code == 204
    same_second = _score(client, url, now + 0.9, scoreGiven=0)
    assert same_second.status_code == 409  # later microseconds, same whole second
    assert _score(client, url, now - 5).status_code == 409  # older
    assert _score(client, url, now + 1, gradingProgress="Pending", scoreGiven=1,
                  activityProgress="Completed").status_code == 204
    results = ags.get_results(client.http, url, client.token(), user_id="demo-learner-2")
    assert len(results) == 1 and "resultScore" not in results[0]  # dropped: not FullyGraded
    assert _score(client, url, now + 2, scoreGiven=0.5).status_code == 204
    results = ags.get_results(client.http, url, client.token())
    assert results[0]["resultScore"] == 0.5 and results[0]["scoreOf"] == url

    wrong_type = client.http.post(ags.scores_url(url), json={}, timeout=10, headers={
        "Authorization": f"Bearer {client.token()}"})
    assert wrong_type.status_code == 400
    nobody = _score(client, url, now + 3, userId="not-in-course")
    assert nobody.status_code == 400
    no_token = requests.post(ags.scores_url(url), json={}, timeout=10)
    assert no_token.status_code == 401
    roster_only = client.http.post(ags.scores_url(url), json={}, timeout=10, headers={
        "Authorization": f"Bearer {client.token(nrps.SCOPE)}", "Content-Type": ags.MT_SCORE})
    assert roster_only.status_code == 403
    missing_type_id = client.http.post(ags.scores_url(url.split("?")[0]), timeout=10,
                                       json={}, headers={
                                           "Authorization": f"Bearer {client.token()}",
                                           "Content-Type": ags.MT_SCORE})
    assert missing_type_id.status_code == 404
    with pytest.raises(ServiceError) as refused:
        ags.post_score(client.http, url, client.token(),
                       ags.Score("demo-learner-2", "Submitted", "FullyGraded", now + 2, 1, 1))
    assert refused.value.kind == "conflict" and refused.value.status == 409


def test_the_roster_pages_with_limit_and_short_role_names(client: Client) -> None:
    url = client.base + "/api/memberships?course=demo-course-1"
    roster = nrps.fetch_members(client.http, url, client.token(nrps.SCOPE), limit=2)
    assert roster.pages == 3
    subs = [m.user_id for m in roster.members]
    assert subs[:2] == ["demo-learner-1", "demo-learner-2"]
    assert {"demo-learner-3", "demo-learner-4", "demo-facilitator-1"} <= set(subs)
    lena = roster.members[0]
    assert lena.roles[0] == "Learner" and lena.given_name == "Lena"
    assert "Instructor" in next(m for m in roster.members if m.user_id == "demo-admin-1").roles
    whole = nrps.fetch_members(client.http, url, client.token(nrps.SCOPE), limit=100)
    assert whole.pages == 1 and len(whole.members) == 6
    with pytest.raises(ServiceError) as refused:
        nrps.fetch_members(client.http, url, client.token(ags.SCOPE_SCORE))
    assert refused.value.kind == "rejected" and refused.value.status == 403


def test_one_token_for_many_calls_and_a_new_one_after_invalidation(client: Client) -> None:
    before = requests.get(client.base + "/stats", timeout=10).json()["token_requests"]
    first = client.token()
    assert all(client.token() == first for _ in range(5))
    client.tokens.invalidate(client.auth, AGS_SCOPES, first)
    assert client.token() != first
    after = requests.get(client.base + "/stats", timeout=10).json()["token_requests"]
    assert after - before == client.tokens.requests_made == 2
