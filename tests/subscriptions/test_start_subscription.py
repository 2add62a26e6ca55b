"""Starting a subscription (the dashboard's, and later the API's): the first period begins now,
its invoice is written under the billing engine's own key and collected the way the engine
collects, so the engine's next run renews it at the period end exactly once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.billing import engine, invoicing
from portal.billing.policy import BillingPolicy
from portal.catalog.models import Coupon, Price
from portal.customers.models import Customer
from portal.events import AuditEvent
from portal.extensions import db
from portal.invoices.models import Invoice
from portal.outbox.models import OutboxMessage
from portal.payments.gateway import get_gateway
from portal.payments.models import Payment
from portal.subscriptions.models import Subscription
from portal.subscriptions.operations import (
    StartedSubscription,
    SubscriptionRefused,
    start_subscription,
)
from tests.billing.helpers import DECLINED, FEB_1, GATEWAY_SPEC, JAN_1, MAR_1, snapshot
from tests.invoices.counting_gateway import CountingGateway

ACTOR = "staff:stf_test"
JAN_31 = datetime(2027, 1, 31, tzinfo=UTC)


@pytest.fixture
def app_config() -> dict:
    return {"PAYMENT_GATEWAY": GATEWAY_SPEC, "WORKER_MODE": "external"}


@pytest.fixture
def gateway(app):
    CountingGateway.reset()
    yield get_gateway()
    CountingGateway.reset()


@pytest.fixture
def pro(make_price):
    return make_price(name="Pro", unit_amount=2900)


@pytest.fixture
def card(customer, make_payment_method):
    return make_payment_method(customer)


@pytest.fixture
def start(session, customer, gateway):
    """``start(items=[(price, quantity)], at=JAN_1, **options)`` for the customer, committed
    as the dashboard's view commits it."""
    def run(items, *, at=JAN_1, who=None, **options) -> StartedSubscription:
        started = start_subscription(session, who or customer, items=items, now=at,
                                     actor=ACTOR, gateway=gateway, policy=BillingPolicy(),
                                     **options)
        session.commit()
        return started

    return run


@pytest.fixture
def bill(session, gateway):
    def run(at):
        summary = engine.run(session, now=at, gateway=gateway, policy=BillingPolicy())
        session.expire_all()
        return summary

    return run


def invoices_of(session, subscription):
    return session.scalars(select(Invoice).where(Invoice.subscription_id == subscription.id)
                           .order_by(Invoice.period_start)).all()


def event_types(session, object_id=None):
    query = select(AuditEvent).order_by(AuditEvent.created, AuditEvent.id)
    if object_id:
        query = query.where(AuditEvent.object_id == object_id)
    return [(e.type, e.actor) for e in session.scalars(query)]


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


# ---- charged automatically ---------------------------------------------------------------------

def test_a_subscription_charged_automatically_begins_now_and_its_first_invoice_is_paid(
        session, start, pro, card, customer):
    started = start([(pro, 1)])

    sub = started.subscription
    assert (sub.status, sub.current_period_start, sub.current_period_end,
            sub.billing_cycle_anchor) == ("active", JAN_1, FEB_1, JAN_1)
    invoice = started.invoice
    assert started.paid and invoice.status == "paid" and invoice.amount_paid == 2900
    assert invoice.billing_reason == "subscription_create"
    assert invoice.creation_key == f"{sub.id}:cycle:{JAN_1.isoformat()}"
    assert (invoice.period_start, invoice.period_end) == (JAN_1, FEB_1)
    assert [line.description for line in invoice.lines] == ["1 × Pro (Jan 1, 2027 – Feb 1, 2027)"]
    # The engine's own first attempt, with the customer's default card.
    assert [(c["amount"], c["idempotency_key"]) for c in CountingGateway.calls] == [
        (2900, f"{invoice.id}:attempt:1")]
    payment = session.scalars(select(Payment)).one()
    assert payment.payment_method_id == card.id and payment.status == "succeeded"
    assert ("customer.subscription.created", ACTOR) in event_types(session, sub.id)
    assert {("invoice.finalized", ACTOR), ("invoice.paid", ACTOR)} <= set(
        event_types(session, invoice.id))


def test_the_next_billing_run_renews_it_at_the_period_end_exactly_once(session, start, pro,
                                                                       card, bill):
    sub = start([(pro, 1)]).subscription

    early = bill(JAN_1 + timedelta(days=20))
    assert (early.renewed, early.invoiced, early.charged) == (0, 0, 0)
    due = bill(FEB_1 + timedelta(hours=1))
    again = bill(FEB_1 + timedelta(hours=2))

    assert (due.renewed, due.invoiced, due.charged) == (1, 1, 1)
    assert (again.renewed, again.invoiced, again.charged) == (0, 0, 0)
    periods = [(i.period_start, i.period_end, i.status) for i in invoices_of(session, sub)]
    assert periods == [(JAN_1, FEB_1, "paid"), (FEB_1, MAR_1, "paid")]
    assert len(CountingGateway.calls) == 2


def test_a_start_on_the_31st_renews_at_the_end_of_the_shorter_month_then_on_the_31st(
        session, start, pro, card, bill):
    sub = start([(pro, 1)], at=JAN_31).subscription
    assert sub.current_period_end == datetime(2027, 2, 28, tzinfo=UTC)

    bill(datetime(2027, 3, 1, tzinfo=UTC))

    assert [i.period_end for i in invoices_of(session, sub)] == [
        datetime(2027, 2, 28, tzinfo=UTC), datetime(2027, 3, 31, tzinfo=UTC)]


def test_the_preview_of_the_next_invoice_is_the_invoice_the_engine_writes(session, start, pro,
                                                                          card, bill):
    sub = start([(pro, 3)]).subscription
    preview = invoicing.upcoming_invoice(session, sub, JAN_1)

    bill(FEB_1)

    renewal = invoices_of(session, sub)[-1]
    assert (preview.period_start, preview.period_end, preview.amount_due) == (
        renewal.period_start, renewal.period_end, renewal.amount_due) == (FEB_1, MAR_1, 8700)


def test_several_prices_make_one_line_each_on_one_invoice(session, start, make_price, card):
    pro = make_price(name="Pro", unit_amount=2900)
    seats = make_price(name="Seats", unit_amount=500, unit_label="seat")

    started = start([(pro, 1), (seats, 4)])

    assert [line.amount for line in started.invoice.lines] == [2900, 2000]
    assert started.invoice.total == 4900 and started.paid


def test_a_declined_card_leaves_the_subscription_past_due_and_retried_on_the_schedule(
        session, start, pro, customer, make_payment_method, bill):
    make_payment_method(customer, number=DECLINED)

    started = start([(pro, 1)])

    assert started.subscription.status == "past_due"
    assert started.invoice.status == "open"
    assert started.decline_message == ("Your card was declined. Try another card or contact "
                                       "your bank.")
    assert started.invoice.next_payment_attempt == JAN_1 + timedelta(days=3)
    bill(JAN_1 + timedelta(days=3))
    assert [c["idempotency_key"] for c in CountingGateway.calls] == [
        f"{started.invoice.id}:attempt:1", f"{started.invoice.id}:attempt:2"]


def test_the_customers_credit_is_used_by_the_first_invoice(session, start, pro, card,
                                                           customer):
    customer.balance = -1000
    session.commit()

    started = start([(pro, 1)])

    assert (started.invoice.total, started.invoice.amount_due) == (2900, 1900)
    assert CountingGateway.calls[0]["amount"] == 1900
    assert session.get(Customer, customer.id).balance == 0


def test_a_once_coupon_discounts_only_the_first_invoice(session, start, pro, card, bill, now):
    coupon = Coupon(name="Half off the first month", percent_off=Decimal(50), duration="once",
                    active=True, created=now, metadata_={})
    session.add(coupon)
    session.commit()

    sub = start([(pro, 1)], coupon=coupon).subscription
    bill(FEB_1)

    assert [i.amount_due for i in invoices_of(session, sub)] == [1450, 2900]


def test_a_free_price_starts_paid_without_a_card_or_a_charge(session, start, make_price):
    free = make_price(name="Free", unit_amount=0)

    started = start([(free, 1)])

    assert started.subscription.status == "active" and started.paid
    assert CountingGateway.calls == []


# ---- trials and emailed invoices -------------------------------------------------------------

def test_a_trial_delays_the_first_invoice_until_it_ends(session, start, pro):
    started = start([(pro, 1)], trial_period_days=14)

    sub = started.subscription
    trial_end = JAN_1 + timedelta(days=14)
    assert started.invoice is None and invoices_of(session, sub) == []
    assert (sub.status, sub.trial_start, sub.trial_end, sub.current_period_end) == (
        "trialing", JAN_1, trial_end, trial_end)
    assert CountingGateway.calls == []


def test_when_the_trial_ends_the_engine_bills_the_period_the_preview_promised(
        session, start, pro, card, bill):
    sub = start([(pro, 1)], trial_period_days=14).subscription
    preview = invoicing.upcoming_invoice(session, sub, JAN_1)

    bill(JAN_1 + timedelta(days=14))

    [invoice] = invoices_of(session, sub)
    assert (invoice.period_start, invoice.period_end, invoice.amount_due) == (
        preview.period_start, preview.period_end, preview.amount_due)
    assert invoice.period_end == datetime(2027, 2, 15, tzinfo=UTC)
    assert invoice.status == "paid"
    assert session.get(Subscription, sub.id).status == "active"


def test_a_trial_needs_no_card_yet(session, start, pro):
    assert start([(pro, 1)], trial_period_days=7).subscription.status == "trialing"


def test_an_emailed_invoice_is_open_with_its_due_date_and_queued_to_the_customer(
        session, start, pro, customer):
    started = start([(pro, 2)], collection_method="send_invoice", days_until_due=14)

    invoice = started.invoice
    assert started.subscription.status == "active"
    assert (invoice.status, invoice.collection_method, invoice.amount_due) == (
        "open", "send_invoice", 5800)
    assert invoice.due_date == JAN_1 + timedelta(days=14)
    assert invoice.next_payment_attempt is None
    [email] = session.scalars(select(OutboxMessage)).all()
    assert (email.payload["to"], email.dedupe_key) == (customer.email,
                                                       f"{invoice.id}:invoice_sent")
    assert CountingGateway.calls == []


def test_an_emailed_invoice_gives_thirty_days_when_no_days_are_given(session, start, pro):
    invoice = start([(pro, 1)], collection_method="send_invoice").invoice
    assert invoice.due_date == JAN_1 + timedelta(days=30)


# ---- refusals: nothing is written ---------------------------------------------------------------

def _one_time(price):
    price.recurring_interval = None


def _archive(price):
    price.active = False


def _archive_product(price):
    price.product.active = False


@pytest.mark.parametrize(("change", "field", "code"), [
    (_archive, "price", "price_archived"),
    (_archive_product, "price", "price_archived"),
    (_one_time, "price", "price_not_recurring"),
])
def test_a_price_that_cannot_be_subscribed_to_is_refused(session, start, pro, card, change,
                                                         field, code):
    change(pro)
    session.commit()
    before = snapshot(session)

    with pytest.raises(SubscriptionRefused) as refused:
        start([(pro, 1)])

    session.rollback()
    assert (refused.value.field, refused.value.code) == (field, code)
    assert snapshot(session) == before


@pytest.mark.parametrize(("options", "field", "code"), [
    ({"items": []}, "price", "no_items"),
    ({"quantity": 0}, "quantity", "quantity"),
    ({"quantity": -2}, "quantity", "quantity"),
    ({"quantity": 1.5}, "quantity", "quantity"),
    ({"quantity": 100_000_000}, "quantity", "amount_too_large"),
    ({"collection_method": "cash"}, "collection_method", "collection_method"),
    ({"days_until_due": 10}, "days_until_due", "days_until_due"),
    ({"collection_method": "send_invoice", "days_until_due": -1}, "days_until_due",
     "days_until_due"),
    ({"collection_method": "send_invoice", "days_until_due": 366}, "days_until_due",
     "days_until_due"),
    ({"trial_period_days": 731}, "trial_period_days", "trial_period_days"),
    ({"trial_period_days": -1}, "trial_period_days", "trial_period_days"),
])
def test_bad_options_are_refused_by_their_field(session, start, pro, card, options, field,
                                                code):
    options = dict(options)
    items = options.pop("items", [(pro, options.pop("quantity", 1))])
    before = snapshot(session)

    with pytest.raises(SubscriptionRefused) as refused:
        start(items, **options)

    session.rollback()
    assert (refused.value.field, refused.value.code) == (field, code)
    assert snapshot(session) == before


def test_prices_in_two_currencies_are_refused(session, start, make_price, card):
    dollars = make_price(name="Pro", currency="usd")
    euros = make_price(name="Extra", currency="eur")

    with pytest.raises(SubscriptionRefused) as refused:
        start([(dollars, 1), (euros, 1)])

    assert refused.value.code == "mixed_currencies" and refused.value.field == "price"
    session.rollback()
    assert count(session, Subscription) == 0


def test_prices_billed_over_different_intervals_are_refused(session, start, make_price, card):
    monthly = make_price(name="Pro")
    yearly = make_price(name="Extra", interval="year")

    with pytest.raises(SubscriptionRefused) as refused:
        start([(monthly, 1), (yearly, 1)])

    assert refused.value.code == "mixed_intervals"


def test_the_same_price_twice_is_refused(session, start, pro, card):
    with pytest.raises(SubscriptionRefused) as refused:
        start([(pro, 1), (pro, 2)])
    assert refused.value.code == "duplicate_price"


def test_a_price_in_another_currency_than_the_customers_running_subscription_is_refused(
        session, start, make_price, card, customer, make_subscription):
    make_subscription(customer, make_price(name="Euro plan", currency="eur"))

    with pytest.raises(SubscriptionRefused) as refused:
        start([(make_price(name="Dollar plan", currency="usd"), 1)])

    assert refused.value.code == "currency_mismatch"
    assert refused.value.message == "This customer is billed in EUR. Choose a price in EUR."


def test_a_customer_without_a_card_is_refused_before_anything_is_written(session, start, pro):
    before = snapshot(session)

    with pytest.raises(SubscriptionRefused) as refused:
        start([(pro, 1)])

    session.rollback()
    assert (refused.value.code, refused.value.field) == ("no_card", "collection_method")
    assert "no card to charge" in refused.value.message
    assert snapshot(session) == before
    assert CountingGateway.calls == []


def test_an_expired_default_card_is_refused(session, start, pro, customer, make_payment_method,
                                            now):
    make_payment_method(customer, exp_month=now.month, exp_year=now.year)

    with pytest.raises(SubscriptionRefused) as refused:
        start([(pro, 1)], at=now + timedelta(days=62))

    assert refused.value.code == "expired_card"
    assert "Visa ending in 4242" in refused.value.message


def test_a_removed_default_card_counts_as_no_card(session, start, pro, card, now):
    card.detached_at = now
    session.commit()

    with pytest.raises(SubscriptionRefused) as refused:
        start([(pro, 1)])

    assert refused.value.code == "no_card"


def test_emailing_invoices_to_a_customer_without_an_email_address_is_refused(
        session, start, pro, make_customer):
    nameless = make_customer(email=None)

    with pytest.raises(SubscriptionRefused) as refused:
        start([(pro, 1)], who=nameless, collection_method="send_invoice")

    assert refused.value.code == "no_email"


def test_an_amount_off_coupon_in_another_currency_is_refused(session, start, pro, card, now):
    coupon = Coupon(name="5 euros off", amount_off=500, currency="eur", duration="once",
                    active=True, created=now, metadata_={})
    session.add(coupon)
    session.commit()

    with pytest.raises(SubscriptionRefused) as refused:
        start([(pro, 1)], coupon=coupon)

    assert (refused.value.code, refused.value.field) == ("coupon_currency", "coupon")


# ---- once per idempotency key ---------------------------------------------------------------------

def test_the_same_idempotency_key_starts_one_subscription_and_charges_once(session, start,
                                                                          pro, card):
    first = start([(pro, 1)], idempotency_key="form-key-1")
    again = start([(pro, 1)], idempotency_key="form-key-1")

    assert again.replayed and not first.replayed
    assert again.subscription.id == first.subscription.id
    assert again.invoice.id == first.invoice.id and again.paid
    assert count(session, Subscription) == 1 and count(session, Invoice) == 1
    assert len(CountingGateway.calls) == 1
    created = [t for t, _ in event_types(session) if t == "customer.subscription.created"]
    assert created == ["customer.subscription.created"]


def test_another_idempotency_key_starts_another_subscription(session, start, pro, card):
    start([(pro, 1)], idempotency_key="form-key-1")
    start([(pro, 1)], idempotency_key="form-key-2")

    assert count(session, Subscription) == 2 and len(CountingGateway.calls) == 2


def test_an_idempotency_key_sent_again_with_other_prices_is_refused(session, start, pro,
                                                                    make_price, card):
    start([(pro, 1)], idempotency_key="form-key-1")

    with pytest.raises(SubscriptionRefused) as refused:
        start([(pro, 2)], idempotency_key="form-key-1")

    assert refused.value.code == "idempotency_key_reused"
    assert len(CountingGateway.calls) == 1


def test_one_key_used_by_two_customers_starts_one_subscription_each(session, start, pro, card,
                                                                    make_customer,
                                                                    make_payment_method):
    other = make_customer(email="other@example.com")
    make_payment_method(other)

    mine = start([(pro, 1)], idempotency_key="same-key")
    theirs = start([(pro, 1)], idempotency_key="same-key", who=other)

    assert mine.subscription.id != theirs.subscription.id
    assert not theirs.replayed and len(CountingGateway.calls) == 2


def test_two_starts_at_once_with_one_key_charge_once(app, session, pro, card, customer,
                                                     gateway):
    barrier = threading.Barrier(2)
    results: list = []
    # Read here: the test's own objects belong to this thread's session.
    customer_id, price_id = customer.id, pro.id

    def send():
        with app.app_context():
            try:
                barrier.wait(10)
                started = start_subscription(
                    db.session, db.session.get(Customer, customer_id),
                    items=[(db.session.get(Price, price_id), 1)], now=JAN_1, actor=ACTOR,
                    gateway=get_gateway(), policy=BillingPolicy(),
                    idempotency_key="double-click")
                db.session.commit()
                results.append(started.replayed)
            except Exception as error:  # reported, so a crash fails the test with its reason
                results.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(results, key=str) == [False, True], results
    session.expire_all()
    assert count(session, Subscription) == 1 and count(session, Invoice) == 1
    assert len(CountingGateway.calls) == 1
    assert session.scalars(select(Payment.status)).all() == ["succeeded"]

