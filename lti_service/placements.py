"""What can be placed in a course and where a launch lands (routing on target_link_uri).

Placements live under ``/lti/launch/``: Moodle binds typed or imported links to the tool by
URL prefix, and a cartridge's launch URL is the only per-link data that survives an import.
"""

from __future__ import annotations

from dataclasses import dataclass

from lti_service.lti.deep_linking import Placement


@dataclass(frozen=True)
class Route:
    key: str
    path: str  # path under /lti/launch ("" for the plain launch URL)
    endpoint: str  # view that opens, with a ``lid`` argument
    offered: bool  # offered in the Deep Linking picker
    deep_link: Placement


PLACEMENTS: list[Route] = [
    Route(
        key="home",
        path="home",
        endpoint="learner.home_dispatch",
        offered=True,
        deep_link=Placement(
            key="home",
            title="Quality Club",
            path="home",
            description="Peer-learning club on quality in learning mobility: self-assessment, "
            "club meetings and action plans.",
        ),
    ),
]


def placement_for_path(path: str) -> Route | None:
    rest = path.removeprefix("/lti/launch").strip("/")
    if rest == "":
        return PLACEMENTS[0]
    for route in PLACEMENTS:
        if route.path == rest:
            return route
    return None
