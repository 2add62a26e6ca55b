"""The Acme Cloud demo a month on: ``flask billing run --now`` bills Jenny's Pro plan for the
next period and charges her Visa; and when her card declines, paying the past-due invoices in
the portal makes her subscription active again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.billing.calc import add_months
from portal.customers.models import Customer
from portal.demo import JENNY, seed_demo
from portal.invoices.models import Invoice
from portal.payments.models import Payment
from tests.billing.helpers import DECLINED, outbox, payments_of


@pytest.fixture
def jenny(app, session, now):
    """The demo, seeded as of the real time; Jenny is the newer customer with her email."""
    seed_demo(session, now=now)
    session.commit()
    return session.scalars(select(Customer).where(Customer.email_normalized == JENNY)
                           .order_by(Customer.created.desc())).first()


@pytest.fixture
def billing(app):
    runner = app.test_cli_runner()
    return lambda at: runner.invoke(args=["billing", "run", "--now", at.isoformat()])


def _invoices(session, customer):
    return session.scalars(select(Invoice).where(Invoice.customer_id == customer.id)
                           .order_by(Invoice.number)).all()


def _expected_next_period(subscription):
    start = subscription.current_period_end
    # Seven periods were seeded from the anchor; the eighth ends on the anchor's beat.
    anchor = subscription.billing_cycle_anchor
    on_beat = add_months(anchor, 7) == start
    return start, add_months(anchor, 8) if on_beat else add_months(start, 1)


def test_a_month_later_the_run_bills_jennys_next_period_and_charges_her_card(
        jenny, billing, session, now, sign_in, client_request):
    [subscription] = jenny.subscriptions
    start, end = _expected_next_period(subscription)
    card = jenny.default_payment_method

    result = billing(add_months(now, 1))
    assert result.exit_code == 0, result.output
    # Her new invoice, and the demo's open invoice retried: both charged.
    assert result.output == ("renewed 1, invoiced 1, charged 2, failed 0, canceled 0, "
                             "skipped 0\n")

    session.expire_all()
    invoices = _invoices(session, jenny)
    assert [i.number for i in invoices] == [f"ACME-{n:04d}" for n in range(1, 8)] + [
        "ACME-0009"]
    new = invoices[-1]
    assert (new.billing_reason, new.status, new.currency) == ("subscription_cycle", "paid",
                                                              "usd")
    assert (new.period_start, new.period_end) == (start, end)
    assert (new.subtotal, new.tax, new.total, new.amount_due, new.amount_paid) == (
        2900, 0, 2900, 2900, 2900)
    assert [line.description for line in new.lines] == [
        f"1 × Pro ({start:%b %-d, %Y} – {end:%b %-d, %Y})"]
    [payment] = payments_of(session, new)
    assert (payment.status, payment.amount, payment.payment_method_id) == ("succeeded", 2900,
                                                                          card.id)
    assert payment.idempotency_key == f"{new.id}:attempt:1"
    assert invoices[-2].status == "paid"  # ACME-0007, the one left open by the demo
    session.refresh(subscription)
    assert (subscription.status, subscription.current_period_start,
            subscription.current_period_end) == ("active", start, end)

    sign_in(jenny)
    page = client_request.get("invoices.invoice_detail", invoice_id=new.id)
    assert "ACME-0009" in page.text and "$29.00" in page.text
    assert page.select_one("#invoice-payment .badge").text == "Paid"


def test_when_jennys_card_declines_paying_in_the_portal_makes_her_subscription_active(
        jenny, billing, session, now, make_payment_method, sign_in, client_request):
    [subscription] = jenny.subscriptions
    good = jenny.default_payment_method
    declining = make_payment_method(jenny, number=DECLINED, default=False)
    subscription.default_payment_method_id = declining.id
    session.commit()

    result = billing(add_months(now, 1))
    assert result.output == ("renewed 1, invoiced 1, charged 0, failed 2, canceled 0, "
                             "skipped 0\n")
    session.expire_all()
    assert session.get(type(subscription), subscription.id).status == "past_due"
    owed = [i for i in _invoices(session, jenny) if i.status == "open"]
    assert [i.number for i in owed] == ["ACME-0007", "ACME-0009"]
    assert {e.payload["template"] for e in outbox(session)} == {"billing_payment_failed"}
    assert {e.payload["to"] for e in outbox(session)} == {JENNY}

    sign_in(jenny)
    for paid_so_far, invoice in enumerate(owed, 1):
        page = client_request.get("invoices.invoice_detail", invoice_id=invoice.id)
        form = page.select_one("#invoice-payment form")
        client_request.post_response("invoices.pay_invoice", invoice_id=invoice.id, _data={
            "idempotency_key": form.select_one("input[name=idempotency_key]")["value"],
            "payment_method": good.id})
        session.expire_all()
        assert session.get(Invoice, invoice.id).status == "paid"
        status = session.get(type(subscription), subscription.id).status
        # Past due until the last past-due invoice is paid.
        assert status == ("active" if paid_so_far == len(owed) else "past_due")
    succeeded = session.scalars(select(Payment).where(Payment.status == "succeeded",
                                                      Payment.invoice_id.in_(
                                                          [i.id for i in owed]))).all()
    assert sorted(p.amount for p in succeeded) == [2900, 2900]
    # Paid by hand, nothing is left for the retries to charge.
    assert billing(add_months(now, 1) + timedelta(days=3)).output == (
        "renewed 0, invoiced 0, charged 0, failed 0, canceled 0, skipped 0\n")
