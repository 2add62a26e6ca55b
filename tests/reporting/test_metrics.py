"""The dashboard's numbers, as a merchant reads them: MRR, subscriptions and payments by month,
one series per currency. ``now`` is 15 March 2026, noon UTC (tests/reporting/helpers.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from sqlalchemy import event

from portal.catalog.models import Coupon
from portal.extensions import db
from portal.reporting.metrics import month_starts, monthly_amount, monthly_metrics
from tests.reporting.helpers import NOW

FEB_1 = datetime(2026, 2, 1, tzinfo=UTC)
JAN_1 = datetime(2026, 1, 1, tzinfo=UTC)
MAR_1 = datetime(2026, 3, 1, tzinfo=UTC)


def month(metrics, currency: str, year: int, number: int):
    """One currency's figures for one month."""
    series = metrics.for_currency(currency)
    assert series is not None, f"no {currency} series"
    return next(m for m in series.months if m.month == date(year, number, 1))


@pytest.fixture
def customer(make_customer):
    return make_customer()


def test_the_twelve_months_end_with_the_current_one_in_utc(session):
    metrics = monthly_metrics(session, now=NOW)
    assert metrics.months[0] == date(2025, 4, 1)
    assert metrics.months[-1] == date(2026, 3, 1)
    assert len(metrics.months) == 12
    assert len(month_starts(NOW)) == 13


def test_a_monthly_and_a_yearly_plan_give_the_mrr_of_both_made_monthly(
        session, customer, make_price, make_subscription):
    make_subscription(customer, make_price(unit_amount=2900, interval="month"),
                      created=NOW - timedelta(days=40))
    make_subscription(customer, make_price(name="Annual", unit_amount=12000, interval="year"),
                      created=NOW - timedelta(days=40))
    metrics = monthly_metrics(session, now=NOW)
    march = month(metrics, "usd", 2026, 3)
    assert march.mrr == 3900  # $29.00 + $120.00 / 12
    assert march.active_subscriptions == 2
    assert month(metrics, "usd", 2026, 2).mrr == 3900  # live at the end of February too
    assert month(metrics, "usd", 2026, 1).mrr == 0  # not started by the end of January
    assert month(metrics, "usd", 2026, 2).new_subscriptions == 2


@pytest.mark.parametrize("unit_amount, quantity, interval, count, expected", [
    (2900, 1, "month", 1, Fraction(2900)),
    (2900, 3, "month", 1, Fraction(8700)),
    (12000, 1, "year", 1, Fraction(1000)),
    (12000, 1, "year", 2, Fraction(500)),
    (6000, 1, "month", 3, Fraction(2000)),
    (700, 1, "week", 1, Fraction(700 * 52, 12)),
    (700, 1, "week", 2, Fraction(700 * 52, 24)),
    (100, 1, "day", 1, Fraction(100 * 365, 12)),
    (2900, 1, None, 1, Fraction(0)),  # a one-time price is no recurring revenue
])
def test_each_interval_is_made_monthly_exactly(unit_amount, quantity, interval, count,
                                               expected):
    assert monthly_amount(unit_amount, quantity, interval, count) == expected


def test_each_subscription_is_rounded_once_halves_away_from_zero(
        session, customer, make_price, make_subscription):
    # $7 a week is 3033.33 cents a month, rounded to 3033; two such items on one subscription
    # are 6066.67, rounded once to 6067 (rounding each item first would give 6066).
    from portal.subscriptions.models import SubscriptionItem

    weekly = make_price(name="Weekly", unit_amount=700, interval="week")
    add_on = make_price(name="Weekly add-on", unit_amount=700, interval="week")
    sub = make_subscription(customer, weekly, created=NOW - timedelta(days=60))
    sub.items.append(SubscriptionItem(price=add_on, quantity=1, created=NOW))
    session.commit()
    # 365/12 of a 1-cent daily price is 30.4166..., rounded to 30 on its own subscription.
    make_subscription(customer, make_price(name="Daily", unit_amount=1, interval="day"),
                      created=NOW - timedelta(days=60))
    assert month(monthly_metrics(session, now=NOW), "usd", 2026, 3).mrr == 6067 + 30


def test_a_subscription_that_ended_last_month_is_churned_then_and_not_in_this_months_mrr(
        session, customer, make_price, make_subscription):
    make_subscription(customer, make_price(unit_amount=5000), status="canceled",
                      created=datetime(2025, 10, 3, tzinfo=UTC),
                      canceled_at=datetime(2026, 2, 10, tzinfo=UTC),
                      ended_at=datetime(2026, 2, 10, tzinfo=UTC))
    metrics = monthly_metrics(session, now=NOW)
    assert month(metrics, "usd", 2026, 2).churned_subscriptions == 1
    assert month(metrics, "usd", 2026, 3).churned_subscriptions == 0
    assert month(metrics, "usd", 2026, 3).mrr == 0
    assert month(metrics, "usd", 2026, 2).mrr == 0  # it had ended by the end of February
    assert month(metrics, "usd", 2026, 1).mrr == 5000
    assert month(metrics, "usd", 2025, 10).mrr == 5000
    assert month(metrics, "usd", 2025, 10).new_subscriptions == 1
    assert month(metrics, "usd", 2025, 9).mrr == 0


def test_a_subscription_ending_at_midnight_counts_in_the_month_before_and_churns_in_the_next(
        session, customer, make_price, make_subscription):
    make_subscription(customer, make_price(unit_amount=1000), status="canceled",
                      created=datetime(2025, 12, 1, tzinfo=UTC), ended_at=FEB_1)
    metrics = monthly_metrics(session, now=NOW)
    assert month(metrics, "usd", 2026, 1).mrr == 1000
    assert month(metrics, "usd", 2026, 1).churned_subscriptions == 0
    assert month(metrics, "usd", 2026, 2).churned_subscriptions == 1
    assert month(metrics, "usd", 2026, 2).mrr == 0


def test_a_trialing_subscription_is_new_but_not_mrr(session, customer, make_price,
                                                    make_subscription):
    make_subscription(customer, make_price(unit_amount=2900), status="trialing",
                      created=MAR_1, trial_start=MAR_1, trial_end=NOW + timedelta(days=10))
    march = month(monthly_metrics(session, now=NOW), "usd", 2026, 3)
    assert (march.mrr, march.active_subscriptions, march.new_subscriptions) == (0, 0, 1)


def test_mrr_starts_when_the_trial_ends(session, customer, make_price, make_subscription):
    make_subscription(customer, make_price(unit_amount=2900), status="active",
                      created=datetime(2026, 1, 20, tzinfo=UTC),
                      trial_start=datetime(2026, 1, 20, tzinfo=UTC),
                      trial_end=datetime(2026, 2, 3, tzinfo=UTC))
    metrics = monthly_metrics(session, now=NOW)
    assert month(metrics, "usd", 2026, 1).mrr == 0  # still trialing at the end of January
    assert month(metrics, "usd", 2026, 1).new_subscriptions == 1
    assert month(metrics, "usd", 2026, 2).mrr == 2900


def test_past_due_counts_and_incomplete_never_does(session, customer, make_price,
                                                   make_subscription):
    make_subscription(customer, make_price(unit_amount=2000), status="past_due",
                      created=JAN_1)
    make_subscription(customer, make_price(unit_amount=9900), status="incomplete",
                      created=JAN_1)
    metrics = monthly_metrics(session, now=NOW)
    assert month(metrics, "usd", 2026, 3).mrr == 2000
    assert month(metrics, "usd", 2026, 1).new_subscriptions == 2


def test_an_unpaid_subscription_counts_until_it_stopped_being_collected(
        session, customer, make_price, make_subscription):
    make_subscription(customer, make_price(unit_amount=2000), status="unpaid",
                      created=datetime(2025, 11, 5, tzinfo=UTC),
                      updated=datetime(2026, 2, 20, tzinfo=UTC))
    metrics = monthly_metrics(session, now=NOW)
    assert month(metrics, "usd", 2026, 1).mrr == 2000
    assert month(metrics, "usd", 2026, 2).mrr == 0
    assert month(metrics, "usd", 2026, 3).mrr == 0


def test_quantity_multiplies_the_price(session, customer, make_price, make_subscription):
    make_subscription(customer, make_price(unit_amount=1500), quantity=4, created=JAN_1)
    assert month(monthly_metrics(session, now=NOW), "usd", 2026, 3).mrr == 6000


def _coupon(session, **fields):
    fields.setdefault("duration", "forever")
    coupon = Coupon(name="Offer", active=True, created=JAN_1, metadata_={}, **fields)
    session.add(coupon)
    session.commit()
    return coupon


def test_a_repeating_coupon_comes_off_while_it_is_in_force(session, customer, make_price,
                                                           make_subscription):
    coupon = _coupon(session, percent_off=Decimal("50"), duration="repeating",
                     duration_in_months=2)
    make_subscription(customer, make_price(unit_amount=2900), created=datetime(2025, 10, 1,
                                                                               tzinfo=UTC),
                      discount_coupon_id=coupon.id, discount_start=datetime(2025, 12, 10,
                                                                             tzinfo=UTC),
                      discount_end=datetime(2026, 2, 10, tzinfo=UTC))
    metrics = monthly_metrics(session, now=NOW)
    assert month(metrics, "usd", 2025, 11).mrr == 2900  # before the coupon
    assert month(metrics, "usd", 2025, 12).mrr == 1450
    assert month(metrics, "usd", 2026, 1).mrr == 1450
    assert month(metrics, "usd", 2026, 2).mrr == 2900  # it ran out on 10 February


def test_a_percentage_off_is_rounded_once_per_subscription(session, customer, make_price,
                                                           make_subscription):
    coupon = _coupon(session, percent_off=Decimal("12.5"))
    make_subscription(customer, make_price(unit_amount=999), created=JAN_1,
                      discount_coupon_id=coupon.id)
    # 999 * 0.875 = 874.125 -> 874
    assert month(monthly_metrics(session, now=NOW), "usd", 2026, 3).mrr == 874


def test_an_amount_off_is_spread_over_the_billing_interval(session, customer, make_price,
                                                           make_subscription):
    coupon = _coupon(session, amount_off=1200, currency="usd")
    make_subscription(customer, make_price(unit_amount=12000, interval="year"), created=JAN_1,
                      discount_coupon_id=coupon.id)
    # ($120.00 - $12.00 off each yearly invoice) / 12 = $9.00
    assert month(monthly_metrics(session, now=NOW), "usd", 2026, 3).mrr == 900


@pytest.mark.parametrize("fields", [
    {"percent_off": Decimal("50"), "duration": "once"},  # one invoice, not recurring revenue
    {"amount_off": 500, "currency": "eur"},  # another currency's amount never applies
])
def test_coupons_that_do_not_recur_or_do_not_apply_leave_mrr_alone(
        session, customer, make_price, make_subscription, fields):
    coupon = _coupon(session, **fields)
    make_subscription(customer, make_price(unit_amount=2900), created=JAN_1,
                      discount_coupon_id=coupon.id)
    assert month(monthly_metrics(session, now=NOW), "usd", 2026, 3).mrr == 2900


def test_two_currencies_are_two_series_never_added_together(
        session, customer, make_customer, make_price, make_subscription, make_payment):
    make_subscription(customer, make_price(unit_amount=2900, currency="usd"), created=JAN_1)
    european = make_customer(email="hans@example.de")
    make_subscription(european, make_price(name="Pro EU", unit_amount=2500, currency="eur"),
                      created=JAN_1)
    make_payment(european, 2500, currency="eur", created=MAR_1)
    metrics = monthly_metrics(session, now=NOW)
    assert [series.currency for series in metrics.currencies] == ["eur", "usd"]
    assert month(metrics, "usd", 2026, 3).mrr == 2900
    assert month(metrics, "eur", 2026, 3).mrr == 2500
    assert month(metrics, "eur", 2026, 3).revenue == 2500
    assert month(metrics, "usd", 2026, 3).revenue == 0


def test_a_failed_payment_is_counted_in_the_month_it_was_made(session, customer, make_payment):
    make_payment(customer, 2900, status="failed", created=datetime(2026, 2, 27, tzinfo=UTC),
                 completed_at=datetime(2026, 3, 2, tzinfo=UTC))
    make_payment(customer, 1000, status="failed", created=datetime(2026, 2, 28, tzinfo=UTC))
    make_payment(customer, 500, status="failed", created=datetime(2026, 3, 1, tzinfo=UTC))
    metrics = monthly_metrics(session, now=NOW)
    february, march = month(metrics, "usd", 2026, 2), month(metrics, "usd", 2026, 3)
    assert (february.failed_payments, february.failed_amount) == (2, 3900)
    assert (march.failed_payments, march.failed_amount) == (1, 500)
    assert february.revenue == march.revenue == 0


def test_revenue_is_what_succeeded_in_the_month_it_completed(session, customer, make_payment):
    make_payment(customer, 2900, created=datetime(2026, 2, 28, 23, 59, tzinfo=UTC),
                 completed_at=datetime(2026, 3, 1, 0, 1, tzinfo=UTC))
    make_payment(customer, 1000, created=datetime(2026, 1, 5, tzinfo=UTC))
    make_payment(customer, 700, status="processing", created=datetime(2026, 3, 2, tzinfo=UTC))
    metrics = monthly_metrics(session, now=NOW)
    assert month(metrics, "usd", 2026, 3).revenue == 2900
    assert month(metrics, "usd", 2026, 2).revenue == 0
    assert month(metrics, "usd", 2026, 1).revenue == 1000


def test_nothing_before_the_window_or_after_now_is_counted(session, customer, make_payment,
                                                           make_price, make_subscription):
    make_payment(customer, 2900, created=datetime(2025, 3, 31, 23, 59, tzinfo=UTC))
    make_payment(customer, 1000, created=NOW + timedelta(hours=1))
    make_subscription(customer, make_price(), status="incomplete",
                      created=datetime(2025, 3, 20, tzinfo=UTC))
    assert monthly_metrics(session, now=NOW).currencies == ()


def test_the_year_boundary_is_a_month_boundary(session, customer, make_payment):
    make_payment(customer, 100, created=datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC))
    make_payment(customer, 200, created=JAN_1)
    metrics = monthly_metrics(session, now=NOW)
    assert month(metrics, "usd", 2025, 12).revenue == 100
    assert month(metrics, "usd", 2026, 1).revenue == 200


def test_a_naive_now_is_refused(session):
    with pytest.raises(ValueError):
        monthly_metrics(session, now=NOW.replace(tzinfo=None))


@pytest.fixture
def count_queries(app):
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    yield statements
    event.remove(db.engine, "before_cursor_execute", record)


def _business(session, make_customer, make_price, make_subscription, make_payment, size):
    price = make_price(unit_amount=2900)
    for n in range(size):
        customer = make_customer(email=f"c{size}-{n}@example.com")
        make_subscription(customer, price, created=datetime(2025, 5 + n % 8, 3, tzinfo=UTC))
        make_payment(customer, 2900, created=datetime(2025, 5 + n % 8, 3, tzinfo=UTC))
        make_payment(customer, 2900, status="failed",
                     created=datetime(2025, 5 + n % 8, 4, tzinfo=UTC))


def test_the_queries_do_not_grow_with_subscriptions_or_payments(
        session, make_customer, make_price, make_subscription, make_payment, count_queries):
    _business(session, make_customer, make_price, make_subscription, make_payment, 2)
    count_queries.clear()
    small = monthly_metrics(session, now=NOW)
    few = len(count_queries)
    _business(session, make_customer, make_price, make_subscription, make_payment, 25)
    count_queries.clear()
    large = monthly_metrics(session, now=NOW)
    assert len(count_queries) == few <= 5
    assert large.for_currency("usd").current.active_subscriptions == 27
    assert small.for_currency("usd").current.mrr == 2 * 2900
    assert large.for_currency("usd").current.mrr == 27 * 2900
