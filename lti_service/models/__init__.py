"""The data model, one module per aggregate. Importing this package registers every table."""

from lti_service.models.admins import Operator
from lti_service.models.assessment import (
    Assessment,
    AssessmentStatus,
    CriterionAnswer,
    Priority,
    UserPreference,
)
from lti_service.models.demo_lms import DemoLmsLink, DemoLmsTool
from lti_service.models.lti_state import OidcLogin
from lti_service.models.people import Context, Membership, ResourceLink, User
from lti_service.models.platforms import (
    Deployment,
    PlatformKeySet,
    Registration,
    RegistrationState,
)
from lti_service.models.tool_keys import KeyState, ToolKey

__all__ = [
    "Assessment",
    "AssessmentStatus",
    "Context",
    "CriterionAnswer",
    "DemoLmsLink",
    "DemoLmsTool",
    "Deployment",
    "KeyState",
    "Membership",
    "OidcLogin",
    "Operator",
    "PlatformKeySet",
    "Priority",
    "Registration",
    "RegistrationState",
    "ResourceLink",
    "ToolKey",
    "User",
    "UserPreference",
]
