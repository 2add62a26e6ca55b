"""The arithmetic of invoices: proration, discounts, tax, and the customer's balance.

Plain functions over integers (minor units) and datetimes; no database, no Flask. The engine,
subscription changes and their previews all add up money here, so a preview and the invoice it
promises cannot disagree.

The one rounding rule: every amount is computed exactly (as a fraction) and rounded once, to the
nearest minor unit with halves away from zero, per line and per step (proration, then discount,
then tax). Invoice totals are sums of those rounded line amounts, never rounded again, so the
lines always add up to the total the customer pays.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from fractions import Fraction


def round_half_away(value: Fraction) -> int:
    """``value`` to the nearest integer, halves away from zero (2.5 -> 3, -2.5 -> -3)."""
    sign = -1 if value < 0 else 1
    magnitude = abs(value)
    whole, rest = divmod(magnitude.numerator, magnitude.denominator)
    if 2 * rest >= magnitude.denominator:
        whole += 1
    return sign * whole


def seconds_between(start: datetime, end: datetime) -> int:
    """Whole seconds from ``start`` to ``end`` (never negative): proration is by the second."""
    return max(int(end.timestamp()) - int(start.timestamp()), 0)


def prorate(amount: int, period_start: datetime, period_end: datetime, start: datetime,
            end: datetime | None = None) -> int:
    """The share of ``amount`` (for the whole period) that falls between ``start`` and ``end``
    (the period end when None), clipped to the period, rounded once."""
    end = period_end if end is None else end
    start, end = max(start, period_start), min(end, period_end)
    whole = seconds_between(period_start, period_end)
    if whole == 0 or end <= start:
        return 0
    return round_half_away(Fraction(amount * seconds_between(start, end), whole))


@dataclass(frozen=True)
class Discount:
    """A coupon as the arithmetic needs it: a percentage or an amount off (minor units)."""

    percent_off: Decimal | None = None
    amount_off: int | None = None
    name: str = ""


@dataclass(frozen=True)
class TaxRateSpec:
    """A tax rate as the arithmetic needs it."""

    id: str | None
    percentage: Decimal
    inclusive: bool = False
    label: str = "Tax"


@dataclass(frozen=True)
class DraftLine:
    """One line of an invoice not yet written (or never written: a preview)."""

    description: str
    amount: int  # quantity * unit price, or a proration; negative for a credit
    quantity: int = 1
    unit_amount: int = 0
    price_id: str | None = None
    subscription_item_id: str | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None
    proration: bool = False
    invoice_item_id: str | None = None  # a pending item this line takes
    discount_amount: int = 0
    tax_amount: int = 0
    tax_rate_id: str | None = None


@dataclass(frozen=True)
class InvoiceDraft:
    """An invoice's lines and totals, before (or instead of) writing it."""

    currency: str
    lines: tuple[DraftLine, ...]
    subtotal: int
    total_discount: int
    tax: int
    total: int
    starting_balance: int
    ending_balance: int
    amount_due: int
    period_start: datetime | None = None
    period_end: datetime | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def applied_balance(self) -> int:
        """How much of the balance this invoice used (negative: credit used up)."""
        return self.ending_balance - self.starting_balance


def discount_lines(lines: Sequence[DraftLine], discount: Discount | None) -> list[DraftLine]:
    """Each line with its share of the discount.

    A percentage applies to every line, credits included (a credit for unused time was paid at
    the discounted price too), rounded per line. An amount off applies once to what the
    invoice charges (its positive lines), at most their sum, shared out in proportion by the
    largest-remainder method so the shares add up to the amount exactly.
    """
    if discount is None:
        return list(lines)
    if discount.percent_off is not None:
        rate = Fraction(discount.percent_off) / 100
        return [replace(line, discount_amount=round_half_away(line.amount * rate))
                for line in lines]
    charged = [(index, line.amount) for index, line in enumerate(lines) if line.amount > 0]
    total = sum(amount for _, amount in charged)
    off = min(int(discount.amount_off or 0), total)
    if off <= 0:
        return list(lines)
    shares = {index: Fraction(amount * off, total) for index, amount in charged}
    floors = {index: share.numerator // share.denominator for index, share in shares.items()}
    left = off - sum(floors.values())
    by_remainder = sorted(shares, key=lambda index: (-(shares[index] - floors[index]), index))
    for index in by_remainder[:left]:
        floors[index] += 1
    return [replace(line, discount_amount=floors.get(index, 0))
            for index, line in enumerate(lines)]


def tax_lines(lines: Sequence[DraftLine], rate: TaxRateSpec | None) -> list[DraftLine]:
    """Each line with its tax, on what it charges after its discount."""
    if rate is None:
        return list(lines)
    percentage = Fraction(rate.percentage) / 100
    taxed = []
    for line in lines:
        net = line.amount - line.discount_amount
        if rate.inclusive:
            # The price already holds the tax: take out the part that is tax.
            tax = net - round_half_away(Fraction(net) / (1 + percentage))
        else:
            tax = round_half_away(net * percentage)
        taxed.append(replace(line, tax_amount=tax, tax_rate_id=rate.id))
    return taxed


def assemble(currency: str, lines: Iterable[DraftLine], *, discount: Discount | None = None,
             tax_rate: TaxRateSpec | None = None, balance: int = 0,
             period_start: datetime | None = None, period_end: datetime | None = None,
             notes: Iterable[str] = ()) -> InvoiceDraft:
    """Discount, tax and total ``lines``, then settle against the customer's ``balance``.

    A negative balance is credit: it pays as much of the total as it can. A positive balance
    is owed and joins the amount due. A total below zero (more credited than charged) is not
    paid out: it becomes credit for the next invoices.
    """
    worked = tax_lines(discount_lines(list(lines), discount), tax_rate)
    subtotal = sum(line.amount for line in worked)
    total_discount = sum(line.discount_amount for line in worked)
    tax = sum(line.tax_amount for line in worked)
    exclusive_tax = 0 if tax_rate is not None and tax_rate.inclusive else tax
    total = subtotal - total_discount + exclusive_tax
    settled = total + balance
    amount_due, ending_balance = (settled, 0) if settled >= 0 else (0, settled)
    return InvoiceDraft(currency=currency, lines=tuple(worked), subtotal=subtotal,
                        total_discount=total_discount, tax=tax, total=total,
                        starting_balance=balance, ending_balance=ending_balance,
                        amount_due=amount_due, period_start=period_start,
                        period_end=period_end, notes=tuple(notes))


# ---- billing periods -------------------------------------------------------------------------

def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` moved by whole months, the day clipped to the month's last (Jan 31 -> Feb 28)."""
    index = moment.year * 12 + (moment.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    next_first = datetime(year + (month == 12), month % 12 + 1, 1)
    last_day = (next_first - datetime(year, month, 1)).days
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


def period_boundary(anchor: datetime, interval: str, interval_count: int, n: int) -> datetime:
    """The end of the ``n``-th period after ``anchor``, counted from the anchor itself, so a
    subscription that began on the 31st renews on the 31st whenever a month has one."""
    from datetime import timedelta

    steps = interval_count * n
    if interval == "day":
        return anchor + timedelta(days=steps)
    if interval == "week":
        return anchor + timedelta(weeks=steps)
    if interval == "month":
        return add_months(anchor, steps)
    if interval == "year":
        return add_months(anchor, 12 * steps)
    raise ValueError(f"unknown interval {interval!r}")


def next_period_end(anchor: datetime, interval: str, interval_count: int,
                    after: datetime) -> datetime:
    """The first period boundary counted from ``anchor`` that is later than ``after``."""
    n = 1
    while period_boundary(anchor, interval, interval_count, n) <= after:
        n += 1
    return period_boundary(anchor, interval, interval_count, n)
