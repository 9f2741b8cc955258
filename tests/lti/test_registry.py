"""The per-process copy of registrations: cached for logins, always fresh on request."""

from __future__ import annotations

from pathlib import Path

from lti_service.db import make_engine, make_session_factory
from lti_service.lti.registry import Registry
from lti_service.migrate import upgrade
from lti_service.models import Registration


def test_the_copy_is_reused_until_it_expires_and_fresh_reads_bypass_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    upgrade(url)
    engine = make_engine(url)
    with make_session_factory(engine)() as s:
        s.add(Registration(issuer="https://p.example", client_id="c", auth_login_url="https://p/a",
                           auth_token_url="https://p/t", key_set_url="https://p/k",
                           state="active"))
        s.commit()
    registry = Registry(engine, ttl=300)
    [first] = registry.find("https://p.example", "c")
    with make_session_factory(engine)() as s:
        s.query(Registration).update({"state": "inactive"})
        s.commit()
    assert registry.find("https://p.example", "c")[0].state == "active"  # cached copy
    assert registry.find("https://p.example", "c", fresh=True)[0].state == "inactive"
    assert Registry(engine, ttl=0).find("https://p.example", None)[0].id == first.id
    assert registry.find("https://unknown.example", None) == []
    engine.dispose()
