"""Faults: Redis, which keeps the rate-limit counts and the worker's queue, killed while
customers sign in and pay.

A private redis-server (never the shared one) serves both: database 0 the rate limits,
database 1 the queue. The portal runs under gunicorn (two workers) with
PORTAL_WORKER_MODE=redis and one ``flask --app portal worker`` process beside it, on the
suite's database, mailing through a real SMTP server and posting webhooks to a real HTTP
receiver.

The policy under test (README "When something fails"): with Redis out of reach, rate limits
are counted in each process's memory (a warning says so), so sign-in and paying go on; the
commit's wake-up cannot reach the queue, so the worker delivers the outbox straight from the
database every PORTAL_OUTBOX_POLL_SECONDS until Redis is back, then the queue takes over again.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter

import pytest
from sqlalchemy import select

from portal.outbox.delivery import message_id_for
from portal.outbox.models import OutboxMessage
from tests.outbox.conftest import WorkerProcess
from tests.production.faults import report
from tests.production.servers import Browser, clean_env, passcode_in, wait_for

EMAIL = "jenny.rosen@example.com"

# Deployed as production runs it: in the PostgreSQL run of the suite only (conftest.py).
pytestmark = pytest.mark.usefixtures("deployed_on_postgresql")


@pytest.fixture
def settings(app, database_uri, tmp_path, private_redis, smtp_server):
    """The settings the portal and its worker share: Redis mode on the private Redis."""
    return {
        "SQLALCHEMY_DATABASE_URI": database_uri,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "WORKER_MODE": "redis", "WORKER_REDIS_URL": private_redis.url(1),
        "WORKER_QUEUE": f"fault-{uuid.uuid4().hex[:8]}",
        "RATELIMIT_STORAGE_URI": private_redis.url(0),
        "OUTBOX_POLL_SECONDS": "1",
        # Nothing else but the test's own work in the suite's database.
        "BILLING_RUN_INTERVAL_SECONDS": "0", "HOUSEKEEPING_INTERVAL_SECONDS": "0",
        "MAIL_BACKEND": "smtp", "MAIL_SERVER": smtp_server.host,
        "MAIL_PORT": str(smtp_server.port), "MAIL_DEFAULT_SENDER": "billing@acme.example",
    }


def outbox(session) -> list[OutboxMessage]:
    """Every outbox row as the database has it now."""
    session.expire_all()
    return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.created)))


def all_delivered(session) -> bool:
    rows = outbox(session)
    return bool(rows) and all(row.sent_at is not None for row in rows)


def event_ids(receiver) -> list[str]:
    """The ids of the webhook events the receiver was sent (one per POST)."""
    return [json.loads(request.body)["id"] for request in receiver.requests]


def test_customers_sign_in_and_pay_while_redis_is_down_and_nothing_is_lost_or_doubled(
        session, customer, login_link, make_payment_method, make_invoice, make_endpoint,
        receiver, smtp_server, private_redis, settings, start_gunicorn):
    """Injected: redis-server killed (SIGKILL) after the portal and worker started, then
    started again, empty, after the customer had signed in, paid and added a card. Counted:
    every sign-in page, the payment and the card answered (no 500), the passcode emails and webhooks each delivered
    exactly once (by Message-ID and event id), none left in the outbox, the same worker
    process throughout."""
    make_payment_method(customer)
    invoice = make_invoice(customer, amount=4900)
    make_endpoint(["invoice.paid"])
    worker = WorkerProcess(clean_env(**settings)).wait_ready()
    portal = start_gunicorn(clean_env(**settings))
    browser = Browser(portal)
    try:
        private_redis.stop()

        page = browser.request_code(login_link.id, EMAIL)
        assert page.status_code == 200 and 'name="code"' in page.text
        wait_for(lambda: smtp_server.messages, what="the passcode, delivered without Redis")
        answer = browser.enter_code(login_link.id, passcode_in(smtp_server.messages[-1]))
        assert answer.status_code == 303, answer.text[:500]
        invoice_path = f"/p/invoices/{invoice.id}"
        paid = browser.submit_form(invoice_path, f"{invoice_path}/pay")
        assert paid.status_code == 303, paid.text[:500]
        assert "Payment of $49.00 received" in browser.get(invoice_path).text
        wait_for(lambda: receiver.requests, what="the invoice.paid webhook without Redis")
        # Adding a card is limited by Flask-Limiter's decorator: its own fallback counts it.
        added = browser.submit_form("/p/payment-methods/new", "/p/payment-methods/new",
                                    name="Jenny Rosen", number="5555555555554444",
                                    expiry="12/39", cvc="123")
        assert added.status_code == 303, added.text[:500]

        private_redis.start()
        wait_for(lambda: "Redis is back" in worker.output, what="the worker to see Redis back")
        # Signed out, the customer asks for a new code: the queue wakes the worker again.
        browser.submit_form("/p/", "/p/sign-out")
        browser.request_code(login_link.id, EMAIL)
        wait_for(lambda: len(smtp_server.messages) == 2, what="the code sent after Redis")
        wait_for(lambda: all_delivered(session), what="every outbox row delivered")
    finally:
        browser.close()
        worker.stop()
    rows = outbox(session)
    emails = [row for row in rows if row.kind == "email"]
    webhooks = [row for row in rows if row.kind == "webhook"]
    received = Counter(message["Message-ID"] for message in smtp_server.messages)
    assert received == Counter(message_id_for(row.id) for row in emails)  # each once
    assert sorted(event_ids(receiver)) == sorted(row.payload["event_id"] for row in webhooks)
    assert worker.process.returncode == 0, worker.output  # one process, stopped by us
    assert "Redis is out of reach" in worker.output
    log = portal.output
    assert "could not wake the worker through Redis" in log
    assert "counting sign-in limits in this process" in log
    assert "Traceback" not in log, log[-3000:]
    report("redis-server SIGKILLed during sign-in and payment, restarted empty afterwards",
           f"sign-in, code check, payment and a card added answered without Redis; {len(emails)} emails "
           f"and {len(webhooks)} webhooks each delivered exactly once, 0 lost, 0 duplicated; "
           "the worker delivered from the database while Redis was down and kept running")
