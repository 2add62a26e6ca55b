"""The gateway interface and the built-in test gateway."""

from __future__ import annotations

import sys
import types
from datetime import UTC, datetime

import pytest

from portal.payments.gateway import (
    TEST_CARDS,
    CardDetails,
    CardError,
    IdempotencyKeyReused,
    PaymentGateway,
    TestGateway,
    card_brand,
    get_gateway,
    luhn_valid,
)

NOW = datetime(2026, 3, 15, tzinfo=UTC)


def card(number="4242424242424242", month=12, year=2030, cvc="123"):
    return CardDetails(number=number, exp_month=month, exp_year=year, cvc=cvc)


@pytest.mark.parametrize("number", [n for n in TEST_CARDS if n != "4242424242424241"]
                         + ["4111111111111111", "7992739871300"])
def test_luhn_accepts_real_card_numbers(number):
    assert luhn_valid(number)


@pytest.mark.parametrize("number", [
    "4242424242424241",  # last digit off by one
    "4242424242424243",
    "1234567812345678",
    "",
    "42424242424",  # too short to be a card
    "4242 4242 4242 4242",  # callers strip spaces first
    "424242424242424a",
    "42424242424242424242",  # 20 digits
])
def test_luhn_refuses_what_is_not_a_card_number(number):
    assert not luhn_valid(number)


@pytest.mark.parametrize("number, brand", [
    (number, known[0]) for number, known in TEST_CARDS.items()
] + [("2720990000000007", "mastercard"), ("6500000000000002", "discover"),
     ("9999999999999995", "unknown")])
def test_the_brand_follows_the_numbers_prefix(number, brand):
    assert card_brand(number) == brand


def test_a_good_test_card_is_tokenized_with_only_what_may_be_stored():
    token = TestGateway().tokenize_card(card(), now=NOW)
    assert (token.brand, token.last4, token.exp_month, token.exp_year) == ("visa", "4242", 12, 2030)
    assert token.token.startswith("tok_test_")
    assert "4242424242424242" not in repr(token) and "4242424242424242" not in token.token


def test_the_same_number_has_the_same_fingerprint_and_another_number_does_not():
    gateway = TestGateway()
    first = gateway.tokenize_card(card(), now=NOW)
    again = gateway.tokenize_card(card(month=1, year=2031), now=NOW)
    other = gateway.tokenize_card(card("5555555555554444"), now=NOW)
    assert first.fingerprint == again.fingerprint != other.fingerprint
    assert first.token != again.token


@pytest.mark.parametrize("details, code, field", [
    (card("4000000000000069"), "expired_card", "expiry"),
    (card("4000000000000127"), "incorrect_cvc", "cvc"),
    (card("4000000000000119"), "processing_error", None),
    (card("4242424242424241"), "incorrect_number", "number"),
    (card(month=2, year=2026), "expired_card", "expiry"),
    (card(month=13), "invalid_expiry_month", "expiry"),
    (card(cvc="12"), "invalid_cvc", "cvc"),
    (card("378282246310005", cvc="123"), "invalid_cvc", "cvc"),  # amex wants 4 digits
    (card("4000000000000101"), "card_not_supported", "number"),  # Luhn-valid, not a test card
])
def test_refused_cards_say_why_and_where(details, code, field):
    with pytest.raises(CardError) as refused:
        TestGateway().tokenize_card(details, now=NOW)
    assert (refused.value.code, refused.value.field) == (code, field)
    assert refused.value.message and "4000" not in refused.value.message


def test_a_card_expiring_this_month_is_still_accepted():
    assert TestGateway().tokenize_card(card(month=3, year=2026), now=NOW).exp_month == 3


def test_an_amex_card_takes_a_four_digit_security_code():
    assert TestGateway().tokenize_card(card("378282246310005", cvc="1234"), now=NOW).brand == "amex"


def test_card_details_never_show_the_number_or_cvc_in_repr():
    text = repr(card(cvc="987"))
    assert "4242424242424242" not in text and "987" not in text


def test_charging_twice_with_the_same_key_is_one_charge():
    gateway = TestGateway()
    token = gateway.tokenize_card(card(), now=NOW).token
    first = gateway.charge(token, amount=2900, currency="usd", idempotency_key="in_1:attempt")
    again = gateway.charge(token, amount=2900, currency="usd", idempotency_key="in_1:attempt")
    other = gateway.charge(token, amount=2900, currency="usd", idempotency_key="in_2:attempt")
    assert first.succeeded and again == first
    assert other.succeeded and other.reference != first.reference


def test_a_declined_charge_is_remembered_under_its_key_too():
    gateway = TestGateway()
    token = gateway.tokenize_card(card("4000000000009995"), now=NOW).token
    first = gateway.charge(token, amount=500, currency="eur", idempotency_key="k")
    assert (first.succeeded, first.failure_code) == (False, "insufficient_funds")
    assert gateway.charge(token, amount=500, currency="eur", idempotency_key="k") == first


def test_reusing_a_key_for_a_different_charge_is_a_bug_not_a_charge():
    gateway = TestGateway()
    token = gateway.tokenize_card(card(), now=NOW).token
    gateway.charge(token, amount=2900, currency="usd", idempotency_key="k")
    with pytest.raises(IdempotencyKeyReused):
        gateway.charge(token, amount=3900, currency="usd", idempotency_key="k")


@pytest.mark.parametrize("number, code", [
    ("4000000000000002", "card_declined"),
    ("4000000000009995", "insufficient_funds"),
    ("4000000000009987", "lost_card"),
    ("4000000000000341", "card_declined"),
])
def test_decline_cards_are_saved_but_their_charges_fail_in_plain_words(number, code):
    gateway = TestGateway()
    token = gateway.tokenize_card(card(number), now=NOW).token
    result = gateway.charge(token, amount=100, currency="usd", idempotency_key=number)
    assert (result.succeeded, result.failure_code) == (False, code)
    assert result.failure_message.startswith("Your card")


def test_a_removed_card_cannot_be_charged():
    gateway = TestGateway()
    token = gateway.tokenize_card(card(), now=NOW).token
    gateway.detach(token)
    result = gateway.charge(token, amount=100, currency="usd", idempotency_key="after-detach")
    assert (result.succeeded, result.failure_code) == (False, "payment_method_detached")


def test_the_test_gateway_meets_the_interface():
    assert isinstance(TestGateway(), PaymentGateway)


def test_the_configured_gateway_is_built_once(app):
    assert get_gateway() is get_gateway()
    assert isinstance(get_gateway(), TestGateway)


@pytest.fixture
def adapter_module(monkeypatch):
    """A stand-in for a third-party adapter package."""
    module = types.ModuleType("acme_gateway_for_tests")

    class ConfiguredGateway(TestGateway):
        name = "acme"

        def __init__(self, api_key):
            super().__init__()
            self.api_key = api_key

        @classmethod
        def from_config(cls, config):
            return cls(config["ACME_API_KEY"])

    class NotAGateway:
        name = "broken"

        def charge(self, *args, **kwargs):
            return None

    module.ConfiguredGateway, module.NotAGateway = ConfiguredGateway, NotAGateway
    monkeypatch.setitem(sys.modules, "acme_gateway_for_tests", module)
    return module


def test_an_adapter_with_from_config_is_given_the_configuration(adapter_module):
    gateway = get_gateway("acme_gateway_for_tests:ConfiguredGateway",
                          config={"ACME_API_KEY": "sk_test_123"})
    assert (gateway.name, gateway.api_key) == ("acme", "sk_test_123")


def test_a_class_that_is_not_a_gateway_is_refused_with_a_helpful_message(adapter_module):
    with pytest.raises(RuntimeError, match="tokenize_card, detach"):
        get_gateway("acme_gateway_for_tests:NotAGateway", config={})


def test_a_malformed_gateway_setting_names_the_setting():
    with pytest.raises(RuntimeError, match="PORTAL_PAYMENT_GATEWAY"):
        get_gateway("acme_gateway_for_tests.NoColon", config={})
