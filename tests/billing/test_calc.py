"""The arithmetic every invoice, preview and proration goes through."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.billing.calc import (
    Discount,
    DraftLine,
    TaxRateSpec,
    add_months,
    assemble,
    next_period_end,
    period_boundary,
    prorate,
    round_half_away,
)

DEC_1 = datetime(2026, 12, 1, tzinfo=UTC)
JAN_1 = datetime(2027, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(("value", "expected"), [
    (Fraction(5, 2), 3), (Fraction(-5, 2), -3), (Fraction(7, 3), 2), (Fraction(-7, 3), -2),
    (Fraction(0), 0), (Fraction(1, 2), 1), (Fraction(-1, 2), -1), (Fraction(49, 100), 0),
])
def test_halves_round_away_from_zero_and_the_rest_to_the_nearest(value, expected):
    assert round_half_away(value) == expected


def test_half_a_month_of_a_31_day_month_is_half_the_price():
    middle = DEC_1 + (JAN_1 - DEC_1) / 2
    assert prorate(3100, DEC_1, JAN_1, middle) == 1550


def test_proration_is_by_the_second():
    one_second_before_end = JAN_1 - timedelta(seconds=1)
    # 2,678,400 seconds in December: one of them is worth 1/2,678,400 of the price.
    assert prorate(2_678_400, DEC_1, JAN_1, one_second_before_end) == 1


def test_proration_outside_the_period_is_nothing_and_the_whole_period_is_everything():
    assert prorate(1000, DEC_1, JAN_1, JAN_1) == 0
    assert prorate(1000, DEC_1, JAN_1, DEC_1 - timedelta(days=3)) == 1000


@given(amount=st.integers(min_value=0, max_value=10**9),
       cut=st.integers(min_value=0, max_value=2_678_400))
def test_the_used_and_unused_parts_of_a_period_add_up_to_its_price_within_a_minor_unit(amount,
                                                                                       cut):
    at = DEC_1 + timedelta(seconds=cut)
    used = prorate(amount, DEC_1, JAN_1, DEC_1, at)
    unused = prorate(amount, DEC_1, JAN_1, at)
    assert abs(used + unused - amount) <= 1


@pytest.mark.parametrize(("start", "months", "expected"), [
    (datetime(2026, 1, 31, tzinfo=UTC), 1, datetime(2026, 2, 28, tzinfo=UTC)),
    (datetime(2028, 1, 31, tzinfo=UTC), 1, datetime(2028, 2, 29, tzinfo=UTC)),
    (datetime(2026, 12, 15, tzinfo=UTC), 1, datetime(2027, 1, 15, tzinfo=UTC)),
    (datetime(2026, 3, 31, tzinfo=UTC), -1, datetime(2026, 2, 28, tzinfo=UTC)),
])
def test_months_are_added_with_the_day_clipped_to_the_months_last(start, months, expected):
    assert add_months(start, months) == expected


def test_a_subscription_that_began_on_the_31st_renews_on_the_31st_when_the_month_has_one():
    anchor = datetime(2026, 1, 31, tzinfo=UTC)
    ends = [period_boundary(anchor, "month", 1, n).day for n in range(1, 5)]
    assert ends == [28, 31, 30, 31]
    assert next_period_end(anchor, "month", 1, datetime(2026, 2, 28, tzinfo=UTC)).day == 31


def test_a_percentage_discount_and_exclusive_tax_are_rounded_per_line():
    lines = [DraftLine("Pro", 1999), DraftLine("Seats", 333, quantity=3, unit_amount=111)]
    draft = assemble("usd", lines, discount=Discount(percent_off=Decimal("15")),
                     tax_rate=TaxRateSpec("txr_1", Decimal("8.875")))
    # 15% of 1999 = 299.85 -> 300; of 333 = 49.95 -> 50.
    assert [line.discount_amount for line in draft.lines] == [300, 50]
    # 8.875% of 1699 = 150.78 -> 151; of 283 = 25.12 -> 25.
    assert [line.tax_amount for line in draft.lines] == [151, 25]
    assert (draft.subtotal, draft.total_discount, draft.tax) == (2332, 350, 176)
    assert draft.total == draft.amount_due == 2332 - 350 + 176


def test_inclusive_tax_is_taken_out_of_the_price_not_added_to_it():
    draft = assemble("eur", [DraftLine("Pro", 1230)],
                     tax_rate=TaxRateSpec("txr_pt", Decimal("23"), inclusive=True))
    assert draft.tax == 230
    assert draft.total == 1230


def test_an_amount_off_is_shared_out_exactly_and_never_exceeds_what_is_charged():
    lines = [DraftLine("A", 1000), DraftLine("B", 2000), DraftLine("Credit", -500)]
    draft = assemble("usd", lines, discount=Discount(amount_off=1001))
    assert [line.discount_amount for line in draft.lines] == [334, 667, 0]
    assert draft.total == 1000 + 2000 - 500 - 1001
    capped = assemble("usd", [DraftLine("A", 300)], discount=Discount(amount_off=5000))
    assert capped.total_discount == 300 and capped.total == 0


def test_credit_pays_what_it_can_and_the_rest_stays_for_later():
    partly = assemble("usd", [DraftLine("Pro", 2000)], balance=-500)
    assert (partly.amount_due, partly.ending_balance, partly.applied_balance) == (1500, 0, 500)
    fully = assemble("usd", [DraftLine("Pro", 2000)], balance=-3000)
    assert (fully.amount_due, fully.ending_balance) == (0, -1000)


def test_an_invoice_that_credits_more_than_it_charges_leaves_the_difference_as_credit():
    draft = assemble("usd", [DraftLine("Unused Pro", -2500), DraftLine("Basic", 1000)])
    assert draft.total == -1500
    assert (draft.amount_due, draft.ending_balance) == (0, -1500)


def test_money_owed_from_before_joins_the_amount_due():
    draft = assemble("usd", [DraftLine("Pro", 2000)], balance=300)
    assert (draft.amount_due, draft.ending_balance) == (2300, 0)


@given(amounts=st.lists(st.integers(min_value=-10**7, max_value=10**7), min_size=1, max_size=8),
       percent=st.one_of(st.none(), st.decimals(min_value=Decimal("0.01"), max_value=100,
                                                places=2)),
       amount_off=st.one_of(st.none(), st.integers(min_value=1, max_value=10**7)),
       tax=st.one_of(st.none(), st.decimals(min_value=0, max_value=30, places=3)),
       inclusive=st.booleans(),
       balance=st.integers(min_value=-10**7, max_value=10**7))
def test_an_invoice_always_adds_up_line_by_line(amounts, percent, amount_off, tax, inclusive,
                                                 balance):
    discount = (Discount(percent_off=percent) if percent is not None
                else Discount(amount_off=amount_off) if amount_off else None)
    rate = TaxRateSpec("txr", tax, inclusive=inclusive) if tax is not None else None
    draft = assemble("usd", [DraftLine(f"line {i}", a) for i, a in enumerate(amounts)],
                     discount=discount, tax_rate=rate, balance=balance)
    assert draft.subtotal == sum(amounts)
    assert draft.total_discount == sum(line.discount_amount for line in draft.lines)
    assert draft.tax == sum(line.tax_amount for line in draft.lines)
    added_tax = 0 if inclusive else draft.tax
    assert draft.total == draft.subtotal - draft.total_discount + added_tax
    # What the customer pays now plus what stays on their balance is the total plus what was
    # on it before: no minor unit appears or vanishes.
    assert draft.amount_due + draft.ending_balance == draft.total + balance
    assert draft.amount_due >= 0
    assert draft.ending_balance <= 0
