"""What can be placed in a course and where a launch lands (routing on target_link_uri).

Placements live under ``/lti/launch/``: Moodle binds typed or imported links to the tool by
URL prefix, and a cartridge's launch URL is the only per-link data that survives an import.
Besides the home, Deep Linking offers one graded placement per framework (line item tag
``qdt-assessment``, maximum 1) and the facilitator's cohort view. Framework placements are
built from ``xml/frameworks/`` (validated on first import, like at start-up).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from lti_service.assessment import frameworks
from lti_service.assessment.errors import N_
from lti_service.lti.deep_linking import Placement

QDT_PREFIX = "qdt/"
QDT_TAG = "qdt-assessment"
QDT_TITLE = N_("Quality Development Tool: %(framework)s")


@dataclass(frozen=True)
class Route:
    key: str
    path: str  # path under /lti/launch ("" for the plain launch URL)
    endpoint: str  # view that opens, with a ``lid`` argument
    offered: bool  # offered in the Deep Linking picker
    deep_link: Placement  # in English; see ``in_language``
    framework_key: str | None = None  # the framework a QDT placement opens


HOME = Route(
    key="home",
    path="home",
    endpoint="learner.home_dispatch",
    offered=True,
    deep_link=Placement(
        key="home",
        title=N_("Quality Club"),
        path="home",
        description=N_("Peer-learning club on quality in learning mobility: self-assessment, "
                       "club meetings and action plans."),
    ),
)

COHORT = Route(
    key="cohort",
    path="cohort",
    endpoint="facilitator.cohort_launch",
    offered=True,
    deep_link=Placement(
        key="cohort",
        title=N_("Quality Club: cohort overview"),
        path="cohort",
        description=N_("For facilitators: who has started and submitted the self-assessment, "
                       "anonymised results per area and the cohort's peer-learning "
                       "priorities."),
    ),
)


def framework_route(framework: frameworks.Framework) -> Route:
    title = QDT_TITLE % {"framework": framework.title.get("en")}
    return Route(
        key=f"qdt-{framework.key}",
        path=QDT_PREFIX + framework.key,
        endpoint="learner.qdt_launch",
        offered=True,
        framework_key=framework.key,
        deep_link=Placement(
            key=f"qdt-{framework.key}",
            title=title,
            path=QDT_PREFIX + framework.key,
            description=framework.description.get("en"),
            graded_tag=QDT_TAG,
            score_maximum=1.0,
        ),
    )


def placements() -> list[Route]:
    """Every placement, the home first; built once per frameworks folder (the folder is set
    by ``create_app``, after this module was imported)."""
    return _build(frameworks.frameworks_dir())


@functools.cache
def _build(directory: Path) -> list[Route]:
    return [HOME, *(framework_route(f) for f in frameworks.registry().values()), COHORT]


def in_language(route: Route, language: str, translate: Callable[[str], str]) -> Placement:
    """The placement as a facilitator reading ``language`` places it: its title is what the
    course shows (the LMS keeps it), so it is in the language of the person placing it."""
    base = route.deep_link
    framework = frameworks.get(route.framework_key) if route.framework_key else None
    if framework is None:
        return replace(base, title=translate(base.title),
                       description=translate(base.description))
    return replace(base, title=translate(QDT_TITLE) % {"framework": framework.title.get(language)},
                   description=framework.description.get(language))


def placement_for_path(path: str) -> Route | None:
    rest = path.removeprefix("/lti/launch").strip("/")
    routes = placements()
    if rest == "":
        return routes[0]
    for route in routes:
        if route.path == rest:
            return route
    return None


def framework_key_for_target(target: str) -> str | None:
    """The framework a launch's target_link_uri places (``…/lti/launch/qdt/<key>``)."""
    from urllib.parse import urlsplit

    rest = urlsplit(target).path.removeprefix("/lti/launch").strip("/")
    if rest.startswith(QDT_PREFIX):
        return rest.removeprefix(QDT_PREFIX)
    return None
