"""OIDC third-party login initiation (the first leg of every LTI 1.3 launch).

The login is remembered in the database (state, nonce, registration, the browser it came
from), never in process memory, so the launch may land on another instance. The browser
is bound by one cookie holding a random browser id (one cookie however many launches: no
growing Cookie header), or, where the platform offers it, by a secret kept in LTI platform
storage. The happy path is one SQL statement: the login row is inserted only if the
registration is active, in the same statement.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.orm import Session

from lti_service.db import utcnow
from lti_service.lti.errors import LaunchError
from lti_service.lti.registry import RegistrationInfo, Registry
from lti_service.models import OidcLogin, Registration, RegistrationState

LOGIN_PARAMS = (
    "iss",
    "login_hint",
    "target_link_uri",
    "lti_message_hint",
    "lti_deployment_id",
    "client_id",
    "lti_storage_target",
)
MAX_PARAM_LENGTH = 4096


@dataclass(frozen=True)
class LoginResult:
    redirect_url: str
    state: str
    browser_id: str
    # Set when the platform offers LTI platform storage: the page must put the secret there.
    storage_target: str | None
    storage_secret: str | None
    storage_origin: str | None


def _insert_login_statement() -> Any:
    """INSERT the login only if its registration is active: one statement, built once
    (Core, bound parameters), so the hot path neither builds SQL nor runs ORM bookkeeping."""
    columns = ["state", "nonce", "browser_id", "storage_secret", "storage_target",
               "storage_origin", "login_params", "created_at", "expires_at"]
    table = OidcLogin.__table__
    selected = [bindparam(name, type_=table.c[name].type) for name in columns]
    return (
        insert(OidcLogin)
        .from_select([*columns, "registration_id"],
                     select(*selected, Registration.id).where(
                         Registration.id == bindparam("registration_id"),
                         Registration.state == RegistrationState.ACTIVE.value))
        .returning(OidcLogin.state)
    )


_INSERT_LOGIN = _insert_login_statement()


def purge_expired(session: Session) -> int:
    """Drop logins past their lifetime (consumed or not, a launch can no longer use them)."""
    removed = session.execute(delete(OidcLogin).where(OidcLogin.expires_at < utcnow()))
    return int(getattr(removed, "rowcount", 0) or 0)


def find_registration(session: Session, registry: Registry, issuer: str,
                      client_id: str | None, fresh: bool = False) -> RegistrationInfo:
    """The registration for (issuer, client_id); client_id may be omitted if unambiguous."""
    found = registry.find(session, issuer, client_id, fresh=fresh)
    if not found and not fresh:
        found = registry.find(session, issuer, client_id, fresh=True)
    if not found:
        raise LaunchError(
            "unknown_platform",
            "This platform (issuer and client id) is not registered with the tool. An "
            "administrator must register it first.",
            status=403 if client_id else 400,
            issuer=issuer,
            client_id=client_id or "",
        )
    if len(found) > 1:
        raise LaunchError(
            "ambiguous_platform",
            "Several registrations share this issuer; the platform must send client_id.",
            status=400,
            issuer=issuer,
        )
    return found[0]


def check_registration_usable(state: str) -> None:
    if state == RegistrationState.PENDING.value:
        raise LaunchError(
            "registration_pending",
            "This platform's registration is waiting for approval by the tool's operator. "
            "Launches will work once it has been approved.",
            status=403,
        )
    if state != RegistrationState.ACTIVE.value:
        raise LaunchError(
            "registration_inactive",
            "This platform's registration has been deactivated by the tool's operator.",
            status=403,
        )


def _same_origin(url: str, base_url: str) -> bool:
    a, b = urlsplit(url), urlsplit(base_url)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


def start_login(
    session: Session,
    params: dict[str, str],
    *,
    registry: Registry,
    base_url: str,
    browser_id: str | None,
    lifetime: int,
) -> LoginResult:
    """Validate a login initiation, remember it, and build the platform auth redirect."""
    for name in LOGIN_PARAMS:
        if len(params.get(name, "")) > MAX_PARAM_LENGTH:
            raise LaunchError("bad_login_request", f"The parameter {name} is too long.")
    issuer = params.get("iss", "").strip()
    login_hint = params.get("login_hint", "")
    target = params.get("target_link_uri", "").strip()
    if not issuer:
        raise LaunchError("missing_iss", "The login request has no issuer (iss).")
    if not login_hint:
        raise LaunchError("missing_login_hint", "The login request has no login_hint.")
    if not target:
        raise LaunchError("missing_target_link_uri", "The login request has no target_link_uri.")
    if not _same_origin(target, base_url) or not urlsplit(target).path.startswith("/lti/launch"):
        raise LaunchError(
            "bad_target_link_uri",
            "The target link URI does not point at this tool's launch URL.",
            target=target,
        )
    registration = find_registration(session, registry, issuer,
                                     params.get("client_id") or None)
    if registration.state != RegistrationState.ACTIVE.value:
        registration = find_registration(session, registry, issuer,
                                         params.get("client_id") or None, fresh=True)
        check_registration_usable(registration.state)

    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    browser_id = browser_id if browser_id and len(browser_id) <= 64 else secrets.token_urlsafe(24)
    storage_target = params.get("lti_storage_target") or None
    storage_secret = secrets.token_urlsafe(24) if storage_target else None
    storage_origin = None
    if storage_target:
        parts = urlsplit(registration.auth_login_url)
        storage_origin = f"{parts.scheme}://{parts.netloc}"
    now = utcnow()
    inserted = session.connection().execute(_INSERT_LOGIN, {
        "state": state, "nonce": nonce, "registration_id": registration.id,
        "browser_id": browser_id, "storage_secret": storage_secret,
        "storage_target": storage_target, "storage_origin": storage_origin,
        "login_params": {k: params[k] for k in LOGIN_PARAMS if params.get(k)},
        "created_at": now, "expires_at": now + dt.timedelta(seconds=lifetime),
    }).first()
    if inserted is None:
        fresh = find_registration(session, registry, issuer, params.get("client_id") or None,
                                  fresh=True)
        check_registration_usable(fresh.state)
        raise LaunchError("registration_inactive", "This platform cannot launch right now.",
                          status=403)
    auth = {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": registration.client_id,
        "redirect_uri": f"{base_url}/lti/launch",
        "state": state,
        "nonce": nonce,
        "login_hint": login_hint,
    }
    if params.get("lti_message_hint"):
        auth["lti_message_hint"] = params["lti_message_hint"]
    separator = "&" if "?" in registration.auth_login_url else "?"
    return LoginResult(
        redirect_url=registration.auth_login_url + separator + urlencode(auth),
        state=state,
        browser_id=browser_id,
        storage_target=storage_target,
        storage_secret=storage_secret,
        storage_origin=storage_origin,
    )
