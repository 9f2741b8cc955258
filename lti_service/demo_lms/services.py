"""The demo LMS's LTI Advantage services, with Moodle 4.5's rules, and its gradebook page.

* AGS line items: ``{issuer}/api/lineitems?course=…`` (container: list with ``tag``,
  ``resource_id``, ``resource_link_id`` filters and ``limit`` paging; create), each line item
  ``{issuer}/api/lineitems/<n>/lineitem?type_id=1`` like Moodle's (the query string is why
  ``/scores`` must go before it), scores (``…/lineitem/scores?type_id=1``) and results.
* Scores as ``mod/lti/service/gradebookservices/.../scores.php`` keeps them: 409 when the
  timestamp is not newer than the stored one **in whole seconds**, ``scoreGiven`` kept only
  when ``FullyGraded``, ``scoreMaximum`` 1 by default, userId must be a course member.
* NRPS: ``{issuer}/api/memberships?course=…`` pages only when ``limit`` is sent, with
  ``Link: <…>; rel="next"`` whose query is case-sensitive (``Cursor``), roles as Moodle's
  short names for course roles.
* ``/demo-lms/gradebook``: the grader report.

Bearer tokens come from the demo LMS's token endpoint and are checked for the scope each
service needs (401 without a valid token, 403 without the scope).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any
from urllib.parse import urlencode

from flask import Response, jsonify, render_template, request
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from lti_service.db import utcnow
from lti_service.demo_lms import get_platform
from lti_service.demo_lms.platform import (
    AGS_SCOPES,
    CLIENT_ID,
    COURSE,
    COURSE_MEMBERS,
    NRPS_SCOPE,
    DemoUser,
)
from lti_service.demo_lms.views import bp
from lti_service.models import DemoLmsGrade, DemoLmsLineItem
from lti_service.web.context import db
from lti_service.web.extensions import csrf

SCOPE_LINEITEM, SCOPE_RESULT, SCOPE_SCORE = AGS_SCOPES
SCOPE_LINEITEM_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
MT_LINEITEM = "application/vnd.ims.lis.v2.lineitem+json"
MT_CONTAINER = "application/vnd.ims.lis.v2.lineitemcontainer+json"
MT_SCORE = "application/vnd.ims.lis.v1.score+json"
MT_RESULTS = "application/vnd.ims.lis.v2.resultcontainer+json"
MT_MEMBERSHIPS = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
ACTIVITY = ("Initialized", "Started", "InProgress", "Submitted", "Completed")
GRADING = ("FullyGraded", "Pending", "PendingManual", "Failed", "NotReady")
TYPE_ID = "1"  # Moodle: the tool type id, in every line item URL
CURSOR = "QcDemo-Page"  # the next-page token: mixed case, compared exactly
_MEMBER_SUBS = {u.sub for u in COURSE_MEMBERS}


def _error(status: int, message: str) -> Response:
    response = jsonify({"status": status, "reason": message})
    response.status_code = status
    return response


def _authorize(*scopes: str) -> Response | None:
    """None when the bearer token is valid for one of ``scopes``, else the error reply."""
    header = request.headers.get("Authorization", "")
    token = header[len("Bearer "):] if header.startswith("Bearer ") else ""
    platform = get_platform()
    if not token:
        return _error(401, "missing bearer token")
    if not any(platform.check_access_token(token, scope) for scope in scopes):
        if any(platform.check_access_token(token, s) for s in (*AGS_SCOPES, NRPS_SCOPE)):
            return _error(403, "the access token does not grant " + " or ".join(scopes))
        return _error(401, "invalid or expired access token")
    return None


def _course() -> str | None:
    course = request.args.get("course", "")
    return course if course == COURSE["id"] else None


def line_item_url(item: DemoLmsLineItem) -> str:
    return f"{get_platform().issuer}/api/lineitems/{item.id}/lineitem?type_id={TYPE_ID}"


def container_url(course: str) -> str:
    return f"{get_platform().issuer}/api/lineitems?course={course}"


def _item_json(item: DemoLmsLineItem) -> dict[str, Any]:
    body: dict[str, Any] = {"id": line_item_url(item), "label": item.label,
                            "scoreMaximum": item.score_maximum}
    if item.tag:
        body["tag"] = item.tag
    if item.resource_id:
        body["resourceId"] = item.resource_id
    if item.resource_link_id:
        body["resourceLinkId"] = item.resource_link_id
    return body


def _page(rows: list[Any], base: str, params: dict[str, str]) -> tuple[list[Any], str | None]:
    """(this page, next URL) for ``limit``/``Offset``+``Cursor`` paging; no limit: all."""
    limit_arg = request.args.get("limit", "")
    if not limit_arg:
        return rows, None
    try:
        limit = max(1, min(int(limit_arg), 1000))
        offset = int(request.args.get("Offset", "0"))
    except ValueError:
        raise _BadRequest("limit and Offset must be integers") from None
    sent = set(request.args)
    if {k for k in sent if k.lower() in ("offset", "cursor")} - {"Offset", "Cursor"}:
        raise _BadRequest("paging parameters changed: follow the next link exactly as sent")
    if offset and request.args.get("Cursor") != CURSOR:
        raise _BadRequest("invalid paging cursor (the next link must be followed as sent)")
    page = rows[offset:offset + limit]
    if offset + limit >= len(rows):
        return page, None
    query = urlencode({**params, "limit": limit, "Offset": offset + limit, "Cursor": CURSOR})
    return page, f"{base}?{query}"


class _BadRequest(Exception):
    pass


def _with_next(response: Response, next_url: str | None) -> Response:
    if next_url:
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    return response


def _json_body() -> dict[str, Any] | None:
    body = request.get_json(silent=True, force=True)
    return body if isinstance(body, dict) else None


def _own_item(item_id: int) -> DemoLmsLineItem | None:
    item = db().get(DemoLmsLineItem, item_id)
    if item is None or item.client_id != CLIENT_ID or request.args.get("type_id") != TYPE_ID:
        return None
    return item


# --------------------------------------------------------------------------- line items
@bp.route("/api/lineitems", methods=["GET", "POST"])
@csrf.exempt
def line_items() -> Response:
    course = _course()
    if course is None:
        return _error(404, "unknown course")
    if request.method == "POST":
        refused = _authorize(SCOPE_LINEITEM)
        if refused:
            return refused
        body = _json_body()
        if body is None:
            return _error(400, "the body is not a JSON object")
        label = body.get("label")
        maximum = body.get("scoreMaximum")
        if not isinstance(label, str) or not label.strip():
            return _error(400, "label is required")
        if isinstance(maximum, bool) or not isinstance(maximum, int | float) or maximum <= 0:
            return _error(400, "scoreMaximum must be a positive number")
        item = DemoLmsLineItem(
            course=course, client_id=CLIENT_ID, label=label.strip()[:255],
            score_maximum=float(maximum), tag=_opt(body.get("tag")),
            resource_id=_opt(body.get("resourceId")),
            resource_link_id=_opt(body.get("resourceLinkId")))
        db().add(item)
        db().flush()
        response = jsonify(_item_json(item))
        response.status_code = 201
        response.mimetype = MT_LINEITEM
        return response
    refused = _authorize(SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY)
    if refused:
        return refused
    stmt = select(DemoLmsLineItem).where(DemoLmsLineItem.course == course,
                                         DemoLmsLineItem.client_id == CLIENT_ID)
    params = {"course": course}
    for arg, column in (("tag", DemoLmsLineItem.tag),
                        ("resource_id", DemoLmsLineItem.resource_id),
                        ("resource_link_id", DemoLmsLineItem.resource_link_id)):
        value = request.args.get(arg)
        if value is not None:
            stmt = stmt.where(column == value)
            params[arg] = value
    rows = list(db().scalars(stmt.order_by(DemoLmsLineItem.id)))
    try:
        page, next_url = _page(rows, f"{get_platform().issuer}/api/lineitems", params)
    except _BadRequest as exc:
        return _error(400, str(exc))
    response = jsonify([_item_json(i) for i in page])
    response.mimetype = MT_CONTAINER
    return _with_next(response, next_url)


def _opt(value: Any) -> str | None:
    return value.strip()[:255] or None if isinstance(value, str) else None


@bp.route("/api/lineitems/<int:item_id>/lineitem", methods=["GET", "PUT", "DELETE"])
@csrf.exempt
def line_item(item_id: int) -> Response:
    write = request.method != "GET"
    refused = _authorize(SCOPE_LINEITEM) if write else _authorize(SCOPE_LINEITEM,
                                                                  SCOPE_LINEITEM_READONLY)
    if refused:
        return refused
    item = _own_item(item_id)
    if item is None:
        return _error(404, "no such line item")
    if request.method == "DELETE":
        db().delete(item)
        return Response(status=204)
    if request.method == "PUT":
        body = _json_body()
        if body is None:
            return _error(400, "the body is not a JSON object")
        if isinstance(body.get("label"), str) and body["label"].strip():
            item.label = body["label"].strip()[:255]
        maximum = body.get("scoreMaximum")
        if isinstance(maximum, int | float) and not isinstance(maximum, bool) and maximum > 0:
            item.score_maximum = float(maximum)
        if "tag" in body:
            item.tag = _opt(body.get("tag"))
    response = jsonify(_item_json(item))
    response.mimetype = MT_LINEITEM
    return response


def _seconds(value: Any) -> int | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp())  # Moodle: strtotime(), whole seconds


@bp.post("/api/lineitems/<int:item_id>/lineitem/scores")
@csrf.exempt
def scores(item_id: int) -> Response:
    refused = _authorize(SCOPE_SCORE)
    if refused:
        return refused
    item = _own_item(item_id)
    if item is None:
        return _error(404, "no such line item")
    if request.mimetype != MT_SCORE:
        return _error(400, f"Content-Type must be {MT_SCORE}")
    body = _json_body()
    if body is None:
        return _error(400, "the body is not a JSON object")
    user_id = body.get("userId")
    if not isinstance(user_id, str) or user_id not in _MEMBER_SUBS:
        return _error(400, "userId is not a member of the course")
    activity, grading = body.get("activityProgress"), body.get("gradingProgress")
    if activity not in ACTIVITY or grading not in GRADING:
        return _error(400, "invalid activityProgress or gradingProgress")
    seconds = _seconds(body.get("timestamp"))
    if seconds is None:
        return _error(400, "timestamp is missing or not ISO 8601")
    given = body.get("scoreGiven")
    maximum = body.get("scoreMaximum", 1)
    for value in (given, maximum):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or not math.isfinite(value) or value < 0):
            return _error(400, "scoreGiven and scoreMaximum must be non-negative numbers")
    if not maximum:
        maximum = 1
    session = db()
    grade = session.scalars(select(DemoLmsGrade).where(
        DemoLmsGrade.line_item_id == item.id, DemoLmsGrade.user_id == user_id)).first()
    if grade is not None and seconds <= grade.timestamp:
        return _error(409, "This score is older than (or as old as) the current one "
                      "(timestamps are compared in whole seconds).")
    kept = float(given) if given is not None and grading == "FullyGraded" else None
    comment = body.get("comment") if isinstance(body.get("comment"), str) else None
    if grade is None:
        grade = DemoLmsGrade(line_item_id=item.id, user_id=user_id, timestamp=seconds,
                             score_given=kept, score_maximum=float(maximum),
                             activity_progress=str(activity), grading_progress=str(grading),
                             comment=comment, scores_received=1)
        try:
            with session.begin_nested():
                session.add(grade)
        except IntegrityError:
            return _error(409, "a score for this user arrived at the same moment")
    else:
        grade.timestamp = seconds
        grade.score_given, grade.score_maximum = kept, float(maximum)
        grade.activity_progress, grade.grading_progress = str(activity), str(grading)
        grade.comment = comment
        grade.scores_received += 1
        grade.updated_at = utcnow()
    return Response(status=204)


@bp.get("/api/lineitems/<int:item_id>/lineitem/results")
def results(item_id: int) -> Response:
    refused = _authorize(SCOPE_RESULT)
    if refused:
        return refused
    item = _own_item(item_id)
    if item is None:
        return _error(404, "no such line item")
    stmt = select(DemoLmsGrade).where(DemoLmsGrade.line_item_id == item.id)
    params = {"type_id": TYPE_ID}
    if request.args.get("user_id"):
        stmt = stmt.where(DemoLmsGrade.user_id == request.args["user_id"])
        params["user_id"] = request.args["user_id"]
    rows = list(db().scalars(stmt.order_by(DemoLmsGrade.id)))
    base = f"{get_platform().issuer}/api/lineitems/{item.id}/lineitem/results"
    try:
        page, next_url = _page(rows, base, params)
    except _BadRequest as exc:
        return _error(400, str(exc))
    own = line_item_url(item)
    body = []
    for grade in page:
        result: dict[str, Any] = {"id": f"{own.split('?')[0]}/results/{grade.id}?type_id=1",
                                  "scoreOf": own, "userId": grade.user_id,
                                  "resultMaximum": grade.score_maximum}
        if grade.score_given is not None:
            result["resultScore"] = grade.score_given
        if grade.comment:
            result["comment"] = grade.comment
        body.append(result)
    response = jsonify(body)
    response.mimetype = MT_RESULTS
    return _with_next(response, next_url)


# --------------------------------------------------------------------------- NRPS
def _nrps_roles(user: DemoUser) -> list[str]:
    """Moodle's way: course roles by short name, others as full URIs."""
    prefix = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
    return [r[len(prefix):] if r.startswith(prefix) else r for r in user.roles]


@bp.get("/api/memberships")
def memberships() -> Response:
    refused = _authorize(NRPS_SCOPE)
    if refused:
        return refused
    course = _course()
    if course is None:
        return _error(404, "unknown course")
    members = [{"status": "Active", "name": u.name, "given_name": u.given_name,
                "family_name": u.family_name, "email": u.email, "user_id": u.sub,
                "roles": _nrps_roles(u)} for u in COURSE_MEMBERS]
    try:
        page, next_url = _page(members, f"{get_platform().issuer}/api/memberships",
                               {"course": course})
    except _BadRequest as exc:
        return _error(400, str(exc))
    body = {"id": request.url,
            "context": {"id": COURSE["id"], "label": COURSE["label"], "title": COURSE["title"]},
            "members": page}
    response = jsonify(body)
    response.mimetype = MT_MEMBERSHIPS
    return _with_next(response, next_url)


# --------------------------------------------------------------------------- gradebook
@bp.get("/gradebook")
def gradebook() -> str:
    """The course's grader report: a row per learner, a column per line item."""
    session = db()
    items = list(session.scalars(select(DemoLmsLineItem).where(
        DemoLmsLineItem.course == COURSE["id"]).order_by(DemoLmsLineItem.id)))
    cells = {(g.line_item_id, g.user_id): g for g in session.scalars(
        select(DemoLmsGrade).join(DemoLmsLineItem)
        .where(DemoLmsLineItem.course == COURSE["id"]))}
    received = session.scalar(select(func.coalesce(func.sum(DemoLmsGrade.scores_received), 0)))
    learners = [u for u in COURSE_MEMBERS
                if any(r.endswith("#Learner") for r in u.roles)]
    return render_template("demo_lms/gradebook.html", course=COURSE, items=items,
                           learners=learners, cells=cells, received=received,
                           as_time=_as_time)


def _as_time(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def create_deep_linking_column(link_id: int, item: dict[str, Any]) -> DemoLmsLineItem | None:
    """A Deep Linking content item with a ``lineItem`` makes the link's grade column."""
    spec = item.get("lineItem")
    if not isinstance(spec, dict):
        return None
    label = spec.get("label") if isinstance(spec.get("label"), str) else item.get("title")
    column = DemoLmsLineItem(
        course=COURSE["id"], client_id=CLIENT_ID, label=str(label or "Grade")[:255],
        score_maximum=float(spec.get("scoreMaximum") or 1), tag=_opt(spec.get("tag")),
        resource_id=_opt(spec.get("resourceId")), resource_link_id=f"demo-link-{link_id}")
    db().add(column)
    db().flush()
    return column


def column_for_link(link_id: int) -> DemoLmsLineItem | None:
    return db().scalars(select(DemoLmsLineItem).where(
        DemoLmsLineItem.resource_link_id == f"demo-link-{link_id}")
        .order_by(DemoLmsLineItem.id).limit(1)).first()


__all__ = ["column_for_link", "container_url", "create_deep_linking_column", "line_item_url"]
