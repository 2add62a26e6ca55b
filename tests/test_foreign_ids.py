"""Every customer route that takes an object id answers 404 for another customer's object,
exactly as for an id that does not exist, and changes nothing of theirs."""

import pytest
from sqlalchemy import select

from portal.customers.models import TaxId
from portal.invoices.models import Invoice
from portal.payments.models import Payment, PaymentMethod

# Arguments that are not a customer's object, and why they need no walk.
NOT_CUSTOMER_OBJECTS = {
    "link_id",  # the merchant's login link: public by design, tested in tests/login
    "kind",  # icon or logo of the merchant's branding
    "message_id",  # the development mailbox, absent in production
    "token",  # a portal session's one-time URL: a secret, not an id, tested in tests/sessions
}


@pytest.fixture
def stranger_objects(make_customer, make_invoice, make_payment_method, make_subscription,
                     session, now):
    """Another customer with one of everything a route can name."""
    stranger = make_customer(email="stranger@example.com", name="Stranger")
    card = make_payment_method(stranger)
    make_payment_method(stranger, number="5555555555554444", default=False)
    subscription = make_subscription(stranger, default_payment_method_id=card.id)
    invoice = make_invoice(stranger, status="open")
    paid = make_invoice(stranger, status="paid")
    tax_id = TaxId(customer_id=stranger.id, type="eu_vat", value="DE123456788", country="DE",
                   created=now)
    session.add(tax_id)
    session.commit()
    return {
        "invoice_id": [invoice.id, paid.id],
        "payment_method_id": [card.id],
        "tax_id_id": [tax_id.id],
        "subscription_id": [subscription.id],
    }


def customer_rules(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/p/") and rule.arguments:
            yield rule


def test_every_object_argument_of_a_customer_route_is_walked(app, stranger_objects):
    unknown = {arg for rule in customer_rules(app) for arg in rule.arguments
               if arg not in stranger_objects and arg not in NOT_CUSTOMER_OBJECTS}
    assert not unknown, f"add these to the foreign-id walk: {unknown}"


def test_another_customers_ids_answer_404_on_every_route(app, client, signed_in_customer,
                                                         make_payment_method, make_invoice,
                                                         stranger_objects):
    # The signed-in customer has objects of their own, so a route cannot 404 for lack of them.
    make_payment_method(signed_in_customer)
    make_invoice(signed_in_customer, status="open")
    walked = []
    for rule in customer_rules(app):
        if not set(rule.arguments) & set(stranger_objects):
            continue
        arg = next(a for a in rule.arguments if a in stranger_objects)
        for object_id in stranger_objects[arg] + [f"{stranger_objects[arg][0][:4]}doesnotexist"]:
            url = rule.rule.replace(f"<{arg}>", object_id)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                for htmx in (False, True):
                    headers = {"HX-Request": "true"} if htmx else {}
                    response = client.open(url, method=method, headers=headers,
                                           data={"payment_method": object_id,
                                                 "idempotency_key": "k" * 32})
                    walked.append((method, url, htmx, response.status_code))
    failures = [w for w in walked if w[3] != 404]
    assert walked and not failures, failures
    assert len({w[1] for w in walked}) >= 8


def test_the_walk_leaves_the_other_customers_objects_as_they_were(
        app, client, signed_in_customer, stranger_objects, session):
    for rule in customer_rules(app):
        if "POST" not in rule.methods or not set(rule.arguments) & set(stranger_objects):
            continue
        arg = next(a for a in rule.arguments if a in stranger_objects)
        client.post(rule.rule.replace(f"<{arg}>", stranger_objects[arg][0]),
                    data={"payment_method": stranger_objects["payment_method_id"][0]})
    session.expire_all()
    invoice = session.get(Invoice, stranger_objects["invoice_id"][0])
    assert invoice.status == "open" and invoice.amount_paid == 0
    assert session.scalars(select(Payment)).all() == []
    card = session.get(PaymentMethod, stranger_objects["payment_method_id"][0])
    assert card.customer_id is not None and card.detached_at is None
    assert session.get(TaxId, stranger_objects["tax_id_id"][0]) is not None
