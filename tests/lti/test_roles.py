"""Role mapping: full URIs and Moodle's short names; least privilege for the unknown."""

from __future__ import annotations

import pytest

from lti_service.lti.roles import AppRole, classify

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"


@pytest.mark.parametrize(("roles", "expected"), [
    ([LIS + "membership#Learner"], AppRole.LEARNER),
    (["Learner"], AppRole.LEARNER),
    ([LIS + "membership#Instructor"], AppRole.FACILITATOR),
    (["Instructor"], AppRole.FACILITATOR),
    ([LIS + "membership/Instructor#TeachingAssistant"], AppRole.FACILITATOR),
    ([LIS + "membership#ContentDeveloper"], AppRole.FACILITATOR),
    ([LIS + "membership#Learner", LIS + "membership#Instructor"], AppRole.FACILITATOR),
    ([LIS + "system/person#Administrator"], AppRole.ADMIN),
    ([LIS + "institution/person#Administrator", "Learner"], AppRole.ADMIN),
    ([LIS + "membership#Administrator"], AppRole.ADMIN),
    (["Administrator"], AppRole.ADMIN),
    ([LIS + "institution/person#Faculty"], AppRole.LEARNER),  # not a course role
    ([LIS + "institution/person#Instructor"], AppRole.LEARNER),
    (["http://example.org/custom#Wizard"], AppRole.LEARNER),
    ([], AppRole.LEARNER),
    (["", "  "], AppRole.LEARNER),
])
def test_roles_map_to_the_least_privileged_matching_view(roles: list[str],
                                                         expected: AppRole) -> None:
    assert classify(roles) is expected
