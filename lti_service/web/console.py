"""The operator's registrations console: every registration, its deployments, state, last
launch and key status; approve, deactivate, rotate keys. Operators sign in with an account
made by ``lti-service admin create``; this is the only place that sees every platform."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import (
    Blueprint,
    Response,
    abort,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from lti_service.lti import keys as tool_keys
from lti_service.models import Operator, PlatformKeySet, Registration
from lti_service.operators import authenticate
from lti_service.registrations import set_deployment_active, set_registration_state
from lti_service.web import context

bp = Blueprint("console", __name__, url_prefix="/console")
log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


def operator_required(view: F) -> F:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        operator_id = session.get("operator_id")
        operator = context.db().get(Operator, operator_id) if operator_id else None
        if operator is None:
            return redirect(url_for("console.login", next=request.path), code=303)
        g.operator = operator
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@bp.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse:
    error = None
    status = 200
    if request.method == "POST":
        operator = authenticate(context.db(), request.form.get("username", ""),
                                request.form.get("password", ""))
        if operator is not None:
            session.clear()
            session["operator_id"] = operator.id
            session.permanent = True
            log.info("operator signed in", extra={"operator": operator.username})
            target = request.args.get("next", "")
            if not target.startswith("/console/") or target.startswith("//"):
                target = url_for("console.index")
            return redirect(target, code=303)
        g.commit_despite_error = True  # keep the failure count for the lock-out
        log.warning("operator sign-in failed", extra={"username": request.form.get("username")})
        error = "Wrong username or password, or the account is locked for a few minutes."
        status = 401
    return Response(render_template("console/login.html", error=error), status=status)


@bp.post("/logout")
def logout() -> BaseResponse:
    session.pop("operator_id", None)
    return redirect(url_for("console.login"), code=303)


def _key_status(registrations: list[Registration]) -> dict[str, PlatformKeySet]:
    urls = [r.key_set_url for r in registrations]
    rows = context.db().scalars(select(PlatformKeySet).where(PlatformKeySet.url.in_(urls)))
    return {row.url: row for row in rows}


@bp.get("/")
@operator_required
def index() -> Response:
    registrations = list(context.db().scalars(
        select(Registration).order_by(Registration.state != "pending", Registration.id)))
    return Response(render_template(
        "console/index.html", registrations=registrations,
        key_sets=_key_status(registrations),
        tool_keys=tool_keys.published_keys(context.db())))


@bp.get("/registrations/<int:reg_id>")
@operator_required
def detail(reg_id: int) -> Response:
    registration = context.db().get(Registration, reg_id)
    if registration is None:
        abort(404, description="There is no such registration.")
    return Response(render_template("console/detail.html", r=registration,
                                    key_sets=_key_status([registration])))


@bp.post("/registrations/<int:reg_id>/state")
@operator_required
def set_state(reg_id: int) -> BaseResponse:
    action = request.form.get("action")
    if action not in ("activate", "deactivate"):
        abort(400, description="Unknown action.")
    try:
        set_registration_state(context.db(), reg_id, action == "activate", [])
    except LookupError:
        abort(404, description="There is no such registration.")
    context.state()["frame_ancestors"].clear()
    log.info("registration state changed", extra={"registration_id": reg_id, "action": action,
                                                  "operator": g.operator.username})
    return redirect(url_for("console.detail", reg_id=reg_id), code=303)


@bp.post("/registrations/<int:reg_id>/deployments/<int:dep_id>/state")
@operator_required
def set_deployment_state(reg_id: int, dep_id: int) -> BaseResponse:
    action = request.form.get("action")
    if action not in ("activate", "deactivate"):
        abort(400, description="Unknown action.")
    try:
        set_deployment_active(context.db(), reg_id, dep_id, action == "activate")
    except LookupError:
        abort(404, description="There is no such deployment in this registration.")
    log.info("deployment state changed", extra={"registration_id": reg_id,
                                                "deployment": dep_id, "action": action})
    return redirect(url_for("console.detail", reg_id=reg_id), code=303)


@bp.post("/keys/rotate")
@operator_required
def rotate_keys() -> BaseResponse:
    key = tool_keys.create_key(context.db(), context.secret_key())
    log.info("tool key rotated", extra={"kid": key.kid, "operator": g.operator.username})
    return redirect(url_for("console.index"), code=303)
