import stripe

from portal.objects import serialize, serialize_by_id
from tests.objects.conftest import assert_matches_schema


def test_a_card_reads_back_through_stripe_with_brand_last4_and_expiry(session, make_customer,
                                                                      make_payment_method, now):
    customer = make_customer()
    method = make_payment_method(customer, number="5555555555554444", exp_month=4,
                                 exp_year=now.year + 2)
    method.billing_name = "J Rosen"
    method.metadata_ = {"source": "portal"}
    session.commit()

    data = serialize(session, method)
    pm = stripe.PaymentMethod.construct_from(data, "sk_test")

    assert_matches_schema("payment_method", data)
    assert pm.id == method.id
    assert pm.type == "card"
    assert pm.customer == customer.id
    assert pm.card.brand == "mastercard"
    assert pm.card.display_brand == "mastercard"
    assert pm.card.last4 == "4444"
    assert pm.card.exp_month == 4
    assert pm.card.exp_year == now.year + 2
    assert pm.card.fingerprint == method.fingerprint
    assert pm.card.funding in ("credit", "debit", "prepaid", "unknown")
    assert pm.billing_details.name == "J Rosen"
    assert pm.billing_details.address.city is None
    assert pm.metadata.to_dict() == {"source": "portal"}
    assert pm.created == int(now.timestamp())


def test_an_american_express_card_has_stripes_display_brand(session, make_customer,
                                                            make_payment_method):
    method = make_payment_method(make_customer(), number="378282246310005")

    data = serialize(session, method)

    assert data["card"]["brand"] == "amex"
    assert data["card"]["display_brand"] == "american_express"
    assert data["card"]["last4"] == "0005"


def test_a_detached_card_has_no_customer(session, make_customer, make_payment_method, now):
    customer = make_customer()
    method = make_payment_method(customer, default=False)
    method.customer_id = None
    method.detached_at = now
    session.commit()

    data = serialize_by_id(session, "payment_method", method.id)

    assert data["customer"] is None
    assert data["billing_details"]["name"] is None
    assert_matches_schema("payment_method", data)
