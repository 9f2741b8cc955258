"""The LTI surface (interface, see design.md §3): login, launch, JWKS, Deep Linking."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Response,
    abort,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale, gettext
from werkzeug.wrappers import Response as BaseResponse

from lti_service.lti import keys as tool_keys
from lti_service.lti.deep_linking import build_response, content_item
from lti_service.lti.errors import LaunchError
from lti_service.lti.launch import NeedsBrowserProof, record_unknown_deployment
from lti_service.lti.oidc import LoginResult
from lti_service.lti.roles import AppRole
from lti_service.placements import in_language, placements
from lti_service.web import context, launch_session
from lti_service.web.extensions import csrf
from lti_service.web.hot_path import HOT_OUTCOME
from lti_service.web.launch_flow import accept_launch, begin_login
from lti_service.web.security import BIND_COOKIE, set_cookie

bp = Blueprint("lti", __name__)
log = logging.getLogger(__name__)


@bp.get("/.well-known/jwks.json")
@bp.get("/lti/jwks")
def jwks() -> Response:
    response = jsonify(tool_keys.jwks(context.db()))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.route("/lti/login", methods=["GET", "POST"])
@csrf.exempt
def login() -> BaseResponse:
    outcome = request.environ.pop(HOT_OUTCOME, None)
    if isinstance(outcome, BaseException):  # the hot path's error, to be answered here
        raise outcome
    if isinstance(outcome, LoginResult):
        result = outcome
    else:
        params = {k: v for k, v in request.values.items() if isinstance(v, str)}
        result = begin_login(context.state(), params, request.cookies.get(BIND_COOKIE))
    if result.storage_target:
        response: BaseResponse = Response(render_template(
            "lti/storage_login.html",
            redirect_url=result.redirect_url,
            target=result.storage_target,
            origin=result.storage_origin,
            key=storage_key(result.nonce),
            value=result.storage_secret,
        ))
    else:
        response = redirect(result.redirect_url, code=302)
    set_cookie(response, BIND_COOKIE, result.browser_id,
               max_age=context.settings().session_lifetime)
    return response


@bp.post("/lti/launch")
@csrf.exempt
def launch() -> BaseResponse:
    """The launches the hot path did not answer: its refusals (handed over in the environ),
    and bodies it leaves to Werkzeug (multipart, chunked, oversized)."""
    form = {k: v for k, v in request.form.items() if isinstance(v, str)}
    outcome = request.environ.pop(HOT_OUTCOME, None)
    try:
        if isinstance(outcome, BaseException):
            raise outcome
        accepted = accept_launch(context.state(), form, request.cookies.get(BIND_COOKIE))
    except NeedsBrowserProof as need:
        return _browser_proof_page(need, form)
    except LaunchError as err:
        if err.code == "unknown_deployment":
            with context.session_factory()() as own:
                record_unknown_deployment(own, int(err.details["registration_id"]),
                                          err.details["deployment_id"])
        raise
    return redirect(url_for(accepted.endpoint, lid=accepted.lid), code=303)


def storage_key(nonce: str) -> str:
    """The key under which the login's secret is kept in LTI platform storage."""
    return f"qc_{nonce[:16]}"


def _browser_proof_page(need: NeedsBrowserProof, form: dict[str, str]) -> Response:
    login = need.login
    if login.storage_target and not form.get("qc_storage_attempted"):
        log.info("launch cookie missing: asking platform storage")
        return Response(render_template(
            "lti/storage_launch.html",
            target=login.storage_target,
            origin=login.storage_origin,
            key=storage_key(login.nonce),
            id_token=form.get("id_token", ""),
            state=form.get("state", ""),
        ))
    log.warning("launch cookie missing: offering a new window", extra={"code": "cookies_blocked"})
    params = dict(login.login_params)
    params.pop("lti_storage_target", None)
    new_window_url = url_for("lti.login") + "?" + urlencode(params)
    return Response(
        render_template("lti/new_window.html", new_window_url=new_window_url), status=401
    )


@bp.get("/lti/launch")
@bp.get("/lti/launch/<path:placement>")
def launch_get(placement: str = "") -> Response:
    """A person who opens a launch URL directly gets an explanation, not a 405."""
    return Response(render_template("lti/launch_direct.html"), status=400)


@bp.route("/app/<lid>/deep-linking", methods=["GET", "POST"])
def deep_linking(lid: str) -> Response:
    launch = launch_session.resolve(lid)
    if launch.deep_linking is None or launch.app_role == AppRole.LEARNER:
        abort(403, description=gettext("This page is only available in a Deep Linking launch."))
    settings = launch.deep_linking
    language = str(get_locale() or "en")
    offered = [(p.key, in_language(p, language, gettext)) for p in placements() if p.offered]
    if request.method == "GET":
        return Response(render_template(
            "lti/deep_linking.html", lid=lid, placements=offered,
            accept_multiple=bool(settings.get("accept_multiple", True)),
        ))
    chosen = request.form.getlist("placement")
    selected = [item for key, item in offered if key in chosen]
    if not selected:
        abort(400, description=gettext("Choose at least one item to add to the course."))
    if not settings.get("accept_multiple", True) and len(selected) > 1:
        abort(400, description=gettext("This course accepts only one item at a time."))
    session = context.db()
    from lti_service.models import Deployment, Registration

    registration = session.get(Registration, launch.registration_id)
    deployment = session.get(Deployment, launch.deployment_id)
    if registration is None or deployment is None:
        abort(404)
    base = context.base_url()
    token = build_response(
        signer=tool_keys.signer(session, context.secret_key()),
        client_id=registration.client_id,
        issuer=registration.issuer,
        deployment_id=deployment.deployment_id,
        settings=settings,
        items=[content_item(item, base) for item in selected],
    )
    log.info("deep linking response sent", extra={"items": len(selected),
                                                 "registration_id": registration.id})
    return Response(render_template(
        "lti/deep_linking_return.html", return_url=settings["deep_link_return_url"], jwt=token,
        count=len(selected),
    ))
