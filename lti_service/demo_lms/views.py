"""HTTP face of the demo LMS: course page, launch frame, OIDC auth, JWKS, token, Deep Linking.

Views only adapt requests to :mod:`lti_service.demo_lms.platform`; the tool is reached over
real HTTP (its JWKS is fetched with ``requests``), so the server must handle concurrent
requests (threaded dev server or more than one worker).
"""

from __future__ import annotations

from typing import Any

import jwt
import requests
from flask import Blueprint, Response, current_app, jsonify, render_template, request, url_for
from sqlalchemy import select

from lti_service.demo_lms import get_platform
from lti_service.demo_lms.platform import (
    COURSE,
    DEEP_LINKING_REQUEST,
    DL,
    ENROLLED_ONLY,
    RESOURCE_LINK_REQUEST,
    ROSTER,
    DemoClient,
    PlatformError,
)
from lti_service.demo_lms.registration import (
    RegistrationTokens,
    openid_configuration,
    registration_reply,
    validate_registration,
)
from lti_service.models import DemoLmsLink, DemoLmsTool
from lti_service.web.context import base_url, db
from lti_service.web.extensions import csrf

bp = Blueprint("demo_lms", __name__, url_prefix="/demo-lms")

ROLE_LABELS = {"learner": "learner", "learner2": "second learner",
               "facilitator": "facilitator", "admin": "admin"}


def _error(title: str, message: str, status: int = 400) -> tuple[str, int]:
    return render_template("demo_lms/error.html", title=title, message=message,
                           course=COURSE), status


def _fetch_tool_jwks() -> dict[str, Any]:
    response = requests.get(f"{base_url()}/.well-known/jwks.json", timeout=5)
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


_TOKENS: dict[str, RegistrationTokens] = {}


def _registration_tokens() -> RegistrationTokens:
    from lti_service.web.context import secret_key

    key = secret_key()
    if key not in _TOKENS:
        _TOKENS[key] = RegistrationTokens(key)
    return _TOKENS[key]


def _client(client_id: str) -> DemoClient | None:
    tool = db().scalars(select(DemoLmsTool).where(DemoLmsTool.client_id == client_id)).first()
    return _as_client(tool) if tool else None


def _as_client(tool: DemoLmsTool) -> DemoClient:
    return DemoClient(client_id=tool.client_id, deployment_id=tool.deployment_id,
                      login_url=tool.initiate_login_uri,
                      redirect_uris=tuple(tool.redirect_uris),
                      target_link_uri=tool.target_link_uri)


@bp.get("/")
def index() -> str:
    links = db().scalars(select(DemoLmsLink).order_by(DemoLmsLink.id)).all()
    return render_template("demo_lms/index.html", course=COURSE, roster=ROSTER,
                           role_labels=ROLE_LABELS, links=links, platform=get_platform(),
                           enrolled_only=ENROLLED_ONLY)


@bp.get("/launch")
def launch() -> str | tuple[str, int]:
    user_key = request.args.get("user", "learner")
    if user_key not in ROSTER:
        return _error("Unknown user", f"There is no demo user {user_key!r}; use one of "
                      + ", ".join(ROSTER) + ".")
    mode = request.args.get("mode", "")
    link_arg = request.args.get("link", "")
    if mode not in ("", "deeplink") or (mode and link_arg):
        return _error("Invalid launch", "mode must be 'deeplink' and cannot be combined "
                      "with link.")
    platform = get_platform()
    spec: dict[str, Any] = {"locale": request.args.get("locale", "en"),
                            "lms_url": url_for("demo_lms.index", _external=True)}
    link: DemoLmsLink | None = None
    tool_arg = request.args.get("tool", "")
    if tool_arg:
        tool = db().get(DemoLmsTool, int(tool_arg)) if tool_arg.isdigit() else None
        if tool is None:
            return _error("Unknown tool", f"No tool {tool_arg!r} is registered.", 404)
        spec["client"] = _as_client(tool)
    if link_arg:
        link = db().get(DemoLmsLink, int(link_arg)) if link_arg.isdigit() else None
        if link is None:
            return _error("Unknown content item", f"No content item {link_arg!r} in this "
                          "course.", 404)
        custom = link.item.get("custom") if isinstance(link.item, dict) else None
        spec.update(target_link_uri=link.url, resource_link_id=f"demo-link-{link.id}",
                    title=link.title, custom=custom if isinstance(custom, dict) else None)
        column = services.column_for_link(link.id)
        if column is not None:  # the link's grade column, sent as the coupled AGS lineitem
            spec["lineitem"] = services.line_item_url(column)
    message_type = DEEP_LINKING_REQUEST if mode == "deeplink" else RESOURCE_LINK_REQUEST
    try:
        login_url = platform.login_initiation_url(user_key, message_type, **spec)
    except PlatformError as exc:
        return _error("Invalid launch", exc.message)
    return render_template("demo_lms/launch.html", course=COURSE, user=ROSTER[user_key],
                           role_label=ROLE_LABELS[user_key], link=link, login_url=login_url,
                           deep_linking=message_type == DEEP_LINKING_REQUEST)


@bp.route("/auth", methods=["GET", "POST"])
@csrf.exempt
def auth() -> Response | tuple[str, int]:
    try:
        result = get_platform().authorize(request.values.to_dict(), clients=_client)
    except PlatformError as exc:
        current_app.logger.warning("demo LMS refused an authentication request: %s", exc)
        return _error("Login refused", f"{exc.message} ({exc.code})")
    response = Response(render_template("demo_lms/auto_post.html", action=result.redirect_uri,
                                        fields={"id_token": result.id_token,
                                                "state": result.state}))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/jwks")
def jwks() -> Response:
    response = jsonify(get_platform().jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.post("/token")
@csrf.exempt
def token() -> Response:
    body, status = get_platform().token_endpoint(request.form.to_dict(), _fetch_tool_jwks)
    if status != 200:
        current_app.logger.warning("demo LMS token request refused: %s", body)
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@bp.get("/stats")
def stats() -> Response:
    """Counters for benchmarks that run the server in another process."""
    platform = get_platform()
    return jsonify({"token_requests": platform.token_requests,
                    "tokens_issued": platform.tokens_issued})


@bp.post("/deep-link-return")
@csrf.exempt
def deep_link_return() -> str | tuple[str, int]:
    token_str = request.form.get("JWT", "")
    if not token_str:
        return _error("Deep Linking failed", "The tool sent no JWT form field.")
    try:
        items = get_platform().verify_deep_linking_response(token_str, _fetch_tool_jwks)
    except PlatformError as exc:
        current_app.logger.warning("demo LMS refused a Deep Linking response: %s", exc)
        return _error("Deep Linking failed", exc.message)
    session = db()
    for item in items:
        link = DemoLmsLink(title=str(item["title"])[:255], url=item["url"], item=item)
        session.add(link)
        session.flush()
        services.create_deep_linking_column(link.id, item)  # a lineItem makes a grade column
    # Verified above; read the messages for the user and the course page to return to.
    claims = jwt.decode(token_str, options={"verify_signature": False})
    data = get_platform().deep_linking_data(claims[DL + "data"])
    course_url = data.get("lms") or url_for("demo_lms.index")
    return render_template("demo_lms/deep_link_done.html", count=len(items), items=items,
                           msg=claims.get(DL + "msg"), errormsg=claims.get(DL + "errormsg"),
                           course_url=course_url, course=COURSE)


# --- Dynamic Registration, the platform's side ---------------------------------------------


@bp.get("/admin/tools")
def tools() -> str:
    """Registered tools, and "register a tool by URL" (what Moodle's admin page offers)."""
    rows = db().scalars(select(DemoLmsTool).order_by(DemoLmsTool.id)).all()
    return render_template("demo_lms/tools.html", course=COURSE, tools=rows,
                           default_url=f"{base_url()}/lti/register")


@bp.get("/admin/register")
def start_registration() -> str | tuple[str, int]:
    tool_url = request.args.get("tool_url", "").strip()
    if not tool_url.startswith(("http://", "https://")):
        return _error("Invalid tool URL", "The tool's registration URL must be an http(s) URL.")
    platform = get_platform()
    token = _registration_tokens().issue()
    separator = "&" if "?" in tool_url else "?"
    from urllib.parse import urlencode, urlsplit

    frame_url = tool_url + separator + urlencode({
        "openid_configuration": f"{platform.issuer}/.well-known/openid-configuration",
        "registration_token": token,
    })
    parts = urlsplit(tool_url)
    return render_template("demo_lms/register_tool.html", course=COURSE, frame_url=frame_url,
                           tool_origin=f"{parts.scheme}://{parts.netloc}")


def _bearer_ok(consume: bool) -> bool:
    header = request.headers.get("Authorization", "")
    token = header[len("Bearer "):] if header.startswith("Bearer ") else ""
    return bool(token) and _registration_tokens().check(token, consume=consume)


@bp.get("/.well-known/openid-configuration")
def openid_config() -> Response:
    if not _bearer_ok(consume=False):
        response = jsonify({"error": "invalid_token"})
        response.status_code = 401
        return response
    return jsonify(openid_configuration(get_platform().issuer))


@bp.post("/register")
@csrf.exempt
def register() -> Response:
    if not _bearer_ok(consume=False):
        response = jsonify({"error": "invalid_token",
                            "error_description": "registration token missing, expired or used"})
        response.status_code = 401
        return response
    try:
        new_tool = validate_registration(request.get_json(silent=True))
    except PlatformError as exc:
        current_app.logger.warning("demo LMS refused a registration: %s", exc)
        response = jsonify({"error": exc.code, "error_description": exc.message})
        response.status_code = 400
        return response
    _bearer_ok(consume=True)
    row = DemoLmsTool(client_id=new_tool.client_id, deployment_id="", name=new_tool.name,
                      initiate_login_uri=new_tool.initiate_login_uri,
                      target_link_uri=new_tool.target_link_uri, jwks_uri=new_tool.jwks_uri,
                      redirect_uris=new_tool.redirect_uris, registration=new_tool.registration)
    db().add(row)
    db().flush()
    row.deployment_id = str(row.id)  # Moodle: the deployment id is the tool type's id
    return jsonify(registration_reply(new_tool, row.deployment_id))


# The AGS and NRPS endpoints and the gradebook page live in their own module, on this blueprint.
from lti_service.demo_lms import services  # noqa: E402
