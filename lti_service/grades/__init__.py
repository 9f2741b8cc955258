"""Grade sync (LTI AGS): progress per stage, the outbox, the worker's sending logic.

Domain services call :func:`record_qdt` (or :func:`outbox.record`) inside their transaction;
the worker (:mod:`lti_service.worker`) drains the outbox.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from lti_service.grades import outbox
from lti_service.grades.scores import QDT_EVENTS, QDT_TAG

if TYPE_CHECKING:
    from lti_service.assessment.frameworks import Framework
    from lti_service.models import Assessment

__all__ = ["QDT_TAG", "outbox", "record_qdt"]


def record_qdt(session: Session, assessment: Assessment, framework: Framework,
               event: str) -> bool:
    """A Quality Development Tool event (``opened``, ``saved``, ``submitted``, ``locked``)
    for the ``qdt-assessment`` line item of the assessment's framework placement."""
    title = framework.title.get("en")
    return outbox.record(
        session, registration_id=assessment.registration_id,
        context_id=assessment.context_id, user_id=assessment.user_id, tag=QDT_TAG,
        resource_id=f"qdt-{framework.key}", label=f"Quality Development Tool: {title}",
        progress=QDT_EVENTS[event])
