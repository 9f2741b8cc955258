"""OIDC third-party login initiation (the first leg of every LTI 1.3 launch).

Nothing is written: the state is a signed token (``login_state.py``) that any instance can
check, so the launch may land on another instance. The browser is bound by one cookie
holding a random browser id (one cookie however many launches: no growing Cookie header),
or, where the platform offers it, by a secret kept in LTI platform storage.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from sqlalchemy import delete
from sqlalchemy.orm import Session

from lti_service.db import utcnow
from lti_service.lti.errors import LaunchError
from lti_service.lti.login_state import LoginState, StateCodec
from lti_service.lti.registry import RegistrationInfo, Registry
from lti_service.models import RegistrationState, UsedNonce

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
    nonce: str
    browser_id: str
    # Set when the platform offers LTI platform storage: the page must put the secret there.
    storage_target: str | None
    storage_secret: str | None
    storage_origin: str | None


def purge_expired(session: Session) -> int:
    """Drop spent nonces whose state and id_token could no longer be accepted anyway."""
    removed = session.execute(delete(UsedNonce).where(UsedNonce.expires_at < utcnow()))
    return int(getattr(removed, "rowcount", 0) or 0)


def find_registration(registry: Registry, issuer: str, client_id: str | None,
                      fresh: bool = False) -> RegistrationInfo:
    """The registration for (issuer, client_id); client_id may be omitted if unambiguous."""
    found = registry.find(issuer, client_id, fresh=fresh)
    if not found and not fresh:
        found = registry.find(issuer, client_id, fresh=True)
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
    params: dict[str, str],
    *,
    registry: Registry,
    codec: StateCodec,
    base_url: str,
    browser_id: str | None,
) -> LoginResult:
    """Validate a login initiation and build the platform auth redirect; writes nothing."""
    for name in LOGIN_PARAMS:
        if len(params.get(name, "")) > MAX_PARAM_LENGTH:
            raise LaunchError("bad_login_request", "The parameter %(name)s is too long.",
                              name=name)
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
    client_id = params.get("client_id") or None
    registration = find_registration(registry, issuer, client_id)
    if registration.state != RegistrationState.ACTIVE.value:
        registration = find_registration(registry, issuer, client_id, fresh=True)
        check_registration_usable(registration.state)

    nonce = secrets.token_urlsafe(24)
    had_cookie = bool(browser_id) and len(str(browser_id)) <= 64
    browser_id = str(browser_id) if had_cookie else secrets.token_urlsafe(24)
    storage_target = params.get("lti_storage_target") or None
    storage_origin = None
    if storage_target:
        parts = urlsplit(registration.auth_login_url)
        storage_origin = f"{parts.scheme}://{parts.netloc}"
    # A browser that brought no cookie may not keep ours either: carry what the fallbacks
    # (platform storage, a new window) need in the state itself.
    fallback = not had_cookie or storage_target is not None
    state = codec.encode(LoginState(
        registration_id=registration.id,
        nonce=nonce,
        browser_mac=codec.browser_mac(browser_id),
        storage_target=storage_target if fallback else None,
        storage_origin=storage_origin if fallback else None,
        login_params={k: params[k] for k in LOGIN_PARAMS
                      if params.get(k) and k != "lti_storage_target"} if fallback else None,
    ))
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
        nonce=nonce,
        browser_id=browser_id,
        storage_target=storage_target,
        storage_secret=codec.storage_secret(nonce) if storage_target else None,
        storage_origin=storage_origin,
    )
