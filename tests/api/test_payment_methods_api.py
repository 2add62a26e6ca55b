"""/v1/payment_methods through the official stripe package: list, retrieve, detach; cards are
never created through the API."""

from __future__ import annotations

import pytest
import stripe
from sqlalchemy import select

from portal.customers.models import Customer
from portal.events import AuditEvent
from portal.payments.models import PaymentMethod
from portal.subscriptions.models import Subscription


def test_a_customers_cards_are_listed_both_ways(stripe_client, make_customer,
                                                make_payment_method, now):
    from datetime import timedelta

    customer = make_customer()
    older = make_payment_method(customer, created=now - timedelta(days=1))
    newer = make_payment_method(customer, number="5555555555554444", default=False)
    make_payment_method(make_customer(email="else@example.com"))
    listed = stripe_client.v1.payment_methods.list(params={"customer": customer.id,
                                                           "type": "card"})
    assert [m.id for m in listed.data] == [newer.id, older.id]
    assert listed.data[0].card.last4 == "4444" and listed.data[0].customer == customer.id
    nested = stripe_client.v1.customers.payment_methods.list(customer.id)
    assert [m.id for m in nested.data] == [newer.id, older.id]
    assert nested.url == f"/v1/customers/{customer.id}/payment_methods"
    page = stripe_client.v1.payment_methods.list(params={"customer": customer.id, "limit": 1})
    assert [m.id for m in page.data] == [newer.id] and page.has_more
    assert stripe_client.v1.payment_methods.list(params={
        "customer": customer.id, "type": "sepa_debit"}).data == []


def test_listing_needs_a_customer_that_exists(api):
    assert api.get("/v1/payment_methods").json["error"]["param"] == "customer"
    missing = api.get("/v1/payment_methods", {"customer": "cus_nobody"})
    assert missing.status_code == 404 and missing.json["error"]["param"] == "customer"


def test_a_card_is_retrieved(stripe_client, make_customer, make_payment_method):
    card = make_payment_method(make_customer())
    retrieved = stripe_client.v1.payment_methods.retrieve(card.id)
    assert retrieved.id == card.id and retrieved.type == "card"
    with pytest.raises(stripe.InvalidRequestError) as missing:
        stripe_client.v1.payment_methods.retrieve("pm_nothing")
    assert missing.value.http_status == 404


def test_detaching_the_default_card_moves_the_default_and_raises_the_event(
        stripe_client, session, make_customer, make_payment_method, make_subscription, now):
    from datetime import timedelta

    customer = make_customer()
    spare = make_payment_method(customer, number="5555555555554444", default=False,
                                created=now - timedelta(days=1))
    card = make_payment_method(customer)
    subscription = make_subscription(customer, default_payment_method_id=card.id)
    detached = stripe_client.v1.payment_methods.detach(card.id)
    assert detached.id == card.id and detached.customer is None
    session.expire_all()
    assert session.get(Customer, customer.id).default_payment_method_id == spare.id
    assert session.get(Subscription, subscription.id).default_payment_method_id == spare.id
    [event] = session.scalars(select(AuditEvent).where(
        AuditEvent.type == "payment_method.detached", AuditEvent.object_id == card.id))
    assert event.actor.startswith("api:key_") and event.customer_id == customer.id
    listed = stripe_client.v1.payment_methods.list(params={"customer": customer.id})
    assert [m.id for m in listed.data] == [spare.id]
    with pytest.raises(stripe.InvalidRequestError) as again:
        stripe_client.v1.payment_methods.detach(card.id)
    assert again.value.http_status == 400
    assert "not attached" in again.value.user_message


def test_the_last_card_of_a_live_subscription_may_be_detached_as_on_stripe(
        stripe_client, session, make_customer, make_payment_method, make_subscription):
    customer = make_customer()
    card = make_payment_method(customer)
    subscription = make_subscription(customer, default_payment_method_id=card.id)
    stripe_client.v1.payment_methods.detach(card.id)
    session.expire_all()
    assert session.get(PaymentMethod, card.id).detached_at is not None
    assert session.get(Customer, customer.id).default_payment_method_id is None
    assert session.get(Subscription, subscription.id).default_payment_method_id is None


@pytest.mark.parametrize("path", ["/v1/payment_methods", "/v1/payment_methods/pm_x/attach"])
def test_cards_are_never_created_through_the_api(api, path):
    response = api.post(path, {"type": "card", "card[number]": "4242424242424242",
                               "card[exp_month]": "12", "card[exp_year]": "2030",
                               "card[cvc]": "123", "customer": "cus_x"})
    assert response.status_code == 400
    assert "portal" in response.json["error"]["message"]
    assert "payment_method_update" in response.json["error"]["message"]
    assert "4242" not in response.get_data(as_text=True)


def test_the_stripe_package_hears_why_it_cannot_create_a_card(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.payment_methods.create(params={"type": "card"})
    assert "billing_portal/sessions" in refused.value.user_message
