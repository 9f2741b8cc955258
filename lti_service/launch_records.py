"""What a validated launch tells us, written down: user, context, membership, resource link.

Kept out of the views so that the web layer only parses and renders. Each function flushes;
the request commits once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_service.db import utcnow
from lti_service.lti import claims as c
from lti_service.lti.launch import ValidatedLaunch
from lti_service.lti.roles import AppRole, classify
from lti_service.models import Context, Membership, ResourceLink, User


@dataclass(frozen=True)
class LaunchRecord:
    user: User
    context: Context | None
    resource_link: ResourceLink | None
    role: AppRole
    roles: list[str]


def _text(value: Any, limit: int = 255) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text[:limit] or None


def record_launch(session: Session, launch: ValidatedLaunch) -> LaunchRecord:
    claims = launch.claims
    registration = launch.registration
    now = utcnow()
    registration.last_launch_at = now

    user = session.scalars(
        select(User).where(User.registration_id == registration.id, User.sub == str(claims["sub"]))
    ).first()
    if user is None:
        user = User(registration_id=registration.id, sub=str(claims["sub"]))
        session.add(user)
    # Only overwrite personal data the platform chose to send (privacy settings vary).
    for attr in ("name", "given_name", "family_name", "email"):
        if claims.get(attr):
            setattr(user, attr, _text(claims[attr], 320 if attr == "email" else 255))
    presentation = claims.get(c.LAUNCH_PRESENTATION) or {}
    locale = claims.get("locale") or (presentation.get("locale") if isinstance(
        presentation, dict) else None)
    if locale:
        user.locale = _text(locale, 35)
    user.last_launch_at = now

    roles: list[str] = list(claims.get(c.ROLES) or [])
    role = classify(roles)

    context = None
    resource_link = None
    context_claim = claims.get(c.CONTEXT)
    if isinstance(context_claim, dict) and context_claim.get("id"):
        context_id = str(context_claim["id"])[:255]
        context = session.scalars(
            select(Context).where(Context.registration_id == registration.id,
                                  Context.context_id == context_id)
        ).first()
        if context is None:
            context = Context(registration_id=registration.id, context_id=context_id)
            session.add(context)
        context.deployment_id = launch.deployment.id
        context.title = _text(context_claim.get("title")) or context.title
        context.label = _text(context_claim.get("label")) or context.label
        services = _services(claims)
        if services and services != context.services:
            context.services = services
        session.flush()

        membership = session.scalars(
            select(Membership).where(Membership.context_id == context.id,
                                     Membership.user_id == user.id)
        ).first() if user.id is not None else None
        if membership is None:
            session.flush()
            membership = Membership(context_id=context.id, user_id=user.id, roles=roles,
                                    role=role.value)
            session.add(membership)
        elif membership.roles != roles or membership.role != role.value:
            membership.roles = roles
            membership.role = role.value
        membership.updated_at = now

        link_claim = claims.get(c.RESOURCE_LINK)
        if isinstance(link_claim, dict) and link_claim.get("id"):
            link_id = str(link_claim["id"])[:255]
            resource_link = session.scalars(
                select(ResourceLink).where(ResourceLink.context_id == context.id,
                                           ResourceLink.resource_link_id == link_id)
            ).first()
            if resource_link is None:
                resource_link = ResourceLink(context_id=context.id, resource_link_id=link_id)
                session.add(resource_link)
            resource_link.title = _text(link_claim.get("title")) or resource_link.title
            resource_link.target_link_uri = _text(claims.get(c.TARGET_LINK_URI), 1024)
            ags = claims.get(c.AGS_ENDPOINT)
            if isinstance(ags, dict) and ags.get("lineitem"):
                resource_link.lineitem_url = _text(ags["lineitem"], 1024)
    session.flush()
    return LaunchRecord(user=user, context=context, resource_link=resource_link, role=role,
                        roles=roles)


def _services(claims: dict[str, Any]) -> dict[str, Any]:
    services: dict[str, Any] = {}
    ags = claims.get(c.AGS_ENDPOINT)
    if isinstance(ags, dict):
        services["ags"] = {k: ags[k] for k in ("scope", "lineitems") if k in ags}
    nrps = claims.get(c.NRPS)
    if isinstance(nrps, dict) and nrps.get("context_memberships_url"):
        services["nrps"] = {"context_memberships_url": nrps["context_memberships_url"]}
    return services
