"""A course's roster from the platform (NRPS), cached in the database, for facilitators.

The roster is read over LTI Names and Role Provisioning Services with paging, replaced as a
whole on every refresh, and kept with the time it was read (or what went wrong, while the
previous roster stays shown). It is read when a facilitator opens the cohort view and the
cached copy is missing or older than ``LTI_SERVICE_ROSTER_CACHE_SECONDS``, and when they press
"refresh". Members are matched to the people who launched the tool by (registration, sub).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import requests
from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from lti_service.config import Settings
from lti_service.db import utcnow
from lti_service.lti import keys as tool_keys
from lti_service.lti import nrps
from lti_service.lti.roles import classify
from lti_service.lti.service_http import ServiceError, thread_session
from lti_service.lti.service_tokens import DEFAULT, PlatformAuth, TokenCache
from lti_service.models import (
    Context,
    Membership,
    Registration,
    RosterFetch,
    RosterMember,
    User,
)

log = logging.getLogger(__name__)


def memberships_url(context: Context) -> str | None:
    url = ((context.services or {}).get("nrps") or {}).get("context_memberships_url")
    return url if isinstance(url, str) and url else None


@dataclass
class RosterView:
    available: bool  # the platform announced a roster service for this course
    fetched_at: dt.datetime | None = None
    error: str | None = None
    error_at: dt.datetime | None = None
    members: int = 0
    learners: int = 0
    not_launched: list[RosterMember] = field(default_factory=list)


def refresh(session: Session, context: Context, *, settings: Settings, secret_key: str,
            tokens: TokenCache = DEFAULT, http: requests.Session | None = None) -> RosterFetch:
    """Read the whole roster now; on failure keep the old one and record the error."""
    fetch = session.get(RosterFetch, context.id)
    if fetch is None:
        fetch = RosterFetch(context_id=context.id)
        session.add(fetch)
    url = memberships_url(context)
    registration = session.get(Registration, context.registration_id)
    if url is None or registration is None:
        fetch.error, fetch.error_at = "the platform offers no roster service here", utcnow()
        session.flush()
        return fetch
    auth = PlatformAuth(issuer=registration.issuer, client_id=registration.client_id,
                        token_url=registration.auth_token_url,
                        audience=registration.auth_audience)
    client = http or thread_session()
    tokens.timeout = settings.service_timeout
    tokens.margin = settings.service_token_margin

    def signer() -> tool_keys.Signer:
        return tool_keys.signer(session, secret_key)

    def read(token: str) -> nrps.Roster:
        return nrps.fetch_members(client, url, token, limit=settings.roster_page_size,
                                  timeout=settings.service_timeout)

    scopes = (nrps.SCOPE,)
    try:
        token = tokens.get(auth, scopes, signer, client)
        try:
            roster = read(token)
        except ServiceError as error:
            if error.kind != "auth":
                raise
            tokens.invalidate(auth, scopes, token)
            roster = read(tokens.get(auth, scopes, signer, client))
    except (ServiceError, tool_keys.KeyError_) as error:
        detail = error.detail if isinstance(error, ServiceError) else str(error)
        log.warning("roster not read", extra={"context_pk": context.id, "detail": detail[:300]})
        fetch.error, fetch.error_at = detail[:2000], utcnow()
        session.flush()
        return fetch
    now = utcnow()
    session.execute(delete(RosterMember).where(RosterMember.context_id == context.id))
    session.add_all(
        RosterMember(context_id=context.id, user_sub=m.user_id, name=m.name,
                     given_name=m.given_name, family_name=m.family_name, email=m.email,
                     roles=m.roles, role=classify(m.roles).value, status=m.status,
                     fetched_at=now)
        for m in roster.members)
    fetch.fetched_at, fetch.members, fetch.pages = now, len(roster.members), roster.pages
    fetch.error, fetch.error_at = None, None
    session.flush()
    log.info("roster read", extra={"context_pk": context.id, "members": len(roster.members),
                                   "pages": roster.pages})
    return fetch


ERROR_RETRY_SECONDS = 60  # a failing platform is asked again by a page view after this


def is_stale(fetch: RosterFetch | None, settings: Settings) -> bool:
    """Whether opening the cohort view should read the roster again."""
    if fetch is None:
        return True
    now = utcnow()
    if fetch.error_at is not None and (now - fetch.error_at).total_seconds() < \
            ERROR_RETRY_SECONDS:
        return False
    if fetch.fetched_at is None:
        return True
    return (now - fetch.fetched_at).total_seconds() > settings.roster_cache_seconds


def ensure_fresh(session: Session, context: Context, *, settings: Settings,
                 secret_key: str) -> None:
    """Read the roster if the cached copy is missing or old (and the platform offers one)."""
    if memberships_url(context) is None:
        return
    if is_stale(session.get(RosterFetch, context.id), settings):
        refresh(session, context, settings=settings, secret_key=secret_key)


def view(session: Session, context: Context, limit: int = 500) -> RosterView:
    fetch = session.get(RosterFetch, context.id)
    result = RosterView(available=memberships_url(context) is not None)
    if fetch is None:
        return result
    result.fetched_at, result.error, result.error_at = (fetch.fetched_at, fetch.error,
                                                        fetch.error_at)
    result.members = fetch.members
    launched = exists().where(
        Membership.context_id == context.id, Membership.user_id == User.id,
        User.registration_id == context.registration_id, User.sub == RosterMember.user_sub)
    learners = (RosterMember.context_id == context.id, RosterMember.role == "learner",
                RosterMember.status == "Active")
    result.learners = len(session.scalars(select(RosterMember.id).where(*learners)).all())
    result.not_launched = list(session.scalars(
        select(RosterMember).where(*learners, ~launched)
        .order_by(RosterMember.family_name, RosterMember.given_name, RosterMember.name,
                  RosterMember.user_sub).limit(limit)))
    return result
