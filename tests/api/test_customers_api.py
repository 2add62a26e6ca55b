"""/v1/customers through the official stripe package (and the wire where it matters)."""

from __future__ import annotations

import pytest
import stripe
from sqlalchemy import select

from portal.customers.models import Customer, SignInSession
from portal.events import AuditEvent
from portal.subscriptions.models import Subscription


def events(session, type_: str, object_id: str | None = None) -> list[AuditEvent]:
    session.expire_all()
    query = select(AuditEvent).where(AuditEvent.type == type_).order_by(AuditEvent.created)
    if object_id is not None:
        query = query.where(AuditEvent.object_id == object_id)
    return list(session.scalars(query))


def test_a_customer_is_created_with_every_field_and_retrieved(stripe_client, session):
    created = stripe_client.v1.customers.create(params={
        "email": " Jenny.Rosen@example.com ", "name": "Jenny Rosen", "phone": "+1 555 0100",
        "description": "From the signup form", "metadata": {"crm_id": "42"},
        "address": {"line1": "1 Main St", "city": "Portland", "state": "OR",
                    "postal_code": "97201", "country": "us"},
        "shipping": {"name": "Jenny R", "phone": "+1 555 0101",
                     "address": {"line1": "2 Side St", "country": "US"}},
        "preferred_locales": ["fr-CA", "en"],
    })
    assert created.id.startswith("cus_")
    assert created.object == "customer"
    assert created.email == "Jenny.Rosen@example.com"
    assert created.address.country == "US" and created.address.city == "Portland"
    assert created.shipping.name == "Jenny R"
    assert created.shipping.address.line1 == "2 Side St"
    assert created.preferred_locales == ["fr-CA", "en"]
    assert created.metadata.to_dict() == {"crm_id": "42"}
    again = stripe_client.v1.customers.retrieve(created.id)
    assert again.to_dict() == created.to_dict()
    [event] = events(session, "customer.created", created.id)
    assert event.actor.startswith("api:key_")


def test_the_module_level_client_creates_and_retrieves_a_customer(stripe_module):
    customer = stripe_module.Customer.create(email="old@example.com", name="Old Style")
    assert stripe_module.Customer.retrieve(customer.id).name == "Old Style"


def test_an_update_changes_what_is_sent_and_raises_one_event_with_previous_values(
        stripe_client, session):
    customer = stripe_client.v1.customers.create(params={
        "email": "a@example.com", "name": "Ann", "address": {"line1": "1 Main St",
                                                             "country": "GB"}})
    updated = stripe_client.v1.customers.update(customer.id, params={
        "name": "Ann Lee", "address": {"city": "London"}, "phone": "+44 20 7946 0000"})
    assert updated.name == "Ann Lee"
    assert updated.email == "a@example.com"  # not sent: unchanged
    assert updated.address.line1 == "1 Main St" and updated.address.city == "London"
    [event] = events(session, "customer.updated", customer.id)
    assert event.actor.startswith("api:key_")
    assert event.data["previous_attributes"] == {
        "name": "Ann", "phone": None,
        "address": {"line1": "1 Main St", "line2": None, "city": None, "state": None,
                    "postal_code": None, "country": "GB"}}


def test_an_update_that_changes_nothing_raises_no_event(stripe_client, session):
    customer = stripe_client.v1.customers.create(params={"name": "Same"})
    stripe_client.v1.customers.update(customer.id, params={"name": "Same"})
    assert events(session, "customer.updated", customer.id) == []


def test_an_empty_string_unsets_a_field(stripe_client):
    customer = stripe_client.v1.customers.create(params={
        "email": "b@example.com", "name": "Bo", "phone": "123",
        "address": {"line1": "1 Main St", "country": "US"},
        "shipping": {"name": "Bo", "address": {"line1": "x"}}})
    updated = stripe_client.v1.customers.update(customer.id, params={
        "phone": "", "address": "", "shipping": "", "description": ""})
    assert updated.phone is None
    assert updated.address is None
    assert updated.shipping is None
    assert updated.name == "Bo"


def test_metadata_merges_keys_and_an_empty_value_removes_one(stripe_client, session):
    customer = stripe_client.v1.customers.create(params={"metadata": {"a": "1", "b": "2"}})
    updated = stripe_client.v1.customers.update(customer.id, params={
        "metadata": {"b": "", "c": "3"}})
    assert updated.metadata.to_dict() == {"a": "1", "c": "3"}
    [event] = events(session, "customer.updated", customer.id)
    assert event.data["previous_attributes"] == {"metadata": {"b": "2", "c": ""}}
    cleared = stripe_client.v1.customers.update(customer.id, params={"metadata": ""})
    assert cleared.metadata.to_dict() == {}


def test_the_default_payment_method_is_set_from_the_customers_cards(
        api, session, make_customer, make_payment_method, make_subscription):
    customer = make_customer()
    first = make_payment_method(customer)
    second = make_payment_method(customer, number="5555555555554444", default=False)
    subscription = make_subscription(customer, default_payment_method_id=first.id)
    response = api.post(f"/v1/customers/{customer.id}",
                        {"invoice_settings[default_payment_method]": second.id})
    assert response.status_code == 200, response.json
    assert response.json["invoice_settings"]["default_payment_method"] == second.id
    [event] = events(session, "customer.updated", customer.id)
    assert event.data["previous_attributes"] == {
        "invoice_settings": {"default_payment_method": first.id}}
    session.refresh(subscription)
    assert subscription.default_payment_method_id == second.id


def test_another_customers_card_cannot_be_the_default(api, make_customer, make_payment_method):
    mine, theirs = make_customer(), make_customer(email="other@example.com")
    card = make_payment_method(theirs)
    response = api.post(f"/v1/customers/{mine.id}",
                        {"invoice_settings[default_payment_method]": card.id})
    assert response.status_code == 400
    assert response.json["error"]["param"] == "invoice_settings[default_payment_method]"


@pytest.mark.parametrize(("params", "param"), [
    ({"email": "not an email"}, "email"),
    ({"name": "x" * 257}, "name"),
    ({"phone": "1" * 41}, "phone"),
    ({"name": "tab\there"}, "name"),
    ({"address": {"country": "XX"}}, "address[country]"),
    ({"address": {"line1": "y" * 201}}, "address[line1]"),
    ({"shipping": {"name": "n", "address": {"country": "ZZ"}}}, "shipping[address][country]"),
    ({"shipping": {"address": {"line1": "x"}}}, "shipping[name]"),
    ({"preferred_locales": ["not a locale!"]}, "preferred_locales"),
    ({"invoice_settings": {"default_payment_method": "pm_nothing"}},
     "invoice_settings[default_payment_method]"),
    ({"tax_exempt": "exempt"}, "tax_exempt"),
    ({"metadata": {"k" * 41: "v"}}, f"metadata[{'k' * 41}]"),
])
def test_bad_input_is_refused_naming_the_parameter(stripe_client, params, param):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.customers.create(params=params)
    assert refused.value.http_status == 400
    assert refused.value.param == param
    assert refused.value.user_message


def test_a_missing_customer_answers_stripes_404(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as missing:
        stripe_client.v1.customers.retrieve("cus_nothing")
    assert missing.value.http_status == 404
    assert missing.value.code == "resource_missing"


def test_deleting_a_customer_cancels_its_subscriptions_and_ends_its_sign_ins(
        stripe_client, session, make_customer, make_subscription, sign_in):
    customer = make_customer()
    live = make_subscription(customer)
    ended = make_subscription(customer, status="canceled")
    sign_in(customer)
    deleted = stripe_client.v1.customers.delete(customer.id)
    assert deleted.to_dict() == {"id": customer.id, "object": "customer", "deleted": True}
    session.expire_all()
    assert session.get(Subscription, live.id).status == "canceled"
    assert session.get(Subscription, live.id).ended_at is not None
    assert session.get(Subscription, ended.id).ended_at is None  # untouched
    assert all(s.ended_at is not None for s in session.scalars(
        select(SignInSession).where(SignInSession.customer_id == customer.id)))
    [gone] = events(session, "customer.subscription.deleted", live.id)
    assert gone.actor.startswith("api:key_") and gone.data["reason"] == "customer_deleted"
    [event] = events(session, "customer.deleted", customer.id)
    assert event.data["subscriptions_canceled"] == [live.id]
    # Retrieved as Stripe answers a deleted customer; never listed, never changed again.
    retrieved = stripe_client.v1.customers.retrieve(customer.id)
    assert retrieved.deleted is True
    assert customer.id not in [c.id for c in stripe_client.v1.customers.list().data]
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.customers.update(customer.id, params={"name": "Back"})
    assert refused.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.customers.delete(customer.id)
    assert session.get(Customer, customer.id).deleted is True


def test_the_list_filters_by_email_without_regard_to_case(stripe_client):
    wanted = [stripe_client.v1.customers.create(params={"email": "Same@Example.com"})
              for _ in range(2)]
    stripe_client.v1.customers.create(params={"email": "other@example.com"})
    found = stripe_client.v1.customers.list(params={"email": "same@example.COM"})
    assert [c.id for c in found.data] == [c.id for c in reversed(wanted)]
    assert found.url == "/v1/customers"
    assert stripe_client.v1.customers.list(params={"email": "none@example.com"}).data == []


def test_the_list_pages_forwards_and_backwards(stripe_client):
    made = [stripe_client.v1.customers.create(params={"name": f"C{n}"}).id for n in range(5)]
    newest_first = list(reversed(made))
    page = stripe_client.v1.customers.list(params={"limit": 2})
    assert [c.id for c in page.data] == newest_first[:2] and page.has_more
    page = stripe_client.v1.customers.list(params={"limit": 2,
                                                   "starting_after": page.data[-1].id})
    assert [c.id for c in page.data] == newest_first[2:4] and page.has_more
    page = stripe_client.v1.customers.list(params={"limit": 2,
                                                   "starting_after": page.data[-1].id})
    assert [c.id for c in page.data] == newest_first[4:] and not page.has_more
    back = stripe_client.v1.customers.list(params={"limit": 2,
                                                   "ending_before": newest_first[4]})
    assert [c.id for c in back.data] == newest_first[2:4] and back.has_more
    everyone = [c.id for c in stripe_client.v1.customers.list(params={"limit": 2})
                .auto_paging_iter()]
    assert everyone == newest_first


def test_the_list_filters_by_creation_time(api, make_customer, now):
    from datetime import timedelta

    old = make_customer(email="old@example.com", created=now - timedelta(days=3))
    new = make_customer(email="new@example.com", created=now)
    cut = int((now - timedelta(days=1)).timestamp())
    ids = [c["id"] for c in api.get("/v1/customers", {"created[gte]": cut}).json["data"]]
    assert ids == [new.id]
    ids = [c["id"] for c in api.get("/v1/customers", {"created[lt]": cut}).json["data"]]
    assert ids == [old.id]
    exact = api.get("/v1/customers", {"created": int(old.created.timestamp())}).json
    assert [c["id"] for c in exact["data"]] == [old.id]
