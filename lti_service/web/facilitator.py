"""The facilitator's area (LMS instructors): course home and the cohort overview.

Only the launch's own context is ever read: the context comes from the launch, never
from the URL, so a facilitator cannot ask for another course's cohort.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select
from werkzeug.wrappers import Response as BaseResponse

from lti_service import roster as rosters
from lti_service.assessment import cohort as cohorts
from lti_service.assessment import exports, frameworks
from lti_service.grades import status as grade_status
from lti_service.lti.roles import AppRole
from lti_service.models import Context, Membership
from lti_service.web import context, i18n, launch_session
from lti_service.web.learner import load_people

bp = Blueprint("facilitator", __name__)
PEOPLE_SHOWN = 200  # per state on the page; the CSV has the aggregates for any size


def require_facilitator(lid: str) -> launch_session.LaunchContext:
    launch = launch_session.resolve(lid)
    if launch.app_role not in (AppRole.FACILITATOR, AppRole.ADMIN):
        abort(403, description=_("This page is for the course's facilitators."))
    return launch


@bp.get("/app/<lid>/facilitator")
def home(lid: str) -> Response:
    launch = require_facilitator(lid)
    user, ctx = load_people(launch)
    counts: dict[str, int] = {}
    if ctx is not None:
        rows = context.db().execute(
            select(Membership.role, func.count()).where(Membership.context_id == ctx.id)
            .group_by(Membership.role)
        )
        counts = {role: n for role, n in rows}
    return Response(render_template("facilitator/home.html", lid=lid, user=user, course=ctx,
                                    counts=counts, launch=launch,
                                    frameworks=frameworks.registry()))


def _course(lid: str) -> tuple[launch_session.LaunchContext, Context]:
    launch = require_facilitator(lid)
    _user, ctx = load_people(launch)
    if ctx is None:
        abort(400, description=_("Open the tool from a course to see its cohort."))
    return launch, ctx


@bp.get("/app/<lid>/cohort")
def cohort_launch(lid: str) -> BaseResponse:
    """Where the cohort placement lands: the main framework's overview."""
    require_facilitator(lid)
    key = next(iter(frameworks.registry()))
    return redirect(url_for("facilitator.cohort", lid=lid, key=key), code=303)


@bp.get("/app/<lid>/cohort/<key>")
def cohort(lid: str, key: str) -> Response:
    launch, ctx = _course(lid)
    framework = context.framework(key)
    session = context.db()
    report = cohorts.cohort_report(session, ctx.id, framework)
    people = cohorts.people(session, ctx.id, framework.key)
    by_state: dict[str, list[cohorts.PersonState]] = {
        cohorts.NOT_STARTED: [], cohorts.STARTED: [], cohorts.SUBMITTED: []}
    for person in people:
        by_state[person.state].append(person)
    user, _ctx = load_people(launch)
    rosters.ensure_fresh(session, ctx, settings=context.settings(),
                         secret_key=context.secret_key())
    return Response(render_template(
        "facilitator/cohort.html", lid=lid, user=user, course=ctx, framework=framework,
        report=report, by_state=by_state, shown=PEOPLE_SHOWN, min_group=cohorts.MIN_GROUP,
        frameworks=frameworks.registry(), roster=rosters.view(session, ctx, PEOPLE_SHOWN)))


@bp.post("/app/<lid>/roster/refresh")
def roster_refresh(lid: str) -> BaseResponse:
    """Read the course roster from the platform now (the cohort view's refresh button)."""
    _launch, ctx = _course(lid)
    rosters.refresh(context.db(), ctx, settings=context.settings(),
                    secret_key=context.secret_key())
    key = request.form.get("framework", "")
    if frameworks.get(key) is None:
        key = next(iter(frameworks.registry()))
    return redirect(url_for("facilitator.cohort", lid=lid, key=key) + "#roster-h", code=303)


@bp.get("/app/<lid>/grades")
def grade_sync(lid: str) -> Response:
    """Grade sync status: each learner's scores, sent, pending or failed with the reason."""
    launch, ctx = _course(lid)
    session = context.db()
    user, _ctx = load_people(launch)
    return Response(render_template(
        "facilitator/grades.html", lid=lid, user=user, course=ctx,
        summary=grade_status.summary(session, ctx.id),
        learners=grade_status.by_learner(session, ctx.id),
        gradebook=bool(((ctx.services or {}).get("ags") or {}).get("scope"))))


@bp.post("/app/<lid>/grades/retry")
def grade_retry(lid: str) -> BaseResponse:
    """Send this course's failed scores again (dead ones, and those waiting to retry)."""
    _launch, ctx = _course(lid)
    grade_status.retry(context.db(), context_id=ctx.id, include_failing=True)
    return redirect(url_for("facilitator.grade_sync", lid=lid), code=303)


@bp.get("/app/<lid>/cohort/<key>.csv")
def cohort_csv(lid: str, key: str) -> Response:
    _launch, ctx = _course(lid)
    framework = context.framework(key)
    report = cohorts.cohort_report(context.db(), ctx.id, framework)
    body = exports.cohort_csv(report, i18n.current_language())
    name = exports.filename("cohort", framework.key, ctx.label or ctx.context_id) + ".csv"
    return Response("\ufeff" + body, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{name}"'})
