"""An independent LTI 1.3 test platform, run as its own process by the test suite.

It shares no code with the tool or the demo LMS: own keys, own JWKS, own OIDC authorization
endpoint, written from the LTI 1.3 spec with PyJWT. Tests steer it through the
``lti_message_hint`` they put in the login initiation URL (a JSON object): which user and
roles, which message type, and *mutations* that break the id_token in the ways the 1EdTech
certification suite does (no kid, unknown kid, wrong signature, alg none/HS256, missing
claims, wrong iss/aud, expired, clock skew).

Run: python tests/support/platform_server.py --port 0 --tool http://127.0.0.1:5000
It prints ``READY <base url>`` once it listens.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import html
import json
import sys
import threading
import time
import uuid
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs, urlencode
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
ROLE = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
CLIENT_ID = "test-client-42"
DEPLOYMENT_ID = "deploy-1"


class Keys:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.keys: list[tuple[str, rsa.RSAPrivateKey]] = []
        self.rotate()
        self.other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.jwks_requests = 0

    def rotate(self) -> str:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        kid = "k-" + uuid.uuid4().hex[:12]
        with self.lock:
            self.keys.append((kid, key))
        return kid

    @property
    def current(self) -> tuple[str, rsa.RSAPrivateKey]:
        return self.keys[-1]

    def jwks(self) -> dict[str, Any]:
        out = []
        for kid, key in self.keys:
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            jwk.update(kid=kid, alg="RS256", use="sig")
            out.append(jwk)
        return {"keys": out}


class Platform:
    def __init__(self, base: str, tool: str) -> None:
        self.base = base
        self.tool = tool.rstrip("/")
        self.keys = Keys()
        self.clients = {CLIENT_ID}
        self.registration_tokens: dict[str, bool] = {}  # token -> used
        self.registrations: list[dict[str, Any]] = []

    def claims(self, spec: dict[str, Any], nonce: str) -> dict[str, Any]:
        now = int(time.time())
        user = spec.get("user", "learner")
        roles = spec.get("roles", [ROLE + "Learner"] if user == "learner" else
                         [ROLE + "Instructor"])
        msg = spec.get("message_type", "LtiResourceLinkRequest")
        claims: dict[str, Any] = {
            "iss": self.base,
            "aud": spec.get("aud", spec.get("client_id", CLIENT_ID)),
            "sub": spec.get("sub", f"user-{user}"),
            "iat": now,
            "exp": now + 60,
            "nonce": nonce,
            "name": f"Test {user.title()}",
            "given_name": "Test",
            "family_name": user.title(),
            "email": f"{user}@platform.test",
            LTI + "message_type": msg,
            LTI + "version": "1.3.0",
            LTI + "deployment_id": spec.get("deployment_id", DEPLOYMENT_ID),
            LTI + "target_link_uri": spec.get("target_link_uri", self.tool + "/lti/launch"),
            LTI + "roles": roles,
            LTI + "context": {"id": spec.get("context", "course-1"), "label": "T1",
                              "title": "Test course"},
            LTI + "tool_platform": {"guid": "test-platform", "name": "Test platform"},
            LTI + "launch_presentation": {"document_target": "iframe", "locale": "en"},
        }
        if msg == "LtiResourceLinkRequest":
            claims[LTI + "resource_link"] = {"id": spec.get("resource_link", "rl-1"),
                                             "title": "Quality Club"}
        if msg == "LtiDeepLinkingRequest":
            claims["https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"] = {
                "deep_link_return_url": self.base + "/dl-return",
                "accept_types": ["ltiResourceLink"],
                "accept_presentation_document_targets": ["iframe", "window"],
                "accept_multiple": True,
                "data": "opaque-" + nonce[:8],
            }
        for name in spec.get("drop", []):
            claims.pop(name if name in claims or "/" in name else LTI + name, None)
            if name == "resource_link.id":
                claims.get(LTI + "resource_link", {}).pop("id", None)
        claims.update(spec.get("set", {}))
        claims["iat"] += int(spec.get("iat_offset", 0))
        claims["exp"] += int(spec.get("iat_offset", 0)) + int(spec.get("exp_offset", 0))
        for name in spec.get("privacy_drop", []):
            claims.pop(name, None)
        return claims

    def sign(self, claims: dict[str, Any], spec: dict[str, Any]) -> str:
        kid, key = self.keys.current
        headers: dict[str, Any] = {"kid": kid}
        mode = spec.get("sign", "ok")
        if mode == "no_kid":
            return _encode_without_kid(claims, key)
        if mode == "unknown_kid":
            headers["kid"] = "nobody-knows-me"
        if mode == "wrong_key":
            return jwt.encode(claims, self.keys.other, algorithm="RS256", headers=headers)
        if mode == "alg_none":
            return _unsigned(claims, headers)
        if mode == "hs256":
            public_pem = key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            return _hs256(claims, headers, public_pem)
        return jwt.encode(claims, key, algorithm="RS256", headers=headers)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(claims: dict[str, Any], headers: dict[str, Any]) -> str:
    header = {"alg": "none", "typ": "JWT", **headers}
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."


def _hs256(claims: dict[str, Any], headers: dict[str, Any], secret: bytes) -> str:
    import hashlib
    import hmac

    header = {"alg": "HS256", "typ": "JWT", **headers}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    sig = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(sig)}"


def _encode_without_kid(claims: dict[str, Any], key: rsa.RSAPrivateKey) -> str:
    return jwt.encode(claims, key, algorithm="RS256")


def app_factory(platform: Platform):
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ["REQUEST_METHOD"]
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        body = ""
        if method == "POST":
            size = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(size).decode()
            query.update({k: v[0] for k, v in parse_qs(body).items()})

        def respond(status: str, body: str | bytes, ctype: str = "text/html") -> list[bytes]:
            data = body.encode() if isinstance(body, str) else body
            start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(data)))])
            return [data]

        if path == "/jwks":
            platform.keys.jwks_requests += 1
            return respond("200 OK", json.dumps(platform.keys.jwks()), "application/json")
        if path == "/stats":
            return respond("200 OK", json.dumps({"jwks_requests": platform.keys.jwks_requests}),
                           "application/json")
        if path == "/rotate" and method == "POST":
            kid = platform.keys.rotate()
            return respond("200 OK", json.dumps({"kid": kid}), "application/json")
        if path == "/login-url":
            # The URL a course page would put in its iframe (third-party initiated login).
            spec = query.get("spec", "{}")
            params = {
                "iss": platform.base,
                "login_hint": "hint-" + uuid.uuid4().hex[:6],
                "target_link_uri": json.loads(spec).get("target_link_uri",
                                                        platform.tool + "/lti/launch"),
                "lti_message_hint": spec,
                "client_id": json.loads(spec).get("client_id", CLIENT_ID),
                "lti_deployment_id": json.loads(spec).get("deployment_id", DEPLOYMENT_ID),
            }
            if json.loads(spec).get("storage_target"):
                params["lti_storage_target"] = json.loads(spec)["storage_target"]
            return respond("200 OK", platform.tool + "/lti/login?" + urlencode(params),
                           "text/plain")
        if path == "/auth":
            errors = []
            if query.get("redirect_uri") != platform.tool + "/lti/launch":
                errors.append("redirect_uri")
            for name, want in (("scope", "openid"), ("response_type", "id_token"),
                               ("response_mode", "form_post"), ("prompt", "none")):
                if query.get(name) != want:
                    errors.append(name)
            if query.get("client_id") not in platform.clients:
                errors.append("client_id")
            if not query.get("nonce") or not query.get("state"):
                errors.append("nonce/state")
            if errors:
                return respond("400 Bad Request", "invalid request: " + ", ".join(errors))
            spec = json.loads(query.get("lti_message_hint") or "{}")
            claims = platform.claims(spec, query["nonce"])
            token = platform.sign(claims, spec)
            form = (
                f'<form method="post" action="{html.escape(query["redirect_uri"])}">'
                f'<input type="hidden" name="id_token" value="{html.escape(token)}">'
                f'<input type="hidden" name="state" value="{html.escape(query["state"])}">'
                "</form><script>document.forms[0].submit()</script>"
            )
            return respond("200 OK", form)
        if path == "/dr/new-token" and method == "POST":
            token = "rt-" + uuid.uuid4().hex
            platform.registration_tokens[token] = False
            return respond("200 OK", json.dumps({"token": token}), "application/json")
        if path == "/dr/registrations":
            return respond("200 OK", json.dumps(platform.registrations), "application/json")
        if path == "/.well-known/openid-configuration":
            return openid_configuration(platform, environ, query, respond)
        if path == "/register" and method == "POST":
            return registration_endpoint(platform, environ, query, body, respond)
        if path == "/dl-return" and method == "POST":
            return respond("200 OK", json.dumps({"JWT": query.get("JWT", "")}),
                           "application/json")
        return respond("404 Not Found", "not found")

    return app


def _bearer(environ: dict[str, Any]) -> str:
    value = environ.get("HTTP_AUTHORIZATION", "")
    return value[len("Bearer "):] if value.startswith("Bearer ") else ""


def _registration_token_usable(platform: Platform, token: str) -> bool:
    """Known and not used yet (single use, as in Moodle)."""
    return token in platform.registration_tokens and not platform.registration_tokens[token]


def openid_configuration(platform: Platform, environ: dict[str, Any], query: dict[str, str],
                         respond: Any) -> list[bytes]:
    """The platform's OpenID configuration; ``fault`` breaks it the ways the tests need."""
    fault = query.get("fault", "")
    token = _bearer(environ)
    if not _registration_token_usable(platform, token):
        return respond("401 Unauthorized", json.dumps({"error": "invalid_token"}),
                       "application/json")
    if fault == "status_500":
        return respond("500 Internal Server Error", "<h1>Oops</h1>")
    if fault == "not_json":
        return respond("200 OK", "<html><body>Login required</body></html>")
    register = platform.base + "/register"
    if query.get("reg_fault"):
        register += "?fault=" + query["reg_fault"]
    config = {
        "issuer": "http://other.example" if fault == "issuer_mismatch" else platform.base,
        "authorization_endpoint": platform.base + "/auth",
        "token_endpoint": platform.base + "/token",
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
        "jwks_uri": platform.base + "/jwks",
        "registration_endpoint": register,
        "scopes_supported": ["openid",
                             "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
                             "https://purl.imsglobal.org/spec/lti-ags/scope/score",
                             "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
                             "https://purl.imsglobal.org/spec/lti-nrps/scope/"
                             "contextmembership.readonly"],
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "claims_supported": ["sub", "iss", "name", "given_name", "family_name", "email"],
        "https://purl.imsglobal.org/spec/lti-platform-configuration": {
            "product_family_code": "test-platform",
            "version": "1.0",
            "messages_supported": [{"type": "LtiResourceLinkRequest"},
                                   {"type": "LtiDeepLinkingRequest"}],
        },
    }
    if fault == "incomplete":
        del config["jwks_uri"]
    return respond("200 OK", json.dumps(config), "application/json")


def registration_endpoint(platform: Platform, environ: dict[str, Any], query: dict[str, str],
                          body: str, respond: Any) -> list[bytes]:
    """Validates like Moodle 4.5's registration endpoint; the token is single use."""
    fault = query.get("fault", "")
    token = _bearer(environ)
    if not _registration_token_usable(platform, token):
        return respond("401 Unauthorized", json.dumps({"error": "invalid_token"}),
                       "application/json")
    if fault == "status_500":
        return respond("500 Internal Server Error", "<h1>Oops</h1>")
    if fault == "status_400":
        return respond("400 Bad Request", "Unsupported client metadata")
    try:
        reg = json.loads(body)
    except ValueError:
        return respond("400 Bad Request", "not json")
    tool_conf = reg.get("https://purl.imsglobal.org/spec/lti-tool-configuration", {})
    problems = []
    if "id_token" not in reg.get("response_types", []):
        problems.append("response_types")
    if not isinstance(reg.get("redirect_uris"), list) or (
            platform.tool + "/lti/launch") not in reg["redirect_uris"]:
        problems.append("redirect_uris")
    if reg.get("token_endpoint_auth_method") != "private_key_jwt":
        problems.append("token_endpoint_auth_method")
    if not reg.get("initiate_login_uri") or not reg.get("jwks_uri"):
        problems.append("initiate_login_uri/jwks_uri")
    target = tool_conf.get("target_link_uri", "")
    if not tool_conf.get("domain") or tool_conf["domain"] != target.split("/")[2]:
        problems.append("domain")
    if "LtiDeepLinkingRequest" not in [m.get("type") for m in tool_conf.get("messages", [])]:
        problems.append("messages")
    if problems:
        return respond("400 Bad Request", "invalid registration: " + ", ".join(problems))
    platform.registration_tokens[token] = True
    number = len(platform.registrations) + 1
    client_id = f"dyn-client-{number}"
    reply = dict(reg, client_id=client_id)
    reply["https://purl.imsglobal.org/spec/lti-tool-configuration"] = dict(
        tool_conf, deployment_id=f"dyn-deploy-{number}")
    if fault == "no_client_id":
        del reply["client_id"]
    else:
        platform.clients.add(client_id)
    platform.registrations.append(reply)
    if fault == "html":
        return respond("200 OK", "<html>ok</html>")
    return respond("200 OK", json.dumps(reply), "application/json")


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tool", required=True)
    args = parser.parse_args()
    holder: dict[str, Platform] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        return app_factory(holder["p"])(environ, start_response)

    server = make_server("127.0.0.1", args.port, app, server_class=_Server, handler_class=_Quiet)
    base = f"http://127.0.0.1:{server.server_port}"
    holder["p"] = Platform(base, args.tool)
    print("READY", base, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    sys.exit(0)


if __name__ == "__main__":
    main()
