"""The tool's keys: made on first start, encrypted at rest, rotated without breaking
verifiers, published at both JWKS URLs."""

from __future__ import annotations

import jwt
import pytest
import requests
from sqlalchemy import select

from lti_service.db import make_engine, make_session_factory
from lti_service.lti import keys
from lti_service.migrate import upgrade
from lti_service.models import KeyState, ToolKey
from tests.conftest import ToolServer


@pytest.fixture
def key_session(tmp_path):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'k.db'}"
    upgrade(url)
    factory = make_session_factory(make_engine(url))
    with factory() as session:
        yield session


def test_the_private_key_is_stored_encrypted(key_session) -> None:  # type: ignore[no-untyped-def]
    key = keys.create_key(key_session, "a" * 40)
    stored = key.private_key_encrypted
    assert "PRIVATE KEY" not in stored
    assert keys.private_key_for(key, "a" * 40).key_size == 2048


def test_a_wrong_secret_cannot_decrypt_the_key(key_session) -> None:  # type: ignore[no-untyped-def]
    key = keys.create_key(key_session, "a" * 40)
    keys._CACHE.drop(key.kid)
    with pytest.raises(keys.KeyError_, match="LTI_SERVICE_SECRET_KEY"):
        keys.private_key_for(key, "b" * 40)


def test_rotation_keeps_the_retired_key_published_until_deleted(key_session) -> None:  # type: ignore[no-untyped-def]
    first = keys.create_key(key_session, "a" * 40)
    token = keys.signer(key_session, "a" * 40).sign({"hello": "world"})
    second = keys.create_key(key_session, "a" * 40)
    published = {k["kid"]: k for k in keys.jwks(key_session)["keys"]}
    assert set(published) == {first.kid, second.kid}
    assert key_session.get(ToolKey, first.id).state == KeyState.RETIRED.value
    assert keys.signer(key_session, "a" * 40).kid == second.kid
    # A token signed before the rotation still verifies against the published set.
    jwk = jwt.PyJWK(published[first.kid])
    assert jwt.decode(token, jwk.key, algorithms=["RS256"]) == {"hello": "world"}
    assert not keys.delete_retired(key_session, second.kid)  # the active key stays
    assert keys.delete_retired(key_session, first.kid)
    assert [k["kid"] for k in keys.jwks(key_session)["keys"]] == [second.kid]


def test_both_jwks_urls_publish_every_key_with_kid(tool: ToolServer) -> None:
    a = requests.get(tool.base_url + "/.well-known/jwks.json", timeout=10)
    b = requests.get(tool.base_url + "/lti/jwks", timeout=10)
    assert a.status_code == b.status_code == 200
    assert a.json() == b.json()
    with tool.session() as s:
        kids = set(s.scalars(select(ToolKey.kid)))
    published = a.json()["keys"]
    assert {k["kid"] for k in published} == kids
    for key in published:
        assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig"
        assert "d" not in key and "p" not in key  # never the private part
