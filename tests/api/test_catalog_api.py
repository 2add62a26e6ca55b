"""/v1/products and /v1/prices through the official stripe package."""

from __future__ import annotations

import pytest
import stripe
from sqlalchemy import select

from portal.catalog.models import Price, Product
from portal.events import AuditEvent


def events(session, type_: str, object_id: str) -> list[AuditEvent]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent).where(
        AuditEvent.type == type_, AuditEvent.object_id == object_id)
        .order_by(AuditEvent.created)))


# ---- products -------------------------------------------------------------------------------

def test_a_product_is_created_retrieved_updated_and_listed(stripe_client, session):
    product = stripe_client.v1.products.create(params={
        "name": "Pro", "description": "Everything", "statement_descriptor": "ACME PRO",
        "unit_label": "seat", "metadata": {"tier": "2"}})
    assert product.id.startswith("prod_") and product.object == "product"
    assert product.active is True and product.unit_label == "seat"
    assert stripe_client.v1.products.retrieve(product.id).to_dict() == product.to_dict()
    [created] = events(session, "product.created", product.id)
    assert created.actor.startswith("api:key_")

    updated = stripe_client.v1.products.update(product.id, params={
        "name": "Pro plan", "description": "", "metadata": {"tier": "", "x": "y"}})
    assert updated.name == "Pro plan" and updated.description is None
    assert updated.metadata.to_dict() == {"x": "y"}
    [event] = events(session, "product.updated", product.id)
    assert event.data["previous_attributes"] == {
        "name": "Pro", "description": "Everything", "metadata": {"tier": "2", "x": ""}}
    assert [p.id for p in stripe_client.v1.products.list().data] == [product.id]


def test_active_false_archives_a_product_and_true_brings_it_back(stripe_client, session):
    product = stripe_client.v1.products.create(params={"name": "Old"})
    other = stripe_client.v1.products.create(params={"name": "New", "active": False})
    assert other.active is False
    archived = stripe_client.v1.products.update(product.id, params={"active": False})
    assert archived.active is False
    assert stripe_client.v1.products.list(params={"active": True}).data == []
    assert len(stripe_client.v1.products.list(params={"active": False}).data) == 2
    assert stripe_client.v1.products.update(product.id, params={"active": True}).active
    session.expire_all()
    assert session.get(Product, product.id).active is True


def test_one_image_url_is_kept_and_more_are_refused(stripe_client):
    product = stripe_client.v1.products.create(params={
        "name": "Pic", "images": ["https://cdn.example.com/pic.png"]})
    assert product.images == ["https://cdn.example.com/pic.png"]
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.products.update(product.id, params={
            "images": ["https://a.example/1.png", "https://a.example/2.png"]})
    assert refused.value.param == "images"
    assert stripe_client.v1.products.update(product.id, params={"images": ""}).images == []


@pytest.mark.parametrize(("params", "param"), [
    ({}, "name"),
    ({"name": ""}, "name"),
    ({"name": "x" * 251}, "name"),
    ({"name": "P", "statement_descriptor": "abc"}, "statement_descriptor"),
    ({"name": "P", "statement_descriptor": "ACME <PRO>"}, "statement_descriptor"),
    ({"name": "P", "unit_label": "x" * 13}, "unit_label"),
    ({"name": "P", "tax_code": "txcd_nope"}, "tax_code"),
    ({"name": "P", "images": ["javascript:alert(1)"]}, "images"),
    ({"name": "P", "default_price_data": {"currency": "usd", "unit_amount": 1}},
     "default_price_data"),
    ({"name": "P", "shippable": "true"}, "shippable"),
])
def test_bad_product_input_is_refused_naming_the_parameter(stripe_client, params, param):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.products.create(params=params)
    assert refused.value.http_status == 400
    assert refused.value.param == param


def test_a_product_nothing_uses_is_deleted_with_its_prices(stripe_client, session):
    product = stripe_client.v1.products.create(params={"name": "Gone"})
    price = stripe_client.v1.prices.create(params={
        "product": product.id, "unit_amount": 100, "currency": "usd"})
    deleted = stripe_client.v1.products.delete(product.id)
    assert deleted.to_dict() == {"id": product.id, "object": "product", "deleted": True}
    session.expire_all()
    assert session.get(Product, product.id) is None
    assert session.get(Price, price.id) is None
    with pytest.raises(stripe.InvalidRequestError) as missing:
        stripe_client.v1.products.retrieve(product.id)
    assert missing.value.http_status == 404


def test_a_product_in_use_cannot_be_deleted(stripe_client, make_customer, make_price,
                                            make_subscription):
    price = make_price(name="Used")
    make_subscription(make_customer(), price=price)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.products.delete(price.product_id)
    assert refused.value.http_status == 400
    assert "Archive it instead" in refused.value.user_message


def test_products_page_forwards_and_backwards(stripe_client):
    made = [stripe_client.v1.products.create(params={"name": f"P{n}"}).id for n in range(3)]
    first = stripe_client.v1.products.list(params={"limit": 2})
    assert [p.id for p in first.data] == made[:0:-1] and first.has_more
    rest = stripe_client.v1.products.list(params={"limit": 2,
                                                  "starting_after": first.data[-1].id})
    assert [p.id for p in rest.data] == [made[0]] and not rest.has_more
    back = stripe_client.v1.products.list(params={"limit": 1, "ending_before": made[0]})
    assert [p.id for p in back.data] == [made[1]] and back.has_more


# ---- prices ---------------------------------------------------------------------------------

def test_a_recurring_price_is_created_retrieved_and_listed(stripe_client, session):
    product = stripe_client.v1.products.create(params={"name": "Pro"})
    price = stripe_client.v1.prices.create(params={
        "product": product.id, "unit_amount": 2900, "currency": "USD",
        "recurring": {"interval": "month", "interval_count": 3}, "nickname": "Quarterly",
        "metadata": {"plan": "pro"}, "lookup_key": "pro_quarterly"})
    assert price.id.startswith("price_") and price.object == "price"
    assert price.currency == "usd" and price.unit_amount == 2900
    assert price.recurring.interval == "month" and price.recurring.interval_count == 3
    assert price.type == "recurring" and price.lookup_key == "pro_quarterly"
    assert stripe_client.v1.prices.retrieve(price.id).to_dict() == price.to_dict()
    [event] = events(session, "price.created", price.id)
    assert event.actor.startswith("api:key_")
    found = stripe_client.v1.prices.list(params={"lookup_keys": ["pro_quarterly"]})
    assert [p.id for p in found.data] == [price.id]


def test_a_price_with_product_data_makes_its_product(stripe_module):
    price = stripe_module.Price.create(unit_amount=500, currency="eur",
                                       product_data={"name": "Add-on"})
    assert price.type == "one_time" and price.recurring is None
    assert stripe_module.Product.retrieve(price.product).name == "Add-on"


def test_a_price_changes_only_what_stripe_lets_change(stripe_client, session, make_price):
    price = make_price()
    updated = stripe_client.v1.prices.update(price.id, params={
        "active": False, "nickname": "Legacy", "metadata": {"a": "b"}})
    assert updated.active is False and updated.nickname == "Legacy"
    assert updated.metadata.to_dict() == {"a": "b"}
    [event] = events(session, "price.updated", price.id)
    assert event.data["previous_attributes"] == {"active": True, "nickname": None,
                                                 "metadata": {"a": ""}}
    assert stripe_client.v1.prices.update(price.id, params={"nickname": ""}).nickname is None
    for param, value in [("unit_amount", 100), ("currency", "eur"), ("product", "prod_x"),
                         ("recurring", {"interval": "year"})]:
        with pytest.raises(stripe.InvalidRequestError) as refused:
            stripe_client.v1.prices.update(price.id, params={param: value})
        assert refused.value.param.startswith(param)
        assert "create a new price" in refused.value.user_message


def test_a_lookup_key_is_unique_unless_transferred(stripe_client, make_price):
    first, second = make_price(lookup_key="standard"), make_price(name="Next")
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.prices.update(second.id, params={"lookup_key": "standard"})
    assert refused.value.param == "lookup_key" and first.id in refused.value.user_message
    moved = stripe_client.v1.prices.update(second.id, params={
        "lookup_key": "standard", "transfer_lookup_key": True})
    assert moved.lookup_key == "standard"
    assert stripe_client.v1.prices.retrieve(first.id).lookup_key is None


@pytest.mark.parametrize(("params", "param"), [
    ({"unit_amount": 100, "currency": "usd"}, "product"),
    ({"product": "prod_missing", "unit_amount": 100, "currency": "usd"}, "product"),
    ({"product": "{product}", "currency": "usd"}, "unit_amount"),
    ({"product": "{product}", "unit_amount": -1, "currency": "usd"}, "unit_amount"),
    ({"product": "{product}", "unit_amount": 100, "currency": "xyz"}, "currency"),
    ({"product": "{product}", "unit_amount": 100, "currency": "usd",
      "recurring": {"interval": "fortnight"}}, "recurring[interval]"),
    ({"product": "{product}", "unit_amount": 100, "currency": "usd",
      "recurring": {"interval": "month", "interval_count": 13}}, "recurring[interval_count]"),
    ({"product": "{product}", "unit_amount": 100, "currency": "usd", "nickname": "n" * 251},
     "nickname"),
    ({"product_data": {"name": ""}, "unit_amount": 100, "currency": "usd"},
     "product_data[name]"),
    ({"product": "{product}", "unit_amount": 100, "currency": "usd", "tiers_mode": "graduated"},
     "tiers_mode"),
])
def test_bad_price_input_is_refused_naming_the_parameter(stripe_client, params, param):
    product = stripe_client.v1.products.create(params={"name": "Base"})
    params = {k: (v.format(product=product.id) if isinstance(v, str) else v)
              for k, v in params.items()}
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.prices.create(params=params)
    assert refused.value.param == param
    assert refused.value.http_status in (400, 404)


def test_prices_are_listed_by_product_active_currency_and_type(api, make_price, session):
    monthly = make_price(name="A")
    once = make_price(name="B", interval=None, currency="eur")
    archived = make_price(name="C")
    archived.active = False
    session.commit()
    ids = lambda params: [p["id"] for p in api.get("/v1/prices", params).json["data"]]  # noqa: E731
    assert set(ids({})) == {monthly.id, once.id, archived.id}
    assert ids({"product": monthly.product_id}) == [monthly.id]
    assert ids({"type": "one_time"}) == [once.id]
    assert set(ids({"type": "recurring"})) == {monthly.id, archived.id}
    assert ids({"currency": "EUR"}) == [once.id]
    assert set(ids({"active": "true"})) == {monthly.id, once.id}
    assert ids({"active": "false"}) == [archived.id]
    assert ids({"recurring[interval]": "year"}) == []
    assert api.get("/v1/prices", {"type": "sometimes"}).json["error"]["param"] == "type"


def test_prices_page_with_has_more(stripe_client):
    product = stripe_client.v1.products.create(params={"name": "Paged"})
    made = [stripe_client.v1.prices.create(params={
        "product": product.id, "unit_amount": n, "currency": "usd"}).id for n in range(3)]
    page = stripe_client.v1.prices.list(params={"limit": 2, "product": product.id})
    assert [p.id for p in page.data] == made[:0:-1] and page.has_more
    every = [p.id for p in stripe_client.v1.prices.list(params={"limit": 1})
             .auto_paging_iter()]
    assert every == made[::-1]
