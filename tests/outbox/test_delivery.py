"""Delivering the outbox through a real SMTP server: once per committed email, never for a
rolled-back one, retried with backoff, in order per recipient, the secret kept encrypted."""

from __future__ import annotations

import json
import logging
import socket
import threading
from datetime import timedelta

import pytest
from sqlalchemy import insert, text, update

from portal.dbtypes import utcnow
from portal.extensions import db
from portal.outbox.delivery import DeliveryPolicy, deliver_due, message_id_for
from portal.outbox.models import OutboxMessage
from tests.conftest import SMTPRecorder
from tests.outbox.conftest import (
    free_port,
    message_ids,
    rows,
    smtp_settings,
    wait_for,
)


@pytest.fixture
def mail_settings(controlled_smtp) -> dict:
    return smtp_settings(controlled_smtp)


@pytest.fixture
def app_config(mail_settings) -> dict:
    # Only the test delivers (WORKER_MODE=external), on the test's clock.
    return {**mail_settings, "WORKER_MODE": "external", "OUTBOX_MAX_ATTEMPTS": 3}


def received_text(message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return part.get_payload(decode=True).decode()
    raise AssertionError("no text part")


# ---- once, and only what was committed --------------------------------------------------------

def test_an_email_raised_in_a_transaction_that_rolls_back_is_never_sent(
        session, enqueue, controlled_smtp, now):
    enqueue(commit=False)
    session.flush()
    session.rollback()
    assert deliver_due(now=now) == 0
    assert rows(session) == []
    assert controlled_smtp.messages == []


def test_a_committed_email_is_sent_once_however_often_the_outbox_is_delivered(
        session, enqueue, controlled_smtp, now):
    message = enqueue()
    assert deliver_due(now=now) == 1
    for later in (now, now + timedelta(minutes=5), now + timedelta(days=2)):
        assert deliver_due(now=later) == 0
    [received] = controlled_smtp.messages
    assert received["Message-ID"] == message_id_for(message.id)
    [row] = rows(session)
    assert row.sent_at == now and row.claimed_until is None and row.attempts == 0


def test_the_message_id_comes_from_the_outbox_row(session, enqueue, now, app):
    message = enqueue()
    assert message_id_for(message.id) == f"<{message.id}@127.0.0.1>"
    app.config["PUBLIC_URL"] = "https://billing.example.com"
    assert message_id_for(message.id) == f"<{message.id}@billing.example.com>"


def test_an_email_sent_again_after_a_crash_before_it_was_marked_carries_the_same_message_id(
        session, enqueue, controlled_smtp, now):
    message = enqueue()
    deliver_due(now=now)
    # What a worker killed between the server's "250" and its own commit leaves behind.
    session.execute(update(OutboxMessage).values(sent_at=None, claimed_until=now + timedelta(
        seconds=120), claimed_by="a worker that died"))
    session.commit()
    assert deliver_due(now=now + timedelta(seconds=60)) == 0, "the lease still holds"
    assert deliver_due(now=now + timedelta(seconds=121)) == 1
    assert message_ids(controlled_smtp.messages) == [message_id_for(message.id)] * 2


def test_the_email_is_rendered_with_its_context_its_secret_and_the_branding(
        session, enqueue, controlled_smtp, now):
    from portal.portal_settings.operations import get_branding

    get_branding(session).business_name = "Acme Cloud"
    session.commit()
    enqueue(name="Ana", secret_context={"code": "135790"})
    deliver_due(now=now)
    [message] = controlled_smtp.messages
    assert message["Subject"] == "Your code"
    assert message["From"] == "billing@acme.example"
    assert received_text(message).replace("\r\n", "\n").strip() == (
        "Acme Cloud\nHello Ana, your code is 135790.")


# ---- the secret at rest -------------------------------------------------------------------------

def stored_payload_text(session, row_id: str) -> str:
    """The payload column exactly as the database holds it, read past the ORM."""
    value = session.execute(text("SELECT payload FROM outbox_message WHERE id = :id"),
                            {"id": row_id}).scalar_one()
    return value if isinstance(value, str) else json.dumps(value)


def test_the_secret_is_encrypted_in_the_row_and_erased_once_sent(session, enqueue, now,
                                                                 controlled_smtp):
    message = enqueue(secret_context={"code": "246813"})
    before = stored_payload_text(session, message.id)
    assert "246813" not in before
    assert '"secret"' in before
    deliver_due(now=now)
    assert "246813" in received_text(controlled_smtp.messages[0])
    after = stored_payload_text(session, message.id)
    assert "246813" not in after and '"secret"' not in after
    assert json.loads(after)["context"] == {"name": "Jenny"}  # the rest stays for the record


def test_a_secret_sealed_under_another_secret_key_is_given_up_on_unsent(
        app, session, enqueue, now, controlled_smtp):
    enqueue()
    app.config["SECRET_KEY"] = "a-new-secret-key-after-a-rotation-0123456789"
    for attempt in range(3):
        deliver_due(now=now + timedelta(hours=attempt))
    [row] = rows(session)
    assert row.failed_at is not None and row.last_error == "InvalidToken"
    assert "secret" not in row.payload
    assert controlled_smtp.messages == []


def test_an_email_marked_not_to_deliver_is_rendered_and_dropped_and_counts_as_sent(
        session, enqueue, now, controlled_smtp, monkeypatch):
    from portal import mailer

    rendered = []
    real = mailer.render_email
    monkeypatch.setattr(mailer, "render_email",
                        lambda *a, **k: rendered.append(a) or real(*a, **k))
    enqueue(to="nobody@example.com", deliver=False)
    assert deliver_due(now=now) == 1
    assert rendered == [("outbox_test",)]
    assert controlled_smtp.messages == []
    [row] = rows(session)
    assert row.sent_at == now and "secret" not in row.payload and row.payload["deliver"] is False


def test_an_email_past_its_expiry_is_given_up_on_unsent(session, enqueue, now,
                                                        controlled_smtp):
    enqueue(expires_at=now + timedelta(minutes=10))
    assert deliver_due(now=now + timedelta(minutes=10)) == 1
    [row] = rows(session)
    assert (row.failed_at, row.last_error) == (now + timedelta(minutes=10), "Expired")
    assert "secret" not in row.payload
    assert controlled_smtp.messages == []


def test_a_second_email_with_the_same_dedupe_key_is_not_stored(session, enqueue, now,
                                                               controlled_smtp):
    first = enqueue(dedupe_key="invoice.paid:in_123")
    again = enqueue(dedupe_key="invoice.paid:in_123", name="Someone else")
    assert again.id == first.id
    deliver_due(now=now)
    assert len(controlled_smtp.messages) == 1


def test_a_claimed_email_waits_for_its_lease_to_pass_before_another_worker_takes_it(
        session, enqueue, now, controlled_smtp):
    enqueue()
    session.execute(update(OutboxMessage).values(claimed_until=now + timedelta(seconds=120),
                                                 claimed_by="another worker"))
    session.commit()
    assert deliver_due(now=now + timedelta(seconds=119)) == 0
    assert deliver_due(now=now + timedelta(seconds=121)) == 1
    assert len(controlled_smtp.messages) == 1


# ---- retries --------------------------------------------------------------------------------

def test_the_wait_doubles_from_the_base_after_each_failure_up_to_the_cap():
    policy = DeliveryPolicy(lease=timedelta(seconds=120), max_attempts=8,
                            retry_base_seconds=30, retry_max_seconds=600)
    assert [policy.backoff(n).total_seconds() for n in range(1, 8)] == [
        30, 60, 120, 240, 480, 600, 600]


FAILURES = {
    "nothing listens on the port": "ConnectionRefusedError",
    "the server refuses the message": "SMTPDataError",
    # smtplib reports its read timing out as the server having gone.
    "the server never answers": "SMTPServerDisconnected",
}


class TestAFailingMailServer:
    @pytest.fixture(params=list(FAILURES))
    def failure(self, request) -> str:
        return request.param

    @pytest.fixture
    def mail_settings(self, failure, controlled_smtp, request) -> dict:
        settings = smtp_settings(controlled_smtp)
        if failure == "nothing listens on the port":
            return {**settings, "MAIL_PORT": free_port()}
        if failure == "the server refuses the message":
            controlled_smtp.reply = "554 Transaction failed"
            return settings
        silent = socket.socket()  # accepts connections and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        request.addfinalizer(silent.close)
        return {**settings, "MAIL_PORT": silent.getsockname()[1], "MAIL_TIMEOUT_SECONDS": 0.5}

    def test_it_is_retried_with_a_growing_wait_then_given_up_on_and_logged(
            self, failure, session, enqueue, now, controlled_smtp, caplog):
        caplog.set_level(logging.DEBUG)
        enqueue(secret_context={"code": "975310"})
        assert deliver_due(now=now) == 1
        [row] = rows(session)
        assert (row.attempts, row.available_at, row.last_error) == (
            1, now + timedelta(seconds=30), FAILURES[failure])
        assert row.failed_at is None and row.claimed_until is None
        assert "secret" in row.payload, "kept for the next try"

        assert deliver_due(now=now + timedelta(seconds=29)) == 0, "not before its wait is over"
        assert deliver_due(now=now + timedelta(seconds=30)) == 1
        [row] = rows(session)
        assert (row.attempts, row.available_at) == (2, now + timedelta(seconds=90))

        assert deliver_due(now=now + timedelta(seconds=90)) == 1  # the third and last
        [row] = rows(session)
        assert (row.attempts, row.failed_at, row.last_error) == (
            3, now + timedelta(seconds=90), FAILURES[failure])
        assert "secret" not in row.payload
        assert deliver_due(now=now + timedelta(days=1)) == 0
        assert controlled_smtp.messages == []

        logged = [r for r in caplog.records if r.name == "portal.outbox"]
        assert [r.levelname for r in logged] == ["WARNING", "WARNING", "ERROR"]
        assert "gave up on the outbox_test email" in logged[-1].getMessage()
        # aiosmtpd, the stand-in for the customer's mail server, logs what it receives under
        # "mail.log"; everything else is the portal and its libraries.
        assert all("975310" not in f"{r.getMessage()} {r.exc_text or ''}"
                   for r in caplog.records if not r.name.startswith("mail.log"))


class TestAMailServerThatComesBack:
    @pytest.fixture
    def mail_settings(self, controlled_smtp) -> dict:
        self.port = free_port()
        return {**smtp_settings(controlled_smtp), "MAIL_PORT": self.port}

    def test_the_email_goes_out_on_the_first_try_after_it_is_back(self, session, enqueue, now):
        from aiosmtpd.controller import Controller

        message = enqueue()
        deliver_due(now=now)
        assert rows(session)[0].last_error == "ConnectionRefusedError"
        recorder = SMTPRecorder("127.0.0.1", self.port)
        controller = Controller(recorder, hostname="127.0.0.1", port=self.port)
        controller.start()
        try:
            assert deliver_due(now=now + timedelta(seconds=30)) == 1
        finally:
            controller.stop()
        assert message_ids(recorder.messages) == [message_id_for(message.id)]
        assert rows(session)[0].sent_at == now + timedelta(seconds=30)


# ---- order per recipient ------------------------------------------------------------------------

def test_one_recipients_emails_leave_in_the_order_they_were_made_even_across_a_retry(
        session, enqueue, now, controlled_smtp):
    first = enqueue("jenny.rosen@example.com", name="first")
    second = enqueue("Jenny.Rosen@example.com", name="second", when=now + timedelta(seconds=1))
    other = enqueue("ana.silva@example.com", name="Ana", when=now + timedelta(seconds=1))
    controlled_smtp.replies = ["451 Busy, try again"]  # the first message only
    deliver_due(now=now + timedelta(seconds=1))
    # Jenny's second email waits for her first; Ana's does not.
    assert message_ids(controlled_smtp.messages) == [message_id_for(other.id)]
    deliver_due(now=now + timedelta(seconds=31))
    assert message_ids(controlled_smtp.messages) == [
        message_id_for(m.id) for m in (other, first, second)]


def test_a_recipients_next_email_goes_once_the_one_before_was_given_up_on(
        session, enqueue, now, controlled_smtp):
    enqueue(expires_at=now)  # can never go
    later = enqueue(when=now + timedelta(seconds=1))
    deliver_due(now=now + timedelta(seconds=1))
    assert message_ids(controlled_smtp.messages) == [message_id_for(later.id)]


# ---- several deliverers at once ---------------------------------------------------------------

def test_threads_delivering_at_once_send_each_email_once_and_in_order_per_recipient(
        app, session, enqueue, now, controlled_smtp):
    controlled_smtp.delay = 0.01  # a mail server that takes a moment, as real ones do
    made = [enqueue(f"customer{i % 15}@example.com", name=str(i), secret_context=None,
                    when=now + timedelta(milliseconds=i)) for i in range(45)]
    barrier = threading.Barrier(4)
    errors = []

    def deliver():
        try:
            with app.app_context():
                barrier.wait()
                deliver_due(now=now + timedelta(seconds=1))
        except Exception as error:  # reported below, with the thread's name
            errors.append(error)

    threads = [threading.Thread(target=deliver, name=f"deliverer-{n}") for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    received = message_ids(controlled_smtp.messages)
    assert sorted(received) == sorted(message_id_for(m.id) for m in made)  # each once
    for customer in range(15):
        theirs = [message_id_for(m.id) for m in made[customer::15]]
        assert [m for m in received if m in theirs] == theirs
    senders = {row.claimed_by for row in rows(session)}
    assert len(senders) > 1, "the threads shared the work"


# ---- waking the in-process deliverer ----------------------------------------------------------

class TestInProcessDelivery:
    @pytest.fixture
    def app_config(self, mail_settings) -> dict:
        return {**mail_settings, "WORKER_MODE": "inline-thread", "OUTBOX_POLL_SECONDS": 0.2}

    def test_a_commit_that_adds_an_email_wakes_the_deliverer_and_it_is_sent_once(
            self, session, enqueue, controlled_smtp, drain_outbox):
        message = enqueue(when=utcnow())
        wait_for(lambda: controlled_smtp.messages, what="the email")
        drain_outbox()
        assert message_ids(controlled_smtp.messages) == [message_id_for(message.id)]

    def test_rows_no_commit_announced_are_found_by_the_poll(self, client, session,
                                                            controlled_smtp):
        client.get("/p/signed-out")  # the first request starts the deliverer
        # Written past the ORM's unit of work, so no commit hook sees it: as a row another
        # process wrote while its wake-up was lost.
        moment = utcnow()
        session.execute(insert(OutboxMessage).values(
            id="obx_writtenbehindtheormsback", kind="email", created=moment,
            available_at=moment, attempts=0,
            payload={"to": "jenny.rosen@example.com", "subject": "Hi", "template": "login_code",
                     "context": {"valid_for": "10 minutes"}, "deliver": True}))
        session.commit()
        wait_for(lambda: controlled_smtp.messages, what="the poll to send the email")
        assert message_ids(controlled_smtp.messages) == [
            message_id_for("obx_writtenbehindtheormsback")]


def test_a_session_that_adds_no_outbox_row_wakes_nobody(app, session, make_customer,
                                                        monkeypatch):
    from portal.outbox import wakeup

    woken = []
    monkeypatch.setattr(wakeup, "wake", woken.append)
    make_customer()
    assert woken == []
    db.session.commit()
    assert woken == []


def test_rows_of_another_kind_are_left_for_their_own_deliverer(session, now, controlled_smtp):
    session.add(OutboxMessage(kind="webhook", payload={"endpoint_id": "we_x", "event_id": "evt_x"},
                              created=now, available_at=now))
    session.add(OutboxMessage(kind="sms", payload={"to": "+15555550100"},
                              created=now, available_at=now))
    session.commit()
    # The email deliverer leaves webhooks to theirs, and a kind nobody delivers to nobody.
    assert deliver_due(now=now, kinds=("email",)) == 0
    assert all(row.claimed_by is None and row.attempts == 0 for row in rows(session))
    assert deliver_due(now=now) == 1  # the webhook's deliverer: its endpoint is gone
    webhook, sms = sorted(rows(session), key=lambda row: row.kind != "webhook")
    assert webhook.failed_at is not None and webhook.last_error == "Endpoint deleted"
    assert sms.claimed_by is None and sms.attempts == 0 and sms.failed_at is None
