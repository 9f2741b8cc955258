"""After the configured attempts a job is dead with the LMS's answer kept; a platform's
garbage is a classified failure; `lti-service grades status` and `grades retry`."""

from __future__ import annotations

import json
import time

from tests.grades.env import GradeEnv


def _wait_dead(env: GradeEnv, n: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while env.counts().get("dead", 0) < n:
        assert time.monotonic() < deadline, env.counts()
        time.sleep(0.05)


def test_a_job_is_dead_after_max_attempts_with_the_lms_answer_and_retry_requeues_it(
        grade_env: GradeEnv) -> None:
    course = grade_env.course(users=2)
    item = grade_env.line_item(course)
    grade_env.write(course, item, 4)
    grade_env.platform.faults({"match": "scores", "fault": "500", "count": 1000})
    grade_env.start_worker(LTI_SERVICE_WORKER_MAX_ATTEMPTS="3")
    _wait_dead(grade_env, 2)
    dead = grade_env.rows()
    assert all(r.attempts == 3 and r.last_status == 500 for r in dead)
    assert all(r.last_error_kind == "server" and '"error": "boom"' in (r.last_error or "")
               for r in dead)

    status = json.loads(grade_env.cli("grades", "status", "--json").stdout)
    assert status["dead"] == 2 and status["pending"] == 0
    assert status["problems"][0]["status"] == 500 and "boom" in status["problems"][0]["error"]
    text = grade_env.cli("grades", "status").stdout
    assert "dead 2" in text and "server" in text

    grade_env.platform.clear_faults()
    assert "1 job(s) re-queued" in grade_env.cli("grades", "retry", str(dead[0].id)).stdout
    assert "1 job(s) re-queued" in grade_env.cli("grades", "retry").stdout
    grade_env.wait_delivered()
    grade_env.assert_exactly_once_in_order()
    assert grade_env.counts() == {"sent": 2}


def test_garbage_json_and_an_html_error_page_are_classified_failures_not_crashes(
        grade_env: GradeEnv) -> None:
    course = grade_env.course(users=1)
    item = grade_env.line_item(course)
    grade_env.write(course, item, 1)
    grade_env.platform.faults({"match": "token", "fault": "garbage", "count": 1})
    worker = grade_env.start_worker(LTI_SERVICE_WORKER_MAX_ATTEMPTS="1")
    _wait_dead(grade_env, 1)
    row = grade_env.rows()[0]
    assert row.last_error_kind == "bad_response" and "not JSON" in (row.last_error or "")

    grade_env.platform.faults({"match": "lineitems", "fault": "html", "count": 1})
    grade_env.cli("grades", "retry")
    _wait_dead(grade_env, 1)
    row = grade_env.rows()[0]
    assert row.attempts == 1
    assert row.last_error_kind == "bad_response" and "text/html" in (row.last_error or "")
    assert worker.poll() is None, "the worker is still running"

    grade_env.cli("grades", "retry")
    grade_env.wait_delivered()
    grade_env.assert_exactly_once_in_order()


def test_a_refusal_for_good_is_dead_at_once(grade_env: GradeEnv) -> None:
    """A 4xx other than 401/404/408/409/429 will not get better by retrying."""
    course = grade_env.course(users=1)
    item = grade_env.line_item(course)
    grade_env.write(course, item, 1)
    grade_env.platform.faults({"match": "scores", "fault": "400", "count": 1})
    grade_env.start_worker()
    _wait_dead(grade_env, 1)
    row = grade_env.rows()[0]
    assert row.attempts == 1 and row.last_status == 400 and row.last_error_kind == "rejected"
    assert "userId is not enrolled" in (row.last_error or "")
