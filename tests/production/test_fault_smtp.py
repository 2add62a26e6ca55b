"""Faults: the mail server down, or too slow to answer, while a customer signs in.

The portal runs under gunicorn (two workers, the default in-process delivery threads) on the
suite's database, sending through a real SMTP server on loopback. Each test injects one
fault, signs a customer in through the login pages, and counts what the mail server
received afterwards.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.outbox.delivery import message_id_for
from portal.outbox.models import OutboxMessage
from tests.production.faults import report
from tests.production.servers import Browser, clean_env, passcode_in, wait_for

EMAIL = "jenny.rosen@example.com"

# Deployed as production runs it: in the PostgreSQL run of the suite only (conftest.py).
pytestmark = pytest.mark.usefixtures("deployed_on_postgresql")


# A failed send waits 0.2 s, then 0.4 s, never more than 0.5 s: retries come quickly.
FAST_RETRIES = {"OUTBOX_POLL_SECONDS": "0.2", "OUTBOX_RETRY_BASE_SECONDS": "0.2",
                "OUTBOX_RETRY_MAX_SECONDS": "0.5", "OUTBOX_MAX_ATTEMPTS": "100",
                "MAIL_TIMEOUT_SECONDS": "1"}


@pytest.fixture
def portal_env(app, database_uri, tmp_path, gated_smtp):
    """The environment of a portal on the suite's database, mailing through gated_smtp."""
    return clean_env(SQLALCHEMY_DATABASE_URI=database_uri,
                     INSTANCE_PATH=str(tmp_path / "gunicorn-instance"),
                     WORKER_MODE="inline-thread", WORKER_SCHEDULE_IN_PROCESS="false",
                     **gated_smtp.settings(), **FAST_RETRIES)


def passcode_rows(session) -> list[OutboxMessage]:
    """The passcode emails in the outbox, as the database has them now."""
    session.expire_all()
    rows = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "email")
                           .order_by(OutboxMessage.created))
    return [row for row in rows if row.payload.get("template") == "login_code"]


def sign_in_through_the_pages(browser, link, smtp, session, *, before_smtp_returns):
    """Ask for a code, check the code page answered, let ``before_smtp_returns`` restore
    SMTP, then sign in with the code that arrived. Returns the passcode row."""
    page = browser.request_code(link.id, EMAIL)
    smtp.note("code page shown")
    assert page.status_code == 200
    assert 'name="code"' in page.text, "the code form is shown"
    assert smtp.messages == [], "nothing was accepted before the page answered"
    before_smtp_returns()
    wait_for(lambda: smtp.messages, what="the passcode email once SMTP is back")
    [row] = passcode_rows(session)
    wait_for(lambda: passcode_rows(session)[0].sent_at is not None, what="the row marked sent")
    answer = browser.enter_code(link.id, passcode_in(smtp.messages[0]))
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/p/")
    assert browser.get("/p/").status_code == 200, "signed in"
    return passcode_rows(session)[0]


def test_sign_in_answers_while_smtp_refuses_and_the_code_arrives_once_when_it_returns(
        session, customer, login_link, gated_smtp, portal_env, start_gunicorn):
    """Injected: nothing listens on the SMTP port (connections refused) for at least three
    sends. Counted: the sign-in page answered first, the row's attempts, one passcode email
    delivered with the row's Message-ID, none lost, none twice, and the customer signed in."""
    portal = start_gunicorn(portal_env)
    browser = Browser(portal)

    def smtp_returns():
        wait_for(lambda: passcode_rows(session)[0].attempts >= 3,
                 what="three refused sends")
        gated_smtp.gate.set()
        gated_smtp.start()

    row = sign_in_through_the_pages(browser, login_link, gated_smtp, session,
                                    before_smtp_returns=smtp_returns)
    assert row.attempts >= 3
    assert gated_smtp.timeline[0] == ("code page shown", "")
    assert [m["Message-ID"] for m in gated_smtp.messages] == [message_id_for(row.id)]
    browser.close()
    report(f"SMTP refused connections (nothing on port {gated_smtp.port}) for "
           f"{row.attempts} send attempts",
           f"code page answered before SMTP accepted; {len(gated_smtp.messages)} passcode "
           "email delivered, 0 lost, 0 duplicated; customer signed in with it")


def test_sign_in_answers_while_smtp_hangs_and_the_code_arrives_once_it_answers(
        session, customer, login_link, gated_smtp, portal_env, start_gunicorn):
    """Injected: an SMTP server that takes every conversation and never answers the message
    (longer than PORTAL_MAIL_TIMEOUT_SECONDS), until let go. Counted: the sign-in page
    answered while it hung, sends timed out and were retried, then one email delivered, none
    twice, and the customer signed in."""
    gated_smtp.give_up_after = 2.5  # the server's own timeout, after the sender's (1 s)
    gated_smtp.start()
    portal = start_gunicorn(portal_env)
    browser = Browser(portal)

    def smtp_answers():
        wait_for(lambda: gated_smtp.conversations >= 1 and passcode_rows(session)[0].attempts
                 >= 1, what="a send that timed out")
        gated_smtp.gate.set()

    row = sign_in_through_the_pages(browser, login_link, gated_smtp, session,
                                    before_smtp_returns=smtp_answers)
    assert row.attempts >= 1
    assert gated_smtp.timeline[0] == ("code page shown", "")
    assert [m["Message-ID"] for m in gated_smtp.messages] == [message_id_for(row.id)]
    browser.close()
    report(f"SMTP held {gated_smtp.conversations - 1} conversation(s) past the 1 s mail "
           "timeout before answering",
           f"code page answered while SMTP hung; {row.attempts} timed-out attempt(s) retried; "
           f"{len(gated_smtp.messages)} passcode email delivered, 0 lost, 0 duplicated; "
           "customer signed in with it")
