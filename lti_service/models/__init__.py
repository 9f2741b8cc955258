"""The data model, one module per aggregate. Importing this package registers every table."""

from lti_service.models.admins import Operator
from lti_service.models.assessment import (
    Assessment,
    AssessmentStatus,
    CriterionAnswer,
    Priority,
    UserPreference,
)
from lti_service.models.demo_lms import DemoLmsGrade, DemoLmsLineItem, DemoLmsLink, DemoLmsTool
from lti_service.models.grades import GradeLineItem, GradeOutbox, GradeProgress, OutboxState
from lti_service.models.lti_state import UsedNonce
from lti_service.models.people import Context, Membership, ResourceLink, User
from lti_service.models.platforms import (
    Deployment,
    PlatformKeySet,
    Registration,
    RegistrationState,
)
from lti_service.models.roster import RosterFetch, RosterMember
from lti_service.models.tool_keys import KeyState, ToolKey

__all__ = [
    "Assessment",
    "AssessmentStatus",
    "Context",
    "CriterionAnswer",
    "DemoLmsGrade",
    "DemoLmsLineItem",
    "DemoLmsLink",
    "DemoLmsTool",
    "Deployment",
    "GradeLineItem",
    "GradeOutbox",
    "GradeProgress",
    "KeyState",
    "Membership",
    "Operator",
    "OutboxState",
    "PlatformKeySet",
    "Priority",
    "Registration",
    "RegistrationState",
    "ResourceLink",
    "RosterFetch",
    "RosterMember",
    "ToolKey",
    "UsedNonce",
    "User",
    "UserPreference",
]
