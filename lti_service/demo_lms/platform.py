"""The embedded demo LMS: an LTI 1.3 platform as strict as Moodle 4.5 (no Flask in here).

The views in ``views.py`` only adapt HTTP to these methods, so the test suite can drive the
platform directly. Process-level state (used nonces and ``jti`` values, access tokens, the
tool's key set, counters) lives in memory: enough for a one-process development platform,
not for production; a second process would not see the first one's tokens.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from lti_service import __version__
from lti_service.config import Settings

CLIENT_ID = "quality-club-demo"
DEPLOYMENT_ID = "1"
ALGORITHM = "RS256"
LTI_VERSION = "1.3.0"
LEEWAY = 5  # seconds of clock skew tolerated on tokens the tool signs
ID_TOKEN_LIFETIME = 60  # Moodle: exp = iat + 60
ACCESS_TOKEN_LIFETIME = 3600
HINT_MAX_AGE = 12 * 3600  # a launch page left open for a working day still launches
DL_DATA_MAX_AGE = 3600  # a facilitator has an hour to pick content
KEY_FILE = "demo_lms_key.pem"

RESOURCE_LINK_REQUEST = "LtiResourceLinkRequest"
DEEP_LINKING_REQUEST = "LtiDeepLinkingRequest"
DEEP_LINKING_RESPONSE = "LtiDeepLinkingResponse"
MESSAGE_TYPES = (RESOURCE_LINK_REQUEST, DEEP_LINKING_REQUEST)

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
AGS_SCOPES = (
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
)
NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
PERMITTED_SCOPES = frozenset((*AGS_SCOPES, NRPS_SCOPE))
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

_MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
_INSTITUTION = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#"
_SYSTEM = "http://purl.imsglobal.org/vocab/lis/v2/system/person#"
COURSE_OFFERING = "http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"


class PlatformError(Exception):
    """A request the platform refuses; ``code`` is an OAuth/OIDC error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class DemoUser:
    """One member of the fixed demo roster; ``key`` is what the launch page's URL names."""

    key: str
    sub: str
    given_name: str
    family_name: str
    email: str
    roles: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"


_LEARNER_ROLES = (f"{_MEMBERSHIP}Learner", f"{_INSTITUTION}Student")
ROSTER: dict[str, DemoUser] = {
    u.key: u
    for u in (
        DemoUser("learner", "demo-learner-1", "Lena", "Learner", "lena@example.org",
                 _LEARNER_ROLES),
        DemoUser("learner2", "demo-learner-2", "Luca", "Lerner", "luca@example.org",
                 _LEARNER_ROLES),
        DemoUser("facilitator", "demo-facilitator-1", "Finn", "Facilitator", "finn@example.org",
                 (f"{_MEMBERSHIP}Instructor", f"{_INSTITUTION}Faculty")),
        DemoUser("admin", "demo-admin-1", "Ada", "Admin", "ada@example.org",
                 (f"{_SYSTEM}Administrator", f"{_INSTITUTION}Administrator",
                  f"{_MEMBERSHIP}Instructor")),
    )
}
_BY_SUB: dict[str, DemoUser] = {u.sub: u for u in ROSTER.values()}

# Enrolled in the demo course but never launching from its page: the roster (NRPS) lists
# them, so the facilitator sees who has not opened the tool yet.
ENROLLED_ONLY: tuple[DemoUser, ...] = (
    DemoUser("newcomer", "demo-learner-3", "Nora", "Newcomer", "nora@example.org",
             _LEARNER_ROLES),
    DemoUser("offline", "demo-learner-4", "Omar", "Offline", "omar@example.org",
             _LEARNER_ROLES),
)
COURSE_MEMBERS: tuple[DemoUser, ...] = (*ROSTER.values(), *ENROLLED_ONLY)

COURSE: dict[str, Any] = {
    "id": "demo-course-1",
    "label": "QC-101",
    "title": "Quality in Learning Mobility (demo course)",
    "type": [COURSE_OFFERING],
}


@dataclass(frozen=True)
class Endpoints:
    """Every URL of the demo platform and of the tool it talks to, from the tool's base URL."""

    tool_base_url: str
    issuer: str
    auth_login_url: str
    token_url: str
    key_set_url: str
    deep_link_return_url: str
    tool_login_url: str
    tool_redirect_uri: str
    tool_jwks_url: str


def endpoints(tool_base_url: str) -> Endpoints:
    tool = tool_base_url.rstrip("/")
    issuer = f"{tool}/demo-lms"
    return Endpoints(
        tool_base_url=tool,
        issuer=issuer,
        auth_login_url=f"{issuer}/auth",
        token_url=f"{issuer}/token",
        key_set_url=f"{issuer}/jwks",
        deep_link_return_url=f"{issuer}/deep-link-return",
        tool_login_url=f"{tool}/lti/login",
        tool_redirect_uri=f"{tool}/lti/launch",
        tool_jwks_url=f"{tool}/.well-known/jwks.json",
    )


@dataclass(frozen=True)
class DemoClient:
    """A tool registered with the demo LMS by Dynamic Registration (besides the built-in one)."""

    client_id: str
    deployment_id: str
    login_url: str
    redirect_uris: tuple[str, ...]
    target_link_uri: str


@dataclass(frozen=True)
class AuthResult:
    """What the authorization endpoint form-posts to the tool's redirect URI."""

    redirect_uri: str
    state: str
    id_token: str
    claims: dict[str, Any] = field(repr=False)


# --- the platform's key: made once per instance folder, loaded once per process -------------

_KEYS: dict[Path, rsa.RSAPrivateKey] = {}
_KEYS_LOCK = threading.Lock()


def load_or_create_key(path: Path) -> rsa.RSAPrivateKey:
    """The RSA key in ``path`` (created 0600 on first use); PEM loading costs ~30 ms, so cache."""
    with _KEYS_LOCK:
        key = _KEYS.get(path)
        if key is None:
            key = _read_or_create(path)
            _KEYS[path] = key
        return key


def _read_or_create(path: Path) -> rsa.RSAPrivateKey:
    if not path.exists():
        new = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = new.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        try:
            os.link(tmp, path)  # atomic create-if-absent: a concurrent process's key wins
            return new
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise PlatformError("server_error", f"{path} does not hold an RSA private key")
    return loaded


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uint(n: int) -> str:
    return _b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def public_jwk(key: rsa.RSAPrivateKey) -> dict[str, Any]:
    """The public JWK with ``kid`` = RFC 7638 thumbprint, stable for as long as the key file."""
    numbers = key.public_key().public_numbers()
    jwk = {"e": _uint(numbers.e), "kty": "RSA", "n": _uint(numbers.n)}
    canonical = json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()
    kid = _b64url(hashlib.sha256(canonical).digest())
    return {**jwk, "kid": kid, "alg": ALGORITHM, "use": "sig"}


# --- process-level state --------------------------------------------------------------------


class _SingleUse:
    """Values accepted once until they expire (nonces, jti). Process memory: demo only."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, float] = {}
        self._purged = time.time()

    def claim(self, value: str, until: float) -> bool:
        now = time.time()
        with self._lock:
            if now - self._purged > 30:
                self._seen = {k: t for k, t in self._seen.items() if t > now}
                self._purged = now
            expiry = self._seen.get(value)
            if expiry is not None and expiry > now:
                return False
            self._seen[value] = until
            return True


class _ToolKeys:
    """The tool's public keys by kid; fetched lazily, re-fetched once when a kid is unknown."""

    def __init__(self, ttl: float = 300.0) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, Any] = {}
        self._fetched_at = float("-inf")
        self._ttl = ttl
        self.fetches = 0

    def get(self, kid: str, fetch: Callable[[], dict[str, Any]]) -> Any | None:
        with self._lock:
            if kid in self._keys and time.monotonic() - self._fetched_at < self._ttl:
                return self._keys[kid]
        try:
            jwks = fetch()
        except Exception as exc:  # network, HTTP status, JSON: all mean "no keys"
            raise PlatformError("jwks_unavailable", f"cannot fetch the tool's key set: {exc}") \
                from exc
        keys = _parse_jwks(jwks)
        with self._lock:
            self._keys, self._fetched_at = keys, time.monotonic()
            self.fetches += 1
        return keys.get(kid)


def _parse_jwks(jwks: Any) -> dict[str, Any]:
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise PlatformError("jwks_unavailable", "the tool's key set is not a JWKS")
    keys: dict[str, Any] = {}
    for jwk in jwks["keys"]:
        if not isinstance(jwk, dict) or jwk.get("kty") != "RSA" or not jwk.get("kid"):
            continue
        if jwk.get("use", "sig") != "sig":
            continue
        with contextlib.suppress(jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            keys[str(jwk["kid"])] = jwt.PyJWK(jwk, algorithm=ALGORITHM).key
    return keys


# --- the platform ---------------------------------------------------------------------------

_LOCALE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")


class DemoPlatform:
    """The demo LMS for one tool base URL: keys, OIDC authorization, Deep Linking, tokens."""

    client_id = CLIENT_ID
    deployment_id = DEPLOYMENT_ID

    def __init__(self, settings: Settings, tool_base_url: str,
                 secret_key: str | None = None) -> None:
        urls = endpoints(tool_base_url)
        self.urls = urls
        self.tool_base_url = urls.tool_base_url
        self.issuer = urls.issuer
        self.auth_login_url = urls.auth_login_url
        self.token_url = urls.token_url
        self.key_set_url = urls.key_set_url
        self.deep_link_return_url = urls.deep_link_return_url
        self.tool_login_url = urls.tool_login_url
        self.tool_redirect_uri = urls.tool_redirect_uri
        self.tool_jwks_url = urls.tool_jwks_url
        self.key_path = settings.ensure_instance_dir() / KEY_FILE
        self._key = load_or_create_key(self.key_path)
        self._jwk = public_jwk(self._key)
        self.kid: str = self._jwk["kid"]
        self.guid = hashlib.sha256(self.issuer.encode()).hexdigest()[:32]
        secret = secret_key or settings.resolve_secret_key()
        self._hints = URLSafeTimedSerializer(secret, salt="demo-lms/lti-message-hint")
        self._dl_data = URLSafeTimedSerializer(secret, salt="demo-lms/deep-linking-data")
        self._tool_keys = _ToolKeys()
        self._dl_nonces = _SingleUse()
        self._jtis = _SingleUse()
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[float, frozenset[str]]] = {}
        self._tokens_purged = time.time()
        #: Every call of the token endpoint, failed ones included (benchmarks read it).
        self.token_requests = 0
        #: Access tokens handed out.
        self.tokens_issued = 0

    # keys ---------------------------------------------------------------------------------

    def jwks(self) -> dict[str, Any]:
        return {"keys": [dict(self._jwk)]}

    def sign(self, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        """Sign ``claims`` with the platform key. ``headers`` replace the default ``{"kid"}``
        (tests use that to drop or falsify the kid); ``alg`` and ``typ`` are always set."""
        hdrs = {"kid": self.kid} if headers is None else dict(headers)
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers=hdrs)

    # users ---------------------------------------------------------------------------------

    @staticmethod
    def user(user_key: str) -> DemoUser:
        try:
            return ROSTER[user_key]
        except KeyError:
            raise PlatformError("invalid_request", f"unknown demo user {user_key!r}") from None

    # OIDC login ----------------------------------------------------------------------------

    def login_initiation_url(
        self,
        user_key: str,
        message_type: str = RESOURCE_LINK_REQUEST,
        target_link_uri: str | None = None,
        resource_link_id: str = "demo-resource-1",
        title: str = "Quality Club",
        locale: str = "en",
        custom: Mapping[str, str] | None = None,
        lms_url: str | None = None,
        client: DemoClient | None = None,
        lineitem: str | None = None,
    ) -> str:
        """The tool's login initiation URL; the launch spec travels signed in the hint.

        ``lms_url`` is the course page as the browser sees it (``localhost`` or ``127.0.0.1``);
        Deep Linking sends the user back there, so a cross-site test stays cross-site.
        """
        user = self.user(user_key)
        if message_type not in MESSAGE_TYPES:
            raise PlatformError("invalid_request", f"unsupported message type {message_type!r}")
        if not _LOCALE.match(locale):
            raise PlatformError("invalid_request", f"invalid locale {locale!r}")
        target = target_link_uri or (client.target_link_uri if client else
                                     self.tool_redirect_uri)
        client_id = client.client_id if client else self.client_id
        deployment_id = client.deployment_id if client else self.deployment_id
        hint = self._hints.dumps({
            "sub": user.sub, "type": message_type, "target": target, "link": resource_link_id,
            "title": title, "locale": locale, "custom": dict(custom or {}), "lms": lms_url,
            "cid": client_id, "dep": deployment_id, "li": lineitem,
        })
        query = urlencode({
            "iss": self.issuer,
            "login_hint": user.sub,
            "target_link_uri": target,
            "lti_message_hint": hint,
            "client_id": client_id,
            "lti_deployment_id": deployment_id,
        })
        login_url = client.login_url if client else self.tool_login_url
        return f"{login_url}?{query}"

    def authorize(self, params: Mapping[str, str],
                  clients: Callable[[str], DemoClient | None] | None = None) -> AuthResult:
        """Moodle ``auth.php``: refuse anything but an exact, complete authentication request.

        ``clients`` finds tools registered by Dynamic Registration by client_id."""
        required = ("scope", "response_type", "client_id", "redirect_uri", "login_hint",
                    "lti_message_hint", "nonce", "state")
        missing = [name for name in required if not params.get(name)]
        if missing:
            raise PlatformError("invalid_request", "Invalid request: missing " + ", ".join(missing))
        if params["scope"] != "openid":
            raise PlatformError("invalid_scope", "Invalid scope: must be 'openid'")
        if params["response_type"] != "id_token":
            raise PlatformError("unsupported_response_type",
                                "Invalid response_type: must be 'id_token'")
        client = None
        if params["client_id"] != self.client_id:
            client = clients(params["client_id"]) if clients else None
            if client is None:
                raise PlatformError("unauthorized_client",
                                    f"Unknown client_id {params['client_id']!r}")
        redirect_uris = client.redirect_uris if client else (self.tool_redirect_uri,)
        if params.get("response_mode") != "form_post":
            raise PlatformError("invalid_request", "Invalid request: response_mode must be "
                                "'form_post'")
        if params.get("prompt") != "none":
            raise PlatformError("invalid_request", "Invalid request: prompt must be 'none'")
        if params["redirect_uri"] not in redirect_uris:
            raise PlatformError(
                "invalid_request",
                f"Invalid request: unregistered redirect_uri {params['redirect_uri']!r} "
                f"(registered: {', '.join(redirect_uris)})",
            )
        if len(params["nonce"]) > 1024 or len(params["state"]) > 1024:
            raise PlatformError("invalid_request", "Invalid request: nonce or state too long")
        user = _BY_SUB.get(params["login_hint"])
        if user is None:
            raise PlatformError("access_denied", f"Unknown login_hint {params['login_hint']!r}")
        try:
            hint: dict[str, Any] = self._hints.loads(params["lti_message_hint"],
                                                     max_age=HINT_MAX_AGE)
        except SignatureExpired:
            raise PlatformError("invalid_request", "lti_message_hint has expired: reload the "
                                "course page") from None
        except BadSignature:
            raise PlatformError("invalid_request", "Invalid lti_message_hint (bad signature)") \
                from None
        if hint.get("sub") != user.sub:
            raise PlatformError("access_denied", "login_hint does not match lti_message_hint")
        if hint.get("cid", self.client_id) != params["client_id"]:
            raise PlatformError("access_denied", "client_id does not match lti_message_hint")
        claims = self._launch_claims(user, hint, params["nonce"])
        return AuthResult(params["redirect_uri"], params["state"], self.sign(claims), claims)

    def _launch_claims(self, user: DemoUser, hint: dict[str, Any], nonce: str) -> dict[str, Any]:
        now = int(time.time())
        locale = str(hint["locale"])
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": hint.get("cid", self.client_id),
            "sub": user.sub,
            "iat": now,
            "exp": now + ID_TOKEN_LIFETIME,
            "nonce": nonce,
            "name": user.name,
            "given_name": user.given_name,
            "family_name": user.family_name,
            "email": user.email,
            "locale": locale,
            LTI + "message_type": hint["type"],
            LTI + "version": LTI_VERSION,
            LTI + "deployment_id": hint.get("dep", self.deployment_id),
            LTI + "target_link_uri": hint["target"],
            LTI + "roles": list(user.roles),
            LTI + "context": dict(COURSE),
            LTI + "tool_platform": {"guid": self.guid, "name": "Demo LMS",
                                    "product_family_code": "demo-lms", "version": __version__},
            LTI + "launch_presentation": {"document_target": "iframe", "locale": locale,
                                          "return_url": f"{self.issuer}/"},
            AGS_CLAIM: {"scope": list(AGS_SCOPES),
                        "lineitems": f"{self.issuer}/api/lineitems?course={COURSE['id']}"},
            NRPS_CLAIM: {"context_memberships_url":
                         f"{self.issuer}/api/memberships?course={COURSE['id']}",
                         "service_versions": ["2.0"]},
        }
        if hint.get("li") and hint["type"] == RESOURCE_LINK_REQUEST:
            # the link's own grade column (made by its Deep Linking lineItem), as Moodle sends
            claims[AGS_CLAIM]["lineitem"] = hint["li"]
        if hint["type"] == DEEP_LINKING_REQUEST:
            data = self._dl_data.dumps({"n": secrets.token_hex(8), "sub": user.sub,
                                        "ctx": COURSE["id"], "lms": hint.get("lms")})
            claims[DL + "deep_linking_settings"] = {
                "deep_link_return_url": self.deep_link_return_url,
                "accept_types": ["ltiResourceLink"],
                "accept_presentation_document_targets": ["iframe", "window"],
                "accept_multiple": True,
                "auto_create": True,
                "title": hint["title"],
                "data": data,
            }
        else:
            claims[LTI + "resource_link"] = {"id": hint["link"], "title": hint["title"]}
        if hint.get("custom"):
            claims[LTI + "custom"] = dict(hint["custom"])
        return claims

    # tokens the tool signs -----------------------------------------------------------------

    def _verify_tool_jwt(self, token: str, fetch: Callable[[], dict[str, Any]],
                         audiences: list[str], code: str) -> dict[str, Any]:
        """Signature (RS256, kid from the tool JWKS), iss = client_id, aud, exp/iat."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise PlatformError(code, f"not a JWT: {exc}") from None
        if header.get("alg") != ALGORITHM:
            raise PlatformError(code, f"JWT alg {header.get('alg')!r} refused: only RS256")
        kid = header.get("kid")
        if not kid or not isinstance(kid, str):
            raise PlatformError(code, "the JWT header has no kid")
        try:
            key = self._tool_keys.get(kid, fetch)
        except PlatformError as exc:
            raise PlatformError(code, exc.message) from exc.__cause__
        if key is None:
            raise PlatformError(code, f"unknown kid {kid!r}: not in the tool's key set "
                                f"{self.tool_jwks_url}")
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=[ALGORITHM], audience=audiences, issuer=self.client_id,
                leeway=LEEWAY, options={"require": ["exp", "iat", "iss", "aud"]},
            )
        except jwt.InvalidSignatureError:
            raise PlatformError(code, "the JWT signature does not verify") from None
        except jwt.ExpiredSignatureError:
            raise PlatformError(code, "the JWT has expired (exp)") from None
        except jwt.ImmatureSignatureError:
            raise PlatformError(code, "the JWT is not yet valid (iat/nbf in the future)") \
                from None
        except jwt.InvalidAudienceError:
            raise PlatformError(code, f"wrong aud: expected {' or '.join(audiences)}") from None
        except jwt.InvalidIssuerError:
            raise PlatformError(code, f"wrong iss: expected the client_id {self.client_id}") \
                from None
        except jwt.MissingRequiredClaimError as exc:
            raise PlatformError(code, f"the JWT has no {exc.claim} claim") from None
        except jwt.InvalidTokenError as exc:
            raise PlatformError(code, f"invalid JWT: {exc}") from None
        return claims

    def verify_deep_linking_response(
        self, jwt_str: str, fetch_tool_jwks: Callable[[], dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Check a Deep Linking response like a strict platform and return its content items.

        Nonces are remembered in process memory until the token expires (demo only).
        """
        code = "invalid_deep_linking_response"
        claims = self._verify_tool_jwt(jwt_str, fetch_tool_jwks, [self.issuer], code)
        nonce = claims.get("nonce")
        if not nonce or not isinstance(nonce, str):
            raise PlatformError(code, "the JWT has no nonce")
        expected = {
            LTI + "deployment_id": self.deployment_id,
            LTI + "message_type": DEEP_LINKING_RESPONSE,
            LTI + "version": LTI_VERSION,
        }
        for claim, value in expected.items():
            if claims.get(claim) != value:
                raise PlatformError(code, f"claim {claim} is {claims.get(claim)!r}, "
                                    f"expected {value!r}")
        data = claims.get(DL + "data")
        if not isinstance(data, str) or not data:
            raise PlatformError(code, "the data from deep_linking_settings was not returned")
        self.deep_linking_data(data)
        items = claims.get(DL + "content_items", [])
        if not isinstance(items, list):
            raise PlatformError(code, "content_items is not an array")
        for index, item in enumerate(items):
            self._check_content_item(index, item, code)
        until = float(claims["exp"]) + LEEWAY + 1
        if not self._dl_nonces.claim(nonce, until):
            raise PlatformError(code, "nonce already used (replayed Deep Linking response)")
        return items

    def deep_linking_data(self, data: str) -> dict[str, Any]:
        """The payload of a ``data`` value this platform minted (``lms``: the course page URL)."""
        code = "invalid_deep_linking_response"
        try:
            payload: dict[str, Any] = self._dl_data.loads(data, max_age=DL_DATA_MAX_AGE)
        except SignatureExpired:
            raise PlatformError(code, "the Deep Linking request has expired: start again") \
                from None
        except BadSignature:
            raise PlatformError(code, "data differs from what the platform sent") from None
        return payload

    def _check_content_item(self, index: int, item: Any, code: str) -> None:
        where = f"content item {index}"
        if not isinstance(item, dict):
            raise PlatformError(code, f"{where} is not an object")
        if item.get("type") != "ltiResourceLink":
            raise PlatformError(code, f"{where}: type {item.get('type')!r} not accepted "
                                "(only ltiResourceLink)")
        url = item.get("url")
        base = self.tool_base_url
        if not isinstance(url, str) or not (url == base or url.startswith((f"{base}/",
                                                                           f"{base}?"))):
            raise PlatformError(code, f"{where}: url {url!r} is not under the tool URL {base}")
        if len(url) > 1024:
            raise PlatformError(code, f"{where}: url longer than 1024 characters")
        title = item.get("title")
        if not isinstance(title, str) or not title.strip():
            raise PlatformError(code, f"{where}: a title is required")
        if "custom" in item:
            custom = item["custom"]
            if custom == {}:
                raise PlatformError(code, f'{where} has "custom": {{}}: Moodle 4.5 crashes on an '
                                    "empty custom object (TypeError in contentitem_return.php); "
                                    "omit custom when there are no parameters")
            if not isinstance(custom, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in custom.items()
            ):
                raise PlatformError(code, f"{where}: custom must map strings to strings")
        if "lineItem" in item:
            line_item = item["lineItem"]
            maximum = line_item.get("scoreMaximum") if isinstance(line_item, dict) else None
            if isinstance(maximum, bool) or not isinstance(maximum, int | float) or maximum <= 0:
                raise PlatformError(code, f"{where}: lineItem needs a positive scoreMaximum")

    # OAuth 2 token endpoint ----------------------------------------------------------------

    def token_endpoint(
        self, form: Mapping[str, str], fetch_tool_jwks: Callable[[], dict[str, Any]]
    ) -> tuple[dict[str, Any], int]:
        """client_credentials with a private_key_jwt assertion; returns (JSON body, status).

        Unknown scopes are dropped like Moodle's ``token.php`` does; none left is
        ``invalid_scope``. Every assertion problem is ``invalid_client`` (RFC 7523 §3.2, 401).
        """
        with self._lock:
            self.token_requests += 1
        if form.get("grant_type") != "client_credentials":
            return _oauth_error("unsupported_grant_type", "grant_type must be client_credentials")
        if form.get("client_assertion_type") != JWT_BEARER:
            return _oauth_error("invalid_client", f"client_assertion_type must be {JWT_BEARER}",
                                401)
        assertion = form.get("client_assertion")
        if not assertion:
            return _oauth_error("invalid_client", "client_assertion is missing", 401)
        requested = (form.get("scope") or "").split()
        if not requested:
            return _oauth_error("invalid_scope", "scope is missing")
        try:
            claims = self._verify_tool_jwt(assertion, fetch_tool_jwks,
                                           [self.token_url, self.issuer], "invalid_client")
        except PlatformError as exc:
            return _oauth_error(exc.code, exc.message, 401)
        if claims.get("sub") != self.client_id:
            return _oauth_error("invalid_client", f"sub must be the client_id {self.client_id}",
                                401)
        jti = claims.get("jti")
        if not jti or not isinstance(jti, str):
            return _oauth_error("invalid_client", "the client assertion has no jti", 401)
        if not self._jtis.claim(jti, float(claims["exp"]) + LEEWAY + 1):
            return _oauth_error("invalid_client", "jti already used (replayed client assertion)",
                                401)
        granted = [s for s in dict.fromkeys(requested) if s in PERMITTED_SCOPES]
        if not granted:
            return _oauth_error("invalid_scope", "none of the requested scopes is offered: "
                                + " ".join(sorted(PERMITTED_SCOPES)))
        token = secrets.token_urlsafe(32)
        now = time.time()
        with self._lock:
            if now - self._tokens_purged > 60:
                self._tokens = {t: v for t, v in self._tokens.items() if v[0] > now}
                self._tokens_purged = now
            self._tokens[token] = (now + ACCESS_TOKEN_LIFETIME, frozenset(granted))
            self.tokens_issued += 1
        body = {"access_token": token, "token_type": "Bearer",
                "expires_in": ACCESS_TOKEN_LIFETIME, "scope": " ".join(granted)}
        return body, 200

    def check_access_token(self, token: str, scope: str) -> bool:
        """True when ``token`` was issued here, has not expired and carries ``scope``."""
        with self._lock:
            entry = self._tokens.get(token)
        return entry is not None and entry[0] > time.time() and scope in entry[1]


def _oauth_error(error: str, description: str, status: int = 400) -> tuple[dict[str, Any], int]:
    return {"error": error, "error_description": description}, status
