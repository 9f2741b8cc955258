"""The demo course's sample cohort: seeded once at start-up with the demo LMS, with enough
submitted assessments for the cohort view to show results, and never twice."""

from __future__ import annotations

from sqlalchemy import select

from lti_service.assessment import frameworks
from lti_service.assessment.cohort import MIN_GROUP, cohort_report
from lti_service.assessment.demo_data import DEMO_CONTEXT_ID, SAMPLE_LEARNERS, seed_demo_cohort
from lti_service.models import Context, Registration
from tests.conftest import ToolServer


def test_the_demo_course_has_a_sample_cohort_and_seeding_again_adds_nothing(
    tool: ToolServer,
) -> None:
    framework = frameworks.registry()["mobility"]
    with tool.session() as s:
        course = s.scalars(select(Context).where(Context.context_id == DEMO_CONTEXT_ID)).one()
        registration = s.get(Registration, course.registration_id)
        assert registration is not None
        report = cohort_report(s, course.id, framework)
        assert report.respondents >= len(SAMPLE_LEARNERS) >= MIN_GROUP + 1
        assert all(d.shown for d in report.areas) and report.priorities_shown
        assert seed_demo_cohort(s, registration) == 0
        assert cohort_report(s, course.id, framework).respondents == report.respondents
