"""The institutional admin's area: their own registration and its deployments only."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template

from lti_service.lti.roles import AppRole
from lti_service.models import Registration
from lti_service.web import context, launch_session
from lti_service.web.learner import load_people

bp = Blueprint("admin", __name__)


@bp.get("/app/<lid>/admin")
def home(lid: str) -> Response:
    launch = launch_session.resolve(lid)
    if launch.app_role != AppRole.ADMIN:
        abort(403, description="This page is for the platform's administrators.")
    user, ctx = load_people(launch)
    registration = context.db().get(Registration, launch.registration_id)
    if registration is None:
        abort(404)
    base = context.base_url()
    return Response(render_template("admin/home.html", lid=lid, user=user, course=ctx,
                                    registration=registration, base=base))
