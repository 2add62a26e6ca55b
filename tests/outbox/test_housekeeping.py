"""Housekeeping purges what can never be used again, and nothing else, and settles payments a
crash left "processing" with the gateway's original answer."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.customers.models import LoginPasscode, SignInSession
from portal.events import AuditEvent
from portal.ids import new_id
from portal.outbox import housekeeping
from portal.outbox.models import OutboxMessage
from portal.payments.gateway import get_gateway
from portal.payments.models import Payment
from tests.invoices.counting_gateway import CountingGateway

DAY = timedelta(days=1)
GATEWAY_SPEC = "tests.invoices.counting_gateway:CountingGateway"


@pytest.fixture
def app_config() -> dict:
    return {"PAYMENT_GATEWAY": GATEWAY_SPEC, "WORKER_MODE": "external"}


@pytest.fixture
def gateway(app):
    CountingGateway.reset()
    yield get_gateway()
    CountingGateway.reset()


def run_housekeeping(app, session, now):
    return housekeeping.run(session, now=now, config=app.config, gateway=get_gateway())


# ---- login passcodes ----------------------------------------------------------------------------

# (what, created, expires_at, used_at) relative to now; retention is 7 days.
PASSCODES = {
    "expired eight days ago": (-8 * DAY - timedelta(minutes=10), -8 * DAY, None, True),
    "used eight days ago": (-8 * DAY - timedelta(minutes=5), -8 * DAY + timedelta(minutes=5),
                            -8 * DAY, True),
    "expired an hour ago": (-timedelta(minutes=70), -timedelta(hours=1), None, False),
    "used an hour ago": (-timedelta(minutes=65), -timedelta(minutes=55), -timedelta(hours=1),
                         False),
    "still live": (-timedelta(minutes=1), timedelta(minutes=9), None, False),
}


@pytest.mark.parametrize("case", list(PASSCODES))
def test_passcodes_are_purged_only_once_they_expired_or_were_used_past_the_retention(
        app, session, now, customer, case):
    created, expires, used, purged = PASSCODES[case]
    row = LoginPasscode(id=new_id("lpc"), customer_id=customer.id,
                        email_normalized=customer.email_normalized, code_hmac="x" * 64,
                        created=now + created, expires_at=now + expires,
                        used_at=now + used if used is not None else None)
    session.add(row)
    session.commit()
    row_id = row.id
    done = run_housekeeping(app, session, now)
    assert done["login_passcodes"] == (1 if purged else 0)
    session.expire_all()
    assert (session.get(LoginPasscode, row_id) is None) is purged


# ---- sign-ins ------------------------------------------------------------------------------------

# (created, last_seen, ended) relative to now; idle lifetime 1 hour, absolute 12 hours.
SIGN_INS = {
    "signed out": (-timedelta(minutes=30), -timedelta(minutes=1), True, True),
    "idle for more than an hour": (-timedelta(hours=3), -timedelta(minutes=61), False, True),
    "older than twelve hours however active": (-timedelta(hours=12, minutes=1),
                                               -timedelta(minutes=1), False, True),
    "active": (-timedelta(hours=2), -timedelta(minutes=5), False, False),
}


@pytest.mark.parametrize("case", list(SIGN_INS))
def test_sign_ins_are_purged_once_they_ended_or_expired(app, session, now, customer, case):
    created, last_seen, ended, purged = SIGN_INS[case]
    row = SignInSession(id=new_id("sis", 40), customer_id=customer.id, created=now + created,
                        last_seen=now + last_seen, ended_at=now if ended else None)
    session.add(row)
    session.commit()
    row_id = row.id
    assert run_housekeeping(app, session, now)["sign_ins"] == (1 if purged else 0)
    session.expire_all()
    assert (session.get(SignInSession, row_id) is None) is purged


def test_a_customers_live_sign_in_still_works_after_housekeeping(
        app, session, now, signed_in_customer, client_request):
    run_housekeeping(app, session, now)
    client_request.get_response("customers.overview", _expected_status=200)


# ---- outbox rows -----------------------------------------------------------------------------------

# (sent, failed, dedupe_key) relative to now; retention 30 days.
OUTBOX = {
    "sent 31 days ago": (-31 * DAY, None, None, True),
    "given up on 31 days ago": (None, -31 * DAY, None, True),
    "sent 31 days ago with a dedupe key": (-31 * DAY, None, "invoice.paid:in_1", False),
    "sent yesterday": (-DAY, None, None, False),
    "never sent": (None, None, None, False),
}


@pytest.mark.parametrize("case", list(OUTBOX))
def test_outbox_rows_are_purged_once_delivered_long_ago_unless_a_dedupe_key_needs_them(
        app, session, now, case):
    sent, failed, key, purged = OUTBOX[case]
    row = OutboxMessage(kind="email", payload={"to": "a@example.com"}, dedupe_key=key,
                        created=now - 40 * DAY, available_at=now - 40 * DAY,
                        sent_at=now + sent if sent else None,
                        failed_at=now + failed if failed else None)
    session.add(row)
    session.commit()
    row_id = row.id
    assert run_housekeeping(app, session, now)["outbox_messages"] == (1 if purged else 0)
    session.expire_all()
    assert (session.get(OutboxMessage, row_id) is None) is purged


def test_housekeeping_leaves_every_other_table_alone(app, session, now, make_customer,
                                                     make_invoice):
    customer = make_customer()
    make_invoice(customer)

    def counts():
        from portal.extensions import db

        return {table.name: session.scalar(select(func.count()).select_from(table))
                for table in db.metadata.sorted_tables}

    before = counts()
    run_housekeeping(app, session, now)
    assert counts() == before


def test_the_command_prints_what_it_did(app, session, now, customer):
    session.add(SignInSession(id=new_id("sis", 40), customer_id=customer.id,
                              created=now - DAY, last_seen=now - DAY))
    session.commit()
    result = app.test_cli_runner().invoke(args=["housekeeping"])
    assert result.exit_code == 0, result.output
    assert "Purged 0 login passcode(s), 1 sign-in(s) and 0 outbox message(s)." in result.output
    assert "0 succeeded, 0 failed, 0 still waiting" in result.output


# ---- payments left processing --------------------------------------------------------------

@pytest.fixture
def stuck_payment(session, now, customer, make_invoice, make_payment_method):
    """``stuck_payment(number, age)``: an invoice whose payment began ``age`` ago and whose
    outcome was never recorded (the request died after calling the processor)."""
    def make(number="4242424242424242", age=timedelta(minutes=10)):
        invoice = make_invoice(customer, amount=2900)
        method = make_payment_method(customer, number=number)
        payment = Payment(idempotency_key=f"portal:{invoice.id}:{new_id('key')}",
                          customer_id=customer.id, invoice_id=invoice.id,
                          payment_method_id=method.id, amount=invoice.amount_due,
                          currency=invoice.currency, status="processing", created=now - age)
        session.add(payment)
        session.commit()
        return payment

    return make


def events_of(session, kind):
    return session.scalars(select(AuditEvent).where(AuditEvent.type == kind)).all()


def test_a_stuck_payment_the_processor_took_is_recorded_as_paid_without_a_second_charge(
        app, session, now, gateway, stuck_payment):
    payment = stuck_payment()
    # The processor charged it before the crash; asked again with the same key, it says so.
    first = gateway.charge(payment.payment_method.processor_token, amount=payment.amount,
                           currency=payment.currency, idempotency_key=payment.idempotency_key)
    done = run_housekeeping(app, session, now)
    assert done["payments_succeeded"] == 1
    session.expire_all()
    payment = session.get(Payment, payment.id)
    assert (payment.status, payment.processor_reference) == ("succeeded", first.reference)
    assert (payment.invoice.status, payment.invoice.amount_paid) == ("paid", 2900)
    [paid] = events_of(session, "invoice.paid")
    assert paid.actor == "system"
    keys = [call["idempotency_key"] for call in CountingGateway.calls]
    assert keys == [payment.idempotency_key] * 2  # asked twice, one charge: the same key


def test_a_stuck_payment_the_processor_declined_is_recorded_as_failed(
        app, session, now, gateway, stuck_payment):
    payment = stuck_payment(number="4000000000000002")
    assert run_housekeeping(app, session, now)["payments_failed"] == 1
    session.expire_all()
    payment = session.get(Payment, payment.id)
    assert (payment.status, payment.failure_code) == ("failed", "card_declined")
    assert payment.invoice.status == "open"
    assert [e.actor for e in events_of(session, "invoice.payment_failed")] == ["system"]


def test_a_payment_still_within_a_few_minutes_is_left_to_its_request(
        app, session, now, gateway, stuck_payment):
    payment = stuck_payment(age=timedelta(minutes=2))
    assert run_housekeeping(app, session, now)["payments_succeeded"] == 0
    assert CountingGateway.calls == []
    session.expire_all()
    assert session.get(Payment, payment.id).status == "processing"


def test_a_payment_the_processor_still_does_not_answer_for_stays_processing(
        app, session, now, gateway, stuck_payment, make_payment_method):
    payment = stuck_payment()
    CountingGateway.broken = True
    assert run_housekeeping(app, session, now)["payments_still_processing"] == 1
    session.expire_all()
    payment = session.get(Payment, payment.id)
    assert payment.status == "processing"
    # The invoice's lock was let go: the next write to it goes through.
    payment.invoice.description = "touched"
    session.commit()


def test_two_housekeeping_runs_at_once_record_a_stuck_payment_once(
        app, session, now, gateway, stuck_payment):
    from portal.extensions import db

    payment = stuck_payment()
    CountingGateway.entered, CountingGateway.hold = threading.Event(), threading.Event()
    errors = []

    def run():
        try:
            with app.app_context():
                run_housekeeping(app, db.session, now)
        except Exception as error:  # reported below
            errors.append(error)

    first = threading.Thread(target=run)
    first.start()
    assert CountingGateway.entered.wait(10)  # the first run is inside the processor
    second = threading.Thread(target=run)
    second.start()
    second.join(0.5)  # it found the payment processing and now waits for the invoice
    CountingGateway.hold.set()
    first.join(30)
    second.join(30)
    assert errors == []
    session.expire_all()
    payment = session.get(Payment, payment.id)
    assert (payment.status, payment.invoice.amount_paid) == ("succeeded", 2900)
    assert len(events_of(session, "invoice.paid")) == 1
    assert len(CountingGateway.calls) == 1
