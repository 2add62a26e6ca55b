"""Two requests paying one invoice at the same moment, each in its own thread, app context and
database session, as two browser tabs or a double click would: exactly one charge."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.events import AuditEvent
from portal.extensions import db
from portal.invoices import operations
from portal.invoices.models import Invoice
from portal.payments.gateway import get_gateway
from portal.payments.models import Payment, PaymentMethod

KEY_A = "a" * 32
KEY_B = "b" * 32


@pytest.fixture
def invoice(customer, make_invoice, make_payment_method, now):
    make_payment_method(customer)
    return make_invoice(customer, amount=4200, created=now - timedelta(days=1))


def _pay(app, invoice_id, key, now, results, start):
    with app.app_context():
        try:
            start.wait(10)
            invoice = db.session.get(Invoice, invoice_id)
            method = db.session.scalars(
                select(PaymentMethod).where(PaymentMethod.customer_id == invoice.customer_id)
            ).one()
            result = operations.pay_invoice(db.session, invoice, method, key, now=now,
                                            actor="customer:test", gateway=get_gateway())
            results.append(result.status + (" (replayed)" if result.replayed else ""))
        except operations.PaymentRefused as refusal:
            results.append(refusal.code)
        except Exception as error:  # reported, so a crash fails the test with its reason
            results.append(repr(error))
        finally:
            db.session.remove()


def _run_together(app, invoice_id, keys, now):
    results: list[str] = []
    start = threading.Barrier(len(keys))
    threads = [threading.Thread(target=_pay, args=(app, invoice_id, key, now, results, start))
               for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)
    return results


def _assert_one_charge(session, gateway, invoice_id):
    session.expire_all()
    assert len(gateway.calls) == 1, gateway.calls
    payments = session.scalars(select(Payment).where(Payment.invoice_id == invoice_id)).all()
    assert [p.status for p in payments] == ["succeeded"]
    invoice = session.get(Invoice, invoice_id)
    assert (invoice.status, invoice.amount_paid) == ("paid", 4200)
    paid = session.scalars(select(AuditEvent).where(AuditEvent.type == "invoice.paid")).all()
    assert len(paid) == 1


@pytest.fixture
def slow_checks(monkeypatch):
    """Widen the gap between checking for an earlier payment and saving a new one, so both
    requests would be inside it together if nothing kept them apart."""
    real = operations._payments_of

    def slow(*args):
        found = real(*args)
        time.sleep(0.3)
        return found

    monkeypatch.setattr(operations, "_payments_of", slow)


@pytest.mark.parametrize("keys", [(KEY_A, KEY_A), (KEY_A, KEY_B)], ids=["same-key", "two-keys"])
@pytest.mark.parametrize("slow", [False, True], ids=["fast", "slow-checks"])
def test_two_simultaneous_payments_of_one_invoice_charge_once(
        app, session, invoice, gateway, now, keys, slow, request):
    if slow:
        request.getfixturevalue("slow_checks")
    results = _run_together(app, invoice.id, keys, now)
    # One request charges; the other answers with the first one's result, or says a payment is
    # under way or already made. Neither fails with an error.
    assert results.count("succeeded") == 1, results
    others = set(results) - {"succeeded"}
    assert others <= {"succeeded (replayed)", "processing (replayed)", "already_paid (replayed)",
                      "in_progress"}, results
    _assert_one_charge(session, gateway, invoice.id)


@pytest.mark.parametrize("keys", [(KEY_A, KEY_A), (KEY_A, KEY_B)], ids=["same-key", "two-keys"])
def test_a_second_payment_sent_while_the_first_is_at_the_processor_charges_nothing(
        app, session, invoice, gateway, now, keys):
    gateway.entered, gateway.hold = threading.Event(), threading.Event()
    first_results: list[str] = []
    no_wait = threading.Barrier(1)
    first = threading.Thread(target=_pay, args=(app, invoice.id, keys[0], now, first_results,
                                                no_wait))
    first.start()
    try:
        assert gateway.entered.wait(10), "the first payment never reached the processor"
        second_results = _run_together(app, invoice.id, [keys[1]], now)
    finally:
        gateway.hold.set()
        first.join(30)
    assert first_results == ["succeeded"]
    # Same key: the first attempt's result (still processing). Another key: refused.
    assert second_results == (["processing (replayed)"] if keys[0] == keys[1]
                              else ["in_progress"])
    _assert_one_charge(session, gateway, invoice.id)


def test_a_duplicate_that_slips_past_the_lock_is_stopped_by_the_unique_key(
        session, invoice, gateway, now, monkeypatch):
    """Where a database took no lock, the unique idempotency key is the last guard: the second
    insert fails and is answered with the first attempt's result, without a charge."""
    method = session.scalars(select(PaymentMethod)).one()
    # Another request has just saved its processing payment with this key...
    theirs = Payment(idempotency_key=operations.payment_key(invoice.id, KEY_A),
                     customer_id=invoice.customer_id, invoice_id=invoice.id,
                     payment_method_id=method.id, amount=4200, currency="usd",
                     status="processing", created=now)
    session.add(theirs)
    session.commit()
    # ...after this request looked for it and found nothing.
    monkeypatch.setattr(operations, "_payment_by_key", _once(None, operations._payment_by_key))
    monkeypatch.setattr(operations, "_payments_of", _once([], operations._payments_of))

    result = operations.pay_invoice(session, invoice, method, KEY_A, now=now, actor="test",
                                    gateway=get_gateway())
    assert (result.status, result.replayed, result.payment.id) == ("processing", True, theirs.id)
    assert gateway.calls == []
    assert len(session.scalars(select(Payment)).all()) == 1


def _once(first_answer, then):
    calls = []

    def wrapped(*args):
        calls.append(1)
        return first_answer if len(calls) == 1 else then(*args)

    return wrapped
