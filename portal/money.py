"""Money is an integer count of the currency's minor unit; this module turns it into words."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from functools import lru_cache

from babel.core import Locale, UnknownLocaleError
from babel.numbers import format_currency, get_currency_precision, list_currencies

CURRENCIES = frozenset(list_currencies())


def is_currency(code: str | None) -> bool:
    """True for an ISO 4217 code Babel knows, in any case."""
    return bool(code) and code.upper() in CURRENCIES


def exponent(currency: str) -> int:
    """Digits after the decimal point: 2 for USD, 0 for JPY, 3 for KWD."""
    return get_currency_precision(currency.upper())


def to_decimal(amount: int, currency: str) -> Decimal:
    """Minor units to a Decimal in major units, exact."""
    return Decimal(int(amount)).scaleb(-exponent(currency))


def to_minor(value: Decimal | str, currency: str) -> int:
    """Major units (as typed by a merchant) to an integer of minor units; refuses fractions
    of the minor unit, and anything that is not a finite number, with ValueError."""
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{value!r} is not an amount") from None
    if not number.is_finite():
        raise ValueError(f"{value!r} is not an amount")
    scaled = number.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more decimals than {currency.upper()} allows")
    return int(scaled)


@lru_cache(maxsize=256)
def _locale(tag: str) -> Locale:
    """The Babel locale for a tag, parsed once: a page formats dozens of amounts, and parsing
    the tag was a third of each one's cost. Stripe-style tags (pt-BR) as well as Babel's."""
    try:
        return Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale.parse("en")


def format_money(amount: int, currency: str, locale: str = "en") -> str:
    """Format minor units for people: 1999 USD -> $19.99, 500 JPY -> ¥500."""
    value = to_decimal(amount, currency)
    return format_currency(value, currency.upper(), locale=_locale(str(locale)))
