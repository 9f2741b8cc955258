"""Compact JWS parsing and RSA signature verification for incoming id_tokens.

PyJWT (used for everything the tool signs) checks every base64 character of a token in a
Python loop, about a third of a millisecond per launch — a tenth of the launch budget. The
verification itself is `cryptography`'s; this module only splits the token strictly and
picks the hash for the whitelisted RSA algorithms, so there is no algorithm negotiation:
``none``, HMAC and anything else are refused before a key is looked up, and only an RSA
public key object from the platform's JWKS is ever used.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")
HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "RS256": hashes.SHA256,
    "RS384": hashes.SHA384,
    "RS512": hashes.SHA512,
}


@dataclass(frozen=True)
class CompactJWS:
    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes


def _decode(segment: str) -> bytes:
    stripped = segment.rstrip("=")  # some issuers pad; at most two padding characters
    if len(segment) - len(stripped) > 2:
        raise ValueError("bad padding")
    segment = stripped
    if len(segment) % 4 == 1 or _SEGMENT.fullmatch(segment) is None:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _json_object(data: bytes) -> dict[str, Any]:
    value = json.loads(data)
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def parse(token: str) -> CompactJWS:
    """Split a compact JWS; ``ValueError`` if it is not one."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("a compact JWS has three parts")
    try:
        header = _json_object(_decode(parts[0]))
        payload = _json_object(_decode(parts[1]))
        signature = _decode(parts[2])
    except (binascii.Error, UnicodeError) as exc:
        raise ValueError("undecodable JWS") from exc
    return CompactJWS(header, payload, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)


def rsa_signature_valid(jws: CompactJWS, key: Any, alg: str) -> bool:
    """True only for a valid PKCS#1 v1.5 signature by ``key`` (an RSA public key)."""
    hash_type = HASHES.get(alg)
    if hash_type is None or not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.verify(jws.signature, jws.signing_input, padding.PKCS1v15(), hash_type())
    except InvalidSignature:
        return False
    return True
