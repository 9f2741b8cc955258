"""Grade sync over real HTTP against a fault-injecting platform process: whatever the
platform does — 500, timeouts, 429 with Retry-After, a 401, 409, going down for a while,
garbage — and whatever happens to the worker (SIGKILL mid-batch), every score arrives
exactly once, in order, and nothing is lost. SQLite runs one worker, PostgreSQL two."""

from __future__ import annotations

import json
import signal
import time

import pytest

from tests.grades.env import GradeEnv


@pytest.fixture
def workers(is_postgres: bool) -> int:
    return 2 if is_postgres else 1


def _run(env: GradeEnv, workers: int, *args: str, **overrides: str) -> None:
    for _ in range(workers):
        env.start_worker(*args, **overrides)


@pytest.mark.parametrize("faults", [
    pytest.param([{"match": "scores", "fault": "500", "count": 3}], id="500"),
    pytest.param([{"match": "scores", "fault": "503-html", "count": 2}], id="503-html"),
    pytest.param([{"match": "scores", "fault": "timeout", "count": 2}], id="timeout"),
    pytest.param([{"match": "scores", "fault": "stall", "count": 1}], id="stall"),
    pytest.param([{"match": "scores", "fault": "accept-then-500", "count": 3}],
                 id="reply-lost"),
    pytest.param([{"match": "scores", "fault": "401", "count": 1}], id="401-once"),
    pytest.param([{"match": "token", "fault": "garbage", "count": 1},
                  {"match": "lineitems", "fault": "502-html", "count": 1},
                  {"match": "lineitems", "fault": "html", "count": 1}], id="garbage"),
])
def test_every_score_arrives_exactly_once_in_order_despite_faults(
        grade_env: GradeEnv, workers: int, faults: list[dict[str, object]]) -> None:
    course = grade_env.course(users=4)
    item = grade_env.line_item(course)
    grade_env.write(course, item, 1)
    grade_env.platform.faults(*faults)
    _run(grade_env, workers)
    grade_env.wait_delivered()
    grade_env.write(course, item, 2)
    grade_env.write(course, item, 3, users=[0, 1])  # coalesced with 2 when still pending
    grade_env.wait_delivered()
    log = grade_env.assert_exactly_once_in_order()
    assert log["rules_left"] == 0, "every injected fault was met"
    if faults[0]["fault"] == "401":
        # a token for each worker that took jobs, and one re-authentication after the 401
        assert 2 <= log["token_requests"] <= 1 + workers
    for proc in grade_env.workers:
        assert proc.poll() is None, "the worker survives every fault"


def test_429_waits_for_retry_after(grade_env: GradeEnv, workers: int) -> None:
    course = grade_env.course(users=1)
    item = grade_env.line_item(course)
    grade_env.write(course, item, 5)
    grade_env.platform.faults({"match": "scores", "fault": "429:1", "count": 1})
    _run(grade_env, workers)
    grade_env.wait_delivered()
    log = grade_env.assert_exactly_once_in_order()
    refused_at = log["faults"][0]["at"]
    assert log["accepted"][0]["received_at"] - refused_at >= 0.95  # Retry-After: 1 honoured


def test_a_409_counts_as_delivered_and_is_not_retried(grade_env: GradeEnv,
                                                      workers: int) -> None:
    course = grade_env.course(users=2)
    item = grade_env.line_item(course)
    grade_env.platform.faults({"match": "scores", "fault": "409", "count": 1})
    grade_env.write(course, item, 7)
    _run(grade_env, workers)
    grade_env.wait_delivered()
    rows = grade_env.rows()
    assert sorted(r.last_status for r in rows) == [200, 409]
    log = grade_env.platform.log()
    assert len(log["accepted"]) == 1 and log["rules_left"] == 0
    assert log["requests"].get(f"/lineitems/{log['line_items'][0]['id'].split('/')[4]}"
                               "/lineitem/scores") == 2  # no retry of the 409


def test_the_platform_down_for_a_while_then_back(grade_env: GradeEnv, workers: int) -> None:
    # The workers are running and have delivered before the outage, so that it surely hits a
    # send: a worker that starts slowly on a loaded machine might begin after it ended.
    warm = grade_env.course(users=1)
    grade_env.write(warm, grade_env.line_item(warm), 1)
    # Backoff up to 1 s: twelve attempts then outlast the 3 s outage (at the suite's 0.4 s
    # they could all fail within it, and the score would rightly be given up).
    _run(grade_env, workers, LTI_SERVICE_WORKER_BACKOFF_CAP="1.0")
    grade_env.wait_delivered(timeout=30)
    course = grade_env.course(users=5)
    item = grade_env.line_item(course)
    grade_env.platform.down(3.0)
    time.sleep(0.4)  # it goes down 0.2 s after answering
    grade_env.write(course, item, 1)
    deadline = time.monotonic() + 10
    while not (retrying := [r for r in grade_env.rows() if r.attempts > 0]):
        assert time.monotonic() < deadline, "no failed attempt while the platform was down"
        time.sleep(0.05)
    assert retrying[0].last_error_kind == "network"  # connection refused, classified
    grade_env.wait_delivered(timeout=30)
    grade_env.assert_exactly_once_in_order()


def test_a_worker_killed_mid_batch_and_restarted_loses_and_repeats_nothing(
        grade_env: GradeEnv, workers: int) -> None:
    grade_env.platform.reset(latency=0.15)
    course = grade_env.course(users=40)
    item = grade_env.line_item(course)
    grade_env.write(course, item, 1)
    first = grade_env.start_worker()
    deadline = time.monotonic() + 20
    while len(grade_env.platform.log()["accepted"]) < 8:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)  # sends in flight: the platform still stores them
    first.wait(timeout=10)
    grade_env.workers.remove(first)
    delivered_before = sum(1 for r in grade_env.rows() if r.state == "sent")
    assert delivered_before < 40
    _run(grade_env, workers)  # leases of the killed worker expire after 3 s
    grade_env.wait_delivered(timeout=40)
    log = grade_env.assert_exactly_once_in_order()
    assert len(log["accepted"]) == 40
    # the sends that were in flight when it died reached the platform; resent, they got 409
    assert log["refused"], "a send in flight at the kill was repeated and refused as not newer"
    assert all(r["seconds"] for r in log["refused"])


def test_several_workers_share_the_queue_without_two_sends_for_one_key(
        grade_env: GradeEnv, workers: int) -> None:
    grade_env.platform.reset(latency=0.1)
    course = grade_env.course(users=80)
    item = grade_env.line_item(course)
    grade_env.write(course, item, 1)
    procs = [grade_env.start_worker("--drain") for _ in range(workers)]
    outputs = [p.communicate(timeout=60) for p in procs]
    grade_env.workers.clear()
    stats = [json.loads(out.strip().splitlines()[-1]) for out, _err in outputs]
    assert sum(s["sent"] for s in stats) == 80, stats
    if workers > 1:
        assert all(s["sent"] > 0 for s in stats), f"both workers took jobs: {stats}"
    grade_env.assert_exactly_once_in_order()
    log = grade_env.platform.log()
    assert log["token_requests"] == workers  # one token per worker for the whole run
    assert len(log["line_items"]) == 1  # found or created once, not once per worker
    assert log["connections"] <= workers * 4 + 2  # keep-alive: not one connection per score
