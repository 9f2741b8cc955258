"""The institutional admin's area (an LTI launch with an administrator role): their own
registration and its deployments only — every id in a URL or form is checked against the
launch's registration."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from lti_service.lti.roles import AppRole
from lti_service.models import Registration
from lti_service.registrations import set_deployment_active
from lti_service.web import context, launch_session
from lti_service.web.learner import load_people

bp = Blueprint("admin", __name__)
log = logging.getLogger(__name__)


def _require_admin(lid: str) -> launch_session.LaunchContext:
    launch = launch_session.resolve(lid)
    if launch.app_role != AppRole.ADMIN:
        abort(403, description="This page is for the platform's administrators.")
    return launch


@bp.get("/app/<lid>/admin")
def home(lid: str) -> Response:
    launch = _require_admin(lid)
    user, ctx = load_people(launch)
    registration = context.db().get(Registration, launch.registration_id)
    if registration is None:
        abort(404)
    base = context.base_url()
    return Response(render_template("admin/home.html", lid=lid, user=user, course=ctx,
                                    registration=registration, base=base))


@bp.post("/app/<lid>/admin/deployments/<int:dep_id>/state")
def deployment_state(lid: str, dep_id: int) -> BaseResponse:
    launch = _require_admin(lid)
    action = request.form.get("action")
    if action not in ("activate", "deactivate"):
        abort(400, description="Unknown action.")
    registration = context.db().get(Registration, launch.registration_id)
    if registration is None or not registration.is_active:
        abort(403, description="Only an active registration's deployments can be changed.")
    try:
        set_deployment_active(context.db(), launch.registration_id, dep_id,
                              action == "activate")
    except LookupError:
        log.warning("admin tried another registration's deployment",
                    extra={"registration_id": launch.registration_id, "deployment": dep_id})
        abort(404, description="Your platform has no such deployment.")
    return redirect(url_for("admin.home", lid=lid), code=303)
