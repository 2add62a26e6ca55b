"""Passcode emails to one address are sent in the order they were asked for.

They go out from a pool of two threads (portal/login/outbox.py). Without care, a slow first
send lets the second overtake it: the newest email in the inbox then holds a code that no
longer works. This is what made test_resending_counts_against_the_address_limit fail now and
then: the mailbox's newest message was not the newest code.
"""

from __future__ import annotations

import time

import pytest

from portal.login import outbox


@pytest.fixture
def first_send_is_slow(monkeypatch):
    """The first email takes a while to hand to the mail server, as a busy SMTP server does."""
    real = outbox.send_templated
    calls = []

    def slow_first(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            time.sleep(0.5)
        return real(*args, **kwargs)

    monkeypatch.setattr(outbox, "send_templated", slow_first)
    return calls


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
    login.request_code("jenny.rosen@example.com")
    app.test_client().post(f"/p/login/{login.link.id}", data={"email": "ana.silva@example.com"})
    # Ana's email went out while Jenny's was still with the slow server.
    assert [row.recipients for row in mailbox.messages()] == ["ana.silva@example.com",
                                                              "jenny.rosen@example.com"]
