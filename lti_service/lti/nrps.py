"""LTI Names and Role Provisioning Services 2.0: a context's members, every page (no Flask).

Moodle pages only when the tool sends ``limit``, then answers ``Link: <…>; rel="next"``;
the next URL is followed exactly as sent (pylti1p3 lowercases it, which breaks platforms
whose paging tokens are case-sensitive). Roles come as full URIs or short names
("Learner", "Instructor"); :func:`lti_service.lti.roles.classify` understands both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests

from lti_service.lti.ags import with_query
from lti_service.lti.service_http import (
    ServiceError,
    classify_exception,
    classify_response,
    parse_link_header,
    read_json,
)

SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
MEDIA_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
MAX_PAGES = 1000


@dataclass(frozen=True)
class Member:
    user_id: str
    roles: list[str]
    status: str = "Active"
    name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None


@dataclass
class Roster:
    members: list[Member] = field(default_factory=list)
    pages: int = 0
    context: dict[str, Any] = field(default_factory=dict)


def _text(value: Any, limit: int = 255) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value[:limit] or None


def parse_member(raw: Any) -> Member | None:
    if not isinstance(raw, dict):
        return None
    user_id = raw.get("user_id")
    if not isinstance(user_id, str | int) or not str(user_id).strip():
        return None
    roles = [r.strip() for r in raw.get("roles") or [] if isinstance(r, str) and r.strip()]
    status = raw.get("status") if raw.get("status") in ("Active", "Inactive", "Deleted") \
        else "Active"
    return Member(user_id=str(user_id).strip()[:255], roles=roles, status=str(status),
                  name=_text(raw.get("name")), given_name=_text(raw.get("given_name")),
                  family_name=_text(raw.get("family_name")),
                  email=_text(raw.get("email"), 320))


def fetch_members(http: requests.Session, memberships_url: str, token: str, *,
                  limit: int = 100, timeout: float = 10.0) -> Roster:
    """All members of the context, following ``rel="next"`` until there is none."""
    roster = Roster()
    url: str | None = with_query(memberships_url, limit=limit)
    seen: set[str] = set()
    by_id: dict[str, Member] = {}
    while url:
        if url in seen:
            raise ServiceError("bad_response", f"memberships: paging loops back to {url}")
        if len(seen) >= MAX_PAGES:
            raise ServiceError("bad_response", f"memberships: more than {MAX_PAGES} pages")
        seen.add(url)
        try:
            response = http.get(url, timeout=timeout, allow_redirects=False,
                                headers={"Authorization": f"Bearer {token}",
                                         "Accept": MEDIA_TYPE})
        except requests.RequestException as exc:
            raise classify_exception(exc, "memberships") from exc
        if response.status_code != 200:
            raise classify_response(response, "memberships")
        body = read_json(response, "memberships")
        members = body.get("members") if isinstance(body, dict) else None
        if not isinstance(members, list):
            raise ServiceError("bad_response", "memberships: the reply has no members array",
                               status=response.status_code)
        if not roster.context and isinstance(body.get("context"), dict):
            roster.context = body["context"]
        for raw in members:
            member = parse_member(raw)
            if member is not None:
                by_id[member.user_id] = member  # a member repeated across pages counts once
        roster.pages += 1
        url = parse_link_header(response.headers.get("Link", "")).get("next")
    roster.members = list(by_id.values())
    return roster
