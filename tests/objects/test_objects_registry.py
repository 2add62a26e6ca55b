from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.catalog.models import Coupon, Price, Product, TaxRate
from portal.customers.models import Customer
from portal.invoices.models import Invoice, InvoiceLine
from portal.objects import object_names, schemas, serialize, serialize_by_id, serialize_many
from portal.payments.models import PaymentMethod
from portal.portal_settings.models import PortalConfiguration
from portal.subscriptions.models import Subscription, SubscriptionItem
from tests.objects.conftest import assert_matches_schema, counting_queries

STRIPE_NAMES = ["billing_portal.configuration", "coupon", "customer", "invoice", "line_item",
                "payment_method", "price", "product", "subscription", "subscription_item"]


def test_every_object_the_api_serves_is_registered_and_has_a_schema():
    assert set(STRIPE_NAMES) <= set(object_names())
    assert set(object_names()) <= set(schemas.SCHEMAS)


@pytest.mark.parametrize("object_type", STRIPE_NAMES)
def test_an_unknown_id_serializes_to_none(session, object_type):
    assert serialize_by_id(session, object_type, "xx_missing") is None


def test_an_unknown_object_type_serializes_to_none(session, make_customer):
    customer = make_customer()

    assert serialize_by_id(session, "charge", customer.id) is None


def test_a_model_without_a_serializer_is_refused(session):
    with pytest.raises(LookupError):
        serialize(session, TaxRate(display_name="VAT", percentage=Decimal(20)))


def test_serialize_many_keeps_the_order_it_was_given(session, make_customer):
    customers = [make_customer(email=f"c{n}@example.com") for n in range(3)]

    data = serialize_many(session, [customers[2], customers[0], customers[1]])

    assert [d["id"] for d in data] == [customers[2].id, customers[0].id, customers[1].id]


def test_every_schema_is_valid_openapi_3_1_json_schema():
    import jsonschema_rs

    for name in schemas.SCHEMAS:
        jsonschema_rs.validator_for(schemas.standalone(name))  # raises on a broken schema


def make_world(n, *, make_customer, make_price, make_subscription, make_invoice,
               make_payment_method, session, now):
    """``n`` customers, each with a card, a discounted subscription and two taxed invoices."""
    rate = TaxRate(display_name="VAT", percentage=Decimal(20), created=now, metadata_={})
    session.add(rate)
    for i in range(n):
        customer = make_customer(email=f"n{i}-{n}@example.com")
        make_payment_method(customer, number="4242424242424242" if i % 2 else "4000056655665556")
        coupon = Coupon(name=f"C{i}", percent_off=Decimal(10), duration="forever", created=now,
                        metadata_={})
        session.add(coupon)
        session.flush()
        sub = make_subscription(customer, price=make_price(name=f"P{i}-{n}"),
                                discount_coupon_id=coupon.id, discount_start=now)
        for days in (1, 2):
            invoice = make_invoice(customer, subscription=sub, created=now - timedelta(days=days),
                                   tax=100, discount=50)
            invoice.lines[0].tax_rate_id = rate.id
            invoice.lines[0].price_id = sub.items[0].price_id
            invoice.lines[0].subscription_item_id = sub.items[0].id
        session.add(PortalConfiguration(is_default=False, created=now, updated=now,
                                        metadata_={}))
    session.commit()


STATEMENTS: list[str] = []
LISTED = [Customer, PaymentMethod, Product, Price, Coupon, Subscription, SubscriptionItem,
          Invoice, InvoiceLine, PortalConfiguration]


def queries_to_serialize(session, model, name):
    session.expire_all()
    session.expunge_all()  # nothing loaded: as an API list endpoint starts
    rows = session.scalars(select(model).order_by(model.id)).all()
    with counting_queries() as counter:
        data = serialize_many(session, rows)
    STATEMENTS[:] = counter.statements
    for item in data:
        assert_matches_schema(name, item)
    return counter.count, len(data)


@pytest.mark.parametrize("model", LISTED, ids=lambda m: m.__name__)
def test_a_list_costs_the_same_queries_for_one_row_as_for_many(
        model, session, make_customer, make_price, make_subscription, make_invoice,
        make_payment_method, now):
    from portal.objects.registry import entry_for_model

    name = entry_for_model(model).object_name
    makers = dict(make_customer=make_customer, make_price=make_price,
                  make_subscription=make_subscription, make_invoice=make_invoice,
                  make_payment_method=make_payment_method, session=session, now=now)
    make_world(1, **makers)
    one, rows_one = queries_to_serialize(session, model, name)
    make_world(6, **makers)
    many, rows_many = queries_to_serialize(session, model, name)

    assert rows_many > rows_one
    assert many == one, f"{name}: {one} queries for {rows_one} rows, {many} for {rows_many}"
    assert one <= 8, "\n".join(" ".join(s.split())[:150] for s in STATEMENTS)


def test_a_subscription_list_loads_items_prices_coupons_and_latest_invoices_once(
        session, make_customer, make_price, make_subscription, make_invoice,
        make_payment_method, now):
    make_world(4, make_customer=make_customer, make_price=make_price,
               make_subscription=make_subscription, make_invoice=make_invoice,
               make_payment_method=make_payment_method, session=session, now=now)

    count, rows = queries_to_serialize(session, Subscription, "subscription")

    assert rows == 4
    # the page again with its items, their prices, coupons, redemptions, latest invoices
    assert count == 6, "\n".join(STATEMENTS)


def test_objects_serialize_with_an_app_context_and_no_request(session, make_customer,
                                                              make_subscription, make_invoice):
    from flask import has_app_context, has_request_context

    customer = make_customer()
    invoice = make_invoice(customer, subscription=make_subscription(customer))
    session.commit()  # everything expired, as the worker finds rows after a commit

    assert has_app_context() and not has_request_context()
    data = serialize(session, invoice.lines[0])
    assert data["invoice"] == invoice.id
    assert serialize(session, invoice)["hosted_invoice_url"].startswith("https://billing.")


def test_an_expired_line_is_serialized_without_a_query_per_row(session, make_customer,
                                                               make_invoice):
    customer = make_customer()
    invoices = [make_invoice(customer) for _ in range(3)]
    lines = [invoice.lines[0] for invoice in invoices]
    session.commit()

    with counting_queries() as counter:
        data = serialize_many(session, lines)

    assert [d["invoice"] for d in data] == [i.id for i in invoices]
    assert counter.count <= 4, "\n".join(counter.statements)


@pytest.mark.parametrize("count", [1, 5])
def test_customers_expired_by_a_commit_are_refreshed_in_one_query(session, make_customer,
                                                                  count):
    customers = [make_customer(email=f"e{n}@example.com") for n in range(count)]
    session.commit()

    with counting_queries() as counter:
        serialize_many(session, customers)

    assert counter.count == 2, "\n".join(counter.statements)  # the rows, then delinquency
