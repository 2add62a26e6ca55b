"""Passcode emails to one address are sent in the order they were asked for.

The outbox is delivered by several threads (OUTBOX_THREADS) and, in production, by several
processes. Without care, a slow first send lets the second overtake it: the newest email in
the inbox then holds a code that no longer works. This is what made
test_resending_counts_against_the_address_limit fail now and then: the mailbox's newest
message was not the newest code. A row is claimed only when every older row to the same
recipient was sent or given up on (portal/outbox/delivery.py).
"""

from __future__ import annotations

import threading

import pytest

from portal import mailer


class SlowServer:
    """The first email is held at the mail server, as a busy SMTP server holds it, until a
    later email has gone out or ``hold_seconds`` have passed."""

    def __init__(self, real_send):
        self.real_send = real_send
        self.calls: list[tuple] = []
        self.hold_seconds = 0.5
        self.later_one_sent = threading.Event()

    def send(self, *args, **kwargs):
        self.calls.append(args)
        if len(self.calls) == 1:
            self.later_one_sent.wait(self.hold_seconds)
            return self.real_send(*args, **kwargs)
        self.real_send(*args, **kwargs)
        self.later_one_sent.set()


@pytest.fixture
def first_send_is_slow(monkeypatch) -> SlowServer:
    server = SlowServer(mailer.send)
    monkeypatch.setattr(mailer, "send", server.send)
    return server


def test_the_newest_email_holds_the_code_that_works_even_when_a_send_is_slow(
        login, customer, mailbox, first_send_is_slow):
    login.request_code("jenny.rosen@example.com")
    login.resend()
    assert len(mailbox.codes()) == 2
    response = login.enter_code(mailbox.latest_code())
    assert response.headers["Location"].endswith("/p/")


def test_emails_to_different_addresses_do_not_wait_for_each_other(
        app, login, make_customer, mailbox, first_send_is_slow):
    make_customer()
    make_customer(email="ana.silva@example.com", name="Ana Silva")
    # Jenny's email waits for Ana's to go out; were Ana's queued behind it, Jenny's would go
    # first after the hold (and the drain below would give up waiting first). The hold is long
    # so that a busy CI machine, slow to run the second delivery, cannot end it early.
    first_send_is_slow.hold_seconds = 30
    login.request_code("jenny.rosen@example.com")
    app.test_client().post(f"/p/login/{login.link.id}", data={"email": "ana.silva@example.com"})
    # Ana's email went out while Jenny's was still with the slow server.
    assert [row.recipients for row in mailbox.messages()] == ["ana.silva@example.com",
                                                              "jenny.rosen@example.com"]
