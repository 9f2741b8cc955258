"""The two steps of every launch (OIDC login, launch POST), free of any web framework.

Both the Flask views (``web/lti.py``) and the WSGI hot path (``web/hot_path.py``) run these,
so a launch is validated, recorded, routed and logged the same way whichever of them answers.
``services`` is the app's ``extensions["lti_service"]`` dict, built by ``create_app``.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import Connection

from lti_service.db import session_scope
from lti_service.launch_records import LaunchRecord, record_launch
from lti_service.lti import claims as c
from lti_service.lti.errors import LaunchError
from lti_service.lti.launch import BrowserProof, ValidatedLaunch, validate_launch
from lti_service.lti.oidc import LoginResult, purge_expired, start_login
from lti_service.lti.roles import AppRole, classify
from lti_service.placements import placement_for_path
from lti_service.web import launch_session
from lti_service.web.context import run_hot_on

log = logging.getLogger("lti_service.web.lti")
PURGE_ONE_IN = 200  # expired logins and nonces are swept by roughly one login in 200
DEEP_LINKING_ENDPOINT = "lti.deep_linking"


@dataclass(frozen=True)
class AcceptedLaunch:
    """A launch that passed every check and is recorded: where it goes, under which lid."""

    endpoint: str
    lid: str


def begin_login(services: dict[str, Any], params: dict[str, str],
                browser_id: str | None) -> LoginResult:
    """Validate a login initiation (raises LaunchError); now and then sweep expired nonces."""
    result = start_login(
        params,
        registry=services["registry"],
        codec=services["state_codec"],
        base_url=services["settings"].effective_base_url,
        browser_id=browser_id,
    )
    if secrets.randbelow(PURGE_ONE_IN) == 0:
        with session_scope(services["session_factory"]) as session:
            purge_expired(session)
    return result


def route(validated: ValidatedLaunch) -> str:
    """The view a launch opens: decided from the message type and target_link_uri."""
    role = classify(validated.claims.get(c.ROLES) or [])
    if validated.message_type == c.DEEP_LINKING_REQUEST:
        if role == AppRole.LEARNER:
            raise LaunchError(
                "deep_linking_forbidden",
                "Only teachers and facilitators can add Quality Club content to a course.",
                status=403,
            )
        return DEEP_LINKING_ENDPOINT
    path = urlsplit(validated.target_link_uri).path if validated.target_link_uri else ""
    placement = placement_for_path(path)
    if placement is None:
        raise LaunchError(
            "unknown_placement",
            "This link points at a part of Quality Club that does not exist (any more). "
            "Ask your teacher to place the tool again.",
            status=404,
        )
    return placement.endpoint


def accept_launch(services: dict[str, Any], form: dict[str, str],
                  browser_id: str | None) -> AcceptedLaunch:
    """Validate, record and route a launch POST; raises LaunchError or NeedsBrowserProof
    (nothing stored) when it cannot be accepted."""
    settings = services["settings"]
    proof = BrowserProof(browser_id=browser_id,
                         storage_secret=form.get("qc_storage_secret") or None)

    def work(conn: Connection) -> tuple[ValidatedLaunch, LaunchRecord, Callable[[], None]]:
        validated = validate_launch(
            conn, form, proof,
            keys=services["keys"],
            registry=services["registry"],
            codec=services["state_codec"],
            base_url=settings.effective_base_url,
            leeway=settings.jwt_leeway,
            login_lifetime=settings.login_lifetime,
            before_consume=route,
        )
        return (validated, *record_launch(conn, validated))

    validated, record, committed = run_hot_on(services, work)
    endpoint = route(validated)
    committed()
    claims = validated.claims
    presentation = claims.get(c.LAUNCH_PRESENTATION) or {}
    launch = launch_session.LaunchContext(
        user_id=record.user_id,
        registration_id=validated.registration.id,
        context_id=record.context_pk,
        role=record.role.value,
        deployment_id=record.deployment_pk,
        resource_link_id=record.resource_link_pk,
        target=validated.target_link_uri,
        locale=(presentation.get("locale") if isinstance(presentation, dict) else None)
        or claims.get("locale"),
        deep_linking=dict(claims[c.DL_SETTINGS])
        if validated.message_type == c.DEEP_LINKING_REQUEST else None,
    )
    lid = launch_session.store(launch, browser_id=proof.browser_id,
                               signer=services["launch_signer"])
    log.info("lti launch accepted", extra={
        "registration_id": validated.registration.id,
        "message_type": validated.message_type,
        "role": record.role.value,
        "user_id": record.user_id,
    })
    return AcceptedLaunch(endpoint=endpoint, lid=lid)
