"""WORKER_MODE=redis against a real Redis (database 5): commits wake ``flask worker``
through RQ, the schedule enqueues each periodic job once per period however many workers
run, and a Redis that is down costs neither the request nor the email."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from portal.outbox import jobs
from portal.outbox.delivery import message_id_for
from tests.outbox.conftest import (
    ROOT,
    free_port,
    message_ids,
    rows,
    smtp_settings,
    wait_for,
)

REDIS_URL = "redis://127.0.0.1:6379/5"
NEVER = 86400  # seconds: a periodic job that will not come round during a test


@pytest.fixture(scope="module")
def redis_client():
    from redis import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except RedisError:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Redis is not running at {REDIS_URL} (CI starts it)")
    return client


@pytest.fixture
def queue_name(redis_client):
    """A queue of this test's own, so parallel test workers never take each other's jobs."""
    from rq import Queue

    name = f"portal-test-{uuid.uuid4().hex[:10]}"
    yield name
    Queue(name, connection=redis_client).empty()  # the jobs no worker ran, with their hashes
    redis_client.srem("rq:queues", f"rq:queue:{name}")
    for key in redis_client.scan_iter(f"*{name}*"):
        redis_client.delete(key)


@pytest.fixture
def redis_settings(queue_name) -> dict:
    return {"WORKER_MODE": "redis", "WORKER_REDIS_URL": REDIS_URL, "WORKER_QUEUE": queue_name}


@pytest.fixture
def app_config(controlled_smtp, redis_settings) -> dict:
    return {**smtp_settings(controlled_smtp), **redis_settings, "OUTBOX_POLL_SECONDS": NEVER}


def queued_functions(redis_client, queue_name) -> list[str]:
    from rq import Queue

    return [job.func_name for job in Queue(queue_name, connection=redis_client).get_jobs()]


def test_a_commit_that_adds_an_email_puts_one_delivery_job_on_the_queue(
        session, enqueue, redis_client, queue_name, controlled_smtp):
    enqueue()
    assert queued_functions(redis_client, queue_name) == ["portal.outbox.jobs.deliver_outbox"]
    enqueue(commit=False)
    session.rollback()
    assert len(queued_functions(redis_client, queue_name)) == 1, "a rollback wakes nobody"


def test_the_redis_worker_sends_the_email_a_commit_woke_it_for(
        session, enqueue, redis_client, queue_name, controlled_smtp, start_worker,
        redis_settings):
    worker = start_worker(**smtp_settings(controlled_smtp), **redis_settings,
                          OUTBOX_POLL_SECONDS=NEVER)
    # The schedule's first round (the outbox, housekeeping, billing) runs at start; after it
    # only the commit's wake-up can bring a delivery job.
    wait_for(lambda: list(redis_client.scan_iter(f"{queue_name}:schedule:billing-run:*"))
             and not queued_functions(redis_client, queue_name), what="the first round")
    message = enqueue()
    wait_for(lambda: controlled_smtp.messages, what="the worker to send the email")
    wait_for(lambda: rows(session)[0].sent_at is not None, what="the row to be marked")
    assert message_ids(controlled_smtp.messages) == [message_id_for(message.id)]
    worker.process.send_signal(signal.SIGTERM)
    assert worker.wait() == 0, worker.output
    assert "Traceback" not in worker.output


def alive(pid: int) -> bool:
    """Running (not gone, not a zombie nobody has reaped yet)."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return status.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc (Linux)")
def test_a_redis_worker_killed_with_sigkill_leaves_no_scheduler_process_behind(
        controlled_smtp, start_worker, redis_settings, redis_client, queue_name):
    worker = start_worker(**smtp_settings(controlled_smtp), **redis_settings)
    pid = worker.process.pid
    # RQ's scheduler runs in a process the worker forks; it holds the queue's scheduler lock.
    children = wait_for(lambda: [int(child) for child in Path(
        f"/proc/{pid}/task/{pid}/children").read_text().split()], what="the scheduler")
    worker.process.send_signal(signal.SIGKILL)
    worker.wait()
    wait_for(lambda: not any(alive(child) for child in children), what="the scheduler to go")


class TestALostWakeUp:
    @pytest.fixture
    def app_config(self, controlled_smtp) -> dict:
        # This process wakes nobody (as when Redis was down at its commit).
        return {**smtp_settings(controlled_smtp), "WORKER_MODE": "external"}

    def test_the_schedule_finds_the_email_within_the_poll_interval(
            self, session, enqueue, controlled_smtp, start_worker, redis_settings):
        start_worker(**smtp_settings(controlled_smtp), **redis_settings, OUTBOX_POLL_SECONDS=1)
        message = enqueue()
        wait_for(lambda: controlled_smtp.messages, what="the periodic delivery job")
        assert message_ids(controlled_smtp.messages) == [message_id_for(message.id)]


# ---- the schedule ------------------------------------------------------------------------------

def test_each_periodic_job_is_enqueued_once_per_period_however_many_workers_tick(
        redis_client, queue_name):
    def nothing():
        """A job that is never run here."""

    periodic = [jobs.Periodic("often", 10, nothing), jobs.Periodic("hourly", 3600, nothing)]

    def ticker(owner):
        return jobs.Ticker(periodic, jobs.redis_claim(redis_client, queue_name, owner))

    first, second = ticker("worker-1"), ticker("worker-2")
    moment = 1_800_000_000.0  # the start of a period of both
    assert [job.name for job in first.due(moment)] == ["often", "hourly"]
    assert second.due(moment) == []
    assert second.due(moment + 5) == [] and first.due(moment + 5) == []
    assert [job.name for job in second.due(moment + 10)] == ["often"]
    assert first.due(moment + 10) == []
    restarted = ticker("worker-1 again")
    assert restarted.due(moment + 15) == [], "a restart does not run the period again"


def test_a_periodic_job_is_retried_by_rq_with_a_growing_wait(redis_client, queue_name):
    from rq import Queue

    queue = Queue(queue_name, connection=redis_client)
    jobs._enqueue_periodic(queue, jobs.Periodic("housekeeping", 3600, jobs.housekeeping))
    [job] = queue.get_jobs()
    assert (job.retries_left, job.retry_intervals) == (3, [30, 120, 600])


def test_a_job_interval_of_zero_switches_it_off():
    periodic = jobs.schedule({"OUTBOX_POLL_SECONDS": 5, "HOUSEKEEPING_INTERVAL_SECONDS": 0,
                              "BILLING_RUN_INTERVAL_SECONDS": 3600})
    ticker = jobs.Ticker(periodic, lambda *claim: True)
    assert [job.name for job in ticker.due(0.0)] == ["deliver-outbox", "billing-run"]


# ---- Redis out of reach -------------------------------------------------------------------------

@pytest.mark.parametrize("credentials", ["", ":hunter2-secret@"], ids=["no password", "password"])
def test_the_worker_says_in_one_line_that_redis_is_out_of_reach_and_exits(
        worker_env, credentials):
    url = f"redis://{credentials}127.0.0.1:{free_port()}/0"
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "portal", "worker"],
                            cwd=ROOT, env=worker_env(WORKER_MODE="redis", WORKER_REDIS_URL=url),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("portal: cannot reach Redis at redis://")
    assert "PORTAL_WORKER_REDIS_URL" in line
    assert "hunter2" not in line


class TestRedisDownForTheWebProcess:
    @pytest.fixture
    def app_config(self, controlled_smtp) -> dict:
        return {**smtp_settings(controlled_smtp), "WORKER_MODE": "redis",
                "WORKER_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}

    def test_the_commit_stands_and_the_email_waits_for_the_worker(self, session, enqueue,
                                                                  caplog):
        caplog.set_level(logging.WARNING)
        enqueue()
        [row] = rows(session)
        assert row.sent_at is None
        [warning] = [r for r in caplog.records if r.name == "portal.outbox"]
        assert "could not wake the worker through Redis: ConnectionError" in warning.getMessage()
