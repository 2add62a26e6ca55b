"""/v1/invoices through the official stripe package: read, list, pay, void, preview."""

from __future__ import annotations

from datetime import timedelta

import pytest
import stripe
from sqlalchemy import select

from portal.billing import engine
from portal.billing.policy import BillingPolicy
from portal.events import AuditEvent
from portal.invoices.models import Invoice
from portal.payments.gateway import get_gateway
from portal.payments.models import Payment
from portal.subscriptions.models import Subscription


@pytest.fixture
def ada(make_customer):
    return make_customer(email="ada@example.com", name="Ada")


def _events(session, object_id, type_):
    session.expire_all()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.object_id == object_id,
                                                         AuditEvent.type == type_)))


def test_an_invoice_is_retrieved_and_another_id_is_404(stripe_client, ada, make_invoice):
    invoice = make_invoice(ada, amount=4500)
    got = stripe_client.v1.invoices.retrieve(invoice.id)
    assert got.id == invoice.id and got.amount_due == 4500 and got.status == "open"
    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe_client.v1.invoices.retrieve("in_nothere")
    assert raised.value.http_status == 404


def test_invoices_are_listed_by_customer_subscription_and_status(
        stripe_client, ada, make_customer, make_invoice, make_subscription, now):
    bob = make_customer(email="bob@example.com")
    sub = make_subscription(ada)
    paid = make_invoice(ada, status="paid", subscription=sub, created=now - timedelta(days=2))
    open_ = make_invoice(ada, created=now - timedelta(days=1))
    theirs = make_invoice(bob)
    by_customer = stripe_client.v1.invoices.list(params={"customer": ada.id})
    assert [i.id for i in by_customer.data] == [open_.id, paid.id]
    assert [i.id for i in stripe_client.v1.invoices.list(
        params={"subscription": sub.id}).data] == [paid.id]
    assert [i.id for i in stripe_client.v1.invoices.list(
        params={"status": "open"}).data] == [theirs.id, open_.id]
    page = stripe_client.v1.invoices.list(params={"limit": 1})
    assert page.has_more and [i.id for i in page.data] == [theirs.id]
    assert [i.id for i in stripe_client.v1.invoices.list(params={"limit": 1}).auto_paging_iter()
            ] == [theirs.id, open_.id, paid.id]


# ---- paying ----------------------------------------------------------------------------------

def test_paying_charges_the_default_card(stripe_client, session, ada, make_payment_method,
                                         make_invoice):
    make_payment_method(ada)
    invoice = make_invoice(ada, amount=2500)
    paid = stripe_client.v1.invoices.pay(invoice.id)
    assert paid.status == "paid" and paid.amount_paid == 2500
    events = _events(session, invoice.id, "invoice.paid")
    assert len(events) == 1 and events[0].actor.startswith("api:key_")


@pytest.mark.parametrize(("number", "decline_code"), [
    ("4000000000000002", "card_declined"),
    ("4000000000009995", "insufficient_funds"),
])
def test_a_decline_is_a_card_error(stripe_client, api, ada, make_payment_method, make_invoice,
                                   number, decline_code):
    card = make_payment_method(ada, number=number)
    invoice = make_invoice(ada)
    with pytest.raises(stripe.CardError) as raised:
        stripe_client.v1.invoices.pay(invoice.id, params={"payment_method": card.id})
    assert raised.value.http_status == 402
    assert raised.value.code == "card_declined"
    assert raised.value.error.decline_code == decline_code
    assert stripe_client.v1.invoices.retrieve(invoice.id).status == "open"
    wire = api.post(f"/v1/invoices/{invoice.id}/pay")
    assert wire.status_code == 402 and wire.json["error"]["type"] == "card_error"


def test_a_retried_pay_charges_once(api, session, ada, make_payment_method, make_invoice):
    make_payment_method(ada)
    invoice = make_invoice(ada)
    first = api.post(f"/v1/invoices/{invoice.id}/pay", headers={"Idempotency-Key": "pay-1"})
    again = api.post(f"/v1/invoices/{invoice.id}/pay", headers={"Idempotency-Key": "pay-1"})
    assert first.status_code == again.status_code == 200
    assert again.headers.get("Idempotent-Replayed") == "true"
    payments = session.scalars(select(Payment).where(Payment.invoice_id == invoice.id)).all()
    assert len(payments) == 1 and payments[0].idempotency_key.startswith(f"api:{invoice.id}:")
    later = api.post(f"/v1/invoices/{invoice.id}/pay")
    assert later.status_code == 400 and later.json["error"]["code"] == "invoice_already_paid"


@pytest.mark.parametrize(("status", "code"), [("paid", 400), ("void", 400), ("draft", 400)])
def test_only_open_invoices_are_paid(api, ada, make_payment_method, make_invoice, status, code):
    make_payment_method(ada)
    invoice = make_invoice(ada, status=status)
    assert api.post(f"/v1/invoices/{invoice.id}/pay").status_code == code


def test_another_customers_card_cannot_pay(stripe_client, ada, make_customer,
                                           make_payment_method, make_invoice):
    bob = make_customer(email="bob@example.com")
    theirs = make_payment_method(bob)
    invoice = make_invoice(ada)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe_client.v1.invoices.pay(invoice.id, params={"payment_method": theirs.id})
    assert raised.value.param == "payment_method"


def test_an_invoice_without_a_card_names_payment_method(api, ada, make_invoice):
    invoice = make_invoice(ada)
    response = api.post(f"/v1/invoices/{invoice.id}/pay")
    assert response.status_code == 400 and response.json["error"]["param"] == "payment_method"


# ---- voiding ---------------------------------------------------------------------------------

def test_voiding_an_open_invoice(stripe_client, session, ada, make_invoice):
    invoice = make_invoice(ada)
    voided = stripe_client.v1.invoices.void_invoice(invoice.id)
    assert voided.status == "void" and voided.status_transitions.voided_at is not None
    events = _events(session, invoice.id, "invoice.voided")
    assert len(events) == 1 and events[0].actor.startswith("api:key_")
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.invoices.void_invoice(invoice.id)


def test_voiding_gives_back_the_balance_and_restores_a_past_due_subscription(
        stripe_client, session, ada, make_invoice, make_subscription, now):
    sub = make_subscription(ada, status="past_due")
    invoice = make_invoice(ada, subscription=sub, starting_balance=-500, ending_balance=0,
                           due_date=now - timedelta(days=1), attempt_count=1)
    stripe_client.v1.invoices.void_invoice(invoice.id)
    session.expire_all()
    assert session.get(type(ada), ada.id).balance == -500
    assert session.get(Subscription, sub.id).status == "active"


@pytest.mark.parametrize("status", ["paid", "draft", "uncollectible"])
def test_only_open_invoices_are_voided(api, ada, make_invoice, status):
    invoice = make_invoice(ada, status=status)
    response = api.post(f"/v1/invoices/{invoice.id}/void")
    assert response.status_code == 400 and response.json["error"]["type"] == \
        "invalid_request_error"


# ---- the upcoming invoice --------------------------------------------------------------------

@pytest.fixture
def running(stripe_client, ada, make_payment_method, make_price):
    make_payment_method(ada)
    price = make_price(name="Pro", unit_amount=3000)
    return stripe_client.v1.subscriptions.create(params={
        "customer": ada.id, "items": [{"price": price.id, "quantity": 2}]})


def _run_engine_at(session, moment):
    session.commit()
    engine.run(session, now=moment, gateway=get_gateway(), policy=BillingPolicy())


def test_the_preview_is_the_invoice_the_engine_writes(stripe_client, session, running):
    preview = stripe_client.v1.invoices.create_preview(params={"subscription": running.id})
    assert preview.id.startswith("upcoming_in_") and preview.total == 6000
    _run_engine_at(session, session.get(Subscription, running.id).current_period_end
                   + timedelta(seconds=1))
    written = session.scalars(select(Invoice).where(
        Invoice.subscription_id == running.id,
        Invoice.billing_reason == "subscription_cycle")).one()
    assert written.total == preview.total and written.amount_due == preview.amount_due
    assert [(line.description, line.amount) for line in written.lines] == [
        (line.description, line.amount) for line in preview.lines.data]


def test_the_older_upcoming_endpoint_answers_the_same_without_an_id(api, running):
    older = api.get("/v1/invoices/upcoming", {"subscription": running.id})
    newer = api.post("/v1/invoices/create_preview", {"subscription": running.id})
    assert older.status_code == newer.status_code == 200
    assert older.json["id"] is None and newer.json["id"].startswith("upcoming_in_")
    strip = ("id", "lines")
    assert {k: v for k, v in older.json.items() if k not in strip} == {
        k: v for k, v in newer.json.items() if k not in strip}
    by_customer = api.get("/v1/invoices/upcoming", {"customer": running.customer})
    assert by_customer.json["total"] == newer.json["total"]


def test_a_previewed_change_is_what_the_next_invoice_bills(stripe_client, session, running):
    item = running["items"].data[0].id
    preview = stripe_client.v1.invoices.create_preview(params={
        "subscription": running.id,
        "subscription_details": {"items": [{"id": item, "quantity": 5}]}})
    older = stripe_client.v1.invoices.create_preview(params={
        "subscription": running.id,
        "subscription_details": {"items": [{"id": item, "quantity": 5}],
                                 "proration_date": preview.parent.subscription_details.subscription_proration_date}})
    assert older.total == preview.total
    stripe_client.v1.subscriptions.update(running.id, params={
        "items": [{"id": item, "quantity": 5}],
        "proration_date": preview.parent.subscription_details.subscription_proration_date})
    _run_engine_at(session, session.get(Subscription, running.id).current_period_end
                   + timedelta(seconds=1))
    written = session.scalars(select(Invoice).where(
        Invoice.subscription_id == running.id,
        Invoice.billing_reason == "subscription_cycle")).one()
    assert [line.amount for line in written.lines] == [
        line.amount for line in preview.lines.data]
    assert written.total == preview.total


def test_no_upcoming_invoice_for_a_subscription_ending(stripe_client, running):
    stripe_client.v1.subscriptions.update(running.id, params={"cancel_at_period_end": True})
    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe_client.v1.invoices.create_preview(params={"subscription": running.id})
    assert raised.value.http_status == 404 and raised.value.code == "invoice_upcoming_none"


@pytest.mark.parametrize(("params", "param"), [
    ({}, "customer"),
    ({"customer": "cus_nothere"}, "customer"),
    ({"subscription_details[items][0][id]": "{item}",
      "subscription_details[items][0][quantity]": "2", "customer": "{customer}"},
     "subscription"),
    ({"subscription": "{subscription}", "subscription_details[proration_date]": "{now}"},
     "subscription_details[proration_date]"),
    ({"subscription": "{subscription}", "subscription_details[items][0][id]": "si_other",
      "subscription_details[items][0][quantity]": "2"}, "subscription_details[items][0][id]"),
    ({"subscription": "{subscription}", "subscription_details[items][0][id]": "{item}",
      "subscription_details[items][0][price]": "price_nothere"},
     "subscription_details[items][0][price]"),
    ({"subscription": "{subscription}", "customer": "{other}"}, "subscription"),
    ({"subscription": "{subscription}", "invoice_items[0][amount]": "100"}, "invoice_items"),
])
def test_bad_previews_are_refused_naming_the_parameter(api, running, make_customer, params,
                                                       param, now):
    other = make_customer(email="other@example.com")
    values = {"{item}": running["items"].data[0].id, "{customer}": running.customer,
              "{subscription}": running.id, "{other}": other.id,
              "{now}": str(int(now.timestamp()))}
    body = {}
    for key, value in params.items():
        for placeholder, real in values.items():
            value = value.replace(placeholder, real)
        body[key] = value
    response = api.post("/v1/invoices/create_preview", body)
    assert response.status_code == 400, response.json
    assert response.json["error"]["param"] == param


def test_the_preview_and_the_objects_match_stripes_schemas(api, running):
    from tests.objects.conftest import assert_matches_schema

    item = running["items"].data[0].id
    for response in (
            api.post("/v1/invoices/create_preview", {"subscription": running.id}),
            api.post("/v1/invoices/create_preview", {
                "subscription": running.id, "subscription_details[items][0][id]": item,
                "subscription_details[items][0][quantity]": "3",
                "subscription_details[proration_behavior]": "always_invoice"}),
            api.get("/v1/invoices/upcoming", {"subscription": running.id}),
            api.get(f"/v1/invoices/{running.latest_invoice}")):
        assert response.status_code == 200, response.json
        body = response.json
        if body["id"] is None or body["id"].startswith("upcoming_in_"):
            # The schema is the stored invoice's; a preview's id is Stripe's upcoming_in_...
            # (or null), its lines name it.
            body = {**body, "id": "in_preview"}
            for line in body["lines"]["data"]:
                line["invoice"] = "in_preview"
            # A stored invoice has no proration date (null in the schema); a preview's is
            # Stripe's Unix time.
            details = body["parent"]["subscription_details"]
            assert details["subscription_proration_date"] is None or isinstance(
                details["subscription_proration_date"], int)
            details["subscription_proration_date"] = None
        assert_matches_schema("invoice", body)
    assert_matches_schema("subscription", api.get(f"/v1/subscriptions/{running.id}").json)
