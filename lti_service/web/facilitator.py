"""The facilitator's area (LMS instructors): course home and the cohort overview.

Only the launch's own context is ever read: the context comes from the launch, never
from the URL, so a facilitator cannot ask for another course's cohort.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, redirect, render_template, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select
from werkzeug.wrappers import Response as BaseResponse

from lti_service.assessment import cohort as cohorts
from lti_service.assessment import exports, frameworks
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
    framework = frameworks.get(key)
    if framework is None:
        abort(404, description=_("There is no such framework."))
    session = context.db()
    report = cohorts.cohort_report(session, ctx.id, framework)
    people = cohorts.people(session, ctx.id, framework.key)
    by_state: dict[str, list[cohorts.PersonState]] = {
        cohorts.NOT_STARTED: [], cohorts.STARTED: [], cohorts.SUBMITTED: []}
    for person in people:
        by_state[person.state].append(person)
    user, _ctx = load_people(launch)
    return Response(render_template(
        "facilitator/cohort.html", lid=lid, user=user, course=ctx, framework=framework,
        report=report, by_state=by_state, shown=PEOPLE_SHOWN, min_group=cohorts.MIN_GROUP,
        frameworks=frameworks.registry()))


@bp.get("/app/<lid>/cohort/<key>.csv")
def cohort_csv(lid: str, key: str) -> Response:
    _launch, ctx = _course(lid)
    framework = frameworks.get(key)
    if framework is None:
        abort(404, description=_("There is no such framework."))
    report = cohorts.cohort_report(context.db(), ctx.id, framework)
    body = exports.cohort_csv(report, i18n.current_language())
    name = exports.filename("cohort", framework.key, ctx.label or ctx.context_id) + ".csv"
    return Response("\ufeff" + body, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{name}"'})
