"""The demo LMS's side of LTI Dynamic Registration, validating like Moodle 4.5 (no Flask).

Moodle's registration endpoint requires ``id_token`` in ``response_types``, ``redirect_uris``
as an array, ``private_key_jwt``, and ``lti-tool-configuration.domain`` and
``target_link_uri``; the registration token is single use; the reply's deployment id is the
new tool type's id, and the tool starts pending on Moodle's side too (here: usable at once,
the demo has no second admin).
"""

from __future__ import annotations

import secrets
import string
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer

from lti_service.demo_lms.platform import PERMITTED_SCOPES, PlatformError

TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
TOKEN_MAX_AGE = 3600


@dataclass(frozen=True)
class NewTool:
    client_id: str
    name: str
    initiate_login_uri: str
    target_link_uri: str
    jwks_uri: str
    redirect_uris: list[str]
    scope: str
    registration: dict[str, Any]


class RegistrationTokens:
    """Signed, expiring, single-use registration tokens (used ones kept in process memory)."""

    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="demo-lms/registration-token")
        self._used: dict[str, float] = {}

    def issue(self) -> str:
        return self._serializer.dumps({"jti": secrets.token_hex(12)})

    def check(self, token: str, consume: bool = False) -> bool:
        try:
            data = self._serializer.loads(token, max_age=TOKEN_MAX_AGE)
        except BadSignature:
            return False
        jti = str(data.get("jti"))
        if jti in self._used:
            return False
        if consume:
            self._used[jti] = time.time()
        return True


def openid_configuration(issuer: str) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/auth",
        "token_endpoint": f"{issuer}/token",
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
        "jwks_uri": f"{issuer}/jwks",
        "registration_endpoint": f"{issuer}/register",
        "scopes_supported": ["openid", *sorted(PERMITTED_SCOPES)],
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "claims_supported": ["sub", "iss", "name", "given_name", "family_name", "email"],
        "https://purl.imsglobal.org/spec/lti-platform-configuration": {
            "product_family_code": "demo-lms",
            "version": "1.0",
            "messages_supported": [{"type": "LtiResourceLinkRequest"},
                                   {"type": "LtiDeepLinkingRequest"}],
            "variables": [],
        },
    }


def _client_id() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(15))  # Moodle: 15 characters


def validate_registration(body: Any) -> NewTool:
    """Moodle 4.5's checks of a tool's registration request."""
    if not isinstance(body, dict):
        raise PlatformError("invalid_client_metadata", "The registration must be a JSON object.")
    if "id_token" not in (body.get("response_types") or []):
        raise PlatformError("invalid_client_metadata", "response_types must include id_token")
    redirect_uris = body.get("redirect_uris")
    if not isinstance(redirect_uris, list) or not redirect_uris or not all(
            isinstance(u, str) for u in redirect_uris):
        raise PlatformError("invalid_redirect_uri", "redirect_uris must be a non-empty array")
    if body.get("token_endpoint_auth_method") != "private_key_jwt":
        raise PlatformError("invalid_client_metadata",
                            "token_endpoint_auth_method must be private_key_jwt")
    for name in ("initiate_login_uri", "jwks_uri", "client_name"):
        if not isinstance(body.get(name), str) or not body[name]:
            raise PlatformError("invalid_client_metadata", f"{name} is required")
    conf = body.get(TOOL_CONFIGURATION)
    if not isinstance(conf, dict):
        raise PlatformError("invalid_client_metadata", f"{TOOL_CONFIGURATION} is required")
    domain, target = conf.get("domain"), conf.get("target_link_uri")
    if not domain or not target:
        raise PlatformError("invalid_client_metadata",
                            "lti-tool-configuration needs domain and target_link_uri")
    if urlsplit(str(target)).netloc != domain:
        raise PlatformError("invalid_client_metadata",
                            "the domain does not match the target_link_uri's host")
    messages = conf.get("messages") or []
    if "LtiDeepLinkingRequest" not in [m.get("type") for m in messages if isinstance(m, dict)]:
        raise PlatformError("invalid_client_metadata",
                            "the tool must list LtiDeepLinkingRequest in its messages")
    scopes = [s for s in str(body.get("scope", "")).split() if s in PERMITTED_SCOPES]
    return NewTool(
        client_id=_client_id(),
        name=str(body["client_name"])[:255],
        initiate_login_uri=body["initiate_login_uri"],
        target_link_uri=str(target),
        jwks_uri=body["jwks_uri"],
        redirect_uris=list(redirect_uris),
        scope=" ".join(scopes),
        registration=body,
    )


def registration_reply(tool: NewTool, deployment_id: str) -> dict[str, Any]:
    reply = dict(tool.registration)
    reply["client_id"] = tool.client_id
    reply["scope"] = tool.scope
    conf = dict(reply[TOOL_CONFIGURATION])
    conf["deployment_id"] = deployment_id
    reply[TOOL_CONFIGURATION] = conf
    return reply
