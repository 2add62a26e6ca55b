"""Every payment-method route with someone else's card, a removed card or a made-up id: 404."""

from __future__ import annotations

import pytest
from flask import url_for

from portal.payments.models import PaymentMethod


def routes_with_an_id(app, payment_method_id):
    """Each (method, url) of the feature that names a card, found from the URL map so that a
    route added later is walked too."""
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if rule.endpoint.startswith("payments.") and "payment_method_id" in rule.arguments:
                for method in sorted(rule.methods & {"GET", "POST"}):
                    yield method, url_for(rule.endpoint, payment_method_id=payment_method_id)


def test_the_walk_covers_every_route_that_names_a_card(app):
    assert sorted(m for m, _ in routes_with_an_id(app, "pm_x")) == ["GET", "POST", "POST"]


@pytest.fixture
def removed_card(signed_in_customer, make_payment_method, session, now):
    card = make_payment_method(signed_in_customer, number="5555555555554444", default=False)
    card.customer_id, card.detached_at = None, now
    session.commit()
    return card


@pytest.mark.parametrize("whose", ["another customer's", "a removed", "a made-up"])
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_a_card_that_is_not_yours_is_not_found_anywhere(app, client, session, signed_in_customer,
                                                        make_payment_method, other_customer,
                                                        removed_card, whose, htmx):
    mine = make_payment_method(signed_in_customer)
    target = {"another customer's": other_customer.default_payment_method_id,
              "a removed": removed_card.id,
              "a made-up": "pm_doesNotExist000000000000"}[whose]
    headers = {"HX-Request": "true", "HX-Request-Type": "partial"} if htmx else {}
    for method, url in routes_with_an_id(app, target):
        response = client.open(url, method=method, headers=headers)
        assert response.status_code == 404, (method, url)
        assert "Page not found" in response.get_data(as_text=True)
    # Nothing changed for anyone.
    session.expire_all()
    foreign = session.get(PaymentMethod, other_customer.default_payment_method_id)
    assert foreign.customer_id == other_customer.id and foreign.detached_at is None
    assert other_customer.default_payment_method_id == foreign.id
    assert signed_in_customer.default_payment_method_id == mine.id
    assert session.get(PaymentMethod, removed_card.id).customer_id is None


def test_another_customers_cards_are_not_listed(client_request, signed_in_customer,
                                                other_customer):
    page = client_request.get("payments.payment_methods")
    assert "You have no saved cards." in page.text
    assert other_customer.default_payment_method_id not in page.decode()
