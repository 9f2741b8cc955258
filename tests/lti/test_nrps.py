"""NRPS member parsing: short and full role names, odd members skipped (paging over real
HTTP is in tests/demo_lms/test_ags_endpoints.py and tests/web/test_facilitator_sync.py)."""

from __future__ import annotations

from lti_service.lti import nrps
from lti_service.lti.roles import AppRole, classify


def test_members_with_short_or_full_roles() -> None:
    short = nrps.parse_member({"user_id": "7", "roles": ["Learner"], "name": " Ana ",
                               "status": "Active"})
    full = nrps.parse_member({"user_id": 8, "roles": [
        "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"], "status": "Inactive"})
    assert short is not None and full is not None
    assert (short.user_id, short.name, short.status) == ("7", "Ana", "Active")
    assert (full.user_id, full.status) == ("8", "Inactive")
    assert classify(short.roles) == AppRole.LEARNER
    assert classify(full.roles) == AppRole.FACILITATOR
    assert classify(["Instructor"]) == AppRole.FACILITATOR


def test_members_without_an_id_are_skipped() -> None:
    assert nrps.parse_member({"roles": ["Learner"]}) is None
    assert nrps.parse_member("nobody") is None
    odd = nrps.parse_member({"user_id": "9", "roles": ["Learner", 5, ""], "status": "Weird"})
    assert odd is not None and odd.roles == ["Learner"] and odd.status == "Active"
