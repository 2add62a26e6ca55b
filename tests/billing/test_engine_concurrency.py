"""Exactly once, whatever runs at the same time: two runs in two threads, two ``flask billing
run`` processes at once, and a run killed right after the processor took the money, then run
again. Each period gets one invoice and each invoice one successful charge."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from portal.billing import engine
from portal.billing.policy import BillingPolicy
from portal.extensions import db
from portal.invoices.models import Invoice
from portal.payments.gateway import get_gateway
from portal.payments.models import Payment
from tests.billing.helpers import DECLINED, FEB_1, JAN_1, MAR_1, invoices_of
from tests.billing.processes import billing_run, command_env, start_billing_run
from tests.billing.recording_gateway import read_log

CUSTOMERS = 6


@pytest.fixture
def subscriptions(make_customer, make_payment_method, make_subscription, make_price):
    """Six customers with good cards and one whose card declines, each subscribed since
    January: on March 1 every one has two periods to invoice."""
    price = make_price(name="Pro", unit_amount=2900)
    subs = []
    for n in range(CUSTOMERS + 1):
        customer = make_customer(email=f"customer{n}@example.com", name=f"Customer {n}")
        make_payment_method(customer, number=DECLINED if n == CUSTOMERS else "4242424242424242")
        subs.append(make_subscription(customer, price, current_period_start=JAN_1,
                                      current_period_end=FEB_1, billing_cycle_anchor=JAN_1))
    return subs


def assert_billed_exactly_once(session, subscriptions):
    """One invoice per period for every subscription, numbered without gaps or repeats; one
    successful charge per invoice of a good card, one failed attempt per invoice of the
    declining one, and nothing left processing."""
    session.expire_all()
    for sub in subscriptions:
        assert [i.period_start for i in invoices_of(session, sub)] == [FEB_1, MAR_1], sub.id
    invoices = session.scalars(select(Invoice)).all()
    numbers = sorted(i.number for i in invoices)
    assert numbers == [f"INV-{n:04d}" for n in range(1, 2 * len(subscriptions) + 1)]
    payments = session.scalars(select(Payment)).all()
    by_invoice = Counter((p.invoice_id, p.status) for p in payments)
    declining = subscriptions[-1].id
    for invoice in invoices:
        if invoice.subscription_id == declining:
            assert by_invoice[(invoice.id, "failed")] == 1
            assert invoice.status == "open" and invoice.attempt_count == 1
        else:
            assert by_invoice[(invoice.id, "succeeded")] == 1
            assert invoice.status == "paid" and invoice.amount_paid == 2900
    assert not [p for p in payments if p.status == "processing"]
    return payments


def _run_in_thread(app, now, start, summaries):
    with app.app_context():
        try:
            start.wait(10)
            summaries.append(engine.run(db.session, now=now, gateway=get_gateway(),
                                        policy=BillingPolicy()))
        except Exception as error:  # reported, so a crash fails the test with its reason
            summaries.append(error)
        finally:
            db.session.remove()


def test_two_runs_at_once_in_two_threads_bill_each_period_once(app, session, subscriptions,
                                                                gateway):
    summaries: list = []
    start = threading.Barrier(2)
    threads = [threading.Thread(target=_run_in_thread, args=(app, MAR_1, start, summaries))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads), "a run never finished"
    assert all(isinstance(s, engine.RunSummary) for s in summaries), summaries
    payments = assert_billed_exactly_once(session, subscriptions)
    # The processor was asked once per attempt: no key twice.
    keys = [call["idempotency_key"] for call in gateway.calls]
    assert sorted(keys) == sorted(p.idempotency_key for p in payments)
    assert sum(s.invoiced for s in summaries) == 2 * len(subscriptions)
    assert sum(s.charged for s in summaries) == 2 * CUSTOMERS
    assert sum(s.failed for s in summaries) == 2
    assert sum(s.errors for s in summaries) == 0


def test_a_subscription_another_run_holds_is_skipped_not_waited_for(app, session,
                                                                    subscriptions, gateway):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no row locks: runs queue on its one write lock instead")
    held = subscriptions[0]
    with db.engine.connect() as other_run:
        other_run.execute(text("SELECT id FROM subscription WHERE id = :id FOR UPDATE"),
                          {"id": held.id})
        summary = engine.run(session, now=MAR_1, gateway=get_gateway(),
                             policy=BillingPolicy())
        other_run.rollback()
    assert summary.skipped == 1
    assert any(f"{held.id} (" in a and "another run is billing it" in a
               for a in summary.actions)
    session.expire_all()
    assert invoices_of(session, held) == []
    assert summary.invoiced == 2 * (len(subscriptions) - 1)
    # Released, the next run bills it.
    engine.run(session, now=MAR_1, gateway=get_gateway(), policy=BillingPolicy())
    assert_billed_exactly_once(session, subscriptions)


# ---- other processes ---------------------------------------------------------------------------

def _summary_counts(output: str) -> dict[str, int]:
    line = output.strip().splitlines()[-1]
    counts = {}
    for part in line.split(", "):
        *words, number = part.split(" ")
        counts[" ".join(words)] = int(number)
    return counts


def test_two_billing_processes_at_once_bill_each_period_once(app, session, subscriptions,
                                                             database_uri, tmp_path):
    log = tmp_path / "charges.log"
    env = command_env(database_uri, tmp_path / "instance", log,
                      PORTAL_TEST_GATEWAY_RENDEZVOUS=f"{tmp_path / 'rendezvous'}:2")
    processes = [start_billing_run(env, "--now", MAR_1.isoformat()) for _ in range(2)]
    outputs = [process.communicate(timeout=180) for process in processes]
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
    payments = assert_billed_exactly_once(session, subscriptions)
    charges = read_log(log)
    # Across both processes the processor saw each key once, and only the keys saved.
    assert sorted(c["key"] for c in charges) == sorted(p.idempotency_key for p in payments)
    counts = [_summary_counts(out) for out, _ in outputs]
    assert sum(c["invoiced"] for c in counts) == 2 * len(subscriptions)
    assert sum(c["charged"] for c in counts) == 2 * CUSTOMERS


def test_a_run_killed_after_a_charge_then_run_again_never_bills_twice(
        app, session, subscriptions, database_uri, tmp_path):
    log = tmp_path / "charges.log"
    instance = tmp_path / "instance"
    # The third charge goes through at the processor, and the process dies before saving it.
    killed = billing_run(command_env(database_uri, instance, log,
                                     PORTAL_TEST_GATEWAY_KILL_AFTER="3"),
                         "--now", MAR_1.isoformat())
    assert killed.returncode == -9, killed.stderr
    assert len(read_log(log)) == 3
    session.expire_all()
    [stuck] = session.scalars(select(Payment).where(Payment.status == "processing")).all()
    last_charge = read_log(log)[-1]
    assert stuck.idempotency_key == last_charge["key"]

    again = billing_run(command_env(database_uri, instance, log), "--now", MAR_1.isoformat())
    assert again.returncode == 0, again.stderr
    session.expire_all()
    # The invoice whose answer was lost is left alone: the money may have moved.
    assert session.get(Payment, stuck.id).status == "processing"
    assert [p.id for p in session.scalars(select(Payment).where(
        Payment.invoice_id == stuck.invoice_id)).all()] == [stuck.id]
    keys = [c["key"] for c in read_log(log)]
    assert len(keys) == len(set(keys))
    assert _summary_counts(again.stdout)["skipped"] == 1

    # An hour on, the payment is asked about again with its own key, which a processor
    # answers with the charge it already made.
    later = billing_run(command_env(database_uri, instance, log), "--now",
                        (MAR_1 + timedelta(hours=1)).isoformat())
    assert later.returncode == 0, later.stderr
    # (The killed charge may have been the declining card's, which the processor declined.)
    outcome = "succeeded" if last_charge["succeeded"] else "failed"
    counts = _summary_counts(later.stdout)
    assert (counts["charged"], counts["failed"]) == ((1, 0) if last_charge["succeeded"]
                                                     else (0, 1))
    session.expire_all()
    assert session.get(Payment, stuck.id).status == outcome
    payments = assert_billed_exactly_once(session, subscriptions)
    keys = Counter(c["key"] for c in read_log(log))
    assert keys.pop(stuck.idempotency_key) == 2  # the first charge and the question about it
    assert set(keys.values()) == {1}
    assert set(keys) | {stuck.idempotency_key} == {p.idempotency_key for p in payments}
