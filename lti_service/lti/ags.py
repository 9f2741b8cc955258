"""LTI Assignment and Grade Services 2.0: line items, scores and results (no Flask).

What real platforms need (``lti-notes.md``):

* Moodle's line item URLs carry ``?type_id=N``: the scores and results services are the
  line item URL with ``/scores`` (``/results``) inserted *before* the query string.
* Moodle keeps ``scoreGiven`` only with ``FullyGraded`` and answers 409 to a timestamp that is
  not newer, in whole seconds: timestamps here are whole seconds, strictly increasing per
  (line item, user) — the outbox assigns them, this module only formats them.
* Line item lists page with ``limit`` and ``Link: <…>; rel="next"``, followed as sent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from lti_service.lti.service_http import (
    ServiceError,
    classify_exception,
    classify_response,
    parse_link_header,
    read_json,
)

SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_LINEITEM_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
SCOPE_RESULT_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"

MT_LINEITEM = "application/vnd.ims.lis.v2.lineitem+json"
MT_CONTAINER = "application/vnd.ims.lis.v2.lineitemcontainer+json"
MT_SCORE = "application/vnd.ims.lis.v1.score+json"
MT_RESULTS = "application/vnd.ims.lis.v2.resultcontainer+json"

ACTIVITY_PROGRESS = ("Initialized", "Started", "InProgress", "Submitted", "Completed")
GRADING_PROGRESS = ("NotReady", "Failed", "Pending", "PendingManual", "FullyGraded")
MAX_PAGES = 100


def service_url(lineitem_url: str, service: str) -> str:
    """``…/lineitems/5/lineitem?type_id=2`` → ``…/lineitems/5/lineitem/scores?type_id=2``."""
    parts = urlsplit(lineitem_url)
    path = parts.path.rstrip("/") + "/" + service
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def scores_url(lineitem_url: str) -> str:
    return service_url(lineitem_url, "scores")


def results_url(lineitem_url: str) -> str:
    return service_url(lineitem_url, "results")


def with_query(url: str, **params: str | int | None) -> str:
    """``url`` with ``params`` added to (or replacing in) its query string."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k not in params]
    query += [(k, str(v)) for k, v in params.items() if v is not None]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def iso_timestamp(epoch_seconds: int) -> str:
    """Whole seconds, UTC, ISO 8601 with milliseconds as the spec's examples."""
    return dt.datetime.fromtimestamp(epoch_seconds, dt.UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Score:
    user_id: str
    activity_progress: str
    grading_progress: str
    timestamp: int  # epoch seconds
    score_given: float | None = None
    score_maximum: float = 1.0
    comment: str = ""

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "userId": self.user_id,
            "activityProgress": self.activity_progress,
            "gradingProgress": self.grading_progress,
            "timestamp": iso_timestamp(self.timestamp),
        }
        if self.score_given is not None:
            body["scoreGiven"] = self.score_given
            body["scoreMaximum"] = self.score_maximum
        if self.comment:
            body["comment"] = self.comment
        return body


def _auth(token: str, accept: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": accept}


def _call(http: requests.Session, method: str, url: str, what: str, timeout: float,
          **kwargs: Any) -> requests.Response:
    try:
        response = http.request(method, url, timeout=timeout, allow_redirects=False, **kwargs)
    except requests.RequestException as exc:
        raise classify_exception(exc, what) from exc
    if not 200 <= response.status_code < 300:
        raise classify_response(response, what)
    return response


def find_line_items(http: requests.Session, container_url: str, token: str, *,
                    tag: str | None = None, resource_id: str | None = None,
                    resource_link_id: str | None = None, timeout: float = 10.0,
                    limit: int = 100) -> list[dict[str, Any]]:
    """Every line item of the container matching the filters (all pages).

    The filters are sent as query parameters and checked again here: a platform that
    ignores one must not make us use someone else's column."""
    url: str | None = with_query(container_url, tag=tag, resource_id=resource_id,
                                 resource_link_id=resource_link_id, limit=limit)
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    pages = 0
    while url and url not in seen and pages < MAX_PAGES:
        seen.add(url)
        pages += 1
        response = _call(http, "GET", url, "line items", timeout,
                         headers=_auth(token, MT_CONTAINER))
        body = read_json(response, "line items")
        if not isinstance(body, list):
            raise ServiceError("bad_response", "line items: the container is not a JSON array",
                               status=response.status_code)
        for item in body:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                continue
            if tag is not None and item.get("tag") != tag:
                continue
            if resource_id is not None and item.get("resourceId") != resource_id:
                continue
            if (resource_link_id is not None
                    and item.get("resourceLinkId") != resource_link_id):
                continue
            found.append(item)
        url = parse_link_header(response.headers.get("Link", "")).get("next")
    return found


def create_line_item(http: requests.Session, container_url: str, token: str, *,
                     label: str, score_maximum: float, tag: str | None = None,
                     resource_id: str | None = None, resource_link_id: str | None = None,
                     timeout: float = 10.0) -> dict[str, Any]:
    body: dict[str, Any] = {"scoreMaximum": score_maximum, "label": label}
    if tag:
        body["tag"] = tag
    if resource_id:
        body["resourceId"] = resource_id
    if resource_link_id:
        body["resourceLinkId"] = resource_link_id
    headers = _auth(token, MT_LINEITEM) | {"Content-Type": MT_LINEITEM}
    response = _call(http, "POST", container_url, "create line item", timeout,
                     json=body, headers=headers)
    created = read_json(response, "create line item")
    if not isinstance(created, dict) or not isinstance(created.get("id"), str):
        raise ServiceError("bad_response", "create line item: the reply has no line item id",
                           status=response.status_code)
    return created


def post_score(http: requests.Session, lineitem_url: str, token: str, score: Score, *,
               timeout: float = 10.0) -> int:
    """Send one score; returns the HTTP status (2xx). 409 and every other failure raise
    :class:`ServiceError` (409: the platform holds this timestamp or a newer one)."""
    headers = _auth(token, "application/json") | {"Content-Type": MT_SCORE}
    response = _call(http, "POST", scores_url(lineitem_url), "score", timeout,
                     json=score.as_json(), headers=headers)
    return response.status_code


def get_results(http: requests.Session, lineitem_url: str, token: str, *,
                user_id: str | None = None, timeout: float = 10.0,
                limit: int = 100) -> list[dict[str, Any]]:
    """Every result of a line item (all pages; pylti1p3 reads only the first)."""
    url: str | None = with_query(results_url(lineitem_url), user_id=user_id, limit=limit)
    results: list[dict[str, Any]] = []
    seen: set[str] = set()
    while url and url not in seen and len(seen) < MAX_PAGES:
        seen.add(url)
        response = _call(http, "GET", url, "results", timeout,
                         headers=_auth(token, MT_RESULTS))
        body = read_json(response, "results")
        if not isinstance(body, list):
            raise ServiceError("bad_response", "results: not a JSON array",
                               status=response.status_code)
        results.extend(r for r in body if isinstance(r, dict))
        url = parse_link_header(response.headers.get("Link", "")).get("next")
    return results
