"""Validation of the launch (the id_token POSTed to ``/lti/launch``).

pylti1p3's ``MessageLaunch`` leaves gaps this project must close (see lti-notes.md): the
nonce is never consumed, ``azp`` is never checked, there is no clock leeway, the key set is
fetched per launch and never re-fetched on an unknown ``kid``, and it consumes the nonce
before the signature is checked. So the validation below is done in full here, in an order
where nothing is written before the token is proven authentic, and every failure has its
own code. pylti1p3's per-message-type claim validators run as the final check.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jwt
from pylti1p3.exception import LtiException
from pylti1p3.message_validators import get_validators
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lti_service.db import utcnow
from lti_service.lti import claims as c
from lti_service.lti.errors import LaunchError
from lti_service.lti.oidc import check_registration_usable
from lti_service.lti.platform_keys import KeyStore
from lti_service.lti.registry import RegistrationInfo, Registry
from lti_service.models import Deployment, OidcLogin, Registration

log = logging.getLogger(__name__)

ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512")
MAX_TOKEN_LENGTH = 64 * 1024


@dataclass(frozen=True)
class BrowserProof:
    """What the browser brought to prove it started the login."""

    browser_id: str | None = None  # from the binding cookie
    storage_secret: str | None = None  # read back from LTI platform storage


@dataclass(frozen=True)
class ValidatedLaunch:
    registration: RegistrationInfo
    deployment_id: str
    deployment_pk: int
    claims: dict[str, Any]

    @property
    def message_type(self) -> str:
        return str(self.claims[c.MESSAGE_TYPE])

    @property
    def target_link_uri(self) -> str:
        return str(self.claims.get(c.TARGET_LINK_URI) or "")


class NeedsBrowserProof(Exception):
    """The binding cookie did not come back; the caller must try platform storage or a new
    window (and roll back, so the login stays unconsumed). Carries the login for the page."""

    def __init__(self, login: LoginRow) -> None:
        super().__init__("browser binding missing")
        self.login = login


def _b64_json(segment: str) -> dict[str, Any]:
    import base64

    padded = segment + "=" * (-len(segment) % 4)
    value = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def _unverified_parts(id_token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    parts = id_token.split(".")
    if len(parts) != 3:
        raise LaunchError("not_a_jwt", "The id_token is not a signed JWT (three parts expected).")
    try:
        return _b64_json(parts[0]), _b64_json(parts[1])
    except (ValueError, UnicodeError) as exc:
        raise LaunchError("not_a_jwt", "The id_token cannot be decoded.") from exc


def _check_audience(payload: dict[str, Any], client_id: str) -> None:
    aud = payload.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if client_id not in audiences:
        raise LaunchError("wrong_aud", "The launch was not addressed to this tool (aud).",
                          status=401)
    azp = payload.get("azp")
    azp_required = (isinstance(aud, list) and len(aud) > 1) or azp is not None
    if azp_required and azp != client_id:
        raise LaunchError(
            "wrong_azp",
            "The launch names another party as authorized (azp) than this tool.",
            status=401,
        )


def _verify_signature(
    id_token: str, key: Any, alg: str, issuer: str, leeway: int
) -> dict[str, Any]:
    try:
        payload: dict[str, Any] = jwt.decode(
            id_token,
            key,
            algorithms=[alg],
            issuer=issuer,
            leeway=leeway,
            options={"require": ["exp", "iat", "iss", "aud"], "verify_aud": False},
        )
    except jwt.ExpiredSignatureError as exc:
        raise LaunchError("expired", "The launch has expired (exp). Launch again.",
                          status=401) from exc
    except jwt.ImmatureSignatureError as exc:
        raise LaunchError(
            "issued_in_future",
            "The launch was issued in the future (iat/nbf): the platform's clock is ahead.",
            status=401,
        ) from exc
    except jwt.InvalidIssuerError as exc:
        raise LaunchError("wrong_iss", "The launch's issuer (iss) is not the registered one.",
                          status=401) from exc
    except jwt.MissingRequiredClaimError as exc:
        raise LaunchError("missing_claim", f"The launch lacks the {exc.claim} claim.",
                          status=400) from exc
    except jwt.InvalidSignatureError as exc:
        raise LaunchError("bad_signature", "The launch's signature is not valid.",
                          status=401) from exc
    except jwt.InvalidTokenError as exc:
        raise LaunchError("bad_token", f"The launch token is not valid: {exc}",
                          status=401) from exc
    iat = payload.get("iat")
    if not isinstance(iat, int | float):
        raise LaunchError("missing_claim", "The launch lacks a numeric iat claim.")
    return payload


def _check_message(payload: dict[str, Any]) -> None:
    version = payload.get(c.VERSION)
    if version is None:
        raise LaunchError("missing_version", "The launch is not LTI 1.3 (no version claim).")
    if version != "1.3.0":
        raise LaunchError("wrong_version", f"The launch is LTI {version!s}, not 1.3.0.")
    message_type = payload.get(c.MESSAGE_TYPE)
    if not message_type:
        raise LaunchError("missing_message_type", "The launch has no message_type claim.")
    if message_type not in c.MESSAGE_TYPES:
        raise LaunchError("unsupported_message_type",
                          f"The message type {message_type!s} is not supported.")
    if not payload.get("sub"):
        raise LaunchError("missing_sub", "The launch does not identify the user (sub).")
    roles = payload.get(c.ROLES)
    if roles is None:
        raise LaunchError("missing_roles", "The launch has no roles claim.")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise LaunchError("bad_roles", "The roles claim must be a list of strings.")
    if message_type == c.RESOURCE_LINK_REQUEST:
        link = payload.get(c.RESOURCE_LINK)
        if not isinstance(link, dict) or not link.get("id"):
            raise LaunchError("missing_resource_link_id", "The launch has no resource_link.id.")
    if message_type == c.DEEP_LINKING_REQUEST:
        settings = payload.get(c.DL_SETTINGS)
        if not isinstance(settings, dict) or not settings.get("deep_link_return_url"):
            raise LaunchError("missing_deep_linking_settings",
                              "The Deep Linking request has no return URL.")
    for validator in get_validators():
        if validator.can_validate(payload):
            try:
                validator.validate(payload)
            except LtiException as exc:
                raise LaunchError("invalid_message", str(exc)) from exc


def _check_target(payload: dict[str, Any], base_url: str) -> None:
    target = payload.get(c.TARGET_LINK_URI)
    if not target:
        return  # optional for Deep Linking; the default home view is used
    parts, base = urlsplit(str(target)), urlsplit(base_url)
    if (parts.scheme, parts.netloc) != (base.scheme, base.netloc) or not parts.path.startswith(
        "/lti/launch"
    ):
        raise LaunchError("bad_target_link_uri",
                          "The launch's target_link_uri does not point at this tool.")


@dataclass(frozen=True)
class LoginRow:
    """The login a launch consumes, with the registration state and deployment status read
    in the same statement."""

    state: str
    registration_id: int
    nonce: str
    browser_id: str
    storage_secret: str | None
    storage_target: str | None
    storage_origin: str | None
    login_params: dict[str, Any]
    registration_state: str | None
    deployment_pk: int | None
    deployment_active: bool | None


def _consume_login_statement() -> Any:
    """Mark the login used and read it back with the registration's state and the
    deployment's id and status, in one statement built once (Core, bound parameters)."""
    now = bindparam("now", type_=OidcLogin.__table__.c.consumed_at.type)
    reg_state = (select(Registration.state)
                 .where(Registration.id == OidcLogin.registration_id)
                 .scalar_subquery())
    deployment = (Deployment.registration_id == OidcLogin.registration_id,
                  Deployment.deployment_id == bindparam("deployment_id"))
    dep_pk = select(Deployment.id).where(*deployment).scalar_subquery()
    dep_active = select(Deployment.active).where(*deployment).scalar_subquery()
    return (
        update(OidcLogin)
        .where(OidcLogin.state == bindparam("login_state"), OidcLogin.consumed_at.is_(None),
               OidcLogin.expires_at > now)
        .values(consumed_at=now)
        .returning(OidcLogin.registration_id, OidcLogin.nonce, OidcLogin.browser_id,
                   OidcLogin.storage_secret, OidcLogin.storage_target,
                   OidcLogin.storage_origin, OidcLogin.login_params, reg_state, dep_pk,
                   dep_active)
    )


_CONSUME_LOGIN = _consume_login_statement()


def _consume_login(session: Session, state: str, deployment_id: str) -> LoginRow:
    """Consume the login (rolled back with the request if the launch fails later, so a
    refused launch leaves the login as it was)."""
    row = session.connection().execute(_CONSUME_LOGIN, {
        "login_state": state, "now": utcnow(), "deployment_id": deployment_id,
    }).first()
    if row is None:
        raise LaunchError(
            "invalid_state",
            "This launch does not match a login started with the tool, or it has already "
            "been used or has expired. Launch the tool again from your course.",
            status=400,
        )
    return LoginRow(state, row[0], row[1], row[2], row[3], row[4], row[5], row[6] or {},
                    row[7], row[8], None if row[9] is None else bool(row[9]))


def _check_browser(login: LoginRow, proof: BrowserProof) -> None:
    if proof.browser_id and proof.browser_id == login.browser_id:
        return
    if proof.storage_secret:
        if login.storage_secret and proof.storage_secret == login.storage_secret:
            return
        raise LaunchError("invalid_state", "The login could not be matched to this browser.")
    raise NeedsBrowserProof(login)


def _registration_for(session: Session, registry: Registry,
                      unverified: dict[str, Any]) -> RegistrationInfo:
    """The registration the token claims to come from: (iss, azp or aud)."""
    issuer = unverified.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise LaunchError("wrong_iss", "The launch names no issuer (iss).", status=401)
    known = registry.find(session, issuer, None) or registry.find(session, issuer, None,
                                                                  fresh=True)
    if not known:
        raise LaunchError("wrong_iss", "The launch's issuer (iss) is not a registered platform.",
                          status=401)
    aud = unverified.get("aud")
    audiences = [a for a in (aud if isinstance(aud, list) else [aud]) if isinstance(a, str)]
    azp = unverified.get("azp")
    candidates = [azp] if isinstance(azp, str) and azp in audiences else audiences
    by_client = {r.client_id: r for r in known}
    for client_id in candidates:
        if client_id in by_client:
            return by_client[client_id]
        found = registry.find(session, issuer, client_id, fresh=True)
        if found:
            return found[0]
    raise LaunchError("wrong_aud", "The launch was not addressed to this tool (aud).",
                      status=401)


def validate_launch(
    session: Session,
    form: dict[str, str],
    proof: BrowserProof,
    *,
    keys: KeyStore,
    registry: Registry,
    base_url: str,
    leeway: int,
) -> ValidatedLaunch:
    """Check everything; raises LaunchError on any failure.

    The login is consumed by the statement that reads it; the caller's rollback on any
    failure undoes that, so a refused launch stores nothing and leaves the login usable by
    the genuine launch. (An unknown deployment is the one thing recorded, by the caller.)
    """
    id_token = form.get("id_token", "")
    state = form.get("state", "")
    if form.get("error"):
        raise LaunchError(
            "platform_error",
            f"The platform refused the login: {form.get('error_description') or form['error']}",
        )
    if not id_token:
        raise LaunchError("missing_id_token", "The launch has no id_token.")
    if not state:
        raise LaunchError("missing_state", "The launch has no state.")
    if len(id_token) > MAX_TOKEN_LENGTH or len(state) > 64:
        raise LaunchError("bad_token", "The id_token or state is too large.")

    header, unverified = _unverified_parts(id_token)
    alg = header.get("alg")
    if alg not in ALLOWED_ALGORITHMS:
        raise LaunchError("bad_alg", f"The launch is signed with {alg!s}; RS256 is required.",
                          status=401)
    kid = header.get("kid")
    if not kid or not isinstance(kid, str):
        raise LaunchError("missing_kid", "The launch token names no key (kid).", status=401)
    registration = _registration_for(session, registry, unverified)

    # Authenticity first: nothing is written for a token that is not proven genuine.
    key = keys.key_for(session, registration.key_set_url, kid)
    payload = _verify_signature(id_token, key, alg, registration.issuer, leeway)
    _check_audience(payload, registration.client_id)
    _check_message(payload)
    _check_target(payload, base_url)
    deployment_id = payload.get(c.DEPLOYMENT_ID)
    if not deployment_id or not isinstance(deployment_id, str):
        raise LaunchError("missing_deployment_id", "The launch has no deployment_id.")

    login = _consume_login(session, state, deployment_id)
    if login.registration_id != registration.id:
        raise LaunchError("invalid_state", "This launch belongs to another platform's login.",
                          status=400)
    if payload.get("nonce") != login.nonce:
        raise LaunchError("invalid_nonce", "The launch's nonce does not match its login.",
                          status=401)
    _check_browser(login, proof)
    check_registration_usable(login.registration_state or "")
    if not login.deployment_active or login.deployment_pk is None:
        raise LaunchError(
            "unknown_deployment" if login.deployment_active is None else "deployment_inactive",
            f"The deployment '{deployment_id}' of this platform is not enabled in the tool. "
            "It has been recorded; ask the tool's operator to activate it "
            f"(lti-service platform activate {registration.id} --deployment-id ...).",
            status=403,
            deployment_id=deployment_id,
            registration_id=str(registration.id),
        )
    return ValidatedLaunch(registration=registration, deployment_id=deployment_id,
                           deployment_pk=login.deployment_pk, claims=payload)


def record_unknown_deployment(session: Session, registration_id: int, deployment_id: str) -> None:
    """Store an unknown deployment of a known registration as inactive (own transaction)."""
    exists = session.scalars(
        select(Deployment.id).where(
            Deployment.registration_id == registration_id,
            Deployment.deployment_id == deployment_id,
        )
    ).first()
    if exists is None:
        session.add(Deployment(registration_id=registration_id, deployment_id=deployment_id,
                               active=False))
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
