"""/v1/subscriptions through the official stripe package: start, change, cancel, list."""

from __future__ import annotations

from datetime import timedelta

import pytest
import stripe
from sqlalchemy import select

from portal.events import AuditEvent
from portal.invoices.models import Invoice, InvoiceItem
from portal.subscriptions import operations as sub_ops
from portal.subscriptions.models import Subscription


@pytest.fixture
def card_customer(make_customer, make_payment_method):
    customer = make_customer(email="ada@example.com", name="Ada")
    make_payment_method(customer)
    return customer


@pytest.fixture
def pro(make_price):
    return make_price(name="Pro", unit_amount=3000)


def _create(stripe_client, customer, price, **params):
    return stripe_client.v1.subscriptions.create(params={
        "customer": customer.id, "items": [{"price": price.id, "quantity": 1}], **params})


def _events(session, object_id, type_=None):
    session.expire_all()
    query = select(AuditEvent).where(AuditEvent.object_id == object_id)
    if type_:
        query = query.where(AuditEvent.type == type_)
    return list(session.scalars(query.order_by(AuditEvent.created, AuditEvent.id)))


def test_a_subscription_without_a_trial_charges_its_first_invoice(stripe_client, session,
                                                                   card_customer, pro):
    sub = _create(stripe_client, card_customer, pro, metadata={"plan": "pro"})
    assert sub.object == "subscription" and sub.status == "active"
    assert sub.customer == card_customer.id and sub.metadata.to_dict() == {"plan": "pro"}
    assert sub["items"].data[0].price.id == pro.id
    invoice = stripe_client.v1.invoices.retrieve(sub.latest_invoice)
    assert invoice.status == "paid" and invoice.amount_paid == 3000
    created = _events(session, sub.id, "customer.subscription.created")
    assert len(created) == 1 and created[0].actor.startswith("api:key_")


def test_a_subscription_with_a_trial_invoices_nothing_yet(stripe_client, make_customer, pro):
    customer = make_customer(email="trial@example.com")  # no card needed for a trial
    sub = _create(stripe_client, customer, pro, trial_period_days=14)
    assert sub.status == "trialing"
    assert sub.trial_end - sub.trial_start == 14 * 86400
    assert sub.latest_invoice is None


def test_a_declined_first_charge_leaves_the_subscription_past_due(
        stripe_client, make_customer, make_payment_method, pro):
    customer = make_customer(email="declined@example.com")
    make_payment_method(customer, number="4000000000000002")
    sub = _create(stripe_client, customer, pro)
    assert sub.status == "past_due"
    assert stripe_client.v1.invoices.retrieve(sub.latest_invoice).status == "open"


def test_send_invoice_and_cancel_at_period_end_at_creation(stripe_client, make_customer, pro):
    customer = make_customer(email="billme@example.com")
    sub = _create(stripe_client, customer, pro, collection_method="send_invoice",
                  days_until_due=10, cancel_at_period_end=True)
    assert sub.collection_method == "send_invoice" and sub.days_until_due == 10
    assert sub.cancel_at_period_end is True and sub.cancel_at == sub.current_period_end
    invoice = stripe_client.v1.invoices.retrieve(sub.latest_invoice)
    assert invoice.status == "open" and invoice.due_date - invoice.created == 10 * 86400


def test_a_coupon_is_given_by_discounts_or_coupon(stripe_client, session, card_customer, pro,
                                                  now):
    from portal.catalog.models import Coupon

    coupon = Coupon(name="Half", percent_off=50, duration="forever", created=now, metadata_={})
    session.add(coupon)
    session.commit()
    sub = _create(stripe_client, card_customer, pro, discounts=[{"coupon": coupon.id}])
    assert stripe_client.v1.invoices.retrieve(sub.latest_invoice).amount_paid == 1500


def test_a_retry_with_the_same_idempotency_key_starts_one_subscription(
        stripe_client, session, card_customer, pro):
    first = stripe_client.v1.subscriptions.create(
            params={"customer": card_customer.id, "items": [{"price": pro.id}]},
            options={"idempotency_key": "start-1"})
    again = stripe_client.v1.subscriptions.create(
        params={"customer": card_customer.id, "items": [{"price": pro.id}]},
        options={"idempotency_key": "start-1"})
    assert again.id == first.id
    session.expire_all()
    assert session.scalars(select(Subscription).where(
        Subscription.customer_id == card_customer.id)).all() == [session.get(Subscription,
                                                                               first.id)]
    assert len(session.scalars(select(Invoice)).all()) == 1


def test_the_start_meets_the_first_even_after_the_api_forgot_the_key(
        api, session, card_customer, pro):
    """The operation's own key (derived from the Idempotency-Key) outlives the API's replay."""
    from portal.integration.models import IdempotentRequest

    body = {"customer": card_customer.id, "items[0][price]": pro.id}
    first = api.post("/v1/subscriptions", body, headers={"Idempotency-Key": "k-2"})
    assert first.status_code == 200
    session.execute(IdempotentRequest.__table__.delete())
    session.commit()
    again = api.post("/v1/subscriptions", body, headers={"Idempotency-Key": "k-2"})
    assert again.status_code == 200 and again.json["id"] == first.json["id"]
    assert len(session.scalars(select(Invoice)).all()) == 1


@pytest.mark.parametrize(("params", "param"), [
    ({"items[0][price]": "price_missing"}, "items[0][price]"),
    ({"items[0][price]": "{price}", "items[0][quantity]": "0"}, "items[0][quantity]"),
    ({"items[0][price]": "{price}", "collection_method": "by_pigeon"}, "collection_method"),
    ({"items[0][price]": "{price}", "days_until_due": "5"}, "days_until_due"),
    ({"items[0][price]": "{price}", "trial_period_days": "-1"}, "trial_period_days"),
    ({"items[0][price]": "{price}", "coupon": "co_missing"}, "coupon"),
    ({"items[0][price]": "{price}", "discounts[0][coupon]": "co_missing"},
     "discounts[0][coupon]"),
    ({"items[0][price]": "{price}", "payment_behavior": "default_incomplete"},
     "payment_behavior"),
    ({"items[0][price]": "{price}", "trial_end": "now"}, "trial_end"),
    ({}, "items"),
])
def test_bad_subscriptions_are_refused_naming_the_parameter(api, card_customer, pro, params,
                                                            param):
    body = {"customer": card_customer.id,
            **{k: v.replace("{price}", pro.id) for k, v in params.items()}}
    response = api.post("/v1/subscriptions", body)
    assert response.status_code == 400, response.json
    assert response.json["error"]["type"] == "invalid_request_error"
    assert response.json["error"]["param"] == param


def test_a_customer_without_a_card_is_refused_before_anything_is_written(
        stripe_client, session, make_customer, pro):
    customer = make_customer(email="nocard@example.com")
    with pytest.raises(stripe.InvalidRequestError) as raised:
        _create(stripe_client, customer, pro)
    assert raised.value.param == "default_payment_method"
    assert session.scalars(select(Subscription)).all() == []


def test_another_customers_card_is_refused(stripe_client, make_customer, make_payment_method,
                                           card_customer, pro):
    other = make_customer(email="other@example.com")
    theirs = make_payment_method(other)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        _create(stripe_client, card_customer, pro, default_payment_method=theirs.id)
    assert raised.value.param == "default_payment_method"


def test_a_missing_subscription_answers_404(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe_client.v1.subscriptions.retrieve("sub_doesnotexist")
    assert raised.value.http_status == 404 and raised.value.code == "resource_missing"


# ---- changing price and quantity -------------------------------------------------------------

def _preview(stripe_client, sub, **details):
    return stripe_client.v1.invoices.create_preview(params={
        "customer": sub.customer, "subscription": sub.id, "subscription_details": details})


@pytest.mark.parametrize("behavior", ["create_prorations", "always_invoice"])
def test_a_quantity_change_prorates_as_the_preview_said(stripe_client, session, card_customer,
                                                        pro, behavior):
    sub = _create(stripe_client, card_customer, pro)
    item = sub["items"].data[0].id
    preview = _preview(stripe_client, sub, items=[{"id": item, "quantity": 3}],
                       proration_behavior=behavior)
    proration_date = preview.parent.subscription_details.subscription_proration_date
    updated = stripe_client.v1.subscriptions.update(sub.id, params={
        "items": [{"id": item, "quantity": 3}], "proration_behavior": behavior,
        "proration_date": proration_date})
    assert updated["items"].data[0].quantity == 3
    session.expire_all()
    if behavior == "always_invoice":
        invoice = stripe_client.v1.invoices.retrieve(updated.latest_invoice)
        assert invoice.billing_reason == "subscription_update"
        assert invoice.status == "paid"
        assert [line.amount for line in invoice.lines.data] == [
            line.amount for line in preview.lines.data]
        assert invoice.total == preview.total > 0
    else:
        pending = session.scalars(select(InvoiceItem).where(
            InvoiceItem.subscription_id == sub.id)).all()
        prorations = [line.amount for line in preview.lines.data if line.proration]
        assert sorted(i.amount for i in pending) == sorted(prorations)
        assert prorations[0] < 0 < prorations[1]
        # The preview was of the next invoice: the same as the engine's own preview now.
        stored = session.get(Subscription, sub.id)
        upcoming = sub_ops.invoicing.upcoming_invoice(session, stored, stored.created)
        assert upcoming.total == preview.total


def test_a_price_change_without_prorations_changes_only_the_next_invoice(
        stripe_client, session, card_customer, pro, make_price):
    sub = _create(stripe_client, card_customer, pro)
    team = make_price(name="Team", unit_amount=9000)
    updated = stripe_client.v1.subscriptions.update(sub.id, params={
        "items": [{"id": sub["items"].data[0].id, "price": team.id}],
        "proration_behavior": "none"})
    assert updated["items"].data[0].price.id == team.id
    assert updated.latest_invoice == sub.latest_invoice
    assert session.scalars(select(InvoiceItem)).all() == []
    upcoming = stripe_client.v1.invoices.create_preview(params={"subscription": sub.id})
    assert upcoming.total == 9000 and upcoming.id.startswith("upcoming_in_")
    changed = _events(session, sub.id, "customer.subscription.updated")
    assert [e.data["action"] for e in changed] == ["plan_changed"]
    assert changed[0].actor.startswith("api:key_")


@pytest.mark.parametrize(("params", "param"), [
    ({"items[0][price]": "price_x"}, "items[0][id]"),
    ({"items[0][id]": "si_nothere", "items[0][quantity]": "2"}, "items[0][id]"),
    ({"items[0][id]": "{item}", "items[0][price]": "price_nothere"}, "items[0][price]"),
    ({"items[0][id]": "{item}", "items[0][deleted]": "true"}, "items[0][deleted]"),
    ({"items[0][id]": "{item}", "items[0][quantity]": "0"}, "items[0][quantity]"),
    ({"items[0][id]": "{item}", "items[0][quantity]": "2", "proration_behavior": "sometimes"},
     "proration_behavior"),
    ({"items[0][id]": "{item}", "items[0][quantity]": "2", "proration_date": "1000"},
     "proration_date"),
    ({"items[0][id]": "{item}", "items[0][quantity]": "2", "proration_behavior": "none",
      "proration_date": "{now}"}, "proration_date"),
    ({"cancellation_details[comment]": "bye"}, "cancellation_details"),
    ({"default_payment_method": "pm_nothere"}, "default_payment_method"),
    ({"pending_invoice_item_interval[interval]": "month"}, "pending_invoice_item_interval"),
])
def test_bad_updates_are_refused_naming_the_parameter(api, stripe_client, card_customer, pro,
                                                      params, param, now):
    sub = _create(stripe_client, card_customer, pro)
    item = sub["items"].data[0].id
    body = {k: v.replace("{item}", item).replace("{now}", str(int(now.timestamp())))
            for k, v in params.items()}
    response = api.post(f"/v1/subscriptions/{sub.id}", body)
    assert response.status_code == 400, response.json
    assert response.json["error"]["param"] == param


def test_a_canceled_subscription_takes_only_metadata(stripe_client, card_customer, pro):
    sub = _create(stripe_client, card_customer, pro)
    stripe_client.v1.subscriptions.cancel(sub.id)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe_client.v1.subscriptions.update(sub.id, params={
            "items": [{"id": sub["items"].data[0].id, "quantity": 2}]})
    assert raised.value.param == "items"
    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe_client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": False})
    assert raised.value.param == "cancel_at_period_end"
    updated = stripe_client.v1.subscriptions.update(sub.id, params={"metadata": {"a": "b"}})
    assert updated.metadata.to_dict() == {"a": "b"} and updated.status == "canceled"


def test_metadata_merges_and_the_portals_own_keys_stay(stripe_client, session, card_customer,
                                                      pro):
    sub = _create(stripe_client, card_customer, pro, metadata={"a": "1", "b": "2"})
    stored = session.get(Subscription, sub.id)
    stored.metadata_ = {**stored.metadata_, "retention_offers_accepted": {"coupon": "x"}}
    session.commit()
    updated = stripe_client.v1.subscriptions.update(sub.id, params={"metadata": {"a": ""}})
    assert updated.metadata["b"] == "2" and "a" not in updated.metadata
    stripe_client.v1.subscriptions.update(sub.id, params={"metadata": ""})
    session.expire_all()
    assert session.get(Subscription, sub.id).metadata_ == {
        "retention_offers_accepted": {"coupon": "x"}}


def test_the_default_payment_method_is_set_and_cleared(stripe_client, card_customer, pro,
                                                       make_payment_method):
    sub = _create(stripe_client, card_customer, pro)
    second = make_payment_method(card_customer, number="5555555555554444", default=False)
    updated = stripe_client.v1.subscriptions.update(
        sub.id, params={"default_payment_method": second.id})
    assert updated.default_payment_method == second.id
    cleared = stripe_client.v1.subscriptions.update(sub.id, params={"default_payment_method": ""})
    assert cleared.default_payment_method is None


# ---- cancelling ------------------------------------------------------------------------------

def test_cancel_at_period_end_and_back(stripe_client, session, card_customer, pro):
    sub = _create(stripe_client, card_customer, pro)
    ending = stripe_client.v1.subscriptions.update(sub.id, params={
        "cancel_at_period_end": True,
        "cancellation_details": {"feedback": "too_expensive", "comment": "Pricey"}})
    assert ending.cancel_at_period_end is True and ending.status == "active"
    assert ending.cancel_at == ending.current_period_end
    assert ending.cancellation_details.feedback == "too_expensive"
    kept = stripe_client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": False})
    assert kept.cancel_at_period_end is False and kept.cancel_at is None
    actions = [e.data["action"] for e in _events(session, sub.id,
                                                 "customer.subscription.updated")]
    assert actions == ["cancel_at_period_end", "renewed"]


def test_cancel_now_ends_it_and_prorate_credits_the_unused_time(stripe_client, session,
                                                                card_customer, pro):
    sub = _create(stripe_client, card_customer, pro)
    canceled = stripe_client.v1.subscriptions.cancel(sub.id, params={"prorate": True})
    assert canceled.status == "canceled" and canceled.ended_at is not None
    session.expire_all()
    # Nearly the whole month was unused: almost all of it back as credit.
    assert -3000 <= session.get(type(card_customer), card_customer.id).balance < -2900
    deleted = _events(session, sub.id, "customer.subscription.deleted")
    assert len(deleted) == 1 and deleted[0].actor.startswith("api:key_")
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.subscriptions.cancel(sub.id)


def test_cancel_without_prorate_credits_nothing(stripe_client, session, card_customer, pro):
    sub = _create(stripe_client, card_customer, pro)
    stripe_client.v1.subscriptions.cancel(sub.id)
    session.expire_all()
    assert not session.get(type(card_customer), card_customer.id).balance


def test_invoice_now_is_refused_while_prorations_wait(stripe_client, card_customer, pro):
    sub = _create(stripe_client, card_customer, pro)
    stripe_client.v1.subscriptions.update(sub.id, params={
        "items": [{"id": sub["items"].data[0].id, "quantity": 2}]})
    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe_client.v1.subscriptions.cancel(sub.id, params={"invoice_now": True})
    assert raised.value.param == "invoice_now"


# ---- listing ---------------------------------------------------------------------------------

def test_lists_filter_by_customer_status_and_price_and_page(stripe_client, make_customer,
                                                            make_subscription, make_price,
                                                            now):
    ada, bob = make_customer(email="a@example.com"), make_customer(email="b@example.com")
    basic, team = make_price(name="Basic"), make_price(name="Team")
    subs = [make_subscription(ada, price=basic, created=now - timedelta(minutes=n))
            for n in range(5)]
    ended = make_subscription(ada, price=team, status="canceled", ended_at=now)
    theirs = make_subscription(bob, price=team, status="trialing")
    listed = stripe_client.v1.subscriptions.list(params={"customer": ada.id})
    assert [s.id for s in listed.data] == [s.id for s in subs]
    assert [s.id for s in stripe_client.v1.subscriptions.list(
        params={"customer": ada.id, "status": "ended"}).data] == [ended.id]
    assert len(stripe_client.v1.subscriptions.list(
        params={"customer": ada.id, "status": "all"}).data) == 6
    assert [s.id for s in stripe_client.v1.subscriptions.list(
        params={"price": team.id}).data] == [theirs.id]
    assert [s.id for s in stripe_client.v1.subscriptions.list(
        params={"status": "trialing"}).data] == [theirs.id]
    page = stripe_client.v1.subscriptions.list(params={"customer": ada.id, "limit": 2})
    assert page.has_more and [s.id for s in page.data] == [s.id for s in subs[:2]]
    after = stripe_client.v1.subscriptions.list(
        params={"customer": ada.id, "limit": 2, "starting_after": page.data[-1].id})
    assert [s.id for s in after.data] == [s.id for s in subs[2:4]]
    before = stripe_client.v1.subscriptions.list(
        params={"customer": ada.id, "limit": 2, "ending_before": after.data[0].id})
    assert [s.id for s in before.data] == [s.id for s in subs[:2]]
    every = [s.id for s in stripe_client.v1.subscriptions.list(
        params={"customer": ada.id, "limit": 2}).auto_paging_iter()]
    assert every == [s.id for s in subs]


def test_subscription_items_are_listed(stripe_client, card_customer, pro):
    sub = _create(stripe_client, card_customer, pro)
    items = stripe_client.v1.subscription_items.list(params={"subscription": sub.id})
    assert [i.id for i in items.data] == [sub["items"].data[0].id]
    assert stripe_client.v1.subscription_items.retrieve(items.data[0].id).quantity == 1
