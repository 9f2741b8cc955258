"""Which launch a request belongs to.

One browser may have the tool open in several courses at once (two iframes, two tabs), and
they share one cookie jar per LMS site; so every in-app URL carries its launch
(``/app/<lid>/...``) rather than one session cookie holding "the" launch. The ``lid`` is a
signed, expiring token of the launch context (itsdangerous), written once at launch, with no
server-side session row and no session cookie to re-sign on every launch:

- ``c.<token>``: bound to the browser: valid only with the browser-binding cookie it names
  (so a copied URL is useless elsewhere), and forms under it get Flask-WTF's CSRF check;
- ``t.<token>``: a cookieless launch, where LTI platform storage stood in for cookies; the
  unguessable token in the URL is the credential, and pages send no Referer.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from flask import abort, g, request
from flask_babel import gettext
from itsdangerous import BadSignature, TimestampSigner

from lti_service.lti.roles import AppRole
from lti_service.web import context

TOKEN_PREFIX = "t."  # noqa: S105 - a marker, not a secret: the cookieless kind
BOUND_PREFIX = "c."
BIND_COOKIE = "qc_lti_browser"


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


_FIELDS = list(LaunchContext.__dataclass_fields__)


def make_signer(secret_key: str) -> TimestampSigner:
    """The signer of launch ids; ``create_app`` keeps one in the app's services."""
    return TimestampSigner(secret_key, salt="lti-launch-token")


def _signer() -> TimestampSigner:
    signer: TimestampSigner = context.state()["launch_signer"]
    return signer


def _dumps(values: list[Any], signer: TimestampSigner) -> str:
    # Plain JSON in base64url, signed with a timestamp: no compression step (the payload is
    # small), which keeps this off the launch's CPU budget.
    data = base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode())
    return signer.sign(data.rstrip(b"=")).decode("ascii")


def _loads(token: str, max_age: int) -> Any:
    data = _signer().unsign(token.encode("ascii"), max_age=max_age)
    return json.loads(base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4)))


def store(launch: LaunchContext, browser_id: str | None,
          signer: TimestampSigner | None = None) -> str:
    """The id to put in URLs: the launch itself, signed (compact: values in field order)."""
    signer = signer or _signer()
    values = [getattr(launch, name) for name in _FIELDS]
    if browser_id is None:
        return TOKEN_PREFIX + _dumps(values, signer)
    return BOUND_PREFIX + _dumps([*values, browser_id], signer)


def resolve(lid: str) -> LaunchContext:
    """The launch for ``lid`` or a 401 page saying the session is gone."""
    data: list[Any] | None = None
    bound = lid.startswith(BOUND_PREFIX)
    if bound or lid.startswith(TOKEN_PREFIX):
        try:
            data = _loads(lid[2:], max_age=context.settings().session_lifetime)
        except (BadSignature, ValueError, UnicodeError):
            data = None
    if isinstance(data, list) and bound:
        browser = data.pop() if len(data) == len(_FIELDS) + 1 else None
        if not browser or request.cookies.get(BIND_COOKIE) != browser:
            data = None
    if not isinstance(data, list) or len(data) != len(_FIELDS):
        abort(401, description=gettext("Your session with the tool has ended or was not "
                                       "found. Open the tool again from your course."))
    launch = LaunchContext(**dict(zip(_FIELDS, data, strict=True)))
    g.launch = launch
    g.lid = lid
    return launch


def current() -> LaunchContext | None:
    launch: LaunchContext | None = g.get("launch")
    return launch
