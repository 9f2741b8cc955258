"""LTI Dynamic Registration 1.0, the tool's side (no Flask here).

1. The platform opens ``/lti/register?openid_configuration=…&registration_token=…``.
2. The tool fetches the platform's OpenID configuration (token as Bearer), checks that its
   ``issuer`` has the origin of the configuration URL and that everything the tool needs is
   there.
3. The tool POSTs its registration (client metadata + ``lti-tool-configuration``) to the
   platform's ``registration_endpoint`` and reads back ``client_id`` and the deployment id.

Every failure is a ``RegistrationError`` with a code and a message for the admin; the
caller stores the registration only after step 3 succeeded.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from lti_service.lti.platform_keys import USER_AGENT

log = logging.getLogger(__name__)

PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
SCOPES = [
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
]
CLAIMS = ["iss", "sub", "name", "given_name", "family_name", "email", "locale"]
MAX_RESPONSE_BYTES = 256 * 1024
TIMEOUT = 15


class RegistrationError(Exception):
    """Dynamic Registration failed; nothing may be stored."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class PlatformConfiguration:
    url: str
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    registration_endpoint: str
    token_endpoint_auth_audience: str | None
    scopes_supported: list[str]
    product_family_code: str
    version: str
    messages_supported: list[str]
    raw: dict[str, Any]

    @property
    def origin(self) -> str:
        parts = urlsplit(self.issuer)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def platform_info(self) -> dict[str, Any]:
        return {"product_family_code": self.product_family_code, "version": self.version,
                "configuration_url": self.url}


@dataclass(frozen=True)
class RegistrationReply:
    client_id: str
    deployment_id: str | None
    raw: dict[str, Any]


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _http_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _read_json(response: requests.Response, what: str) -> Any:
    if len(response.content) > MAX_RESPONSE_BYTES:
        raise RegistrationError("platform_reply_too_large", f"The platform's {what} is too large.",
                                502)
    try:
        return response.json()
    except ValueError as exc:
        raise RegistrationError(
            f"{what.replace(' ', '_')}_not_json",
            f"The platform's {what} is not JSON (HTTP {response.status_code}, "
            f"{response.headers.get('Content-Type', 'no content type')}).",
            502,
        ) from exc


def _client(http: requests.Session | None) -> requests.Session:
    session = http or requests.Session()
    session.headers.setdefault("User-Agent", USER_AGENT)
    return session


def fetch_platform_configuration(url: str, token: str | None,
                                 http: requests.Session | None = None) -> PlatformConfiguration:
    """Fetch and check the platform's OpenID configuration."""
    if not _http_url(url):
        raise RegistrationError("bad_configuration_url",
                                "The openid_configuration parameter is not an http(s) URL.")
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        response = _client(http).get(url, headers=headers, timeout=TIMEOUT,
                                     allow_redirects=False)
    except requests.RequestException as exc:
        raise RegistrationError(
            "configuration_unreachable",
            f"The platform's configuration at {url} could not be reached ({type(exc).__name__}).",
            502,
        ) from exc
    if response.status_code in (401, 403):
        raise RegistrationError(
            "registration_token_refused",
            "The platform refused the registration token (it may have expired or been used "
            "already). Start the registration again from your LMS.",
            400,
        )
    if response.status_code != 200:
        raise RegistrationError(
            "configuration_unavailable",
            f"The platform answered HTTP {response.status_code} for its configuration.", 502)
    return parse_platform_configuration(url, _read_json(response, "configuration"))


def parse_platform_configuration(url: str, data: Any) -> PlatformConfiguration:
    """Check a configuration document (fetched now, or carried signed between two pages)."""
    if not isinstance(data, dict):
        raise RegistrationError("configuration_not_json", "The configuration is not an object.",
                                502)
    issuer = data.get("issuer")
    if not isinstance(issuer, str) or not _http_url(issuer):
        raise RegistrationError("configuration_incomplete", "The configuration has no issuer.",
                                502)
    if _origin(issuer) != _origin(url):
        raise RegistrationError(
            "issuer_mismatch",
            f"The configuration at {url} names the issuer {issuer}, which is on another "
            "origin; it may not speak for that platform.",
            400,
        )
    missing = [name for name in ("authorization_endpoint", "token_endpoint", "jwks_uri",
                                 "registration_endpoint") if not _http_url(data.get(name))]
    platform = data.get(PLATFORM_CONFIGURATION)
    if not isinstance(platform, dict):
        missing.append(PLATFORM_CONFIGURATION)
        platform = {}
    algs = data.get("id_token_signing_alg_values_supported") or ["RS256"]
    if "RS256" not in algs:
        missing.append("id_token_signing_alg_values_supported (RS256)")
    if missing:
        raise RegistrationError(
            "configuration_incomplete",
            "The platform's configuration lacks what the tool needs: " + ", ".join(missing), 502)
    messages = [str(m["type"]) for m in platform.get("messages_supported", [])
                if isinstance(m, dict) and m.get("type")]
    return PlatformConfiguration(
        url=url,
        issuer=str(issuer),
        authorization_endpoint=data["authorization_endpoint"],
        token_endpoint=data["token_endpoint"],
        jwks_uri=data["jwks_uri"],
        registration_endpoint=data["registration_endpoint"],
        token_endpoint_auth_audience=data.get("authorization_server"),
        scopes_supported=[s for s in data.get("scopes_supported", []) if isinstance(s, str)],
        product_family_code=str(platform.get("product_family_code", "")),
        version=str(platform.get("version", "")),
        messages_supported=messages,
        raw=data,
    )


def tool_registration_request(base_url: str, name: str, description: str,
                              config: PlatformConfiguration) -> dict[str, Any]:
    """The registration the tool asks for (what Moodle 4.5 checks is all here)."""
    launch = f"{base_url}/lti/launch"
    scopes = SCOPES
    if config.scopes_supported:
        scopes = [s for s in SCOPES if s in config.scopes_supported]
    messages: list[dict[str, Any]] = [
        {"type": "LtiResourceLinkRequest", "target_link_uri": launch, "label": name},
        {"type": "LtiDeepLinkingRequest", "target_link_uri": launch, "label": name,
         "placements": ["ContentArea"], "supported_types": ["ltiResourceLink"]},
    ]
    if config.messages_supported:
        messages = [m for m in messages if m["type"] in config.messages_supported] or messages
    return {
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": f"{base_url}/lti/login",
        "redirect_uris": [launch],
        "client_name": name,
        "jwks_uri": f"{base_url}/.well-known/jwks.json",
        "logo_uri": f"{base_url}/static/logo.svg",
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": " ".join(scopes),
        TOOL_CONFIGURATION: {
            "domain": urlsplit(launch).netloc,
            "description": description,
            "target_link_uri": launch,
            "claims": CLAIMS,
            "messages": messages,
        },
    }


def register(config: PlatformConfiguration, token: str | None, body: dict[str, Any],
             http: requests.Session | None = None) -> RegistrationReply:
    """POST the registration; the reply must carry a client_id."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        response = _client(http).post(config.registration_endpoint, data=json.dumps(body),
                                      headers=headers, timeout=TIMEOUT, allow_redirects=False)
    except requests.RequestException as exc:
        raise RegistrationError(
            "registration_unreachable",
            f"The platform's registration endpoint could not be reached ({type(exc).__name__}).",
            502,
        ) from exc
    if response.status_code in (401, 403):
        raise RegistrationError(
            "registration_token_refused",
            "The platform refused the registration (its token may have expired or been used "
            "already). Start the registration again from your LMS.",
            400,
        )
    if not 200 <= response.status_code < 300:
        detail = response.text[:300].strip()
        raise RegistrationError(
            "registration_refused",
            f"The platform refused the registration with HTTP {response.status_code}"
            + (f": {detail}" if detail and "<" not in detail else "."),
            502,
        )
    data = _read_json(response, "registration reply")
    if not isinstance(data, dict) or not isinstance(data.get("client_id"), str) or not (
            data["client_id"].strip()):
        raise RegistrationError("no_client_id",
                                "The platform's reply to the registration has no client_id.", 502)
    tool_config = data.get(TOOL_CONFIGURATION)
    deployment = tool_config.get("deployment_id") if isinstance(tool_config, dict) else None
    return RegistrationReply(client_id=data["client_id"].strip()[:255],
                             deployment_id=str(deployment)[:255] if deployment else None,
                             raw=data)
