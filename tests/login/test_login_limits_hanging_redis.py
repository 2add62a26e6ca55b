"""Rate limits when the Redis that counts them hangs rather than refusing: a stopped process
(SIGSTOP) or a network that drops packets accepts the connection and never answers.

redis-py waits for an answer as long as it is told (5 s when told nothing, in redis-py 8;
for ever in older releases), and the sign-in with it. The portal tells it
PORTAL_RATELIMIT_REDIS_TIMEOUT_SECONDS (1 s by default); after that the limits count in this
process's memory as they do when Redis refuses (README "When something fails").
"""

from __future__ import annotations

import os
import secrets
import signal
import threading

import pytest

from tests.production.conftest import private_redis  # noqa: F401  (a fixture)
from tests.production.faults import report

# Long enough for any loaded machine to answer a sign-in; a limit that waited on the stopped
# Redis for good would never let it answer.
PATIENCE_SECONDS = 60


@pytest.fixture
def app_config(request):
    server = request.getfixturevalue("private_redis")
    return {"RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": server.url(0),
            "RATELIMIT_KEY_PREFIX": f"test-{secrets.token_hex(6)}"}


def test_the_limits_are_told_to_stop_waiting_for_redis(app):
    options = app.config["RATELIMIT_STORAGE_OPTIONS"]
    assert options["socket_timeout"] == options["socket_connect_timeout"] == 1.0


def post_in_thread(client, link, email: str) -> tuple[threading.Thread, list]:
    """POST the sign-in form from a thread, so a request that hangs cannot hang the test."""
    answers: list = []
    url = f"/p/login/{link.id}"  # read here: the thread has no app context to load it in
    thread = threading.Thread(daemon=True, target=lambda: answers.append(
        client.post(url, data={"email": email})))
    thread.start()
    return thread, answers


def test_a_customer_still_gets_a_code_while_redis_hangs(app, login, customer, mailbox,
                                                        private_redis):  # noqa: F811
    client = app.test_client()
    # Counted in Redis first, so the limiter has its connection open when Redis stops.
    assert client.post(f"/p/login/{login.link.id}",
                       data={"email": customer.email}).status_code == 303
    os.kill(private_redis.process.pid, signal.SIGSTOP)
    try:
        thread, answers = post_in_thread(app.test_client(), login.link, customer.email)
        thread.join(PATIENCE_SECONDS)
        answered = not thread.is_alive()
    finally:
        os.kill(private_redis.process.pid, signal.SIGCONT)
    report("redis-server stopped with SIGSTOP (accepts, never answers) during a sign-in",
                 f"answered: {answered}, codes mailed: {len(mailbox.codes())}")
    assert answered, "the sign-in waited on the stopped Redis"
    assert answers[0].status_code == 303
    assert len(mailbox.codes()) == 2


def test_the_limits_go_on_counting_in_memory_while_redis_hangs(app, login, customer,
                                                               mailbox, private_redis):  # noqa: F811
    os.kill(private_redis.process.pid, signal.SIGSTOP)
    statuses = []
    try:
        for _ in range(4):
            thread, answers = post_in_thread(app.test_client(), login.link, customer.email)
            thread.join(PATIENCE_SECONDS)
            statuses.append(answers[0].status_code if answers else "no answer")
    finally:
        os.kill(private_redis.process.pid, signal.SIGCONT)
    # Three codes an address, then refused: the same limit, counted in memory.
    assert statuses == [303, 303, 303, 429]
    assert len(mailbox.codes()) == 3
