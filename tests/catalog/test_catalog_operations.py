"""The catalog's operations (portal/catalog/operations.py), as the dashboard and the API call
them: the rules, one event per change naming who made it, archiving, and deleting only what
nothing uses."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.admin.operations import staff_actor
from portal.catalog import operations as ops
from portal.catalog.models import Price, Product
from portal.invoices.models import InvoiceItem
from portal.portal_settings.operations import default_configuration
from tests.catalog import fixtures
from tests.image_files import image_bytes

# The shared catalog fixtures, by name.
catalog_events, make_product = fixtures.catalog_events, fixtures.make_product


@pytest.fixture
def actor(staff):
    return staff_actor(staff)


def test_creating_a_product_records_who_did_it(session, now, actor, catalog_events):
    product = ops.create_product(session, name="  Team  ", description="For whole companies.",
                                 tax_code="txcd_10103001", statement_descriptor="ACME TEAM",
                                 unit_label="seat", now=now, actor=actor)
    session.commit()
    assert (product.name, product.unit_label, product.active) == ("Team", "seat", True)
    [event] = catalog_events()
    assert (event.type, event.actor, event.object_id) == ("product.created", actor, product.id)
    assert actor.startswith("staff:stf_")
    assert event.data["tax_code"] == "txcd_10103001" and event.created == now


def test_an_update_records_the_previous_values_and_nothing_when_nothing_changed(
        session, now, actor, catalog_events, make_product):
    product = make_product("Team", unit_label="seat")
    assert ops.update_product(session, product, name="Team", unit_label="seat", now=now,
                              actor=actor) == {}
    later = now + timedelta(minutes=5)
    previous = ops.update_product(session, product, name="Teams", unit_label="user",
                                  now=later, actor=actor)
    session.commit()
    assert previous == {"name": "Team", "unit_label": "seat"}
    [event] = catalog_events("product.updated")
    assert event.actor == actor
    assert event.data["previous_attributes"] == {"name": "Team", "unit_label": "seat"}
    assert product.updated == later


def test_update_product_changes_only_what_the_catalog_lets_change(session, now, actor,
                                                                  make_product):
    product = make_product()
    with pytest.raises(TypeError, match="active"):
        ops.update_product(session, product, active=False, now=now, actor=actor)


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"name": ""}, "name", "Enter the product's name"),
    ({"name": "x" * 251}, "name", "Name must be 250 characters or fewer"),
    ({"description": "x" * 1001}, "description", "Description must be 1,000 characters or fewer"),
    ({"statement_descriptor": "ACME"}, "statement_descriptor", "at least 5 characters"),
    ({"statement_descriptor": "A" * 23}, "statement_descriptor", "22 characters or fewer"),
    ({"statement_descriptor": "1234567"}, "statement_descriptor", "at least one letter"),
    ({"statement_descriptor": "ACME*TEAM"}, "statement_descriptor", "cannot contain *"),
    ({"statement_descriptor": "ÉCOLE PRO"}, "statement_descriptor", "Latin letters without"),
    ({"unit_label": "x" * 13}, "unit_label", "12 characters or fewer"),
    ({"tax_code": "txcd_12345678"}, "tax_code", "Choose a tax code from the list"),
])
def test_the_rules_hold_for_every_caller(session, now, actor, make_product, catalog_events,
                                          changes, field, message):
    product = make_product("Team")
    with pytest.raises(ops.CatalogRefused, match=message) as refused:
        ops.update_product(session, product, **changes, now=now, actor=actor)
    assert refused.value.field == field
    session.rollback()
    assert session.get(Product, product.id).name == "Team"
    assert catalog_events() == []


def test_a_product_keeps_a_tax_code_it_has_from_elsewhere(session, now, actor, make_product):
    product = make_product(tax_code="txcd_35010000")  # printed books: not on the list
    assert ops.update_product(session, product, tax_code="txcd_35010000", name="Books",
                              now=now, actor=actor) == {"name": "Team"}
    with pytest.raises(ops.CatalogRefused):
        ops.create_product(session, name="Other", tax_code="txcd_35010000", now=now, actor=actor)


def test_archiving_twice_is_one_change(session, now, actor, make_product, catalog_events):
    product = make_product()
    assert ops.archive_product(session, product, now=now, actor=actor) is True
    assert ops.archive_product(session, product, now=now, actor=actor) is False
    assert ops.unarchive_product(session, product, now=now + timedelta(minutes=1),
                                 actor=actor) is True
    session.commit()
    events = catalog_events("product.updated")
    assert [e.data["previous_attributes"] for e in events] == [{"active": True},
                                                               {"active": False}]
    assert all(e.actor == actor for e in events)


def test_an_image_is_stored_resized_with_its_size_in_its_name(session, now, actor, app,
                                                             make_product, catalog_events):
    product = make_product()
    change = ops.set_product_image(session, product, image_bytes("JPEG", (1280, 960)), now=now,
                                   actor=actor, instance_path=app.instance_path)
    session.commit()
    assert change.old is None and change.new == product.image
    assert product.image.startswith("product-640x480-") and product.image.endswith(".jpg")
    [event] = catalog_events("product.updated")
    assert event.data["previous_attributes"] == {"image": None}
    removed = ops.remove_product_image(session, product, now=now, actor=actor)
    assert removed.old == change.new and product.image is None


def test_a_refused_image_changes_nothing(session, now, actor, app, make_product):
    product = make_product()
    with pytest.raises(ops.CatalogRefused, match="JPEG, PNG or WEBP") as refused:
        ops.update_product(session, product, name="Renamed", image=image_bytes("GIF"),
                           now=now, actor=actor, instance_path=app.instance_path)
    assert refused.value.field == "image"
    assert product.name == "Team" and product.image is None


# ---- prices ----------------------------------------------------------------------------------

def test_a_price_is_created_with_an_event(session, now, actor, make_product, catalog_events):
    product = make_product(prices=())
    price = ops.create_price(session, product, unit_amount=1000, currency="USD",
                             recurring_interval="month", recurring_interval_count=3,
                             nickname="Quarterly", now=now, actor=actor)
    session.commit()
    assert (price.currency, price.recurring_interval_count, price.active) == ("usd", 3, True)
    [event] = catalog_events("price.created")
    assert event.actor == actor and event.data["unit_amount"] == 1000
    assert event.data["product"] == product.id


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"unit_amount": -1}, "unit_amount", "0 or more"),
    ({"unit_amount": 100_000_000}, "unit_amount", r"at most \$999,999.99"),
    ({"unit_amount": 9.99}, "unit_amount", "whole number"),
    ({"currency": "xyz"}, "currency", "Choose a currency"),
    ({"recurring_interval": "fortnight"}, "interval", "days, weeks, months or years"),
    ({"recurring_interval_count": 0}, "interval_count", "1 or more"),
    ({"recurring_interval_count": 13}, "interval_count", "at most 12 months"),
    ({"recurring_interval": "week", "recurring_interval_count": 53}, "interval_count",
     "at most 52 weeks"),
    ({"recurring_interval": "year", "recurring_interval_count": 2}, "interval_count",
     "at most 1 year"),
    ({"nickname": "n" * 251}, "nickname", "250 characters or fewer"),
])
def test_a_price_breaking_a_rule_is_refused(session, now, actor, make_product, fields, field,
                                            message):
    product = make_product(prices=())
    values = {"unit_amount": 1000, "currency": "usd", "recurring_interval": "month",
              "recurring_interval_count": 1, **fields}
    with pytest.raises(ops.CatalogRefused, match=message) as refused:
        ops.create_price(session, product, **values, now=now, actor=actor)
    assert refused.value.field == field


def test_a_one_time_price_ignores_the_interval_count(session, now, actor, make_product):
    price = ops.create_price(session, make_product(prices=()), unit_amount=5000, currency="eur",
                             recurring_interval=None, recurring_interval_count=99, now=now,
                             actor=actor)
    assert (price.recurring_interval, price.recurring_interval_count) == (None, 1)


def test_only_active_and_nickname_of_a_price_change(session, now, actor, make_product,
                                                    catalog_events):
    price = make_product().prices[0]
    with pytest.raises(TypeError):
        ops.update_price(session, price, unit_amount=1, now=now, actor=actor)
    previous = ops.update_price(session, price, nickname="Launch price", active=False, now=now,
                                actor=actor)
    session.commit()
    assert previous == {"active": True, "nickname": None}
    [event] = catalog_events("price.updated")
    assert event.actor == actor and event.data["previous_attributes"] == previous


def test_archived_prices_and_archived_products_are_not_offerable(session, now, actor,
                                                                 make_product):
    team = make_product("Team", prices=((1500, "usd", "month"), (15000, "usd", "year")))
    old = make_product("Legacy", prices=((900, "usd", "month"),))
    one_time = make_product("Setup", prices=((5000, "usd", None),))
    ops.archive_price(session, team.prices[1], now=now, actor=actor)
    ops.archive_product(session, old, now=now, actor=actor)
    session.commit()
    assert ops.offerable_prices(session) == [one_time.prices[0], team.prices[0]]
    assert ops.offerable_prices(session, recurring=True) == [team.prices[0]]
    assert ops.offerable_prices(session, currency="EUR") == []


# ---- deleting only what nothing uses -------------------------------------------------------------

def _use_in_subscription(session, price, customer, make_subscription, now):
    make_subscription(customer, price=price)


def _use_in_invoice(session, price, customer, make_invoice, now):
    invoice = make_invoice(customer)
    invoice.lines[0].price_id = price.id
    session.commit()


def _use_in_invoice_item(session, price, customer, now):
    session.add(InvoiceItem(customer_id=customer.id, description="Setup", price_id=price.id,
                            amount=price.unit_amount, currency=price.currency, created=now))
    session.commit()


def _use_in_scheduled_change(session, price, customer, make_subscription, make_price, now):
    subscription = make_subscription(customer, price=make_price("Other"))
    subscription.pending_update = {"price": price.id, "quantity": 2}
    session.commit()


def _use_in_portal_offer(session, price, now):
    configuration = default_configuration(session)
    configuration.subscription_update_products = [
        {"product": price.product_id, "prices": [price.id]}]
    session.commit()


def _use_as_retention_downgrade(session, price, now):
    default_configuration(session).retention_downgrade_price_id = price.id
    session.commit()


USES = {
    "a subscription": ("a subscription is on it", _use_in_subscription),
    "an invoice line": ("an invoice lists it", _use_in_invoice),
    "an invoice item": ("an invoice item waiting for the next invoice uses it",
                        _use_in_invoice_item),
    "a scheduled plan change": ("a subscription's scheduled plan change switches to it",
                                _use_in_scheduled_change),
    "the portal's plan list": ("the customer portal offers it", _use_in_portal_offer),
    "the portal's retention offer": ("the customer portal offers it",
                                     _use_as_retention_downgrade),
}


@pytest.fixture
def use_price(request, session, now, customer, make_subscription, make_invoice, make_price):
    def use(how, price):
        reason, helper = USES[how]
        available = {"session": session, "price": price, "customer": customer, "now": now,
                     "make_subscription": make_subscription, "make_invoice": make_invoice,
                     "make_price": make_price}
        names = helper.__code__.co_varnames[:helper.__code__.co_argcount]
        helper(**{name: available[name] for name in names})
        return reason

    return use


@pytest.mark.parametrize("how", list(USES))
def test_a_price_in_use_cannot_be_deleted_but_can_be_archived(session, now, actor, make_product,
                                                              use_price, catalog_events, how):
    price = make_product().prices[0]
    reason = use_price(how, price)
    assert ops.price_usage(session, [price.id]) == {price.id: reason}
    with pytest.raises(ops.CatalogRefused, match="cannot be deleted because") as refused:
        ops.delete_price(session, price, now=now, actor=actor)
    assert reason in refused.value.message and "Archive it instead" in refused.value.message
    session.rollback()
    assert session.get(Price, price.id) is not None
    assert ops.archive_price(session, session.get(Price, price.id), now=now, actor=actor)
    assert [e.type for e in catalog_events()] == ["price.updated"]


@pytest.mark.parametrize("how", list(USES))
def test_a_product_with_a_price_in_use_cannot_be_deleted(session, now, actor, make_product,
                                                         use_price, how):
    product = make_product(prices=((1500, "usd", "month"), (15000, "usd", "year")))
    reason = use_price(how, product.prices[1])
    with pytest.raises(ops.CatalogRefused, match=r"its price \$150.00 per year is in use") as refused:
        ops.delete_product(session, product, now=now, actor=actor)
    assert reason in refused.value.message
    session.rollback()
    assert len(session.get(Product, product.id).prices) == 2


def test_a_product_the_portal_lists_cannot_be_deleted(session, now, actor, make_product):
    product = make_product(prices=())
    default_configuration(session).subscription_update_products = [
        {"product": product.id, "prices": []}]
    session.commit()
    with pytest.raises(ops.CatalogRefused, match="the customer portal offers it"):
        ops.delete_product(session, product, now=now, actor=actor)


def test_an_unused_product_is_deleted_with_its_prices(session, now, actor, make_product,
                                                      catalog_events):
    product = make_product(prices=((1500, "usd", "month"), (15000, "usd", "year")))
    product_id, price_ids = product.id, [p.id for p in product.prices]
    ops.delete_product(session, product, now=now, actor=actor)
    session.commit()
    assert session.get(Product, product_id) is None
    assert session.scalars(select(Price).where(Price.id.in_(price_ids))).all() == []
    events = catalog_events()
    assert sorted((e.type, e.object_id) for e in events) == sorted(
        [("price.deleted", price_id) for price_id in price_ids] + [("product.deleted", product_id)])
    assert {e.actor for e in events} == {actor}


def test_an_unused_price_is_deleted(session, now, actor, make_product, catalog_events):
    product = make_product(prices=((1500, "usd", "month"), (15000, "usd", "year")))
    yearly = product.prices[1]
    ops.delete_price(session, yearly, now=now, actor=actor)
    session.commit()
    session.expire_all()
    assert [p.unit_amount for p in session.get(Product, product.id).prices] == [1500]
    [event] = catalog_events("price.deleted")
    assert event.actor == actor and event.data == {"product": product.id}


def test_a_use_that_appears_after_the_check_still_stops_the_delete(
        session, now, actor, make_product, customer, make_subscription, monkeypatch):
    # Another request gives a subscription the price between the check and the delete: the
    # foreign key refuses, and the answer is the rule's, not an error.
    price = make_product().prices[0]
    make_subscription(customer, price=price)
    monkeypatch.setattr(ops, "price_usage", lambda session, ids: {})
    with pytest.raises(ops.CatalogRefused, match="in use. Archive it instead"):
        ops.delete_price(session, price, now=now, actor=actor)
    session.rollback()
    assert session.get(Price, price.id) is not None
