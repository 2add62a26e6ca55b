"""Renewals: each period that ends gets one invoice, with what is pending, the coupon, tax and
credit in force, charged to the card on file; trials, scheduled changes, cancellations and
pauses take effect at the boundary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.billing.engine import cycle_key
from portal.catalog.models import Coupon, TaxRate
from portal.customers.models import CustomerBalanceTransaction
from portal.invoices.models import Invoice, InvoiceItem
from tests.billing.helpers import (
    APR_1,
    FEB_1,
    JAN_1,
    MAR_1,
    MAY_1,
    events_of,
    invoices_of,
    outbox,
    payments_of,
)


def test_a_period_that_ended_is_renewed_invoiced_and_charged(bill, session, monthly, gateway):
    summary = bill(FEB_1)
    session.refresh(monthly)
    assert (monthly.status, monthly.current_period_start, monthly.current_period_end) == (
        "active", FEB_1, MAR_1)
    [invoice] = invoices_of(session, monthly)
    assert (invoice.status, invoice.billing_reason) == ("paid", "subscription_cycle")
    assert (invoice.period_start, invoice.period_end) == (FEB_1, MAR_1)
    assert invoice.amount_due == invoice.amount_paid == invoice.total == 2900
    assert invoice.creation_key == f"{monthly.id}:cycle:2027-02-01T00:00:00+00:00"
    assert [line.description for line in invoice.lines] == ["1 × Pro (Feb 1, 2027 – Mar 1, 2027)"]
    [payment] = payments_of(session, invoice)
    assert (payment.status, payment.amount) == ("succeeded", 2900)
    assert payment.idempotency_key == f"{invoice.id}:attempt:1"
    assert [call["idempotency_key"] for call in gateway.calls] == [payment.idempotency_key]
    assert (summary.renewed, summary.invoiced, summary.charged, summary.failed) == (1, 1, 1, 0)
    assert summary.line() == ("renewed 1, invoiced 1, charged 1, failed 0, canceled 0, "
                              "skipped 0")


def test_nothing_happens_before_the_period_ends(bill, session, monthly, gateway):
    summary = bill(FEB_1 - timedelta(seconds=1))
    session.refresh(monthly)
    assert monthly.current_period_end == FEB_1
    assert invoices_of(session, monthly) == []
    assert gateway.calls == []
    assert summary.line() == "renewed 0, invoiced 0, charged 0, failed 0, canceled 0, skipped 0"


def test_a_second_run_finds_nothing_left_to_do(bill, session, monthly, gateway):
    bill(FEB_1)
    again = bill(FEB_1 + timedelta(hours=1))
    assert (again.renewed, again.invoiced, again.charged) == (0, 0, 0)
    assert len(invoices_of(session, monthly)) == 1
    assert len(gateway.calls) == 1


def test_several_missed_periods_make_one_invoice_each_in_order(bill, session, monthly, gateway):
    summary = bill(APR_1 + timedelta(days=2))
    invoices = invoices_of(session, monthly)
    assert [(i.period_start, i.period_end) for i in invoices] == [
        (FEB_1, MAR_1), (MAR_1, APR_1), (APR_1, MAY_1)]
    assert [i.number for i in invoices] == ["INV-0001", "INV-0002", "INV-0003"]
    assert all(i.status == "paid" for i in invoices)
    assert len(gateway.calls) == 3
    session.refresh(monthly)
    assert (monthly.current_period_start, monthly.current_period_end) == (APR_1, MAY_1)
    assert (summary.renewed, summary.invoiced, summary.charged) == (3, 3, 3)


def test_a_subscription_anchored_on_the_31st_renews_on_the_last_day_of_short_months(
        bill, session, customer, card, pro, make_subscription):
    jan_31 = datetime(2027, 1, 31, tzinfo=UTC)
    feb_28 = datetime(2027, 2, 28, tzinfo=UTC)
    mar_31 = datetime(2027, 3, 31, tzinfo=UTC)
    sub = make_subscription(customer, pro, current_period_start=jan_31 - timedelta(days=31),
                            current_period_end=jan_31, billing_cycle_anchor=datetime(
                                2026, 12, 31, tzinfo=UTC))
    bill(mar_31)
    assert [(i.period_start, i.period_end) for i in invoices_of(session, sub)] == [
        (jan_31, feb_28), (feb_28, mar_31), (mar_31, datetime(2027, 4, 30, tzinfo=UTC))]


def test_every_renewal_raises_one_subscription_event(bill, session, monthly):
    bill(MAR_1)
    updates = events_of(session, "customer.subscription.updated")
    assert [e.data["current_period_start"] for e in updates] == [FEB_1.isoformat(),
                                                                 MAR_1.isoformat()]
    assert all(e.actor == "system" and e.object_id == monthly.id for e in updates)
    assert len(events_of(session, "invoice.finalized")) == 2
    assert len(events_of(session, "invoice.paid")) == 2


def test_a_naive_now_is_read_as_utc(bill, session, monthly):
    bill(FEB_1.replace(tzinfo=None))
    assert len(invoices_of(session, monthly)) == 1


# ---- trials ----------------------------------------------------------------------------------

def test_a_trial_that_ended_becomes_active_with_its_first_invoice(
        bill, session, customer, card, pro, make_subscription, gateway):
    trial_end = datetime(2027, 1, 15, 12, tzinfo=UTC)
    sub = make_subscription(customer, pro, status="trialing", current_period_start=JAN_1,
                            current_period_end=trial_end, trial_start=JAN_1, trial_end=trial_end)
    bill(trial_end + timedelta(minutes=5))
    session.refresh(sub)
    assert sub.status == "active"
    assert (sub.current_period_start, sub.current_period_end) == (
        trial_end, datetime(2027, 2, 15, 12, tzinfo=UTC))
    assert sub.billing_cycle_anchor == trial_end
    [invoice] = invoices_of(session, sub)
    assert (invoice.billing_reason, invoice.period_start, invoice.status) == (
        "subscription_cycle", trial_end, "paid")
    [event] = events_of(session, "customer.subscription.updated")
    assert event.data["reason"] == "trial_ended"


def test_a_trial_still_running_is_left_alone(bill, session, customer, card, pro,
                                             make_subscription):
    sub = make_subscription(customer, pro, status="trialing", current_period_start=JAN_1,
                            current_period_end=FEB_1, trial_end=FEB_1)
    bill(FEB_1 - timedelta(seconds=1))
    session.refresh(sub)
    assert sub.status == "trialing" and invoices_of(session, sub) == []


# ---- changes at the period end -----------------------------------------------------------------

def test_a_scheduled_change_applies_at_the_boundary_and_bills_the_new_plan(
        bill, session, monthly, make_price):
    starter = make_price(name="Starter", unit_amount=900)
    monthly.pending_update = {"price": starter.id, "quantity": 3,
                              "requested_at": JAN_1.isoformat(), "actor": "customer:x"}
    session.commit()
    version = monthly.version
    bill(FEB_1)
    session.refresh(monthly)
    assert monthly.pending_update is None
    [item] = monthly.items
    assert (item.price_id, item.quantity) == (starter.id, 3)
    assert monthly.version > version
    [invoice] = invoices_of(session, monthly)
    assert invoice.total == 2700
    assert [line.description for line in invoice.lines] == [
        "3 × Starter (Feb 1, 2027 – Mar 1, 2027)"]
    [event] = events_of(session, "customer.subscription.updated")
    assert event.data["pending_update_applied"]["previous_price"] != starter.id


def test_a_switch_to_a_yearly_price_counts_periods_from_the_switch(bill, session, monthly,
                                                                   make_price):
    yearly = make_price(name="Pro yearly", unit_amount=29000, interval="year")
    monthly.pending_update = {"price": yearly.id, "quantity": 1}
    session.commit()
    bill(FEB_1)
    session.refresh(monthly)
    assert monthly.current_period_end == datetime(2028, 2, 1, tzinfo=UTC)
    assert monthly.billing_cycle_anchor == FEB_1


def test_a_cancellation_at_period_end_ends_the_subscription_without_an_invoice(
        bill, session, monthly, gateway):
    monthly.cancel_at_period_end = True
    monthly.canceled_at = JAN_1 + timedelta(days=10)
    monthly.cancellation_reason = "cancellation_requested"
    session.commit()
    summary = bill(FEB_1 + timedelta(days=3))
    session.refresh(monthly)
    assert (monthly.status, monthly.ended_at) == ("canceled", FEB_1)
    assert monthly.canceled_at == JAN_1 + timedelta(days=10)
    assert invoices_of(session, monthly) == [] and gateway.calls == []
    assert summary.canceled == 1
    [event] = events_of(session, "customer.subscription.deleted")
    assert event.object_id == monthly.id
    # Ended is ended: later runs leave it alone.
    assert bill(MAY_1).canceled == 0


def test_cancel_at_ends_the_subscription_then_after_the_periods_before_it(
        bill, session, monthly):
    cancel_at = MAR_1 + timedelta(days=10)
    monthly.cancel_at = cancel_at
    session.commit()
    bill(APR_1 + timedelta(days=3))
    session.refresh(monthly)
    assert (monthly.status, monthly.ended_at) == ("canceled", cancel_at)
    assert [i.period_start for i in invoices_of(session, monthly)] == [FEB_1, MAR_1]


def test_periods_roll_on_while_collection_is_paused_and_invoicing_resumes_after(
        bill, session, monthly, gateway):
    resumes = MAR_1 + timedelta(days=10)
    monthly.pause_collection_resumes_at = resumes
    session.commit()
    bill(MAR_1)
    session.refresh(monthly)
    assert monthly.current_period_start == MAR_1
    assert invoices_of(session, monthly) == []
    bill(resumes)
    session.refresh(monthly)
    assert monthly.pause_collection_resumes_at is None
    assert invoices_of(session, monthly) == []  # the period under way was not billed
    bill(APR_1)
    assert [i.period_start for i in invoices_of(session, monthly)] == [APR_1]
    assert len(gateway.calls) == 1


# ---- what the invoice holds --------------------------------------------------------------------

def test_pending_items_go_on_the_next_invoice_once(bill, session, monthly, customer):
    session.add(InvoiceItem(customer_id=customer.id, subscription_id=monthly.id,
                            description="Unused time on Pro", amount=-1000, currency="usd",
                            proration=True, creation_key="test:proration", created=JAN_1))
    session.commit()
    bill(MAR_1)
    first, second = invoices_of(session, monthly)
    assert [line.amount for line in first.lines] == [-1000, 2900]
    assert first.lines[0].proration and first.total == 1900
    assert [line.amount for line in second.lines] == [2900]
    item = session.scalars(select(InvoiceItem)).one()
    assert item.invoice_id == first.id


@pytest.mark.parametrize(("duration", "months", "discounted"), [
    ("once", None, [True, False, False]),
    ("repeating", 2, [True, False, False]),
    ("forever", None, [True, True, True]),
], ids=["once", "repeating-2-months", "forever"])
def test_a_coupon_discounts_the_invoices_its_duration_covers(
        bill, session, monthly, duration, months, discounted):
    coupon = Coupon(name="Half off", percent_off=Decimal(50), duration=duration,
                    duration_in_months=months, created=JAN_1, metadata_={})
    session.add(coupon)
    monthly.discount_coupon = coupon
    # Two months from December 15 end on February 15: the invoice dated February 1 still has
    # the discount, March's does not.
    monthly.discount_start = datetime(2026, 12, 15, tzinfo=UTC) if months else JAN_1
    session.commit()
    bill(APR_1)
    totals = [i.total for i in invoices_of(session, monthly)]
    assert totals == [1450 if d else 2900 for d in discounted]


def test_tax_for_the_customers_country_is_added(bill, session, monthly, customer):
    customer.address_country = "PT"
    session.add(TaxRate(display_name="VAT", percentage=Decimal(23), inclusive=False,
                        country="PT", active=True, created=JAN_1, metadata_={}))
    session.commit()
    bill(FEB_1)
    [invoice] = invoices_of(session, monthly)
    assert (invoice.subtotal, invoice.tax, invoice.total) == (2900, 667, 3567)
    assert invoice.amount_paid == 3567


def test_credit_on_the_balance_pays_part_of_the_invoice(bill, session, monthly, customer,
                                                        gateway):
    customer.balance = -1000
    session.commit()
    bill(FEB_1)
    [invoice] = invoices_of(session, monthly)
    assert (invoice.total, invoice.starting_balance, invoice.ending_balance) == (2900, -1000, 0)
    assert invoice.amount_due == invoice.amount_paid == 1900
    assert gateway.calls[0]["amount"] == 1900
    session.refresh(customer)
    assert customer.balance == 0
    [entry] = session.scalars(select(CustomerBalanceTransaction)).all()
    assert (entry.type, entry.amount, entry.invoice_id) == ("applied_to_invoice", 1000,
                                                            invoice.id)


def test_an_invoice_the_balance_covers_is_paid_without_a_charge(bill, session, monthly,
                                                                customer, gateway):
    customer.balance = -5000
    session.commit()
    bill(FEB_1)
    [invoice] = invoices_of(session, monthly)
    assert (invoice.status, invoice.amount_due) == ("paid", 0)
    assert gateway.calls == [] and payments_of(session, invoice) == []
    session.refresh(customer)
    assert customer.balance == -2100


# ---- how it is collected -------------------------------------------------------------------

def test_the_subscriptions_own_card_is_charged_before_the_customers_default(
        bill, session, monthly, customer, make_payment_method):
    own = make_payment_method(customer, number="5555555555554444", default=False)
    monthly.default_payment_method_id = own.id
    session.commit()
    bill(FEB_1)
    [invoice] = invoices_of(session, monthly)
    assert [p.payment_method_id for p in payments_of(session, invoice)] == [own.id]


def test_a_send_invoice_subscription_gets_an_open_invoice_due_later_and_an_email(
        bill, session, customer, card, pro, make_subscription, gateway):
    sub = make_subscription(customer, pro, current_period_start=JAN_1, current_period_end=FEB_1,
                            collection_method="send_invoice", days_until_due=14)
    bill(FEB_1)
    [invoice] = invoices_of(session, sub)
    assert (invoice.status, invoice.collection_method) == ("open", "send_invoice")
    assert invoice.due_date == FEB_1 + timedelta(days=14)
    assert invoice.next_payment_attempt is None
    assert gateway.calls == []
    [email] = outbox(session)
    assert email.dedupe_key == f"{invoice.id}:invoice_sent"
    assert email.payload["to"] == customer.email
    assert email.payload["template"] == "billing_invoice"
    assert email.payload["context"]["pay_url"] == f"http://127.0.0.1:5000/p/invoices/{invoice.id}"
    # A later run sends nothing more for it.
    bill(FEB_1 + timedelta(days=1))
    assert len(outbox(session)) == 1


def test_an_invoice_already_written_for_a_period_is_not_written_again(
        bill, session, monthly, customer):
    # Written by something else (an earlier run whose period move was lost, say).
    session.add(Invoice(customer_id=customer.id, subscription_id=monthly.id, status="open",
                        currency="usd", total=2900, amount_due=2900, amount_paid=0,
                        creation_key=cycle_key(monthly.id, FEB_1), created=FEB_1,
                        customer_snapshot={}, metadata_={}))
    session.commit()
    summary = bill(FEB_1)
    assert len(invoices_of(session, monthly)) == 1
    assert (summary.renewed, summary.invoiced) == (1, 0)


def test_a_subscription_that_is_not_live_is_left_alone(bill, session, monthly):
    monthly.status = "incomplete"
    session.commit()
    assert bill(MAY_1).renewed == 0
    assert invoices_of(session, monthly) == []


def test_a_period_that_ends_off_the_anchors_beat_is_followed_by_a_whole_period(
        bill, session, customer, card, pro, make_subscription):
    # Anchored on March 31, yet this period ends on October 30 (set by hand, or seeded so):
    # the next period is a whole month from there, not the one day to October 31.
    oct_30 = datetime(2027, 10, 30, tzinfo=UTC)
    sub = make_subscription(customer, pro, current_period_start=datetime(2027, 9, 30, tzinfo=UTC),
                            current_period_end=oct_30,
                            billing_cycle_anchor=datetime(2027, 3, 31, tzinfo=UTC))
    bill(oct_30)
    [invoice] = invoices_of(session, sub)
    assert (invoice.period_start, invoice.period_end) == (oct_30,
                                                          datetime(2027, 11, 30, tzinfo=UTC))
    session.refresh(sub)
    assert sub.billing_cycle_anchor == oct_30
