"""What a validated launch tells us, written down: user, context, membership, resource link.

Kept out of the views so that the web layer only parses and renders. Each record is one
``INSERT … ON CONFLICT DO UPDATE … RETURNING id`` (no read-then-write races between two
instances), and a launch that repeats what this process recorded minutes ago writes nothing:
the per-process memory holds only row ids and a fingerprint of the data, never state another
instance needs.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text, update
from sqlalchemy.engine import Connection

from lti_service.db import utcnow
from lti_service.lti import claims as c
from lti_service.lti.launch import ValidatedLaunch
from lti_service.lti.roles import AppRole, classify
from lti_service.models import Registration

REPEAT_WINDOW = 300.0  # seconds a repeated identical launch skips the writes
LAST_LAUNCH_RESOLUTION = 60.0  # registration.last_launch_at is kept to the minute


@dataclass(frozen=True)
class LaunchRecord:
    user_id: int
    context_pk: int | None
    resource_link_pk: int | None
    deployment_pk: int
    role: AppRole
    roles: list[str]


class _Recent:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[tuple[Any, ...], tuple[float, str, LaunchRecord]] = {}
        self._registration_touched: dict[int, float] = {}

    def get(self, key: tuple[Any, ...], fingerprint: str) -> LaunchRecord | None:
        hit = self._seen.get(key)
        if hit and hit[1] == fingerprint and time.monotonic() - hit[0] < REPEAT_WINDOW:
            return hit[2]
        return None

    def put(self, key: tuple[Any, ...], fingerprint: str, record: LaunchRecord) -> None:
        with self._lock:
            if len(self._seen) > 50_000:
                self._seen.clear()
            self._seen[key] = (time.monotonic(), fingerprint, record)

    def should_touch(self, registration_id: int) -> bool:
        now = time.monotonic()
        last = self._registration_touched.get(registration_id)
        if last is not None and now - last < LAST_LAUNCH_RESOLUTION:
            return False
        self._registration_touched[registration_id] = now
        return True

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()
            self._registration_touched.clear()


RECENT = _Recent()


def _text(value: Any, limit: int = 255) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text[:limit] or None


# One launch's records as SQL that SQLite and PostgreSQL both run. An attribute the platform
# did not send (NULL) never overwrites what an earlier launch stored (COALESCE).
_USER = """
INSERT INTO lti_user (registration_id, sub, name, given_name, family_name, email, locale,
                      created_at, last_launch_at)
VALUES (:reg, :sub, :name, :given_name, :family_name, :email, :locale, :now, :now)
ON CONFLICT (registration_id, sub) DO UPDATE SET
  name = COALESCE(excluded.name, lti_user.name),
  given_name = COALESCE(excluded.given_name, lti_user.given_name),
  family_name = COALESCE(excluded.family_name, lti_user.family_name),
  email = COALESCE(excluded.email, lti_user.email),
  locale = COALESCE(excluded.locale, lti_user.locale),
  last_launch_at = excluded.last_launch_at
RETURNING id"""
_CONTEXT = """
INSERT INTO lti_context (registration_id, context_id, deployment_id, title, label, services,
                         created_at)
VALUES (:reg, :ctx, :dep, :ctitle, :clabel, {services}, :now)
ON CONFLICT (registration_id, context_id) DO UPDATE SET
  deployment_id = excluded.deployment_id,
  title = COALESCE(excluded.title, lti_context.title),
  label = COALESCE(excluded.label, lti_context.label),
  services = CASE WHEN :services_sent THEN excluded.services ELSE lti_context.services END
RETURNING id"""
_MEMBERSHIP = """
INSERT INTO membership (context_id, user_id, roles, role, updated_at)
{source}
ON CONFLICT (context_id, user_id) DO UPDATE SET
  roles = excluded.roles, role = excluded.role, updated_at = excluded.updated_at
RETURNING id"""
_LINK = """
INSERT INTO resource_link (context_id, resource_link_id, title, target_link_uri, lineitem_url,
                           created_at)
{source}
ON CONFLICT (context_id, resource_link_id) DO UPDATE SET
  title = COALESCE(excluded.title, resource_link.title),
  target_link_uri = COALESCE(excluded.target_link_uri, resource_link.target_link_uri),
  lineitem_url = COALESCE(excluded.lineitem_url, resource_link.lineitem_url)
RETURNING id"""


def _statements(dialect: str, with_link: bool) -> list[Any]:
    """SQLite: one statement per record. PostgreSQL: all of them in one round trip, as
    data-modifying CTEs (the launch benchmark's budget is a few SQL statements per launch)."""
    key = (dialect, with_link)
    cached = _STATEMENTS.get(key)
    if cached is not None:
        return cached
    if dialect != "postgresql":
        statements = [
            text(_CONTEXT.format(services=":services")),
            text(_MEMBERSHIP.format(source="VALUES (:context_pk, :user_pk, :roles, :role, :now)")),
        ]
        if with_link:
            statements.append(text(_LINK.format(
                source="VALUES (:context_pk, :link, :ltitle, :ltarget, :llineitem, :now)")))
    else:
        # Only constant SQL fragments are joined here; every value is a bound parameter.
        parts = [
            f"u AS ({_USER})",
            f"c AS ({_CONTEXT.format(services='CAST(:services AS json)')})",
            "m AS (" + _MEMBERSHIP.format(
                source="SELECT c.id, u.id, CAST(:roles AS json), :role, :now FROM c, u"
            ) + ")",
        ]
        select_list = "(SELECT id FROM u), (SELECT id FROM c)"
        if with_link:
            parts.append("l AS (" + _LINK.format(
                source="SELECT c.id, :link, :ltitle, :ltarget, :llineitem, :now FROM c"
            ) + ")")
            select_list += ", (SELECT id FROM l)"
        else:
            select_list += ", NULL"
        sql = "WITH " + ",\n".join(parts) + "\nSELECT " + select_list
        statements = [text(sql + ", (SELECT count(*) FROM m)")]
    _STATEMENTS[key] = statements
    return statements


_STATEMENTS: dict[tuple[str, bool], list[Any]] = {}


@dataclass(frozen=True)
class _Facts:
    key: tuple[Any, ...]
    fingerprint: str
    sub: str
    roles: list[str]
    role: AppRole
    person: dict[str, Any]
    context_id: str | None
    context_data: dict[str, Any]
    link_id: str | None
    link_data: dict[str, Any]


def _facts(launch: ValidatedLaunch) -> _Facts:
    claims = launch.claims
    sub = str(claims["sub"])[:255]
    roles: list[str] = [r for r in claims.get(c.ROLES) or [] if isinstance(r, str)]
    context_claim = claims.get(c.CONTEXT)
    context_claim = context_claim if isinstance(context_claim, dict) else {}
    link_claim = claims.get(c.RESOURCE_LINK)
    link_claim = link_claim if isinstance(link_claim, dict) else {}
    presentation = claims.get(c.LAUNCH_PRESENTATION)
    locale = claims.get("locale") or (presentation.get("locale")
                                      if isinstance(presentation, dict) else None)
    person = {attr: _text(claims.get(attr), 320 if attr == "email" else 255)
              for attr in ("name", "given_name", "family_name", "email")}
    person = {k: v for k, v in person.items() if v}  # only what the platform chose to send
    if locale:
        person["locale"] = _text(locale, 35)
    ags = claims.get(c.AGS_ENDPOINT)
    context_data = {"title": _text(context_claim.get("title")),
                    "label": _text(context_claim.get("label")),
                    "services": _services(claims)}
    link_data = {"title": _text(link_claim.get("title")),
                 "target_link_uri": _text(claims.get(c.TARGET_LINK_URI), 1024),
                 "lineitem_url": _text(ags.get("lineitem"), 1024)
                 if isinstance(ags, dict) else None}
    context_id = _text(context_claim.get("id"))
    link_id = _text(link_claim.get("id"))
    key = (launch.registration.id, launch.deployment_pk, sub, context_id, link_id)
    fingerprint = hashlib.sha256(json.dumps(
        [person, roles, context_data, link_data], sort_keys=True, default=str).encode()
    ).hexdigest()
    return _Facts(key, fingerprint, sub, roles, classify(roles), person, context_id,
                  context_data, link_id, link_data)


def record_launch(connection: Connection, launch: ValidatedLaunch
                  ) -> tuple[LaunchRecord, Callable[[], None]]:
    """Write the launch's records; returns them and a callback for after the commit (which
    lets this process skip the writes when the same launch repeats within minutes)."""
    facts = _facts(launch)
    reg_id = launch.registration.id
    now = utcnow()
    if RECENT.should_touch(reg_id):
        connection.execute(update(Registration).where(Registration.id == reg_id)
                           .values(last_launch_at=now))
    cached = RECENT.get(facts.key, facts.fingerprint)
    if cached is not None:
        return cached, _nothing

    person = facts.person
    params: dict[str, Any] = {
        "reg": reg_id, "sub": facts.sub, "now": now,
        **{k: person.get(k) for k in ("name", "given_name", "family_name", "email", "locale")},
    }
    dialect = connection.dialect.name
    context_pk = link_pk = None
    if facts.context_id is None:
        user_id = int(connection.execute(text(_USER), params).scalar_one())
    else:
        services = facts.context_data["services"]
        params.update({
            "ctx": facts.context_id, "dep": launch.deployment_pk,
            "ctitle": facts.context_data["title"], "clabel": facts.context_data["label"],
            "services": json.dumps(services), "services_sent": bool(services),
            "roles": json.dumps(facts.roles), "role": facts.role.value,
            "link": facts.link_id, "ltitle": facts.link_data["title"],
            "ltarget": facts.link_data["target_link_uri"],
            "llineitem": facts.link_data["lineitem_url"],
        })
        statements = _statements(dialect, facts.link_id is not None)
        if dialect == "postgresql":
            row = connection.execute(statements[0], params).one()
            user_id, context_pk, link_pk = int(row[0]), int(row[1]), row[2]
        else:
            user_id = int(connection.execute(text(_USER), params).scalar_one())
            context_pk = int(connection.execute(statements[0], params).scalar_one())
            params.update(context_pk=context_pk, user_pk=user_id)
            connection.execute(statements[1], params)
            if facts.link_id is not None:
                link_pk = int(connection.execute(statements[2], params).scalar_one())
    record = LaunchRecord(user_id=user_id, context_pk=context_pk, resource_link_pk=link_pk,
                          deployment_pk=launch.deployment_pk, role=facts.role,
                          roles=facts.roles)
    # Remembered only once committed: a rollback must not leave ids of rows that do not exist.
    return record, lambda: RECENT.put(facts.key, facts.fingerprint, record)


def _nothing() -> None:
    return None


def _services(claims: dict[str, Any]) -> dict[str, Any]:
    services: dict[str, Any] = {}
    ags = claims.get(c.AGS_ENDPOINT)
    if isinstance(ags, dict):
        services["ags"] = {k: ags[k] for k in ("scope", "lineitems") if k in ags}
    nrps = claims.get(c.NRPS)
    if isinstance(nrps, dict) and nrps.get("context_memberships_url"):
        services["nrps"] = {"context_memberships_url": nrps["context_memberships_url"]}
    return services
