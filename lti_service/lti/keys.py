"""The tool's RSA keys: creation, encryption at rest, rotation, JWKS, and signing.

Loading a PEM private key costs tens of milliseconds (cryptography validates the RSA key), so
loaded key objects are kept per process, keyed by ``kid``; the database stays the source of
truth, which every instance reads.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_service.db import utcnow
from lti_service.models import KeyState, ToolKey

KEY_SIZE = 2048
ALGORITHM = "RS256"


class KeyError_(RuntimeError):
    """The key store cannot be used (no active key, or a secret that cannot decrypt it)."""


def _fernet(secret_key: str) -> Fernet:
    digest = hashlib.sha256(b"quality-club tool keys\x00" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _public_jwk(private_key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key()))
    jwk.update({"kid": kid, "alg": ALGORITHM, "use": "sig"})
    return jwk


def create_key(session: Session, secret_key: str) -> ToolKey:
    """A new active RSA key; the previously active key is retired (and still published)."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    kid = uuid.uuid4().hex
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    now = utcnow()
    for old in session.scalars(select(ToolKey).where(ToolKey.state == KeyState.ACTIVE.value)):
        old.state = KeyState.RETIRED.value
        old.retired_at = now
    key = ToolKey(
        kid=kid,
        state=KeyState.ACTIVE.value,
        private_key_encrypted=_fernet(secret_key).encrypt(pem).decode(),
        public_jwk=json.dumps(_public_jwk(private_key, kid)),
        created_at=now,
    )
    session.add(key)
    session.flush()
    _CACHE.put(kid, private_key)
    return key


def ensure_key(session: Session, secret_key: str) -> ToolKey:
    """The active key, made on first start."""
    key = active_key(session)
    return key if key is not None else create_key(session, secret_key)


def active_key(session: Session) -> ToolKey | None:
    return session.scalars(
        select(ToolKey).where(ToolKey.state == KeyState.ACTIVE.value).order_by(ToolKey.id.desc())
    ).first()


def published_keys(session: Session) -> list[ToolKey]:
    """Every key that verifiers may still meet: the active one and the retired ones."""
    return list(session.scalars(select(ToolKey).order_by(ToolKey.id)))


def jwks(session: Session) -> dict[str, Any]:
    return {"keys": [json.loads(k.public_jwk) for k in published_keys(session)]}


def delete_retired(session: Session, kid: str) -> bool:
    key = session.scalars(select(ToolKey).where(ToolKey.kid == kid)).first()
    if key is None or key.state != KeyState.RETIRED.value:
        return False
    session.delete(key)
    _CACHE.drop(kid)
    return True


class _KeyCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, rsa.RSAPrivateKey] = {}

    def get(self, kid: str) -> rsa.RSAPrivateKey | None:
        return self._keys.get(kid)

    def put(self, kid: str, key: rsa.RSAPrivateKey) -> None:
        with self._lock:
            self._keys[kid] = key

    def drop(self, kid: str) -> None:
        with self._lock:
            self._keys.pop(kid, None)


_CACHE = _KeyCache()


def private_key_for(key: ToolKey, secret_key: str) -> rsa.RSAPrivateKey:
    cached = _CACHE.get(key.kid)
    if cached is not None:
        return cached
    try:
        pem = _fernet(secret_key).decrypt(key.private_key_encrypted.encode())
    except InvalidToken as exc:
        raise KeyError_(
            "the tool key cannot be decrypted: LTI_SERVICE_SECRET_KEY differs from the one "
            "the key was created with"
        ) from exc
    loaded = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise KeyError_("stored tool key is not an RSA key")
    _CACHE.put(key.kid, loaded)
    return loaded


@dataclass(frozen=True)
class Signer:
    """Signs JWTs with the tool's active key."""

    kid: str
    private_key: rsa.RSAPrivateKey

    def sign(self, payload: dict[str, Any]) -> str:
        return jwt.encode(payload, self.private_key, algorithm=ALGORITHM,
                          headers={"kid": self.kid, "typ": "JWT"})


def signer(session: Session, secret_key: str) -> Signer:
    key = active_key(session)
    if key is None:
        raise KeyError_("no active tool key: run `lti-service keys rotate`")
    return Signer(kid=key.kid, private_key=private_key_for(key, secret_key))
