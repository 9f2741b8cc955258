"""The data model, one module per aggregate. Importing this package registers every table."""

from lti_service.models.demo_lms import DemoLmsLink
from lti_service.models.lti_state import OidcLogin, UsedNonce
from lti_service.models.people import Context, Membership, ResourceLink, User
from lti_service.models.platforms import (
    Deployment,
    PlatformKeySet,
    Registration,
    RegistrationState,
)
from lti_service.models.tool_keys import KeyState, ToolKey

__all__ = [
    "Context",
    "DemoLmsLink",
    "Deployment",
    "KeyState",
    "Membership",
    "OidcLogin",
    "PlatformKeySet",
    "Registration",
    "RegistrationState",
    "ResourceLink",
    "ToolKey",
    "UsedNonce",
    "User",
]
