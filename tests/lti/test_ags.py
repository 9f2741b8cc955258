"""AGS protocol details that platforms depend on (no network needed for these)."""

from __future__ import annotations

import datetime as dt
import email.utils

import requests

from lti_service.lti import ags
from lti_service.lti.service_http import (
    ServiceError,
    classify_response,
    parse_link_header,
    read_json,
    retry_after,
)


def test_scores_and_results_go_before_moodles_query_string() -> None:
    url = "https://moodle.example.edu/mod/lti/services.php/2/lineitems/5/lineitem?type_id=3"
    assert ags.scores_url(url) == (
        "https://moodle.example.edu/mod/lti/services.php/2/lineitems/5/lineitem/scores?type_id=3")
    assert ags.results_url(url).endswith("/lineitem/results?type_id=3")
    assert ags.scores_url("https://lms.test/li/9/") == "https://lms.test/li/9/scores"
    assert ags.with_query("https://lms.test/lineitems?type_id=3", tag="qdt assessment",
                          limit=10) == "https://lms.test/lineitems?type_id=3&tag=qdt+assessment&limit=10"


def test_a_score_carries_whole_seconds_and_scoregiven_only_with_a_maximum() -> None:
    score = ags.Score("u1", "Submitted", "FullyGraded", 1_700_000_000, 1.0, 1.0, "done")
    body = score.as_json()
    assert body == {"userId": "u1", "activityProgress": "Submitted",
                    "gradingProgress": "FullyGraded",
                    "timestamp": "2023-11-14T22:13:20.000+00:00", "scoreGiven": 1.0,
                    "scoreMaximum": 1.0, "comment": "done"}
    started = ags.Score("u1", "Started", "NotReady", 1_700_000_001).as_json()
    assert "scoreGiven" not in started and "scoreMaximum" not in started
    assert "comment" not in started


def test_link_headers_keep_the_url_as_sent() -> None:
    header = ('<https://lms.test/m?Cursor=AbC,1&limit=2>; rel="next", '
              '<https://lms.test/m?page=1>; rel="first prev"')
    links = parse_link_header(header)
    assert links["next"] == "https://lms.test/m?Cursor=AbC,1&limit=2"
    assert links["first"] == links["prev"] == "https://lms.test/m?page=1"
    assert parse_link_header("") == {} and parse_link_header("garbage; rel=next") == {}


def _response(status: int, body: bytes, ctype: str = "application/json",
              **headers: str) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    response.headers.update({"Content-Type": ctype, **headers})
    return response


def test_every_answer_is_classified() -> None:
    kinds = {status: classify_response(_response(status, b"{}"), "score").kind
             for status in (400, 401, 403, 404, 408, 409, 422, 429, 500, 502, 503, 302)}
    assert kinds == {400: "rejected", 401: "auth", 403: "rejected", 404: "not_found",
                     408: "timeout", 409: "conflict", 422: "rejected", 429: "rate_limited",
                     500: "server", 502: "server", 503: "server", 302: "bad_response"}
    html = _response(200, b"<html><body>Proxy error</body></html>", "text/html")
    try:
        read_json(html, "line items")
    except ServiceError as error:
        assert error.kind == "bad_response" and error.retryable
        assert "text/html" in error.detail and "Proxy error" in error.detail
    else:
        raise AssertionError("HTML was read as JSON")
    assert not ServiceError("rejected", "x").retryable


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert retry_after(_response(429, b"", **{"Retry-After": "7"})) == 7.0
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    value = retry_after(_response(503, b"", **{"Retry-After": email.utils.format_datetime(
        later, usegmt=True)}))
    assert value is not None and 25 < value <= 30
    assert retry_after(_response(429, b"", **{"Retry-After": "soon"})) is None
    assert retry_after(_response(429, b"")) is None
