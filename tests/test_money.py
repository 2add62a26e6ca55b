"""Money is integers in minor units; people see it formatted by Babel for their locale."""

from __future__ import annotations

from decimal import Decimal

import pytest

from portal.money import exponent, format_money, is_currency, to_decimal, to_minor

NBSP = "\xa0"


@pytest.mark.parametrize(("amount", "currency", "locale", "shown"), [
    (1999, "usd", "en", "$19.99"),
    (123456789, "usd", "en", "$1,234,567.89"),
    (-1999, "usd", "en", "-$19.99"),
    (5, "usd", "en", "$0.05"),
    (1999, "eur", "de", f"19,99{NBSP}€"),
    (123456, "eur", "fr", f"1{chr(0x202f)}234,56{NBSP}€"),
    (1999, "eur", "pt-PT", f"19,99{NBSP}€"),  # a Stripe-style locale tag
    (500, "jpy", "en", "¥500"),
    (1234567, "jpy", "en", "¥1,234,567"),
])
def test_format_money_in_the_customers_locale(amount, currency, locale, shown):
    assert format_money(amount, currency, locale) == shown


def test_kuwaiti_dinars_show_three_decimals():
    shown = format_money(1234, "kwd", "en")
    assert "KWD" in shown and shown.endswith("1.234")
    assert format_money(5, "KWD", "en").endswith("0.005")


def test_an_unknown_locale_falls_back_to_english():
    assert format_money(1999, "usd", "xx") == "$19.99"
    assert format_money(1999, "usd", "not a locale!") == "$19.99"


@pytest.mark.parametrize(("currency", "digits"), [("usd", 2), ("EUR", 2), ("jpy", 0),
                                                  ("krw", 0), ("kwd", 3), ("bhd", 3)])
def test_currency_exponents(currency, digits):
    assert exponent(currency) == digits


@pytest.mark.parametrize(("typed", "currency", "minor"), [
    ("19.99", "usd", 1999),
    ("19.9", "usd", 1990),
    ("19", "usd", 1900),
    (" 0.05 ", "usd", 5),
    (Decimal("1234.56"), "eur", 123456),
    ("500", "jpy", 500),
    ("1.234", "kwd", 1234),
    ("0", "usd", 0),
])
def test_to_minor_converts_what_a_merchant_typed(typed, currency, minor):
    assert to_minor(typed, currency) == minor
    assert isinstance(to_minor(typed, currency), int)


@pytest.mark.parametrize(("typed", "currency"), [
    ("19.999", "usd"),
    ("0.001", "eur"),
    ("5.5", "jpy"),
    ("1.2345", "kwd"),
])
def test_to_minor_refuses_more_decimals_than_the_currency_has(typed, currency):
    with pytest.raises(ValueError, match="more decimals than"):
        to_minor(typed, currency)


@pytest.mark.parametrize("typed", ["", "abc", "1,000.00", "NaN", "Infinity", "12 34"])
def test_to_minor_refuses_what_is_not_an_amount(typed):
    with pytest.raises(ValueError):
        to_minor(typed, "usd")


def test_minor_units_round_trip_exactly():
    for amount in (0, 1, 99, 100, 1999, 10**12 + 1):
        assert to_minor(to_decimal(amount, "usd"), "usd") == amount
        assert to_minor(to_decimal(amount, "kwd"), "kwd") == amount


def test_is_currency_knows_iso_codes_in_any_case():
    assert is_currency("usd") and is_currency("EUR") and is_currency("jpy")
    assert not is_currency("xyz") and not is_currency("") and not is_currency(None)


def test_the_money_filter_formats_in_templates(app):
    from flask import render_template_string

    with app.test_request_context():
        assert render_template_string("{{ 1999|money('usd') }}") == "$19.99"
        assert render_template_string("{{ 500|money('jpy') }}") == "¥500"
