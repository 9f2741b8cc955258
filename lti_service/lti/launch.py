"""Validation of the launch (the id_token POSTed to ``/lti/launch``).

pylti1p3's ``MessageLaunch`` leaves gaps this project must close (see lti-notes.md): the
nonce is never spent, ``azp`` is never checked, there is no clock leeway, the key set is
fetched per launch and never re-fetched on an unknown ``kid``, and it checks the nonce before
the signature. So the validation below is done in full here, in an order where nothing is
written before the token is proven authentic, and every failure has its own code.
pylti1p3's per-message-type claim validators run as part of the claim checks.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pylti1p3.exception import LtiException
from pylti1p3.message_validators import get_validators
from sqlalchemy import Integer, String, bindparam, exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lti_service.lti import claims as c
from lti_service.lti.errors import LaunchError, shown
from lti_service.lti.jws import CompactJWS, parse, rsa_signature_valid
from lti_service.lti.login_state import StateCodec
from lti_service.lti.oidc import check_registration_usable
from lti_service.lti.platform_keys import KeyStore
from lti_service.lti.registry import RegistrationInfo, Registry
from lti_service.models import Deployment, Registration, RegistrationState, UsedNonce

log = logging.getLogger(__name__)

ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512")
MAX_TOKEN_LENGTH = 64 * 1024
MAX_STATE_LENGTH = 16 * 1024


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


def _parse(id_token: str) -> CompactJWS:
    try:
        jws = parse(id_token)
    except ValueError as exc:
        raise LaunchError("not_a_jwt", "The id_token is not a signed JWT.") from exc
    if "crit" in jws.header:
        raise LaunchError("bad_token", "The launch token has critical headers the tool does "
                          "not understand.", status=401)
    return jws


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


def _verify_signature(jws: CompactJWS, key: Any, alg: str, issuer: str,
                      leeway: int) -> dict[str, Any]:
    """Signature first, then the time and issuer claims (RFC 7519 §4.1, with leeway)."""
    if not rsa_signature_valid(jws, key, alg):
        raise LaunchError("bad_signature", "The launch's signature is not valid.", status=401)
    payload = jws.payload
    for claim in ("exp", "iat", "iss", "aud"):
        if claim not in payload:
            raise LaunchError("missing_claim", "The launch lacks the %(claim)s claim.", claim=claim)
    exp, iat, nbf = payload["exp"], payload["iat"], payload.get("nbf", 0)
    numbers = (exp, iat, nbf)
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in numbers):
        raise LaunchError("bad_token", "The launch's exp, iat and nbf must be numbers.",
                          status=401)
    now = time.time()
    if now > exp + leeway:
        raise LaunchError("expired", "The launch has expired (exp). Launch again.", status=401)
    if iat > now + leeway or nbf > now + leeway:
        raise LaunchError(
            "issued_in_future",
            "The launch was issued in the future (iat/nbf): the platform's clock is ahead.",
            status=401,
        )
    if payload["iss"] != issuer:
        raise LaunchError("wrong_iss", "The launch's issuer (iss) is not the registered one.",
                          status=401)
    return payload


def _check_message(payload: dict[str, Any]) -> None:
    version = payload.get(c.VERSION)
    if version is None:
        raise LaunchError("missing_version", "The launch is not LTI 1.3 (no version claim).")
    if version != "1.3.0":
        raise LaunchError("wrong_version", "The launch is LTI %(version)s, not 1.3.0.",
                          version=shown(version, 40))
    message_type = payload.get(c.MESSAGE_TYPE)
    if not message_type:
        raise LaunchError("missing_message_type", "The launch has no message_type claim.")
    if message_type not in c.MESSAGE_TYPES:
        raise LaunchError("unsupported_message_type",
                          "The message type %(message_type)s is not supported.",
                          message_type=shown(message_type))
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
    """What the cookieless fallbacks need of the login (platform storage, new window)."""

    state: str
    nonce: str
    storage_target: str | None
    storage_origin: str | None
    login_params: dict[str, Any]


_STATEMENTS: dict[str, Any] = {}


def _spend_nonce_statement(dialect: str) -> Any:
    """Record the nonce as spent, only if the registration is active and the deployment known
    and active; a nonce already spent conflicts and nothing is returned. One statement, built
    once per dialect, that either applies or changes nothing (so it can run in autocommit),
    returning the deployment's id."""
    stmt = _STATEMENTS.get(dialect)
    if stmt is not None:
        return stmt
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    deployment = (Deployment.registration_id == bindparam("p_registration_id"),
                  Deployment.deployment_id == bindparam("p_deployment_id"))
    source = select(
        bindparam("p_registration_id", type_=Integer),
        bindparam("p_nonce", type_=String),
        bindparam("p_expires_at", type_=UsedNonce.__table__.c.expires_at.type),
    ).where(
        exists().where(Registration.id == bindparam("p_registration_id"),
                       Registration.state == RegistrationState.ACTIVE.value),
        exists().where(*deployment, Deployment.active.is_(True)),
    )
    stmt = (
        insert(UsedNonce)
        .from_select(["registration_id", "nonce", "expires_at"], source)
        .on_conflict_do_nothing(index_elements=["registration_id", "nonce"])
        .returning(select(Deployment.id).where(*deployment).scalar_subquery())
    )
    _STATEMENTS[dialect] = stmt
    return stmt


def _why_refused(conn: Connection, params: dict[str, Any], registration: RegistrationInfo,
                 deployment_id: str) -> LaunchError:
    """The precise reason the nonce was not spent (the unhappy path only)."""
    spent = conn.execute(select(UsedNonce.id).where(
        UsedNonce.registration_id == registration.id,
        UsedNonce.nonce == params["p_nonce"])).first()
    if spent is not None:
        return LaunchError("invalid_state", "This launch has already been used. Launch the "
                           "tool again from your course.", status=400)
    state = conn.execute(select(Registration.state).where(
        Registration.id == registration.id)).scalar()
    try:
        check_registration_usable(state or "")
    except LaunchError as err:
        return err
    active = conn.execute(select(Deployment.active).where(
        Deployment.registration_id == registration.id,
        Deployment.deployment_id == deployment_id)).scalar()
    return LaunchError(
        "unknown_deployment" if active is None else "deployment_inactive",
        "The deployment '%(deployment_id)s' of this platform is not enabled in the tool. "
        "It has been recorded; ask the tool's operator to activate it "
        "(lti-service platform activate %(registration_id)s --deployment-id ...).",
        status=403,
        deployment_id=deployment_id,
        registration_id=str(registration.id),
    )


def _registration_for(registry: Registry,
                      unverified: dict[str, Any]) -> RegistrationInfo:
    """The registration the token claims to come from: (iss, azp or aud)."""
    issuer = unverified.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise LaunchError("wrong_iss", "The launch names no issuer (iss).", status=401)
    known = registry.find(issuer, None) or registry.find(issuer, None, fresh=True)
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
        found = registry.find(issuer, client_id, fresh=True)
        if found:
            return found[0]
    raise LaunchError("wrong_aud", "The launch was not addressed to this tool (aud).",
                      status=401)


def validate_launch(
    conn: Connection,
    form: dict[str, str],
    proof: BrowserProof,
    *,
    keys: KeyStore,
    registry: Registry,
    codec: StateCodec,
    base_url: str,
    leeway: int,
    login_lifetime: int,
    before_consume: Callable[[ValidatedLaunch], object] | None = None,
) -> ValidatedLaunch:
    """Check everything; raises LaunchError on any failure.

    Everything is checked before anything is written; the one write is the nonce, spent by a
    statement that applies only if the registration and deployment are active, so a refused
    launch stores nothing. (An unknown deployment is recorded inactive, by the caller.)
    """
    id_token = form.get("id_token", "")
    state = form.get("state", "")
    if form.get("error"):
        raise LaunchError(
            "platform_error",
            "The platform refused the login: %(reason)s",
            reason=shown(form.get("error_description") or form["error"], 300),
        )
    if not id_token:
        raise LaunchError("missing_id_token", "The launch has no id_token.")
    if not state:
        raise LaunchError("missing_state", "The launch has no state.")
    if len(id_token) > MAX_TOKEN_LENGTH or len(state) > MAX_STATE_LENGTH:
        raise LaunchError("bad_token", "The id_token or state is too large.")

    jws = _parse(id_token)
    header, unverified = jws.header, jws.payload
    alg = header.get("alg")
    if alg not in ALLOWED_ALGORITHMS:
        raise LaunchError("bad_alg", "The launch is signed with %(alg)s; RS256 is required.",
                          status=401, alg=shown(alg, 20))
    kid = header.get("kid")
    if not kid or not isinstance(kid, str):
        raise LaunchError("missing_kid", "The launch token names no key (kid).", status=401)
    login = codec.decode(state, max_age=login_lifetime)
    if login is None:
        raise LaunchError(
            "invalid_state",
            "This launch does not match a login started with the tool, or the login has "
            "expired. Launch the tool again from your course.",
            status=400,
        )
    registration = _registration_for(registry, unverified)
    if registration.id != login.registration_id:
        raise LaunchError("invalid_state", "This launch belongs to another platform's login.")

    # Authenticity first: nothing is written for a token that is not proven genuine.
    key = keys.key_for(registration.key_set_url, kid)
    payload = _verify_signature(jws, key, str(alg), registration.issuer, leeway)
    _check_audience(payload, registration.client_id)
    _check_message(payload)
    _check_target(payload, base_url)
    deployment_id = payload.get(c.DEPLOYMENT_ID)
    if not deployment_id or not isinstance(deployment_id, str):
        raise LaunchError("missing_deployment_id", "The launch has no deployment_id.")
    if payload.get("nonce") != login.nonce:
        raise LaunchError("invalid_nonce", "The launch's nonce does not match its login.",
                          status=401)
    if not codec.browser_matches(login, proof.browser_id):
        if proof.storage_secret is not None:
            if not codec.storage_matches(login, proof.storage_secret):
                raise LaunchError("invalid_state",
                                  "The login could not be matched to this browser.")
        else:
            raise NeedsBrowserProof(LoginRow(
                state=state, nonce=login.nonce, storage_target=login.storage_target,
                storage_origin=login.storage_origin, login_params=login.login_params or {}))
    if before_consume is not None:  # e.g. routing: may refuse before the nonce is spent
        before_consume(ValidatedLaunch(registration, deployment_id, 0, payload))

    expires = max(time.time() + login_lifetime, float(payload["exp"]) + leeway)
    params = {
        "p_registration_id": registration.id, "p_nonce": login.nonce[:64],
        "p_deployment_id": deployment_id,
        "p_expires_at": dt.datetime.fromtimestamp(expires, dt.UTC),
    }
    deployment_pk = conn.execute(_spend_nonce_statement(conn.dialect.name), params).scalar()
    if deployment_pk is None:
        raise _why_refused(conn, params, registration, deployment_id)
    return ValidatedLaunch(registration=registration, deployment_id=deployment_id,
                           deployment_pk=int(deployment_pk), claims=payload)


def record_unknown_deployment(session: Session, registration_id: int, deployment_id: str) -> None:
    """Store an unknown deployment of a known registration as inactive (own transaction)."""
    known = session.scalars(
        select(Deployment.id).where(
            Deployment.registration_id == registration_id,
            Deployment.deployment_id == deployment_id,
        )
    ).first()
    if known is None:
        session.add(Deployment(registration_id=registration_id, deployment_id=deployment_id,
                               active=False))
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
