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

JENNY = "jenny.rosen@example.com"


class SlowServer:
    """The mail server holds the first email to ``address``, as a busy SMTP server holds one,
    until ``release`` is set: by the test, or by any later email going out (which has then
    overtaken it). ``held`` is set once it holds that email; ``sent_to`` lists the recipients
    in the order their emails went out. ``hold_seconds`` is a deadline for a stuck test, not
    a timing: nothing waits for it to pass.

    Holding by address (not "the first send") matters: two deliverer threads may start two
    recipients' emails in either order, and a machine under load does."""

    def __init__(self, real_send, address: str):
        self.real_send = real_send
        self.address = address
        self.hold_seconds = 30.0
        self.held = threading.Event()
        self.release = threading.Event()
        self.sent_to: list[str] = []
        self.lock = threading.Lock()

    def send(self, to, *args, **kwargs):
        with self.lock:
            hold = to == self.address and not self.held.is_set()
            if hold:
                self.held.set()
        if hold:
            self.release.wait(self.hold_seconds)
        result = self.real_send(to, *args, **kwargs)
        with self.lock:
            self.sent_to.append(to)
        if not hold:
            self.release.set()  # a later email went out: the held one has been overtaken
        return result


@pytest.fixture
def first_send_is_slow(monkeypatch) -> SlowServer:
    """Jenny's first email is held at the mail server."""
    server = SlowServer(mailer.send, JENNY)
    monkeypatch.setattr(mailer, "send", server.send)
    return server


def test_the_newest_email_holds_the_code_that_works_even_when_a_send_is_slow(
        app, login, customer, mailbox, first_send_is_slow):
    from portal.outbox.delivery import deliver_due

    login.request_code(JENNY)
    login.resend()
    assert first_send_is_slow.held.wait(10), "the first code email was never sent"
    # While the first email is held, a delivery pass over the outbox after the resend: were
    # the second email free to go, it would go now and overtake the first.
    deliver_due()
    first_send_is_slow.release.set()
    assert len(mailbox.codes()) == 2
    assert first_send_is_slow.sent_to == [JENNY, JENNY]
    response = login.enter_code(mailbox.latest_code())
    assert response.headers["Location"].endswith("/p/")


def test_emails_to_different_addresses_do_not_wait_for_each_other(
        app, login, make_customer, mailbox, first_send_is_slow):
    make_customer()
    make_customer(email="ana.silva@example.com", name="Ana Silva")
    # Jenny's email is held until Ana's goes out; were Ana's queued behind it, neither would
    # go, and the drain below would give up waiting (its 10 s before the 30 s hold's end).
    login.request_code(JENNY)
    app.test_client().post(f"/p/login/{login.link.id}", data={"email": "ana.silva@example.com"})
    # Ana's email went out while Jenny's was still with the slow server.
    assert [row.recipients for row in mailbox.messages()] == ["ana.silva@example.com", JENNY]
    assert first_send_is_slow.sent_to == ["ana.silva@example.com", JENNY]
