"""The OIDC ``state``: a signed, expiring token instead of a database row.

The login initiation writes nothing: the state carries the registration, the nonce, an HMAC
of the browser-binding cookie (never the cookie itself, so a stolen state is useless in
another browser), and, only for a browser that came without the cookie, what the cookieless
fallbacks need (platform-storage target, the login parameters for "open in a new window").
Single use comes from the nonce, which the launch records under a unique constraint.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, TimestampSigner


@dataclass(frozen=True)
class LoginState:
    registration_id: int
    nonce: str
    browser_mac: str
    storage_target: str | None = None
    storage_origin: str | None = None
    login_params: dict[str, str] | None = None


class StateCodec:
    def __init__(self, secret_key: str) -> None:
        self._signer = TimestampSigner(secret_key, salt="lti-oidc-state")
        self._mac_key = hashlib.sha256(b"lti-browser-binding\x00" + secret_key.encode()).digest()

    def _mac(self, purpose: str, value: str) -> str:
        digest = hmac.new(self._mac_key, f"{purpose}\x00{value}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(digest.digest()[:18]).decode("ascii")

    def browser_mac(self, browser_id: str) -> str:
        return self._mac("browser", browser_id)

    def storage_secret(self, nonce: str) -> str:
        """What the login puts in LTI platform storage and the launch must bring back."""
        return self._mac("storage", nonce)

    def encode(self, state: LoginState) -> str:
        data: list[Any] = [state.registration_id, state.nonce, state.browser_mac]
        if state.storage_target or state.login_params:
            data += [state.storage_target, state.storage_origin, state.login_params]
        payload = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode())
        return self._signer.sign(payload.rstrip(b"=")).decode("ascii")

    def decode(self, token: str, max_age: int) -> LoginState | None:
        """The state, or None if it is forged, altered, malformed or expired."""
        try:
            payload = self._signer.unsign(token.encode("ascii"), max_age=max_age)
            data = json.loads(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))
        except (BadSignature, ValueError, UnicodeError):
            return None
        if not isinstance(data, list) or len(data) not in (3, 6):
            return None
        return LoginState(*data)

    def browser_matches(self, state: LoginState, browser_id: str | None) -> bool:
        return bool(browser_id) and hmac.compare_digest(
            state.browser_mac, self.browser_mac(str(browser_id)))

    def storage_matches(self, state: LoginState, secret: str | None) -> bool:
        return bool(secret) and bool(state.storage_target) and hmac.compare_digest(
            self.storage_secret(state.nonce), str(secret))
