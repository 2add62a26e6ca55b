"""Removing a card: asking first, the default moving on, and the last-card rule."""

from __future__ import annotations

from datetime import timedelta

import pytest
from bs4 import BeautifulSoup

from portal.payments.gateway import get_gateway
from portal.payments.operations import (
    PaymentMethodRefused,
    can_remove,
    detach_payment_method,
)

LAST_CARD = "Add another card before removing this one: your Pro subscription is paid with it"


@pytest.fixture
def cards(signed_in_customer, make_payment_method, now):
    """An older default Visa, a newer Mastercard, and the newest, an Amex."""
    visa = make_payment_method(signed_in_customer, created=now - timedelta(days=90))
    mastercard = make_payment_method(signed_in_customer, number="5555555555554444",
                                     default=False, created=now - timedelta(days=60))
    amex = make_payment_method(signed_in_customer, number="378282246310005", default=False,
                               created=now - timedelta(days=30))
    return visa, mastercard, amex


def soup(response):
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


# ---- asking first ---------------------------------------------------------------------------

def test_without_javascript_remove_opens_a_page_that_asks_first(client_request,
                                                                 signed_in_customer, cards):
    _, mastercard, _ = cards
    page = client_request.get("payments.confirm_remove_payment_method",
                              payment_method_id=mastercard.id)
    assert page.h1.text == "Remove Mastercard ending in 4444?"
    assert "Are you sure you want to remove Mastercard ending in 4444" in page.text
    assert page.title.text.startswith("Remove Mastercard ending in 4444")
    form = page.select_one("main form")
    assert form["method"] == "post" and not form.has_attr("hx-post")
    assert form["action"] == client_request.url("payments.remove_payment_method",
                                                payment_method_id=mastercard.id)
    assert form.button.text == "Yes, remove Mastercard ending in 4444"
    assert form.a.text == "No, keep it"
    assert form.a["href"] == client_request.url("payments.payment_methods")
    assert mastercard.customer_id == signed_in_customer.id  # asking changed nothing


def test_with_htmx_the_same_question_takes_the_cards_place(client_request, signed_in_customer,
                                                           cards):
    _, mastercard, _ = cards
    response = client_request.get_response("payments.confirm_remove_payment_method",
                                           payment_method_id=mastercard.id, _htmx=True)
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith(f'<li id="pm-{mastercard.id}"') and "<html" not in html
    page = soup(response)
    assert page.h2.text == "Remove Mastercard ending in 4444?" and page.h2.has_attr("autofocus")
    form = page.form
    assert form["hx-post"] == form["action"] and form["hx-target"] == "#payment-methods"
    assert form.a["hx-get"] == client_request.url("payments.payment_methods")


def test_asking_to_remove_the_default_says_which_card_takes_over(client_request,
                                                                  signed_in_customer, cards):
    visa, _, _ = cards
    page = client_request.get("payments.confirm_remove_payment_method",
                              payment_method_id=visa.id)
    assert "American Express ending in 0005 will become your default payment method." in page.text


# ---- removing -------------------------------------------------------------------------------

def test_removing_a_card_keeps_its_row_for_history(client_request, signed_in_customer, cards,
                                                   session, events):
    _, mastercard, _ = cards
    response = client_request.post_response("payments.remove_payment_method",
                                            payment_method_id=mastercard.id)
    assert response.headers["Location"] == client_request.url("payments.payment_methods")
    session.refresh(mastercard)
    assert mastercard.customer_id is None and mastercard.detached_at is not None
    assert mastercard.processor_token  # history still names the card
    page = client_request.get("payments.payment_methods")
    assert page.select_one(".notice").text == "Mastercard ending in 4444 has been removed."
    assert "Mastercard" not in page.select_one("ul.payment-methods").text
    [detached] = events("payment_method.detached")
    assert detached.object_id == mastercard.id and detached.data["last4"] == "4444"
    assert events("customer.updated") == []


def test_a_removed_card_can_no_longer_be_charged(client_request, signed_in_customer, cards,
                                                 app):
    _, mastercard, _ = cards
    client_request.post_response("payments.remove_payment_method",
                                 payment_method_id=mastercard.id)
    result = get_gateway().charge(mastercard.processor_token, amount=100, currency="usd",
                                  idempotency_key=f"after-removal-{mastercard.id}")
    assert not result.succeeded


def test_with_htmx_removing_returns_the_fresh_list(client_request, signed_in_customer, cards,
                                                   session):
    _, mastercard, _ = cards
    response = client_request.post_response("payments.remove_payment_method", _htmx=True,
                                            _expected_status=200,
                                            payment_method_id=mastercard.id)
    page = soup(response)
    assert page.select_one("div")["id"] == "payment-methods"
    assert page.select_one(".notice--success").text == "Mastercard ending in 4444 has been removed."
    assert [s.text for s in page.select("li strong")] == [
        "Visa ending in 4242", "American Express ending in 0005"]


def test_removing_the_default_makes_the_newest_remaining_card_default(
        client_request, signed_in_customer, cards, session, events):
    visa, mastercard, amex = cards
    client_request.post_response("payments.remove_payment_method", payment_method_id=visa.id)
    session.refresh(signed_in_customer)
    assert signed_in_customer.default_payment_method_id == amex.id
    page = client_request.get("payments.payment_methods")
    assert page.select_one(".notice").text == (
        "Visa ending in 4242 has been removed. "
        "American Express ending in 0005 is now your default payment method.")
    [updated] = events("customer.updated")
    assert updated.data["invoice_settings"]["default_payment_method"] == amex.id


def test_the_newest_card_that_still_works_takes_over(client_request, signed_in_customer, cards,
                                                     set_expiry, session):
    visa, mastercard, amex = cards
    set_expiry(amex, -2)
    client_request.post_response("payments.remove_payment_method", payment_method_id=visa.id)
    session.refresh(signed_in_customer)
    assert signed_in_customer.default_payment_method_id == mastercard.id


def test_subscriptions_paid_with_a_removed_card_move_to_the_new_default(
        client_request, signed_in_customer, cards, make_subscription, session):
    visa, _, amex = cards
    automatic = make_subscription(signed_in_customer, default_payment_method_id=visa.id)
    client_request.post_response("payments.remove_payment_method", payment_method_id=visa.id)
    session.refresh(automatic)
    assert automatic.default_payment_method_id == amex.id


def test_removing_the_only_card_without_a_subscription_leaves_no_default(
        client_request, signed_in_customer, make_payment_method, session):
    card = make_payment_method(signed_in_customer)
    client_request.post_response("payments.remove_payment_method", payment_method_id=card.id)
    session.refresh(signed_in_customer)
    assert signed_in_customer.default_payment_method_id is None
    assert "You have no saved cards." in client_request.get("payments.payment_methods").text


# ---- the last-card rule ---------------------------------------------------------------------

@pytest.fixture
def only_card(signed_in_customer, make_payment_method):
    return make_payment_method(signed_in_customer)


def test_the_last_card_paying_a_subscription_cannot_be_removed_and_the_page_says_so(
        client_request, signed_in_customer, only_card, make_subscription):
    make_subscription(signed_in_customer)
    page = client_request.get("payments.payment_methods")
    row = page.select_one(f"#pm-{only_card.id}")
    assert row.select_one(".payment-method__note").text == LAST_CARD
    assert not row.select("button")  # no Remove button to press in vain


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_posting_to_remove_the_last_card_is_refused_with_the_reason(
        client_request, signed_in_customer, only_card, make_subscription, session, events, htmx):
    make_subscription(signed_in_customer)
    response = client_request.post_response("payments.remove_payment_method", _htmx=htmx,
                                            _expected_status=409,
                                            payment_method_id=only_card.id)
    assert LAST_CARD in soup(response).select_one('[role="alert"]').text
    if htmx:
        assert response.get_data(as_text=True).lstrip().startswith('<div id="payment-methods">')
    session.refresh(only_card)
    session.refresh(signed_in_customer)
    assert only_card.customer_id == signed_in_customer.id and only_card.detached_at is None
    assert signed_in_customer.default_payment_method_id == only_card.id
    assert events("payment_method.detached") == []


def test_the_confirmation_page_for_the_last_card_explains_instead_of_asking(
        client_request, signed_in_customer, only_card, make_subscription):
    make_subscription(signed_in_customer)
    page = client_request.get("payments.confirm_remove_payment_method",
                              payment_method_id=only_card.id)
    assert LAST_CARD in page.select_one("main").text
    assert not page.select("main form")
    assert page.select_one("main a.button")["href"] == client_request.url(
        "payments.add_payment_method")


def test_the_message_names_every_subscription_paid_with_the_card(
        signed_in_customer, only_card, make_subscription, make_price, session, now):
    make_subscription(signed_in_customer, price=make_price(name="Pro"),
                      created=now - timedelta(days=2))
    make_subscription(signed_in_customer, price=make_price(name="Team"), status="trialing",
                      created=now - timedelta(days=1))
    check = can_remove(session, signed_in_customer, only_card, now)
    assert not check
    assert check.reason == ("Add another card before removing this one: your Pro and Team "
                            "subscriptions are paid with it")


@pytest.mark.parametrize("subscription", [
    {"collection_method": "send_invoice", "days_until_due": 30},
    {"status": "canceled"},
    {"status": "incomplete"},
    {"status": "unpaid"},
    None,
], ids=["send_invoice", "canceled", "incomplete", "unpaid", "no subscription"])
def test_the_last_card_can_go_when_nothing_is_charged_automatically(
        client_request, signed_in_customer, only_card, make_subscription, session, subscription):
    if subscription is not None:
        make_subscription(signed_in_customer, **subscription)
    client_request.post_response("payments.remove_payment_method", payment_method_id=only_card.id)
    session.refresh(only_card)
    assert only_card.customer_id is None


def test_with_another_card_the_last_rule_does_not_apply(client_request, signed_in_customer,
                                                        cards, make_subscription, session):
    visa, _, _ = cards
    make_subscription(signed_in_customer)
    client_request.post_response("payments.remove_payment_method", payment_method_id=visa.id)
    session.refresh(visa)
    assert visa.customer_id is None


def test_the_last_card_that_works_cannot_go_while_only_expired_ones_remain(
        client_request, signed_in_customer, make_payment_method, make_subscription, set_expiry,
        session, now):
    working = make_payment_method(signed_in_customer)
    expired = set_expiry(make_payment_method(signed_in_customer, number="5555555555554444",
                                             default=False), -1)
    make_subscription(signed_in_customer)
    client_request.post_response("payments.remove_payment_method", _expected_status=409,
                                 payment_method_id=working.id)
    # The expired card itself may go: the working card still pays.
    client_request.post_response("payments.remove_payment_method", payment_method_id=expired.id)
    session.refresh(working)
    session.refresh(expired)
    assert working.customer_id == signed_in_customer.id and expired.customer_id is None


def test_the_operation_refuses_the_last_card_too(signed_in_customer, only_card,
                                                 make_subscription, session, now, app):
    make_subscription(signed_in_customer)
    with pytest.raises(PaymentMethodRefused, match="Add another card"):
        detach_payment_method(session, signed_in_customer, only_card, now=now, actor="system",
                              gateway=get_gateway())
