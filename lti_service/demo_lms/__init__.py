"""The embedded demo LMS: a development LTI 1.3 platform served by the tool itself.

Only enabled with ``LTI_SERVICE_DEMO_LMS=1`` (``lti-service demo`` sets it). ``platform``
holds the protocol logic without Flask; ``views`` is the blueprint under ``/demo-lms``.
"""

from __future__ import annotations

import hashlib
import threading

from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_service.config import Settings
from lti_service.demo_lms.platform import (
    CLIENT_ID,
    DEPLOYMENT_ID,
    DemoPlatform,
    PlatformError,
    endpoints,
)
from lti_service.models import Deployment, Registration, RegistrationState

__all__ = ["DemoPlatform", "PlatformError", "ensure_demo_registration", "get_platform"]

_PLATFORMS: dict[tuple[str, str, str], DemoPlatform] = {}
_LOCK = threading.Lock()


def get_platform() -> DemoPlatform:
    """The app's demo platform, built once per (base URL, instance folder, secret)."""
    from lti_service.web.context import base_url, secret_key, settings

    cfg, tool_url, secret = settings(), base_url(), secret_key()
    cache_key = (tool_url, str(cfg.instance_path), hashlib.sha256(secret.encode()).hexdigest())
    with _LOCK:
        platform = _PLATFORMS.get(cache_key)
        if platform is None:
            platform = _PLATFORMS[cache_key] = DemoPlatform(cfg, tool_url, secret)
        return platform


def ensure_demo_registration(session: Session, settings: Settings) -> Registration:
    """Register the demo platform and its active deployment "1" (idempotent).

    When the base URL changed since the last run, the existing demo registration is moved to
    the new URLs instead of leaving a dead one behind.
    """
    urls = endpoints(settings.effective_base_url)
    reg = session.scalars(
        select(Registration).where(Registration.issuer == urls.issuer,
                                   Registration.client_id == CLIENT_ID)
    ).first()
    if reg is None:
        reg = session.scalars(
            select(Registration)
            .where(Registration.client_id == CLIENT_ID, Registration.issuer.like("%/demo-lms"))
            .order_by(Registration.id)
        ).first()
    if reg is None:
        reg = Registration(issuer=urls.issuer, client_id=CLIENT_ID, auth_login_url="",
                           auth_token_url="", key_set_url="")
        session.add(reg)
    reg.issuer = urls.issuer
    reg.name = "Demo LMS"
    reg.auth_login_url = urls.auth_login_url
    reg.auth_token_url = urls.token_url
    reg.auth_audience = None
    reg.key_set_url = urls.key_set_url
    reg.state = RegistrationState.ACTIVE.value
    session.flush()
    deployment = session.scalars(
        select(Deployment).where(Deployment.registration_id == reg.id,
                                 Deployment.deployment_id == DEPLOYMENT_ID)
    ).first()
    if deployment is None:
        reg.deployments.append(Deployment(deployment_id=DEPLOYMENT_ID, active=True))
    else:
        deployment.active = True
    session.flush()
    return reg
