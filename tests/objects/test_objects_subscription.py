from datetime import timedelta
from decimal import Decimal

import stripe

from portal.catalog.models import Coupon
from portal.objects import serialize, serialize_by_id
from tests.objects.conftest import assert_matches_schema


def ts(moment):
    return int(moment.timestamp())


def test_a_subscription_with_everything_set_reads_back_through_stripe(
        session, make_customer, make_price, make_subscription, make_payment_method,
        make_invoice, now):
    customer = make_customer()
    method = make_payment_method(customer)
    price = make_price(name="Team", unit_amount=1500, currency="eur", interval="year",
                       nickname="Team yearly", lookup_key="team_yearly")
    coupon = Coupon(name="3 months 50% off", percent_off=Decimal("50"), duration="repeating",
                    duration_in_months=3, created=now, metadata_={})
    session.add(coupon)
    session.flush()
    start = now - timedelta(days=10)
    sub = make_subscription(
        customer, price=price, status="trialing", quantity=3, current_period_start=start,
        current_period_end=start + timedelta(days=365), billing_cycle_anchor=start,
        cancel_at_period_end=True, cancel_at=start + timedelta(days=365),
        canceled_at=now, cancellation_reason="cancellation_requested",
        cancellation_feedback="too_expensive", cancellation_comment="Pricey",
        collection_method="send_invoice", days_until_due=14,
        default_payment_method_id=method.id, trial_start=start,
        trial_end=start + timedelta(days=14), discount_coupon_id=coupon.id,
        discount_start=now, discount_end=now + timedelta(days=90),
        pause_collection_resumes_at=now + timedelta(days=30))
    sub.metadata_ = {"plan": "team"}
    session.commit()
    older = make_invoice(customer, subscription=sub, created=now - timedelta(days=5))
    latest = make_invoice(customer, subscription=sub, created=now)
    assert older.id != latest.id

    data = serialize(session, sub)
    subscription = stripe.Subscription.construct_from(data, "sk_test")

    assert_matches_schema("subscription", data)
    assert subscription.id == sub.id
    assert subscription.customer == customer.id
    assert subscription.status == "trialing"
    assert subscription.currency == "eur"
    assert subscription.collection_method == "send_invoice"
    assert subscription.days_until_due == 14
    assert subscription.cancel_at_period_end is True
    assert subscription.cancel_at == ts(start + timedelta(days=365))
    assert subscription.canceled_at == ts(now)
    assert subscription.ended_at is None
    assert subscription.cancellation_details.reason == "cancellation_requested"
    assert subscription.cancellation_details.feedback == "too_expensive"
    assert subscription.cancellation_details.comment == "Pricey"
    assert subscription.trial_start == ts(start)
    assert subscription.trial_end == ts(start + timedelta(days=14))
    assert subscription.billing_cycle_anchor == ts(start)
    assert subscription.default_payment_method == method.id
    assert subscription.latest_invoice == latest.id
    assert subscription.pause_collection.resumes_at == ts(now + timedelta(days=30))
    assert subscription.metadata.to_dict() == {"plan": "team"}
    assert subscription.start_date == ts(now)
    # Before 2025 the period sat on the subscription; it is on the items now. Both are there.
    assert subscription.current_period_start == ts(start)
    assert subscription.current_period_end == ts(start + timedelta(days=365))

    items = subscription["items"]
    assert items.object == "list"
    assert items.has_more is False
    assert items.total_count == 1
    assert items.url == f"/v1/subscription_items?subscription={sub.id}"
    item = items.data[0]
    assert isinstance(item, stripe.SubscriptionItem)
    assert item.id == sub.items[0].id
    assert item.subscription == sub.id
    assert item.quantity == 3
    assert item.current_period_start == ts(start)
    assert item.current_period_end == ts(start + timedelta(days=365))
    assert isinstance(item.price, stripe.Price)
    assert item.price.id == price.id
    assert item.price.unit_amount == 1500
    assert item.price.recurring.interval == "year"
    assert item.price.nickname == "Team yearly"
    assert item.price.lookup_key == "team_yearly"
    assert item.price.product == price.product_id
    assert item.plan.id == price.id
    assert item.plan.amount == 1500

    discount = subscription.discount
    assert subscription.discounts == [discount.id]
    assert discount.source.coupon == coupon.id
    assert discount.coupon.percent_off == 50.0
    assert discount.coupon.duration == "repeating"
    assert discount.coupon.duration_in_months == 3
    assert discount.coupon.times_redeemed == 1
    assert discount.start == ts(now)
    assert discount.end == ts(now + timedelta(days=90))
    assert discount.subscription == sub.id


def test_a_plain_active_subscription_gets_stripes_empty_defaults(session, make_customer,
                                                                 make_subscription):
    sub = make_subscription(make_customer())

    data = serialize_by_id(session, "subscription", sub.id)

    assert_matches_schema("subscription", data)
    assert data["status"] == "active"
    assert data["discount"] is None
    assert data["discounts"] == []
    assert data["latest_invoice"] is None
    assert data["pause_collection"] is None
    assert data["trial_start"] is None
    assert data["trial_end"] is None
    assert data["canceled_at"] is None
    assert data["cancel_at_period_end"] is False
    assert data["default_payment_method"] is None
    assert data["cancellation_details"] == {"comment": None, "feedback": None, "reason": None}
    assert data["billing_cycle_anchor"] == data["current_period_start"]
    assert data["metadata"] == {}


def test_a_canceled_subscription_says_when_it_ended(session, make_customer, make_subscription,
                                                    now):
    sub = make_subscription(make_customer(), status="canceled", canceled_at=now,
                            ended_at=now, cancellation_reason="payment_failed")

    data = serialize(session, sub)

    assert data["status"] == "canceled"
    assert data["ended_at"] == ts(now)
    assert data["cancellation_details"]["reason"] == "payment_failed"
    assert_matches_schema("subscription", data)


def test_a_subscription_item_is_retrieved_on_its_own(session, make_customer, make_subscription):
    sub = make_subscription(make_customer(), quantity=2)

    data = serialize_by_id(session, "subscription_item", sub.items[0].id)
    item = stripe.SubscriptionItem.construct_from(data, "sk_test")

    assert_matches_schema("subscription_item", data)
    assert item.subscription == sub.id
    assert item.quantity == 2
    assert item.price.id == sub.items[0].price_id
