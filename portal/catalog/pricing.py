"""Prices in words ("$10.00 per seat per month"), and amounts typed by merchants into minor
units. One place, so the dashboard, the portal and the invoices say a price the same way."""

from __future__ import annotations

import re
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from portal.money import exponent, format_money

# Stripe's own ceiling for a price's unit amount: eight digits of minor units ($999,999.99).
MAX_UNIT_AMOUNT = 99_999_999

# Digits with an optional point, or thousands grouped with commas: "29", "29.00", "1,000.50".
_PLAIN = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
_GROUPED = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?")


class AmountRefused(ValueError):
    """What was typed is not an amount in that currency; the message says how to write one."""


def parse_amount(typed: str | None, currency: str) -> int:
    """An amount as a merchant writes it in major units ("29", "29.00", "1,000.50", "500" yen)
    as an integer of the currency's minor units; refuses anything else with a message."""
    text = (typed or "").strip().replace(" ", "")
    code = currency.upper()
    digits = exponent(currency)
    example = "500" if digits == 0 else "29." + "0" * digits
    if not text:
        raise AmountRefused(f"Enter the price, like {example}")
    if text.startswith("-") or text.startswith("−"):
        raise AmountRefused("Enter a price of 0 or more")
    if text.startswith("+"):
        text = text[1:]
    if not (_PLAIN.fullmatch(text) or _GROUPED.fullmatch(text)):
        if re.fullmatch(r"[0-9]+,[0-9]{1,2}", text):
            raise AmountRefused(f"Use a point for decimals, like {example}")
        raise AmountRefused(f"Enter the price as a number, like {example}")
    plain = text.replace(",", "")
    if len(plain.partition(".")[0].lstrip("0")) > 15:  # far past any price, and past Decimal's
        raise AmountRefused(f"Enter a price of at most {format_money(MAX_UNIT_AMOUNT, currency)}")
    number = Decimal(plain)
    # Trailing zeros beyond the currency's places ("29.500") still say 29.50.
    if number != number.quantize(Decimal(1).scaleb(-digits)):
        if digits == 0:
            raise AmountRefused(f"{code} prices are whole numbers: enter one without decimals, "
                                f"like {example}")
        raise AmountRefused(f"{code} prices have at most {digits} decimal"
                            f"{'s' if digits != 1 else ''}, like {example}")
    minor = int(number.scaleb(digits))
    if minor > MAX_UNIT_AMOUNT:
        raise AmountRefused(f"Enter a price of at most {format_money(MAX_UNIT_AMOUNT, currency)}")
    return minor


def typed_amount(unit_amount: int, currency: str) -> str:
    """Minor units back as a merchant would type them: 2900 USD -> "29.00", 500 JPY -> "500"."""
    digits = exponent(currency)
    return f"{Decimal(int(unit_amount)).scaleb(-digits):.{digits}f}"


def plural(label: str, quantity: int) -> str:
    """"seat" or "seats": the unit label counted (a label already ending in s stays)."""
    if quantity == 1 or label.endswith(("s", "S")):
        return label
    return f"{label}s"


def quantity_text(quantity: int, unit_label: str | None) -> str:
    """"3 seats", or "3" for a product sold without a unit label."""
    return f"{quantity} {plural(unit_label, quantity)}" if unit_label else str(quantity)


# Stripe's intervals, each as a whole phrase: "per month" is not "per" and a translated "month".
_INTERVAL_NAMES = {"day": _l("day"), "week": _l("week"), "month": _l("month"),
                   "year": _l("year")}
_PER_INTERVAL = {"day": _l("per day"), "week": _l("per week"), "month": _l("per month"),
                 "year": _l("per year")}


def _every(count: int, interval: str) -> str:
    if interval == "day":
        return ngettext("every %(count)s day", "every %(count)s days", count, count=count)
    if interval == "week":
        return ngettext("every %(count)s week", "every %(count)s weeks", count, count=count)
    if interval == "month":
        return ngettext("every %(count)s month", "every %(count)s months", count, count=count)
    if interval == "year":
        return ngettext("every %(count)s year", "every %(count)s years", count, count=count)
    return f"every {count} {interval}s"  # not one of Stripe's intervals: never stored


def interval_length_text(count: int | None, interval: str) -> str:
    """"month", or "3 months": how long one period lasts."""
    count = count or 1
    if count == 1:
        return str(_INTERVAL_NAMES.get(interval) or interval)
    if interval == "day":
        return ngettext("%(count)s day", "%(count)s days", count, count=count)
    if interval == "week":
        return ngettext("%(count)s week", "%(count)s weeks", count, count=count)
    if interval == "month":
        return ngettext("%(count)s month", "%(count)s months", count, count=count)
    if interval == "year":
        return ngettext("%(count)s year", "%(count)s years", count, count=count)
    return f"{count} {interval}s"  # not one of Stripe's intervals: never stored


def interval_text(price) -> str:
    """"per month", "every 3 months", or "" for a one-time price."""
    if not price.recurring_interval:
        return ""
    count, interval = price.recurring_interval_count or 1, price.recurring_interval
    if count == 1:
        return str(_PER_INTERVAL.get(interval) or f"per {interval}")
    return _every(count, interval)


def unit_price_text(price, locale: str = "en", amount: int | None = None) -> str:
    """A price as customers read it: "$10.00 per seat per month", "$29.00 per month",
    "$99.00 per seat" (one-time), "$45.00 every 3 months"."""
    text = format_money(price.unit_amount if amount is None else amount, price.currency, locale)
    label = price.product.unit_label if price.product is not None else None
    if label:
        # The unit label is the merchant's word ("seat"), shown as they wrote it.
        text = _("%(amount)s per %(unit_label)s", amount=text, unit_label=label)
    every = interval_text(price)
    return _("%(price)s %(interval)s", price=text, interval=every) if every else text
