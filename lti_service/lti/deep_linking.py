"""Deep Linking: the placements the tool offers and the signed response.

pylti1p3's ``DeepLinkResource`` models the content items, but always emits ``"custom": {}``,
which makes Moodle 4.5's ``contentitem_return.php`` throw a TypeError; items are therefore
cleaned here before signing, and signed with the cached key object (pylti1p3 would reload
the PEM for every response).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.lineitem import LineItem

from lti_service.lti import claims as c
from lti_service.lti.keys import Signer


@dataclass(frozen=True)
class Placement:
    """Something a facilitator can place in a course."""

    key: str
    title: str
    path: str  # under /lti/launch/
    description: str = ""
    graded_tag: str | None = None  # AGS line item tag when the placement is graded
    score_maximum: float = 1.0


def content_item(placement: Placement, base_url: str) -> dict[str, Any]:
    resource = (
        DeepLinkResource()
        .set_title(placement.title)
        .set_url(f"{base_url}/lti/launch/{placement.path.lstrip('/')}")
    )
    if placement.graded_tag:
        resource.set_lineitem(
            LineItem()
            .set_score_maximum(placement.score_maximum)
            .set_label(placement.title)
            .set_tag(placement.graded_tag)
            .set_resource_id(placement.key)
        )
    item: dict[str, Any] = resource.to_dict()
    if not item.get("custom"):
        item.pop("custom", None)  # Moodle 4.5 crashes on "custom": {}
    if placement.description:
        item["text"] = placement.description
    item = {k: v for k, v in item.items() if v is not None}
    return item


def build_response(
    *,
    signer: Signer,
    client_id: str,
    issuer: str,
    deployment_id: str,
    settings: dict[str, Any],
    items: list[dict[str, Any]],
    message: str | None = None,
) -> str:
    """The signed LtiDeepLinkingResponse JWT for the platform's return URL."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": client_id,
        "aud": issuer,
        "azp": client_id,
        "iat": now,
        "exp": now + 300,
        "nonce": secrets.token_urlsafe(24),
        c.MESSAGE_TYPE: "LtiDeepLinkingResponse",
        c.VERSION: "1.3.0",
        c.DEPLOYMENT_ID: deployment_id,
        c.DL_CONTENT_ITEMS: items,
    }
    if settings.get("data") is not None:
        payload[c.DL_DATA] = settings["data"]
    if message:
        payload["https://purl.imsglobal.org/spec/lti-dl/claim/msg"] = message
    return signer.sign(payload)
