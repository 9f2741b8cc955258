"""How institutions connect the tool: Dynamic Registration and the manual-values page."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, jsonify, render_template, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select

from lti_service.lti import keys as tool_keys
from lti_service.lti.dynamic_registration import (
    CLAIMS,
    SCOPES,
    PlatformConfiguration,
    RegistrationError,
    fetch_platform_configuration,
    parse_platform_configuration,
    register,
    tool_registration_request,
)
from lti_service.models import Registration
from lti_service.registrations import (
    add_dynamic_registration,
    find_by_token,
    registration_policy_state,
)
from lti_service.web import context

bp = Blueprint("registration", __name__)
log = logging.getLogger(__name__)
PENDING_FORM_MAX_AGE = 1800


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(context.secret_key(), salt="dynamic-registration")


def _fail(err: RegistrationError, config_url: str | None) -> Response:
    log.warning("dynamic registration failed",
                extra={"code": err.code, "configuration_url": config_url or ""})
    origin = None
    if config_url:
        parts = urlsplit(config_url)
        origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else None
    html = render_template("registration/failed.html", error=err, origin=origin)
    return Response(html, status=err.status)


def _check_not_replayed(token: str | None) -> None:
    if token and find_by_token(context.db(), token) is not None:
        raise RegistrationError(
            "registration_replayed",
            "This registration has already been completed; the tool is registered. Start a "
            "new registration from your LMS if you need another one.",
            409,
        )


@bp.get("/lti/register")
def start() -> Response:
    url = request.args.get("openid_configuration", "").strip()
    token = request.args.get("registration_token", "").strip() or None
    if not url:
        return Response(render_template("registration/how_to.html",
                                        register_url=context.base_url() + "/lti/register"),
                        status=400)
    try:
        _check_not_replayed(token)
        config = fetch_platform_configuration(url, token)
    except RegistrationError as err:
        return _fail(err, url)
    settings = context.settings()
    state = registration_policy_state(config.issuer, settings.auto_activate,
                                      settings.trusted_issuer_patterns)
    body = tool_registration_request(context.base_url(), settings.tool_name,
                                     settings.tool_description, config)
    blob = _serializer().dumps({"url": url, "token": token, "config": config.raw})
    log.info("dynamic registration offered", extra={"issuer": config.issuer})
    return Response(render_template("registration/confirm.html", config=config, body=body,
                                    state=state.value, blob=blob))


@bp.post("/lti/register")
def complete() -> Response:
    try:
        data: dict[str, Any] = _serializer().loads(request.form.get("registration", ""),
                                                   max_age=PENDING_FORM_MAX_AGE)
    except SignatureExpired:
        return _fail(RegistrationError("registration_expired",
                                       "This registration page has expired. Start again from "
                                       "your LMS."), None)
    except BadSignature:
        return _fail(RegistrationError("registration_tampered",
                                       "The registration form was altered or is incomplete."),
                     None)
    url, token = str(data["url"]), data.get("token")
    session = context.db()
    settings = context.settings()
    try:
        _check_not_replayed(token)
        config: PlatformConfiguration = parse_platform_configuration(url, data["config"])
        body = tool_registration_request(context.base_url(), settings.tool_name,
                                         settings.tool_description, config)
        reply = register(config, token, body)
        if session.scalars(select(Registration.id).where(
                Registration.issuer == config.issuer,
                Registration.client_id == reply.client_id)).first() is not None:
            raise RegistrationError(
                "already_registered",
                f"The platform answered with client id {reply.client_id}, which is already "
                "registered with the tool. Nothing was changed.", 409)
    except RegistrationError as err:
        return _fail(err, url)
    state = registration_policy_state(config.issuer, settings.auto_activate,
                                      settings.trusted_issuer_patterns)
    registration = add_dynamic_registration(
        session,
        issuer=config.issuer,
        client_id=reply.client_id,
        deployment_id=reply.deployment_id,
        auth_login_url=config.authorization_endpoint,
        auth_token_url=config.token_endpoint,
        key_set_url=config.jwks_uri,
        auth_audience=config.token_endpoint_auth_audience,
        name=str(config.raw.get(
            "https://purl.imsglobal.org/spec/lti-platform-configuration", {}).get(
            "product_family_code") or urlsplit(config.issuer).netloc),
        platform_info=config.platform_info,
        token=token,
        state=state,
    )
    context.state()["frame_ancestors"].clear()
    log.info("dynamic registration stored", extra={
        "registration_id": registration.id, "issuer": config.issuer, "state": state.value})
    return Response(render_template("registration/done.html", registration=registration,
                                    origin=config.origin, deployment_id=reply.deployment_id))


def tool_values() -> dict[str, Any]:
    """Every value an admin types into an LMS for a manual registration."""
    base = context.base_url()
    settings = context.settings()
    launch = f"{base}/lti/launch"
    session = context.db()
    active = tool_keys.active_key(session)
    return {
        "title": settings.tool_name,
        "description": settings.tool_description,
        "tool_url": launch,
        "target_link_uri": launch,
        "initiate_login_uri": f"{base}/lti/login",
        "redirect_uris": [launch],
        "deep_linking_url": launch,
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "public_jwk": json.loads(active.public_jwk) if active else None,
        "dynamic_registration_url": f"{base}/lti/register",
        "domain": urlsplit(base).netloc,
        "lti_version": "1.3.0",
        "scopes": SCOPES,
        "claims": CLAIMS,
        "messages": ["LtiResourceLinkRequest", "LtiDeepLinkingRequest"],
        "canvas_configuration_url": f"{base}/lti/config/canvas.json",
    }


def _wants_html() -> bool:
    if request.args.get("format") == "json":
        return False
    if request.args.get("format") == "html":
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html" and request.accept_mimetypes["text/html"] > (
        request.accept_mimetypes["application/json"])


@bp.get("/lti/config")
def config() -> Response:
    values = tool_values()
    if _wants_html():
        return Response(render_template("registration/config.html", v=values))
    return jsonify(values)


@bp.get("/lti/config/canvas.json")
def canvas_config() -> Response:
    """A Canvas developer key (LTI 1.3) configuration, pasted as JSON in Canvas."""
    v = tool_values()
    return jsonify({
        "title": v["title"],
        "description": v["description"],
        "oidc_initiation_url": v["initiate_login_uri"],
        "target_link_uri": v["target_link_uri"],
        "public_jwk_url": v["jwks_uri"],
        "scopes": v["scopes"],
        "extensions": [{
            "domain": v["domain"],
            "platform": "canvas.instructure.com",
            "privacy_level": "public",
            "settings": {
                "text": v["title"],
                "placements": [
                    {"placement": "link_selection", "message_type": "LtiDeepLinkingRequest",
                     "target_link_uri": v["target_link_uri"]},
                    {"placement": "assignment_selection",
                     "message_type": "LtiDeepLinkingRequest",
                     "target_link_uri": v["target_link_uri"]},
                    {"placement": "course_navigation", "message_type": "LtiResourceLinkRequest",
                     "target_link_uri": v["target_link_uri"]},
                ],
            },
        }],
    })
