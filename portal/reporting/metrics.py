"""The dashboard's numbers: MRR, subscriptions and payments per calendar month and currency.

``monthly_metrics(session, now=now)`` gives the 12 calendar months (UTC) ending with the one
``now`` is in, one series per currency: amounts in different currencies are never added up.

What each number means (the dashboard's page says the same):

- **MRR** (monthly recurring revenue) at the last instant of each month, and at ``now`` for
  the current one: the sum over the subscriptions live at that instant of what each would bill
  in a month. A subscription is live when it had started (``created``), had not ended
  (``ended_at``, else ``canceled_at``), was out of its trial (``trial_end``), and its status is
  active or past due; a canceled one counts until it ended. One that is unpaid or paused now
  counts until its last change (``updated``, when it stopped being collected), because the
  portal keeps no history of statuses; one that is trialing or incomplete never counts.
  Each item's price is made monthly exactly (a year is 12 months, a week 52/12 of a month, a
  day 365/12, divided by the interval count) times its quantity; a coupon in force at that
  instant that repeats (``forever`` or ``repeating``) is taken off (a percentage of it, or its
  amount made monthly over the billing interval, at most the whole), a ``once`` coupon is not
  (it discounts one invoice, not the recurring revenue); then each subscription is rounded
  once, halves away from zero, as portal.billing.calc rounds, and the rounded amounts add up.
  Past months use each subscription's items as they are now: the portal keeps no history of
  plan changes, so a changed plan moves its whole history.
- **Active subscriptions**: how many subscriptions make up that MRR (a free one counts too).
- **New subscriptions**: subscriptions created in the month, whatever happened to them since.
- **Churned subscriptions**: subscriptions whose ``ended_at`` falls in the month.
- **Failed payments**: Payment rows that failed, counted (and their amounts added) in the month
  they were ``created``.
- **Revenue collected**: amounts of the payments that succeeded, in the month they completed
  (``completed_at``). Refunds are not taken off (the portal has none yet).

One query per metric whatever the number of subscriptions or months: payments and new and
churned subscriptions are counted in SQL, bucketed by month with a CASE over the month
boundaries (the same SQL on SQLite and PostgreSQL); MRR reads the subscriptions that can have
been live in the window with their items and coupon in one query and goes over them once.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from functools import lru_cache

from sqlalchemy import case, func, literal, or_, select
from sqlalchemy.orm import Session

from portal.billing.calc import add_months, round_half_away
from portal.catalog.models import Coupon, Price
from portal.payments.models import Payment
from portal.subscriptions.models import Subscription, SubscriptionItem

# A month is 1/12 of a year, so a week is 52/12 of a month and a day 365/12 (as Stripe's MRR).
MONTHS_PER_INTERVAL = {"day": Fraction(12, 365), "week": Fraction(12, 52),
                       "month": Fraction(1), "year": Fraction(12)}
# Statuses whose subscriptions count towards MRR now.
MRR_STATUSES = ("active", "past_due")
# Statuses whose subscriptions counted once and have stopped at a moment the row records:
# canceled at ended_at (or canceled_at); unpaid or paused at their last change.
STOPPED_STATUSES = ("canceled", "unpaid", "paused")
# Coupons that discount every invoice for a while; a "once" coupon discounts one invoice.
RECURRING_COUPON_DURATIONS = ("forever", "repeating")
_LAST_INSTANT = timedelta(microseconds=1)


@dataclass(frozen=True)
class MonthFigures:
    """One currency's numbers for one calendar month; amounts in minor units."""

    month: date  # the first day of the month (UTC)
    mrr: int = 0
    active_subscriptions: int = 0
    new_subscriptions: int = 0
    churned_subscriptions: int = 0
    failed_payments: int = 0
    failed_amount: int = 0
    revenue: int = 0


@dataclass(frozen=True)
class CurrencyMetrics:
    """The months of one currency, oldest first."""

    currency: str  # lower case, as Stripe writes it
    months: tuple[MonthFigures, ...]

    @property
    def current(self) -> MonthFigures:
        """The month ``now`` is in (its MRR is at ``now``)."""
        return self.months[-1]


@dataclass(frozen=True)
class Metrics:
    """Every currency's months; ``months`` are the first days of the months covered."""

    now: datetime
    months: tuple[date, ...]
    currencies: tuple[CurrencyMetrics, ...]

    def for_currency(self, currency: str) -> CurrencyMetrics | None:
        return next((c for c in self.currencies if c.currency == currency.lower()), None)


def month_starts(now: datetime, months: int = 12) -> list[datetime]:
    """The first instants (UTC) of the ``months`` months ending with ``now``'s, then of the
    month after: ``months + 1`` boundaries."""
    first = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return [add_months(first, offset) for offset in range(-(months - 1), 2)]


def measuring_instants(now: datetime, starts: list[datetime]) -> list[datetime]:
    """Where each month's MRR is measured: its last instant, and ``now`` for the current one."""
    return [boundary - _LAST_INSTANT for boundary in starts[1:-1]] + [now]


@lru_cache(maxsize=4096)  # a catalog has few prices: the same few products, many times over
def monthly_amount(unit_amount: int, quantity: int, interval: str | None,
                   interval_count: int | None) -> Fraction:
    """What an item bills in a month, exactly: 12000 a year is 1000; one-time prices 0."""
    if interval not in MONTHS_PER_INTERVAL:
        return Fraction(0)
    months = MONTHS_PER_INTERVAL[interval] * max(int(interval_count or 1), 1)
    return Fraction(int(unit_amount) * int(quantity)) / months


def discounted(gross: Fraction, *, percent_off=None, amount_off: int | None = None,
               months_per_invoice: Fraction = Fraction(1)) -> Fraction:
    """``gross`` (a month's worth) less a coupon: a percentage of it, or an amount off each
    invoice spread over the months an invoice covers, never below zero."""
    if percent_off is not None:
        return gross * (1 - Fraction(percent_off) / 100)
    if amount_off:
        return max(gross - Fraction(int(amount_off)) / months_per_invoice, Fraction(0))
    return gross


@dataclass
class _Live:
    """A subscription as MRR needs it: when it counts, and what it is worth a month."""

    currency: str
    counts_from: datetime
    counts_until: datetime | None  # exclusive; None while it goes on
    gross: Fraction
    months_per_invoice: Fraction | None
    coupon: tuple | None  # (percent_off, amount_off, currency, start, end) of a repeating coupon

    def months_counted(self, instants: list[datetime]) -> range:
        """The indexes of the (sorted) ``instants`` at which this subscription counts."""
        first = bisect_left(instants, self.counts_from)
        last = len(instants) if self.counts_until is None else bisect_left(instants,
                                                                           self.counts_until)
        return range(first, max(first, last))

    def mrr(self) -> tuple[int, int]:
        """(without the coupon, with it), each rounded once."""
        plain = round_half_away(self.gross)
        if self.coupon is None:
            return plain, plain
        percent_off, amount_off, coupon_currency, _, _ = self.coupon
        if amount_off is not None and (coupon_currency or "").lower() != self.currency:
            return plain, plain  # an amount in another currency never applies
        return plain, _rounded_net(self.gross, percent_off, amount_off,
                                   self.months_per_invoice or Fraction(1))

    def coupon_at(self, instant: datetime) -> bool:
        if self.coupon is None:
            return False
        start, end = self.coupon[3], self.coupon[4]
        return (start is None or start <= instant) and (end is None or instant < end)


@lru_cache(maxsize=4096)
def _rounded_net(gross: Fraction, percent_off, amount_off, months_per_invoice: Fraction) -> int:
    return round_half_away(discounted(gross, percent_off=percent_off, amount_off=amount_off,
                                      months_per_invoice=months_per_invoice))


def _stopped_at(status: str, ended_at, canceled_at, updated, now: datetime) -> datetime | None:
    """When a subscription stopped counting, for one that has (None: it has not)."""
    if status in MRR_STATUSES:
        return ended_at
    stopped = (ended_at or canceled_at) if status == "canceled" else updated
    return min(stopped, now) if stopped is not None else None


def _live_subscriptions(session: Session, *, window_start: datetime, now: datetime
                        ) -> list[_Live]:
    """The subscriptions that can have counted in the window, with their items and coupon,
    read in one query (a row per item) and gathered by subscription."""
    rows = session.execute(
        select(Subscription.id, Subscription.currency, Subscription.status,
               Subscription.created, Subscription.ended_at, Subscription.canceled_at,
               Subscription.updated, Subscription.trial_end, Subscription.discount_start,
               Subscription.discount_end, SubscriptionItem.quantity, Price.unit_amount,
               Price.recurring_interval, Price.recurring_interval_count, Coupon.percent_off,
               Coupon.amount_off, Coupon.currency, Coupon.duration)
        .outerjoin(SubscriptionItem, SubscriptionItem.subscription_id == Subscription.id)
        .outerjoin(Price, Price.id == SubscriptionItem.price_id)
        .outerjoin(Coupon, Coupon.id == Subscription.discount_coupon_id)
        .where(Subscription.status.in_(MRR_STATUSES + STOPPED_STATUSES),
               Subscription.created <= now,
               or_(Subscription.ended_at.is_(None), Subscription.ended_at >= window_start))
        .order_by(Subscription.id)
    ).all()
    found: dict[str, _Live] = {}
    for (sub_id, currency, status, created, ended_at, canceled_at, updated, trial_end,
         discount_start, discount_end, quantity, unit_amount, interval, interval_count,
         percent_off, amount_off, coupon_currency, duration) in rows:
        live = found.get(sub_id)
        if live is None:
            stopped = _stopped_at(status, ended_at, canceled_at, updated, now)
            if status not in MRR_STATUSES and stopped is None:
                continue  # stopped, and the row does not say when: never counted
            coupon = None
            if duration in RECURRING_COUPON_DURATIONS:
                coupon = (percent_off, amount_off, coupon_currency, discount_start, discount_end)
            live = found[sub_id] = _Live(
                currency=currency.lower(),
                # Not while trialing: a trial bills nothing.
                counts_from=max(created, trial_end) if trial_end else created,
                counts_until=stopped, gross=Fraction(0), months_per_invoice=None, coupon=coupon)
        if unit_amount is not None and quantity:
            live.gross += monthly_amount(unit_amount, quantity, interval, interval_count)
            if live.months_per_invoice is None and interval in MONTHS_PER_INTERVAL:
                live.months_per_invoice = (MONTHS_PER_INTERVAL[interval]
                                           * max(int(interval_count or 1), 1))
    return list(found.values())


def _bucket(column, starts: list[datetime]):
    """The index of the month ``column`` falls in, as SQL (None outside the window)."""
    return case(*[(column < boundary, index) for index, boundary in enumerate(starts[1:])],
                else_=None)


def _by_month(session: Session, column, starts: list[datetime], now: datetime, *conditions,
              currency_column, amount=None) -> dict[tuple[str, int], tuple[int, int]]:
    """(currency, month index) -> (count, sum of ``amount``) of rows whose ``column`` is in the
    window, counted in SQL."""
    inner = select(func.lower(currency_column).label("currency"),
                   _bucket(column, starts).label("month"),
                   (amount if amount is not None else literal(0)).label("amount")
                   ).where(column >= starts[0], column <= now, *conditions).subquery()
    rows = session.execute(
        select(inner.c.currency, inner.c.month, func.count(),
               func.coalesce(func.sum(inner.c.amount), 0))
        .group_by(inner.c.currency, inner.c.month)
    ).all()
    return {(currency, int(month)): (int(count), int(total))
            for currency, month, count, total in rows if month is not None}


def monthly_metrics(session: Session, *, now: datetime, months: int = 12) -> Metrics:
    """The dashboard's numbers for the ``months`` calendar months (UTC) ending with ``now``'s,
    one series per currency, oldest month first (the module's docstring defines each)."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    if months < 1:
        raise ValueError("months must be at least 1")
    starts = month_starts(now, months)
    instants = measuring_instants(now, starts)

    mrr: dict[str, list[int]] = defaultdict(lambda: [0] * months)
    active: dict[str, list[int]] = defaultdict(lambda: [0] * months)
    for live in _live_subscriptions(session, window_start=starts[0], now=now):
        plain, with_coupon = live.mrr()
        currency_mrr, currency_active = mrr[live.currency], active[live.currency]
        for index in live.months_counted(instants):
            currency_mrr[index] += (with_coupon if with_coupon != plain
                                    and live.coupon_at(instants[index]) else plain)
            currency_active[index] += 1

    new = _by_month(session, Subscription.created, starts, now,
                    currency_column=Subscription.currency)
    churned = _by_month(session, Subscription.ended_at, starts, now,
                        currency_column=Subscription.currency)
    failed = _by_month(session, Payment.created, starts, now, Payment.status == "failed",
                       currency_column=Payment.currency, amount=Payment.amount)
    collected = _by_month(session, Payment.completed_at, starts, now,
                          Payment.status == "succeeded", currency_column=Payment.currency,
                          amount=Payment.amount)

    currencies = set(mrr) | set(active) | {c for table in (new, churned, failed, collected)
                                           for c, _ in table}
    series = []
    for currency in sorted(currencies):
        figures = tuple(
            MonthFigures(
                month=starts[index].date(), mrr=mrr[currency][index],
                active_subscriptions=active[currency][index],
                new_subscriptions=new.get((currency, index), (0, 0))[0],
                churned_subscriptions=churned.get((currency, index), (0, 0))[0],
                failed_payments=failed.get((currency, index), (0, 0))[0],
                failed_amount=failed.get((currency, index), (0, 0))[1],
                revenue=collected.get((currency, index), (0, 0))[1],
            ) for index in range(months))
        if any(f != MonthFigures(month=f.month) for f in figures):
            series.append(CurrencyMetrics(currency=currency, months=figures))
    return Metrics(now=now, months=tuple(s.date() for s in starts[:-1]),
                   currencies=tuple(series))
