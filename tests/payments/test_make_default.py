"""Choosing the default card: for the customer and for the subscriptions charged automatically."""

from __future__ import annotations

import pytest

from portal.payments.operations import PaymentMethodRefused, set_default_payment_method


@pytest.fixture
def two_cards(signed_in_customer, make_payment_method):
    visa = make_payment_method(signed_in_customer)
    mastercard = make_payment_method(signed_in_customer, number="5555555555554444", default=False)
    return visa, mastercard


def test_making_a_card_default_moves_the_badge(client_request, signed_in_customer, two_cards,
                                               session):
    visa, mastercard = two_cards
    response = client_request.post_response("payments.make_default_payment_method",
                                            payment_method_id=mastercard.id)
    assert response.headers["Location"] == client_request.url("payments.payment_methods")
    session.refresh(signed_in_customer)
    assert signed_in_customer.default_payment_method_id == mastercard.id
    page = client_request.get("payments.payment_methods")
    assert page.select_one(".notice").text == "Mastercard ending in 4444 is now your default payment method."
    first = page.select_one("li.payment-method")
    assert first.strong.text == "Mastercard ending in 4444" and first.select_one(".badge").text == "Default"


def test_with_htmx_the_fresh_list_comes_back_with_the_news(client_request, signed_in_customer,
                                                           two_cards, session):
    visa, mastercard = two_cards
    page = client_request.post("payments.make_default_payment_method", _htmx=True,
                               _expected_status=200, payment_method_id=mastercard.id)
    assert page.select_one("div")["id"] == "payment-methods" and not page.select("html")
    notice = page.select_one(".notice--success")
    assert notice.text == "Mastercard ending in 4444 is now your default payment method."
    assert notice.has_attr("autofocus")  # focus lands on the news, not lost with the button
    session.refresh(signed_in_customer)
    assert signed_in_customer.default_payment_method_id == mastercard.id


def test_the_live_automatic_subscriptions_follow_the_new_default(
        client_request, signed_in_customer, two_cards, make_subscription, session, events):
    visa, mastercard = two_cards
    charged = {status: make_subscription(signed_in_customer, status=status,
                                         default_payment_method_id=visa.id)
               for status in ("active", "trialing", "past_due")}
    by_invoice = make_subscription(signed_in_customer, collection_method="send_invoice",
                                   days_until_due=30)
    ended = make_subscription(signed_in_customer, status="canceled",
                              default_payment_method_id=visa.id)
    client_request.post_response("payments.make_default_payment_method",
                                 payment_method_id=mastercard.id)
    for subscription in [*charged.values(), by_invoice, ended]:
        session.refresh(subscription)
    assert {s.default_payment_method_id for s in charged.values()} == {mastercard.id}
    assert by_invoice.default_payment_method_id is None
    assert ended.default_payment_method_id == visa.id
    assert sorted(e.object_id for e in events("customer.subscription.updated")) == sorted(
        s.id for s in charged.values())
    [updated] = events("customer.updated")
    assert updated.data == {
        "invoice_settings": {"default_payment_method": mastercard.id},
        "previous_attributes": {"invoice_settings": {"default_payment_method": visa.id}}}
    assert updated.actor == f"customer:{signed_in_customer.id}"


def test_making_the_default_default_again_changes_nothing(client_request, signed_in_customer,
                                                          two_cards, events):
    visa, _ = two_cards
    page = client_request.post("payments.make_default_payment_method", _htmx=True,
                               _expected_status=200, payment_method_id=visa.id)
    assert page.select_one(".notice").text == "Visa ending in 4242 is already your default payment method."
    assert events("customer.updated") == []


@pytest.mark.parametrize("htmx", [False, True])
def test_an_expired_card_cannot_become_the_default(client_request, signed_in_customer,
                                                   two_cards, set_expiry, session, htmx):
    visa, mastercard = two_cards
    set_expiry(mastercard, -1)
    page = client_request.post("payments.make_default_payment_method", _htmx=htmx,
                               _expected_status=409, payment_method_id=mastercard.id)
    assert page.select_one("#payment-methods .notice--warning").text == (
        "Mastercard ending in 4444 has expired, so it cannot be your default. "
        "Add a new card, or choose one that has not expired.")
    session.refresh(signed_in_customer)
    assert signed_in_customer.default_payment_method_id == visa.id


def test_the_operation_refuses_a_card_of_someone_else(session, signed_in_customer, other_customer,
                                                      now):
    foreign = other_customer.default_payment_method
    with pytest.raises(ValueError):
        set_default_payment_method(session, signed_in_customer, foreign, now=now, actor="system")


def test_the_operation_says_why_an_expired_card_is_refused(session, signed_in_customer,
                                                           make_payment_method, set_expiry, now):
    card = set_expiry(make_payment_method(signed_in_customer, default=False), -3)
    with pytest.raises(PaymentMethodRefused, match="has expired"):
        set_default_payment_method(session, signed_in_customer, card, now=now, actor="system")
