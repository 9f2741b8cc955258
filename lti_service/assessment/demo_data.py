"""Sample learners for the demo course, so the facilitator's cohort view has something to
show (distributions need at least five respondents) the first time someone tries it.

Called at start-up only when the demo LMS is enabled; seeds once, and never when the demo
course already has assessments. Answers are drawn from a fixed seed, so every demo shows
the same cohort.
"""

from __future__ import annotations

import random

from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_service.assessment import frameworks
from lti_service.assessment.service import Owner, save_answer, set_priorities, start, submit
from lti_service.assessment.validation import AnswerInput
from lti_service.db import utcnow
from lti_service.models import Assessment, Context, Membership, Registration, User

DEMO_CONTEXT_ID = "demo-course-1"
SAMPLE_LEARNERS = (
    ("Amira", "Haddad"), ("Bruno", "Costa"), ("Chloé", "Martin"), ("Dara", "Kelly"),
    ("Elif", "Yilmaz"), ("Filip", "Novák"), ("Greta", "Lindqvist"),
)
LEARNER_ROLE = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"


def seed_demo_cohort(session: Session, registration: Registration) -> int:
    """Seed the sample learners' submitted assessments; returns how many were created."""
    framework = frameworks.registry().get("mobility")
    if framework is None:
        return 0
    course = session.scalars(select(Context).where(
        Context.registration_id == registration.id,
        Context.context_id == DEMO_CONTEXT_ID)).first()
    if course is None:
        course = Context(registration_id=registration.id, context_id=DEMO_CONTEXT_ID,
                         title="Quality in Learning Mobility (demo course)", label="QC-101",
                         deployment_id=registration.deployments[0].id
                         if registration.deployments else None)
        session.add(course)
        session.flush()
    elif session.scalars(select(Assessment.id).where(Assessment.context_id == course.id)
                         ).first() is not None:
        return 0
    rng = random.Random(20261123)  # noqa: S311 - sample data, not security
    created = 0
    for n, (given, family) in enumerate(SAMPLE_LEARNERS, start=1):
        sub = f"demo-sample-{n}"
        user = session.scalars(select(User).where(User.registration_id == registration.id,
                                                  User.sub == sub)).first()
        if user is None:
            user = User(registration_id=registration.id, sub=sub, given_name=given,
                        family_name=family, name=f"{given} {family}")
            session.add(user)
            session.flush()
        if session.scalars(select(Membership).where(Membership.context_id == course.id,
                                                    Membership.user_id == user.id)).first() is None:
            session.add(Membership(context_id=course.id, user_id=user.id,
                                   roles=[LEARNER_ROLE], role="learner"))
        owner = Owner(registration.id, course.id, user.id)
        assessment = start(session, owner, framework)
        strength = rng.uniform(0.8, 3.2)  # each organisation has its own overall maturity
        for criterion in framework.criteria:
            if rng.random() < 0.05:
                data = AnswerInput(level=None, not_applicable=True)
            else:
                level = max(0, min(framework.max_level, round(rng.gauss(strength, 1.0))))
                data = AnswerInput(level=level, not_applicable=False,
                                   want_to_learn=level <= 1 and rng.random() < 0.4,
                                   can_share=level >= 3 and rng.random() < 0.5)
            save_answer(session, assessment, framework, criterion.id, data, 0)
        session.refresh(assessment)
        low = sorted((a for a in assessment.answers if a.level is not None),
                     key=lambda a: (a.level, rng.random()))
        picks = [(a.criterion_id, "Sample learner: we want to improve this.")
                 for a in low[: rng.randint(1, 3)]]
        set_priorities(session, assessment, framework, picks)
        session.refresh(assessment)
        submit(session, assessment, framework)
        assessment.submitted_at = utcnow()
        created += 1
    session.flush()
    return created
