"""The facilitator's area (LMS instructors)."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template
from sqlalchemy import func, select

from lti_service.lti.roles import AppRole
from lti_service.models import Membership
from lti_service.web import context, launch_session
from lti_service.web.learner import load_people

bp = Blueprint("facilitator", __name__)


def require_facilitator(lid: str) -> launch_session.LaunchContext:
    launch = launch_session.resolve(lid)
    if launch.app_role not in (AppRole.FACILITATOR, AppRole.ADMIN):
        abort(403, description="This page is for the course's facilitators.")
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
                                    counts=counts, launch=launch))
