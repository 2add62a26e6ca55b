from decimal import Decimal

import stripe

from portal.catalog.models import Coupon, Product
from portal.objects import serialize, serialize_by_id
from tests.objects.conftest import assert_matches_schema


def ts(moment):
    return int(moment.timestamp())


def test_a_product_with_everything_set_reads_back_through_stripe(session, now):
    product = Product(name="Pro", description="For teams", image="product-640x480-0123456789abcdef.png",
                      tax_code="txcd_10103001", statement_descriptor="ACME PRO",
                      unit_label="seat", active=True, created=now, updated=now,
                      metadata_={"family": "saas"})
    session.add(product)
    session.commit()

    data = serialize(session, product)
    prod = stripe.Product.construct_from(data, "sk_test")

    assert_matches_schema("product", data)
    assert prod.id == product.id
    assert prod.name == "Pro"
    assert prod.description == "For teams"
    assert prod.active is True
    assert prod.images == [
        "https://billing.example.com/product-images/product-640x480-0123456789abcdef.png"]
    assert prod.tax_code == "txcd_10103001"
    assert prod.statement_descriptor == "ACME PRO"
    assert prod.unit_label == "seat"
    assert prod.updated == ts(now)
    assert prod.metadata.to_dict() == {"family": "saas"}


def test_a_bare_product_has_no_images_and_was_updated_when_created(session, now):
    product = Product(name="Basic", active=False, created=now, metadata_={})
    session.add(product)
    session.commit()

    data = serialize_by_id(session, "product", product.id)

    assert_matches_schema("product", data)
    assert data["images"] == []
    assert data["description"] is None
    assert data["active"] is False
    assert data["updated"] == ts(now)


def test_a_product_image_given_as_a_url_is_passed_on(session, now):
    product = Product(name="Linked", image="https://cdn.example.com/p.png", created=now,
                      metadata_={})
    session.add(product)
    session.commit()

    assert serialize(session, product)["images"] == ["https://cdn.example.com/p.png"]


def test_a_recurring_price_reads_back_through_stripe(session, make_price):
    price = make_price(unit_amount=2900, currency="usd", interval="month", interval_count=3,
                       nickname="Quarterly", lookup_key="pro_quarterly",
                       tax_behavior="exclusive")

    data = serialize(session, price)
    p = stripe.Price.construct_from(data, "sk_test")

    assert_matches_schema("price", data)
    assert p.id == price.id
    assert p.type == "recurring"
    assert p.unit_amount == 2900
    assert p.unit_amount_decimal == Decimal("2900")
    assert p.currency == "usd"
    assert p.recurring.interval == "month"
    assert p.recurring.interval_count == 3
    assert p.recurring.usage_type == "licensed"
    assert p.nickname == "Quarterly"
    assert p.lookup_key == "pro_quarterly"
    assert p.tax_behavior == "exclusive"
    assert p.product == price.product_id
    assert p.active is True


def test_a_one_time_price_has_no_recurring(session, make_price):
    price = make_price(interval=None, unit_amount=0)

    data = serialize_by_id(session, "price", price.id)

    assert_matches_schema("price", data)
    assert data["type"] == "one_time"
    assert data["recurring"] is None
    assert data["unit_amount"] == 0
    assert data["lookup_key"] is None
    assert data["tax_behavior"] == "unspecified"


def test_an_amount_off_coupon_reads_back_through_stripe(session, now):
    coupon = Coupon(name="£5 off", amount_off=500, currency="gbp", duration="once",
                    created=now, metadata_={}, active=False)
    session.add(coupon)
    session.commit()

    data = serialize(session, coupon)
    c = stripe.Coupon.construct_from(data, "sk_test")

    assert_matches_schema("coupon", data)
    assert c.amount_off == 500
    assert c.percent_off is None
    assert c.currency == "gbp"
    assert c.duration == "once"
    assert c.valid is False
    assert c.times_redeemed == 0


def test_price_lists_the_same_object_as_nested_in_an_item(session, make_customer,
                                                          make_subscription):
    sub = make_subscription(make_customer())
    price = sub.items[0].price

    nested = serialize(session, sub)["items"]["data"][0]["price"]

    assert nested == serialize(session, price)
