"""``flask --app portal worker`` as real processes: stopped gracefully, killed with SIGKILL
mid-run and restarted, and two at once, asserted on the Message-IDs the SMTP server received.

These workers run without Redis (PORTAL_WORKER_MODE=external): the delivery loop in the
foreground, the same code the RQ jobs and the in-process threads run.
"""

from __future__ import annotations

import signal
from collections import Counter

import pytest

from portal.dbtypes import utcnow
from portal.outbox.delivery import message_id_for
from tests.outbox.conftest import message_ids, rows, smtp_settings, wait_for

# A killed worker's claim must expire for the restarted one to take its row; the mail
# timeout is shorter still, so a held send is still waiting when the kill comes.
LEASE = {"OUTBOX_LEASE_SECONDS": 6, "MAIL_TIMEOUT_SECONDS": 1.5}


@pytest.fixture
def app_config(controlled_smtp) -> dict:
    return {**smtp_settings(controlled_smtp), "WORKER_MODE": "external"}


@pytest.fixture
def worker_settings(controlled_smtp):
    def settings(**extra) -> dict:
        found = {f"{k}": v for k, v in smtp_settings(controlled_smtp).items()}
        return {**found, **extra}

    return settings


def all_sent(session):
    found = rows(session)
    return found and all(row.sent_at is not None for row in found)


def enqueue_many(enqueue, count: int) -> list:
    # Each to its own recipient, so no email waits for another's turn.
    return [enqueue(f"customer{n}@example.com", name=str(n), when=utcnow())
            for n in range(count)]


def test_the_worker_sends_what_was_committed_and_stops_cleanly_on_sigterm(
        session, enqueue, controlled_smtp, start_worker, worker_settings):
    worker = start_worker(**worker_settings())
    made = enqueue_many(enqueue, 3)
    wait_for(lambda: all_sent(session), what="the worker to send three emails")
    worker.process.send_signal(signal.SIGTERM)
    assert worker.wait() == 0, worker.output
    assert "portal worker: stopped" in worker.output
    assert sorted(message_ids(controlled_smtp.messages)) == sorted(
        message_id_for(m.id) for m in made)


def test_sigterm_lets_the_email_being_sent_finish_and_be_marked(
        session, enqueue, controlled_smtp, start_worker, worker_settings):
    controlled_smtp.hold_at, controlled_smtp.record_held = 1, True
    worker = start_worker(**worker_settings())
    [message] = enqueue_many(enqueue, 1)
    assert controlled_smtp.held.wait(30), worker.output
    worker.process.send_signal(signal.SIGTERM)
    controlled_smtp.release.set()
    assert worker.wait() == 0, worker.output
    [row] = rows(session)
    assert row.sent_at is not None and row.claimed_until is None
    assert message_ids(controlled_smtp.messages) == [message_id_for(message.id)]


def kill(worker) -> None:
    worker.process.send_signal(signal.SIGKILL)
    assert worker.wait() == -signal.SIGKILL


def test_a_worker_killed_while_the_server_held_an_email_sends_each_once_after_a_restart(
        session, enqueue, controlled_smtp, start_worker, worker_settings):
    controlled_smtp.hold_at, controlled_smtp.record_held = 3, False
    worker = start_worker(**worker_settings(**LEASE))
    made = enqueue_many(enqueue, 6)
    assert controlled_smtp.held.wait(30), worker.output
    kill(worker)  # while it waits for the server's answer to the third email
    controlled_smtp.release.set()
    in_flight = [row for row in rows(session) if row.sent_at is None and row.claimed_until]
    assert len(in_flight) == 1, "the killed worker left its claim behind"

    start_worker(**worker_settings(**LEASE))
    wait_for(lambda: all_sent(session), what="the restarted worker to send the rest")
    assert Counter(message_ids(controlled_smtp.messages)) == Counter(
        message_id_for(m.id) for m in made)  # every email exactly once


def test_a_worker_killed_after_the_server_took_an_email_sends_only_that_one_again(
        session, enqueue, controlled_smtp, start_worker, worker_settings):
    # The crash window: the server has the email, the worker dies before it marks it sent.
    controlled_smtp.hold_at, controlled_smtp.record_held = 3, True
    worker = start_worker(**worker_settings(**LEASE))
    made = enqueue_many(enqueue, 6)
    assert controlled_smtp.held.wait(30), worker.output
    kill(worker)
    controlled_smtp.release.set()

    start_worker(**worker_settings(**LEASE))
    wait_for(lambda: all_sent(session), what="the restarted worker to send the rest")
    received = Counter(message_ids(controlled_smtp.messages))
    expected = Counter(message_id_for(m.id) for m in made)
    expected[message_id_for(made[2].id)] += 1  # once more, with the same Message-ID
    assert received == expected


def test_a_worker_killed_between_two_emails_sends_none_twice_after_a_restart(
        session, enqueue, controlled_smtp, start_worker, worker_settings):
    worker = start_worker(**worker_settings(**LEASE))
    first = enqueue_many(enqueue, 4)
    wait_for(lambda: all_sent(session), what="the first emails")
    kill(worker)
    second = [enqueue(f"late{n}@example.com", when=utcnow()) for n in range(4)]
    start_worker(**worker_settings(**LEASE))
    wait_for(lambda: all_sent(session), what="the restarted worker")
    assert Counter(message_ids(controlled_smtp.messages)) == Counter(
        message_id_for(m.id) for m in first + second)


def test_a_worker_killed_mid_run_loses_no_email_and_repeats_at_most_the_one_in_flight(
        session, enqueue, controlled_smtp, start_worker, worker_settings):
    controlled_smtp.delay = 0.02
    worker = start_worker(**worker_settings(**LEASE))
    made = enqueue_many(enqueue, 30)
    wait_for(lambda: len(controlled_smtp.messages) >= 8, what="some emails to go out")
    kill(worker)
    in_flight = {message_id_for(row.id) for row in rows(session)
                 if row.sent_at is None and row.claimed_until is not None}
    assert len(in_flight) <= 1

    start_worker(**worker_settings(**LEASE))
    wait_for(lambda: all_sent(session), what="the restarted worker to send the rest")
    received = Counter(message_ids(controlled_smtp.messages))
    assert set(received) == {message_id_for(m.id) for m in made}  # each at least once
    assert {mid for mid, count in received.items() if count > 1} <= in_flight


def test_two_worker_processes_at_once_send_each_email_once(
        session, enqueue, controlled_smtp, start_worker, worker_settings):
    controlled_smtp.delay = 0.02  # long enough for the two to overlap
    start_worker(**worker_settings())
    start_worker(**worker_settings())
    made = enqueue_many(enqueue, 40)
    wait_for(lambda: all_sent(session), what="the two workers to send everything")
    assert Counter(message_ids(controlled_smtp.messages)) == Counter(
        message_id_for(m.id) for m in made)
    senders = {row.claimed_by.split(":")[1] for row in rows(session)}
    assert len(senders) == 2, "both processes sent some"
