"""Each event type webhooks carry is raised, and recorded, by the operation that makes the
change: called as the dashboard, the portal and the API call them."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.customers import operations as customers
from portal.payments import operations as payments
from portal.payments.gateway import CardDetails, TestGateway
from portal.portal_settings import operations as settings
from portal.subscriptions import operations as subscriptions
from portal.webhooks.models import Event
from portal.webhooks.types import WEBHOOK_EVENT_TYPES


def recorded(session) -> dict[str, Event]:
    session.expire_all()
    return {event.type: event for event in session.scalars(select(Event))}


def card(number="4242424242424242", now=None):
    return CardDetails(number, 12, now.year + 3, "123")


def test_create_customer_records_customer_created(session, now):
    customer = customers.create_customer(session, email="ada@example.com", name="Ada",
                                         now=now, actor="merchant")
    session.commit()
    event = recorded(session)["customer.created"]
    assert event.object_id == customer.id
    assert event.body["data"]["object"]["email"] == "ada@example.com"


def test_updating_a_customer_records_customer_updated(session, customer, now):
    customers.update_customer_details(session, customer, {"email": "new@example.com"},
                                      now=now, actor=f"customer:{customer.id}")
    session.commit()
    event = recorded(session)["customer.updated"]
    assert event.body["data"]["object"]["email"] == "new@example.com"
    assert event.body["data"]["previous_attributes"] == {"email": "jenny.rosen@example.com"}


def test_attaching_and_detaching_a_card_record_payment_method_events(session, customer, now):
    gateway = TestGateway()
    attached = payments.attach_card(session, customer, card(now=now), make_default=False,
                                    now=now, actor="merchant", gateway=gateway)
    session.commit()
    method = attached.payment_method
    assert recorded(session)["payment_method.attached"].object_id == method.id
    payments.detach_payment_method(session, customer, method, now=now, actor="merchant",
                                   gateway=gateway)
    session.commit()
    assert recorded(session)["payment_method.detached"].object_id == method.id


def test_starting_a_trial_records_customer_subscription_created(
        session, customer, make_price, now):
    price = make_price()
    started = subscriptions.start_subscription(session, customer, items=[(price, 1)],
                                               trial_period_days=14, now=now,
                                               actor="merchant")
    session.commit()
    event = recorded(session)["customer.subscription.created"]
    assert event.object_id == started.subscription.id
    assert event.body["data"]["object"]["status"] == "trialing"


def test_starting_a_paid_subscription_records_invoice_finalized_and_paid(
        session, customer, make_price, make_payment_method, now):
    price = make_price()
    make_payment_method(customer)
    started = subscriptions.start_subscription(session, customer, items=[(price, 1)], now=now,
                                               actor="merchant", gateway=TestGateway())
    session.commit()
    events = recorded(session)
    assert events["invoice.finalized"].object_id == started.invoice.id
    assert events["invoice.paid"].object_id == started.invoice.id
    # At commit the invoice was paid: both snapshots show it so.
    assert events["invoice.paid"].body["data"]["object"]["status"] == "paid"


def test_a_declined_first_charge_records_invoice_payment_failed(
        session, customer, make_price, make_payment_method, now):
    price = make_price()
    make_payment_method(customer, number="4000000000000341")
    started = subscriptions.start_subscription(session, customer, items=[(price, 1)], now=now,
                                               actor="merchant", gateway=TestGateway())
    session.commit()
    assert recorded(session)["invoice.payment_failed"].object_id == started.invoice.id


@pytest.mark.parametrize(("mode", "event_type"), [
    ("at_period_end", "customer.subscription.updated"),
    ("immediately", "customer.subscription.deleted"),
])
def test_cancelling_records_the_subscription_event(session, customer, make_subscription, now,
                                                   mode, event_type):
    subscription = make_subscription(customer)
    config = settings.default_configuration(session)
    config.subscription_cancel_enabled = True
    config.subscription_cancel_mode = mode
    session.commit()
    subscriptions.cancel_subscription(session, subscription,
                                      expected_version=subscription.version, now=now,
                                      actor=f"customer:{customer.id}", configuration=config)
    session.commit()
    event = recorded(session)[event_type]
    assert event.object_id == subscription.id
    obj = event.body["data"]["object"]
    if mode == "immediately":
        assert obj["status"] == "canceled"
    else:
        assert obj["cancel_at_period_end"] is True


def test_changing_the_portal_configuration_records_its_update(session, now):
    config = settings.default_configuration(session)
    session.commit()
    settings.update_configuration(session, config, changes={"headline": "Manage billing"},
                                  now=now, actor="merchant")
    session.commit()
    event = recorded(session)["billing_portal.configuration.updated"]
    assert event.object_id == config.id


def test_every_type_an_endpoint_can_ask_for_maps_to_a_stripe_object():
    from portal.webhooks.types import object_type_for

    assert {object_type_for(t) for t in WEBHOOK_EVENT_TYPES} == {
        "customer", "subscription", "invoice", "payment_method",
        "billing_portal.configuration", "billing_portal.session"}
