"""Which launch a request belongs to.

One browser may have the tool open in several courses at once (two iframes, two tabs), and
they share one cookie jar per LMS site; so the app session holds several launches, each
under a random id that every in-app URL carries (``/app/<lid>/...``). When the platform's
storage had to stand in for cookies, no cookie comes back at all: then the id is a signed,
expiring token holding the launch itself (``t.`` prefix) and pages send no Referer.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

from flask import abort, current_app, g, session
from itsdangerous import BadSignature, URLSafeTimedSerializer

from lti_service.lti.roles import AppRole
from lti_service.web import context

MAX_LAUNCHES = 8
TOKEN_PREFIX = "t."  # noqa: S105 - a marker, not a secret


@dataclass
class LaunchContext:
    user_id: int
    registration_id: int
    context_id: int | None
    role: str
    deployment_id: int
    resource_link_id: int | None = None
    target: str = ""
    locale: str | None = None
    deep_linking: dict[str, Any] | None = field(default=None)

    @property
    def app_role(self) -> AppRole:
        return AppRole(self.role)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="lti-launch-token")


def store(launch: LaunchContext, cookieless: bool) -> str:
    """Remember a launch; returns the id to put in URLs."""
    if cookieless:
        return TOKEN_PREFIX + _serializer().dumps(asdict(launch))
    lid = secrets.token_urlsafe(12)
    launches: dict[str, Any] = dict(session.get("launches", {}))
    launches[lid] = asdict(launch)
    while len(launches) > MAX_LAUNCHES:
        launches.pop(next(iter(launches)))
    session["launches"] = launches
    session.permanent = True
    return lid


def resolve(lid: str) -> LaunchContext:
    """The launch for ``lid`` or a 401 page saying the session is gone."""
    data: dict[str, Any] | None
    if lid.startswith(TOKEN_PREFIX):
        try:
            data = _serializer().loads(lid[len(TOKEN_PREFIX):],
                                       max_age=context.settings().session_lifetime)
        except BadSignature:
            data = None
    else:
        data = session.get("launches", {}).get(lid)
    if not isinstance(data, dict):
        abort(401, description="Your session with the tool has ended or was not found. "
                               "Open the tool again from your course.")
    launch = LaunchContext(**data)
    g.launch = launch
    g.lid = lid
    return launch


def current() -> LaunchContext | None:
    launch: LaunchContext | None = g.get("launch")
    return launch
