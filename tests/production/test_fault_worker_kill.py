"""Faults: a worker process killed with SIGKILL in the middle of its work, then started again.

Two kinds of work: ``flask --app portal worker`` posting webhooks to a slow endpoint, killed
while it waits for the endpoint's answer; and ``flask --app portal billing run`` over 50 due
subscriptions, killed partway through. Both on the suite's database, counted afterwards from
what the receiver got, what the processor was asked (the recording gateway's log) and SQL.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections import Counter
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.invoices.models import Invoice
from portal.outbox.models import OutboxMessage
from portal.payments.models import Payment
from portal.subscriptions.models import Subscription
from tests.billing.helpers import FEB_1, JAN_1
from tests.billing.processes import command_env, start_billing_run
from tests.billing.recording_gateway import read_log
from tests.outbox.conftest import WorkerProcess
from tests.production.faults import kill, report
from tests.production.servers import clean_env, wait_for

# Deployed as production runs it: in the PostgreSQL run of the suite only (conftest.py).
pytestmark = pytest.mark.usefixtures("deployed_on_postgresql")


# ---- webhooks ----------------------------------------------------------------------------------

EVENTS = 6
HOLD_AT = 3  # the POST the endpoint sits on, and the worker is killed waiting for


class HoldingEndpoint:
    """A real HTTP endpoint that records each POST's event id as it arrives and answers 200,
    except the HOLD_AT-th, which it holds until ``release`` is set."""

    def __init__(self):
        self.received: list[str] = []
        self.held = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()
        state = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802  (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with state.lock:
                    state.received.append(json.loads(body)["id"])
                    number = len(state.received)
                if number == HOLD_AT:
                    state.held.set()
                    state.release.wait(30)
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                except OSError:  # the worker is gone
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint():
    """A HoldingEndpoint on a free port; closed afterwards."""
    server = HoldingEndpoint()
    yield server
    server.close()


def webhook_rows(session) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "webhook")))


def test_a_worker_killed_while_an_endpoint_holds_a_webhook_delivers_every_event_after_a_restart(
        app, session, customer, now, database_uri, tmp_path, endpoint):
    """Injected: SIGKILL of ``flask --app portal worker`` while the endpoint held the third of
    six webhook POSTs, then a new worker. Counted: every event received, only the one in
    flight twice (README: a worker that died after the POST and before it recorded the
    answer), every delivery row marked delivered, none given up on."""
    from portal.customers.operations import update_customer_details
    from portal.webhooks import operations as webhooks

    webhooks.create_endpoint(session, url=endpoint.url, enabled_events=["customer.updated"],
                             now=now, actor="merchant")
    session.commit()
    for n in range(EVENTS):
        update_customer_details(session, customer, {"name": f"Jenny {n}"}, now=now,
                                actor="merchant")
        session.commit()
    env = clean_env(SQLALCHEMY_DATABASE_URI=database_uri,
                    INSTANCE_PATH=str(tmp_path / "worker"), WORKER_MODE="external",
                    OUTBOX_POLL_SECONDS="0.2", WEBHOOK_TIMEOUT_SECONDS="1",
                    WEBHOOK_LEASE_SECONDS="3.5", MAIL_BACKEND="console")
    worker = WorkerProcess(env).wait_ready()
    assert endpoint.held.wait(30), worker.output
    assert kill(worker.process) == -signal.SIGKILL
    in_flight = endpoint.received[-1]
    endpoint.release.set()

    again = WorkerProcess(env).wait_ready()
    try:
        wait_for(lambda: all(row.sent_at for row in webhook_rows(session)), timeout=60,
                 what="the restarted worker to deliver the rest")
    finally:
        again.stop()
    rows = webhook_rows(session)
    events = {row.payload["event_id"] for row in rows}
    received = Counter(endpoint.received)
    expected = Counter(events)
    expected[in_flight] += 1
    assert len(rows) == EVENTS and received == expected
    assert not [row for row in rows if row.failed_at]
    report(f"SIGKILL of the worker while the endpoint held webhook {HOLD_AT} of {EVENTS}",
           f"{len(set(received))} of {EVENTS} events received, 0 missing; 1 repeated (the one "
           f"in flight, as the README says), {sum(received.values())} POSTs in all")


# ---- the billing run ---------------------------------------------------------------------------

SUBSCRIPTIONS = 40
KILL_AFTER_CHARGES = 12
NOW = FEB_1 + timedelta(hours=1)  # every subscription's January period has just ended


@pytest.fixture
def due_subscriptions(session, make_customer, make_payment_method, make_price,
                      make_subscription):
    """SUBSCRIPTIONS customers with a good card, each on Pro since January 1: as of NOW each
    has one period to renew, invoice and charge."""
    price = make_price(name="Pro", unit_amount=2900)
    for n in range(SUBSCRIPTIONS):
        customer = make_customer(email=f"due{n}@example.com", name=f"Due {n}")
        make_payment_method(customer)
        make_subscription(customer, price, current_period_start=JAN_1,
                          current_period_end=FEB_1, billing_cycle_anchor=JAN_1)
    return session.scalars(select(Subscription)).all()


def charges_logged(log: Path) -> int:
    """Charges the processor has made so far (lines in the recording gateway's log)."""
    try:
        return sum(1 for line in log.read_text().splitlines() if line.strip())
    except FileNotFoundError:
        return 0


def test_a_billing_run_killed_partway_bills_each_subscription_once_after_it_is_run_again(
        app, session, due_subscriptions, database_uri, tmp_path):
    """Injected: SIGKILL of ``flask --app portal billing run`` over 40 due subscriptions once
    the processor had logged 12 charges, then the run again (and an hour later once more if
    the kill left a payment processing, to settle it). Counted in SQL and the processor's log: each
    subscription renewed once, one invoice per period, one succeeded payment per invoice,
    no invoice charged under two keys, none missing."""
    log = tmp_path / "charges.log"
    env = command_env(database_uri, tmp_path / "instance", log)
    run = start_billing_run(env, "--now", NOW.isoformat(), stdout=open(os.devnull, "w"))
    wait_for(lambda: charges_logged(log) >= KILL_AFTER_CHARGES or run.poll() is not None,
             timeout=120, what=f"{KILL_AFTER_CHARGES} charges")
    assert run.poll() is None, "the run finished before it could be killed"
    assert kill(run) == -signal.SIGKILL
    charged_before_kill = charges_logged(log)
    session.expire_all()
    left_processing = session.scalar(select(func.count()).select_from(Payment).where(
        Payment.status == "processing"))
    assert left_processing <= 1

    # Run again; an hour later once more only if a payment was left processing.
    for moment in (NOW, NOW + timedelta(hours=1, minutes=5))[:1 + left_processing]:
        again = start_billing_run(env, "--now", moment.isoformat())
        out, err = again.communicate(timeout=180)
        assert again.returncode == 0, err[-3000:]

    session.expire_all()
    subscriptions = session.scalars(select(Subscription)).all()
    assert len(subscriptions) == SUBSCRIPTIONS
    assert {s.current_period_start for s in subscriptions} == {FEB_1}  # renewed once each
    invoices = session.scalars(select(Invoice)).all()
    per_period = Counter((i.subscription_id, i.period_start) for i in invoices)
    assert set(per_period.values()) == {1} and len(per_period) == SUBSCRIPTIONS
    payments = session.scalars(select(Payment)).all()
    succeeded = Counter(p.invoice_id for p in payments if p.status == "succeeded")
    assert all(succeeded[i.id] == 1 and i.status == "paid" for i in invoices)
    assert not [p for p in payments if p.status != "succeeded"]
    keys = Counter(charge["key"] for charge in read_log(log))
    assert set(keys) == {p.idempotency_key for p in payments}  # the processor saw these only
    asked_twice = [key for key, count in keys.items() if count > 1]
    # Only a payment the kill left processing is asked about again, with its own key.
    assert len(asked_twice) == left_processing and set(keys.values()) <= {1, 2}
    report(f"SIGKILL of `flask billing run` over {SUBSCRIPTIONS} due subscriptions after "
           f"{charged_before_kill} charges",
           f"{SUBSCRIPTIONS} renewed once, {len(invoices)} invoices (1 per period), "
           f"{sum(succeeded.values())} succeeded payments (1 per invoice), 0 charged twice, "
           f"0 missing; {left_processing} payment left processing by the kill, settled with "
           "its own key an hour later")
