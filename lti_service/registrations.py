"""Creating and switching platform registrations (CLI now, console and Dynamic Registration
later): one place that validates the values an admin types."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_service.models import Deployment, Registration, RegistrationState


@dataclass
class RegistrationInput:
    issuer: str
    client_id: str
    auth_login_url: str
    auth_token_url: str
    key_set_url: str
    deployment_ids: list[str] = field(default_factory=list)
    auth_audience: str | None = None
    name: str = ""

    def validate(self) -> None:
        for label, url in (("issuer", self.issuer), ("auth login URL", self.auth_login_url),
                           ("auth token URL", self.auth_token_url),
                           ("key set URL", self.key_set_url)):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"the {label} must be an http(s) URL, got {url!r}")
        if not self.client_id.strip():
            raise ValueError("the client id must not be empty")
        if not self.deployment_ids or any(not d.strip() for d in self.deployment_ids):
            raise ValueError("give at least one non-empty deployment id")


def add_registration(session: Session, data: RegistrationInput,
                     state: RegistrationState = RegistrationState.ACTIVE) -> Registration:
    data.validate()
    registration = Registration(
        issuer=data.issuer.strip(),
        client_id=data.client_id.strip(),
        name=data.name or urlsplit(data.issuer).netloc,
        auth_login_url=data.auth_login_url.strip(),
        auth_token_url=data.auth_token_url.strip(),
        auth_audience=data.auth_audience,
        key_set_url=data.key_set_url.strip(),
        state=state.value,
    )
    session.add(registration)
    session.flush()
    for deployment_id in dict.fromkeys(d.strip() for d in data.deployment_ids):
        session.add(Deployment(registration_id=registration.id, deployment_id=deployment_id,
                               active=True))
    session.flush()
    return registration


def set_registration_state(session: Session, reg_id: int, active: bool,
                           deployment_ids: list[str]) -> Registration:
    registration = session.get(Registration, reg_id)
    if registration is None:
        raise LookupError(f"no registration with id {reg_id}")
    if deployment_ids:
        found = {d.deployment_id: d for d in session.scalars(
            select(Deployment).where(Deployment.registration_id == reg_id))}
        missing = [d for d in deployment_ids if d not in found]
        if missing:
            raise LookupError(f"registration {reg_id} has no deployment(s) {', '.join(missing)}")
        for d in deployment_ids:
            found[d].active = active
        if active:
            registration.state = RegistrationState.ACTIVE.value
    else:
        registration.state = (RegistrationState.ACTIVE if active
                              else RegistrationState.INACTIVE).value
        if active:
            for deployment in registration.deployments:
                deployment.active = True
    session.flush()
    return registration


def token_hash(token: str) -> str:
    import hashlib

    return hashlib.sha256(token.encode()).hexdigest()


def registration_policy_state(issuer: str, auto_activate: bool,
                              trusted_patterns: list[str]) -> RegistrationState:
    """Dynamic registrations wait for the operator unless the operator said to trust them."""
    from fnmatch import fnmatchcase

    if auto_activate or any(fnmatchcase(issuer, p) for p in trusted_patterns):
        return RegistrationState.ACTIVE
    return RegistrationState.PENDING


def find_by_token(session: Session, token: str) -> Registration | None:
    return session.scalars(
        select(Registration).where(Registration.registration_token_hash == token_hash(token))
    ).first()


def add_dynamic_registration(
    session: Session,
    *,
    issuer: str,
    client_id: str,
    deployment_id: str | None,
    auth_login_url: str,
    auth_token_url: str,
    key_set_url: str,
    auth_audience: str | None,
    name: str,
    platform_info: dict[str, object],
    token: str | None,
    state: RegistrationState,
) -> Registration:
    """Store what Dynamic Registration produced, in one flush (no half-registered platform)."""
    registration = Registration(
        issuer=issuer,
        client_id=client_id,
        name=name[:255],
        auth_login_url=auth_login_url,
        auth_token_url=auth_token_url,
        auth_audience=auth_audience,
        key_set_url=key_set_url,
        state=state.value,
        source="dynamic",
        platform_info=dict(platform_info),
        registration_token_hash=token_hash(token) if token else None,
    )
    if deployment_id:
        registration.deployments.append(Deployment(deployment_id=deployment_id, active=True))
    session.add(registration)
    session.flush()
    return registration


def set_deployment_active(session: Session, registration_id: int, deployment_pk: int,
                          active: bool) -> Deployment:
    """Switch one deployment, only if it belongs to ``registration_id`` (tenant check)."""
    deployment = session.get(Deployment, deployment_pk)
    if deployment is None or deployment.registration_id != registration_id:
        raise LookupError(f"registration {registration_id} has no deployment {deployment_pk}")
    deployment.active = active
    session.flush()
    return deployment
