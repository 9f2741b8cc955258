"""The learner's area; also the role dispatch every launch ends in."""

from __future__ import annotations

from flask import Blueprint, Response, abort, redirect, render_template, url_for
from werkzeug.wrappers import Response as BaseResponse

from lti_service.lti.roles import AppRole
from lti_service.models import Context, User
from lti_service.web import context, launch_session

bp = Blueprint("learner", __name__)

HOME_ENDPOINTS = {
    AppRole.LEARNER: "learner.home",
    AppRole.FACILITATOR: "facilitator.home",
    AppRole.ADMIN: "admin.home",
}


@bp.get("/app/<lid>/")
def home_dispatch(lid: str) -> BaseResponse:
    launch = launch_session.resolve(lid)
    return redirect(url_for(HOME_ENDPOINTS[launch.app_role], lid=lid), code=303)


def load_people(launch: launch_session.LaunchContext) -> tuple[User, Context | None]:
    """The session's user and context, checked against the session's platform."""
    session = context.db()
    user = session.get(User, launch.user_id)
    if user is None or user.registration_id != launch.registration_id:
        abort(401)
    ctx = session.get(Context, launch.context_id) if launch.context_id else None
    if ctx is not None and ctx.registration_id != launch.registration_id:
        abort(403)
    return user, ctx


@bp.get("/app/<lid>/learner")
def home(lid: str) -> Response:
    launch = launch_session.resolve(lid)
    user, ctx = load_people(launch)
    return Response(render_template("learner/home.html", lid=lid, user=user, course=ctx,
                                    launch=launch))
