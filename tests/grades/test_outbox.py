"""The outbox's write side and the line item rules, on the suite's database backend.

Scores are written in the domain change's transaction; per (line item, user) one row whose
timestamp strictly increases in whole seconds; pending scores coalesce; progress never goes
back; the destination follows the launch's AGS claim (container with column management, or
the coupled line item with the stages combined)."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from lti_service.db import session_scope
from lti_service.grades import outbox
from lti_service.grades.scores import QDT_EVENTS, Progress
from lti_service.lti import ags
from lti_service.models import Context, GradeOutbox, GradeProgress, User
from tests.grades.env import GradeEnv


def _record(env: GradeEnv, course_id: int, user_id: int, event: str,
            resource_id: str = "qdt-mobility") -> bool:
    with session_scope(env.factory) as s:
        return outbox.record(s, registration_id=env.registration_id, context_id=course_id,
                             user_id=user_id, tag="qdt-assessment", resource_id=resource_id,
                             label="Quality Development Tool: Mobility",
                             progress=QDT_EVENTS[event])


def test_timestamps_strictly_increase_per_key_in_whole_seconds_and_pending_scores_coalesce(
        grade_env: GradeEnv) -> None:
    course = grade_env.course(users=2)
    item = grade_env.line_item(course)
    now = time.time()
    with session_scope(grade_env.factory) as s:
        user = s.get(User, course.users[0].id)
        other = s.get(User, course.users[1].id)
        assert user is not None and other is not None
        for score in (1, 2, 3):  # three changes within one second
            outbox.enqueue(s, item, user, Progress("InProgress", "FullyGraded", score,
                                                         3, f"v{score}"), now=now)
        outbox.enqueue(s, item, other, Progress("Started", "NotReady", None, 3), now=now)
    rows = grade_env.rows()
    assert len(rows) == 2  # one row per (line item, user): the pending scores coalesced
    mine = next(r for r in rows if r.user_id == course.users[0].id)
    assert (mine.version, mine.score_given, mine.comment) == (3, 3, "v3")
    assert mine.score_ts == int(now) + 2  # max(previous + 1 s, now), whole seconds
    assert mine.due_at == mine.score_ts  # never sent before its timestamp: sends 1 s apart
    theirs = next(r for r in rows if r.user_id == course.users[1].id)
    assert theirs.score_ts == int(now) and theirs.score_given is None

    with session_scope(grade_env.factory) as s:  # the same score again is no new version
        user = s.get(User, course.users[0].id)
        assert user is not None
        outbox.enqueue(s, item, user, Progress("InProgress", "FullyGraded", 3, 3, "v3"))
    assert next(r for r in grade_env.rows() if r.id == mine.id).version == 3


def test_a_rolled_back_change_leaves_no_score_behind(grade_env: GradeEnv) -> None:
    course = grade_env.course(users=1)
    session = grade_env.factory()
    try:
        outbox.record(session, registration_id=grade_env.registration_id,
                      context_id=course.context_id, user_id=course.users[0].id,
                      tag="qdt-assessment", resource_id="qdt-mobility", label="QDT",
                      progress=QDT_EVENTS["submitted"])
        assert session.scalar(select(func.count()).select_from(GradeOutbox)) == 1
        session.rollback()
    finally:
        session.close()
    assert grade_env.rows() == []


def test_progress_only_moves_forward(grade_env: GradeEnv) -> None:
    course = grade_env.course(users=1)
    uid = course.users[0].id
    assert _record(grade_env, course.context_id, uid, "opened")
    assert _record(grade_env, course.context_id, uid, "saved")
    assert not _record(grade_env, course.context_id, uid, "saved")  # autosave: nothing new
    assert _record(grade_env, course.context_id, uid, "submitted")
    assert not _record(grade_env, course.context_id, uid, "saved")  # reopened and edited
    assert not _record(grade_env, course.context_id, uid, "opened")  # a new cycle starts
    assert _record(grade_env, course.context_id, uid, "locked")
    assert not _record(grade_env, course.context_id, uid, "submitted")  # cycle 2 submitted
    row = grade_env.rows()[0]
    assert (row.activity_progress, row.grading_progress, row.score_given,
            row.score_maximum) == ("Completed", "FullyGraded", 1.0, 1.0)
    assert row.version == 4
    with session_scope(grade_env.factory) as s:
        progress = s.scalars(select(GradeProgress)).one()
        assert progress.activity_progress == "Completed"


def test_the_destination_follows_the_launch_claim(grade_env: GradeEnv) -> None:
    container = grade_env.course(users=1)
    coupled = grade_env.course(users=1, scopes=[ags.SCOPE_SCORE, ags.SCOPE_RESULT_READONLY,
                                                ags.SCOPE_LINEITEM_READONLY],
                               coupled=True)
    readonly = grade_env.course(users=1, scopes=[ags.SCOPE_SCORE,
                                                 ags.SCOPE_LINEITEM_READONLY])
    no_scores = grade_env.course(users=1, scopes=[ags.SCOPE_LINEITEM])
    with session_scope(grade_env.factory) as s:
        def where(course_id: int) -> outbox.Destination | None:
            ctx = s.get(Context, course_id)
            assert ctx is not None
            return outbox.destination(s, ctx)

        found = where(container.context_id)
        assert found is not None and not found.coupled and found.can_create
        found = where(coupled.context_id)
        assert found is not None and found.coupled and found.lineitem_url
        found = where(readonly.context_id)
        assert found is not None and not found.coupled and not found.can_create
        assert where(no_scores.context_id) is None
    assert _record(grade_env, no_scores.context_id, no_scores.users[0].id, "submitted")
    assert grade_env.rows() == []  # progress kept, nothing to send


def test_a_coupled_line_item_gets_every_stage_combined_with_the_breakdown_in_the_comment(
        grade_env: GradeEnv) -> None:
    course = grade_env.course(users=2, scopes=[ags.SCOPE_SCORE], coupled=True)
    _record(grade_env, course.context_id, course.users[0].id, "submitted")
    _record(grade_env, course.context_id, course.users[1].id, "opened", "qdt-ict-schools")
    _record(grade_env, course.context_id, course.users[1].id, "submitted", "qdt-mobility")
    grade_env.start_worker()
    grade_env.wait_delivered()
    log = grade_env.platform.log()
    assert len(log["line_items"]) == 1  # nothing created: the coupled one is used
    finals = {e["userId"]: e for e in log["accepted"]}
    for sub in course.subs:
        score = finals[sub]
        assert (score["scoreGiven"], score["scoreMaximum"], score["activityProgress"],
                score["gradingProgress"]) == (1.0, 1.0, "Submitted", "FullyGraded")
        assert score["comment"] == "Quality Development Tool: Self-assessment submitted"


def test_a_line_item_is_found_by_tag_and_resource_id_before_one_is_created(
        grade_env: GradeEnv) -> None:
    existing = grade_env.platform.new_line_item(label="QDT (Deep Linking)", scoreMaximum=1,
                                                tag="qdt-assessment", resourceId="qdt-mobility")
    grade_env.platform.new_line_item(label="Other", scoreMaximum=5, tag="qdt-assessment",
                                     resourceId="qdt-ict-schools")
    course = grade_env.course(users=2)
    for user in course.users:
        _record(grade_env, course.context_id, user.id, "submitted")
        _record(grade_env, course.context_id, user.id, "submitted", "plan-x")
    grade_env.start_worker()
    grade_env.wait_delivered()
    log = grade_env.platform.log()
    labels = sorted(li["label"] for li in log["line_items"])
    assert labels == ["Other", "QDT (Deep Linking)", "Quality Development Tool: Mobility"]
    created = next(li for li in log["line_items"] if li["label"].startswith("Quality"))
    assert created["resourceId"] == "plan-x" and created["tag"] == "qdt-assessment"
    assert created["id"].endswith("?type_id=7")
    by_item = {e["line_item"] for e in log["accepted"]}
    assert by_item == {int(existing.split("/")[4]), int(created["id"].split("/")[4])}


def test_one_token_per_token_lifetime(grade_env: GradeEnv) -> None:
    grade_env.platform.reset(token_lifetime=3)
    course = grade_env.course(users=3)
    item = grade_env.line_item(course)
    grade_env.start_worker(LTI_SERVICE_SERVICE_TOKEN_MARGIN="1")
    started = time.monotonic()
    for score in range(1, 7):  # six rounds, each at least a second apart
        grade_env.write(course, item, score)
        grade_env.wait_delivered()
    elapsed = time.monotonic() - started
    log = grade_env.assert_exactly_once_in_order()
    # renewed 1 s before its 3 s lifetime ends: one request per 2 s of sending, not per score
    assert log["token_requests"] <= int(elapsed / 2) + 2, (log["token_requests"], elapsed)
    assert log["token_requests"] >= 2
    assert len(log["accepted"]) >= 12
