from datetime import timedelta

import stripe

from portal.customers.models import Customer
from portal.objects import serialize, serialize_by_id
from tests.objects.conftest import assert_matches_schema


def rich_customer(make_customer, make_payment_method):
    customer = make_customer(
        email="Jenny.Rosen@Example.com", name="Jenny Rosen", phone="+44 20 7946 0000",
        description="Founder", address_line1="1 High Street", address_line2="Flat 2",
        address_city="London", address_state=None, address_postal_code="N1 9GU",
        address_country="GB", shipping_name="Jenny at work", shipping_phone="+44 20 7946 0001",
        shipping_line1="2 Low Road", shipping_city="Leeds", shipping_postal_code="LS1 4AP",
        shipping_country="GB", preferred_locales=["fr", "en"], currency="gbp",
        invoice_prefix="JEN", balance=-500, metadata_={"crm_id": "42", "tier": 3},
    )
    make_payment_method(customer)
    return customer


def test_a_customer_with_everything_set_reads_back_through_stripe(session, make_customer,
                                                                  make_payment_method, now):
    customer = rich_customer(make_customer, make_payment_method)

    data = serialize(session, customer)
    stripe_customer = stripe.Customer.construct_from(data, "sk_test")

    assert_matches_schema("customer", data)
    assert stripe_customer.id == customer.id
    assert stripe_customer.object == "customer"
    assert stripe_customer.email == "Jenny.Rosen@Example.com"
    assert stripe_customer.name == "Jenny Rosen"
    assert stripe_customer.phone == "+44 20 7946 0000"
    assert stripe_customer.description == "Founder"
    assert stripe_customer.address.line1 == "1 High Street"
    assert stripe_customer.address.line2 == "Flat 2"
    assert stripe_customer.address.city == "London"
    assert stripe_customer.address.state is None
    assert stripe_customer.address.postal_code == "N1 9GU"
    assert stripe_customer.address.country == "GB"
    assert stripe_customer.shipping.name == "Jenny at work"
    assert stripe_customer.shipping.phone == "+44 20 7946 0001"
    assert stripe_customer.shipping.address.city == "Leeds"
    assert stripe_customer.preferred_locales == ["fr", "en"]
    assert stripe_customer.currency == "gbp"
    assert stripe_customer.balance == -500
    assert stripe_customer.invoice_prefix == "JEN"
    assert (stripe_customer.invoice_settings.default_payment_method
            == customer.default_payment_method_id)
    assert stripe_customer.tax_exempt == "none"
    assert stripe_customer.created == int(now.timestamp())
    assert stripe_customer.metadata.to_dict() == {"crm_id": "42", "tier": "3"}
    assert stripe_customer.livemode is True
    assert stripe_customer.delinquent is False


def test_a_customer_with_only_an_email_gets_stripes_empty_defaults(session, make_customer):
    customer = make_customer(email="bare@example.com", name=None)

    data = serialize(session, customer)

    assert_matches_schema("customer", data)
    assert data["address"] is None
    assert data["shipping"] is None
    assert data["name"] is None
    assert data["phone"] is None
    assert data["currency"] is None
    assert data["balance"] == 0
    assert data["metadata"] == {}
    assert data["preferred_locales"] == []
    assert data["invoice_settings"]["default_payment_method"] is None
    assert data["discount"] is None


def test_a_deleted_customer_is_written_as_stripes_deleted_stub(session, make_customer):
    customer = make_customer()
    customer.deleted = True
    session.commit()

    data = serialize_by_id(session, "customer", customer.id)

    assert data == {"id": customer.id, "object": "customer", "deleted": True}
    assert_matches_schema("customer", data)
    assert stripe.Customer.construct_from(data, "sk_test").deleted is True


def test_a_customer_with_an_overdue_invoice_is_delinquent(session, make_customer, make_invoice,
                                                          now):
    late = make_customer(email="late@example.com")
    on_time = make_customer(email="on-time@example.com")
    make_invoice(late, status="open", due_date=now - timedelta(days=1))
    make_invoice(on_time, status="open", due_date=now + timedelta(days=5))

    assert serialize(session, late)["delinquent"] is True
    assert serialize(session, on_time)["delinquent"] is False


def test_livemode_follows_the_api_livemode_setting(app, session, make_customer):
    customer = make_customer()
    app.config["API_LIVEMODE"] = False

    assert serialize(session, customer)["livemode"] is False


def test_a_customer_not_yet_flushed_is_flushed_first(session):
    customer = Customer(name="New", preferred_locales=[], metadata_={})
    customer.set_email("new@example.com")
    session.add(customer)

    data = serialize(session, customer)

    assert data["id"].startswith("cus_")
    assert isinstance(data["created"], int)
