"""Starting an assessment: one transaction with the request that starts it, and one
assessment per cycle however many requests start it at once."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from lti_service.assessment import frameworks, service
from lti_service.models import Assessment, Membership, User
from tests.conftest import ToolServer
from tests.support.records import registration_with_course

ICT = frameworks.registry()["ict-schools"]


@pytest.fixture
def owner(tool: ToolServer) -> Iterator[service.Owner]:
    """A learner in a course, committed: the tests' own sessions start with no write."""
    with tool.session() as s:
        reg, ctx = registration_with_course(s)
        user = User(registration_id=reg.id, sub=f"learner-{uuid.uuid4().hex[:8]}", name="Lena")
        s.add(user)
        s.flush()
        s.add(Membership(context_id=ctx.id, user_id=user.id, roles=[], role="learner"))
        s.commit()
        yield service.Owner(reg.id, ctx.id, user.id)
        s.delete(reg)
        s.commit()


def _assessments(tool: ToolServer, owner: service.Owner) -> list[int]:
    with tool.session() as s:
        return list(s.scalars(select(Assessment.id).where(
            Assessment.context_id == owner.context_id, Assessment.user_id == owner.user_id)))


def test_a_start_is_undone_when_the_request_that_made_it_rolls_back(
    tool: ToolServer, owner: service.Owner
) -> None:
    with tool.session() as s:
        started = service.start(s, owner, ICT)  # the transaction's first write
        assert started.id is not None and started.status == "draft"
        s.rollback()  # the request failed later on
    assert _assessments(tool, owner) == []


def test_a_started_assessment_is_kept_when_the_request_commits(
    tool: ToolServer, owner: service.Owner
) -> None:
    with tool.session() as s:
        started = service.start(s, owner, ICT)
        s.commit()
    assert _assessments(tool, owner) == [started.id]
    with tool.session() as s:
        assert service.start(s, owner, ICT).id == started.id  # idempotent


def test_two_requests_starting_at_once_share_one_assessment(
    tool: ToolServer, owner: service.Owner
) -> None:
    first = tool.session()
    second_result: list[int] = []
    errors: list[BaseException] = []
    first_id = service.start(first, owner, ICT).id  # written, not yet committed

    def second_request() -> None:
        try:
            with tool.session() as s:
                # Sees no assessment yet, so it inserts too: that insert waits for the first
                # request and then finds the cycle taken.
                second_result.append(service.start(s, owner, ICT).id)
                s.commit()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=second_request)
    thread.start()
    time.sleep(0.5)  # let the second request reach its insert
    first.commit()
    first.close()
    thread.join(30)
    assert not errors, errors
    assert second_result == [first_id]
    assert _assessments(tool, owner) == [first_id]
