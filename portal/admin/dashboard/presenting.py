"""From reporting's numbers and events to what the dashboard's pages draw: the charts' geometry
and words, who each actor is, and event types in plain words. Needs a request (locale)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from babel.numbers import format_compact_currency, format_compact_decimal, get_currency_name
from flask_babel import format_date, format_decimal, get_locale
from sqlalchemy import select
from sqlalchemy.orm import Session
from wtforms.fields.choices import SelectChoice

from portal.admin.models import StaffUser
from portal.money import exponent, format_money, to_decimal
from portal.reporting import audit
from portal.reporting.metrics import CurrencyMetrics, MonthFigures

# ---- the charts ------------------------------------------------------------------------------

# The drawing's own units (the viewBox); CSS scales it to the width it is given.
# Narrow, with large text (20 units) and every other month labelled, so that on a 360 px
# phone the chart is drawn about three quarters size and its text is still about 15 px.
WIDTH, HEIGHT = 440, 330
LEFT, RIGHT, TOP, BOTTOM = 92, 10, 40, 250  # the plot area's edges


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str | None  # "Mar" under every other bar, ending with the current month
    year: str | None  # "2026" under the first label and where the year changes


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class Column:
    """A column of the chart's table after the month: its heading and whether it is money."""

    heading: str
    money: bool = False


@dataclass(frozen=True)
class Row:
    month: str  # "March 2026"
    values: tuple[int, ...]
    texts: tuple[str, ...]  # counts already formatted; money is formatted by the template


@dataclass(frozen=True)
class BarChart:
    """One column chart and the table that holds the same numbers."""

    id: str
    title: str
    description: str
    y_label: str
    x_label: str
    currency: str
    caption: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = BOTTOM


def _locale() -> str:
    return str(get_locale() or "en")


def nice_step(largest: int, *, minimum: int = 1, intervals: int = 4) -> int:
    """A round step (1, 2 or 5 times a power of ten, at least ``minimum``) that covers
    ``largest`` in about ``intervals`` steps."""
    rough = max(largest / intervals, minimum)
    power = 1
    while power * 10 <= rough:
        power *= 10
    for factor in (1, 2, 5, 10):
        if power * factor >= rough:
            return max(power * factor, minimum)
    return power * 10  # pragma: no cover - the loop always returns


def build_chart(*, id: str, title: str, what: str, currency: str, months: Sequence[date],
                values: Sequence[int], money: bool, y_label: str,
                extra: Sequence[tuple[Column, Sequence[int]]] = ()) -> BarChart:
    """A column chart of ``values`` by month, with its table (``extra`` adds columns)."""
    locale = _locale()
    unit = 10 ** exponent(currency) if money else 1  # ticks at whole units of the currency
    step = nice_step(max(values, default=0), minimum=unit)
    top_value = step * max(-(-max(values, default=0) // step), 1)
    ticks_count = top_value // step

    def compact(value: int) -> str:
        if money:
            return format_compact_currency(to_decimal(value, currency), currency.upper(),
                                           locale=locale, fraction_digits=1)
        return format_compact_decimal(value, locale=locale, fraction_digits=1)

    def text(value: int) -> str:
        return format_money(value, currency, locale) if money else format_decimal(value)

    plot_height = BOTTOM - TOP
    slot = (WIDTH - RIGHT - LEFT) / max(len(values), 1)
    bars = []
    last_year = None
    for index, (month, value) in enumerate(zip(months, values, strict=True)):
        height = plot_height * value / top_value
        labelled = (len(months) - 1 - index) % 2 == 0
        year = str(month.year) if labelled and month.year != last_year else None
        if labelled:
            last_year = month.year
        bars.append(Bar(x=round(LEFT + index * slot + slot * 0.15, 2),
                        y=round(BOTTOM - height, 2), width=round(slot * 0.7, 2),
                        height=round(height, 2),
                        label=format_date(month, "MMM") if labelled else None, year=year))
    ticks = tuple(Tick(y=round(BOTTOM - plot_height * n / ticks_count, 2), label=compact(n * step))
                  for n in range(ticks_count + 1))

    first, last = format_date(months[0], "MMMM yyyy"), format_date(months[-1], "MMMM yyyy")
    largest = max(range(len(values)), key=lambda i: (values[i], i)) if values else None
    description = f"{what}, by month, from {first} to {last} (this month so far)."
    if largest is not None:
        description += (f" Latest: {text(values[-1])}. Highest: {text(values[largest])}, in "
                        f"{format_date(months[largest], 'MMMM yyyy')}. The table beside the "
                        "chart gives every month's figure.")
    columns = (Column(title, money), *(column for column, _ in extra))
    series = [values, *(column_values for _, column_values in extra)]
    rows = tuple(
        Row(month=format_date(month, "MMMM yyyy"),
            values=tuple(s[index] for s in series),
            texts=tuple("" if column.money else format_decimal(s[index])
                        for column, s in zip(columns, series, strict=True)))
        for index, month in enumerate(months))
    return BarChart(id=id, title=title, description=description, y_label=y_label,
                    x_label="Month", currency=currency,
                    caption=f"{title} ({currency.upper()}), by month", columns=columns,
                    rows=rows, bars=tuple(bars), ticks=ticks)


def _series(metrics: CurrencyMetrics, pick: Callable[[MonthFigures], int]) -> list[int]:
    return [pick(month) for month in metrics.months]


def currency_charts(metrics: CurrencyMetrics) -> list[BarChart]:
    """The charts of one currency's months, in the order the page shows them."""
    code = metrics.currency
    months = [m.month for m in metrics.months]
    name = code.upper()

    def chart(key, title, what, pick, money, y_label, extra=()):
        return build_chart(id=f"{code}-{key}", title=title, what=what, currency=code,
                           months=months, values=_series(metrics, pick), money=money,
                           y_label=y_label, extra=extra)

    return [
        chart("mrr", "MRR", f"Monthly recurring revenue in {name} at the end of each month",
              lambda m: m.mrr, True, name),
        chart("active", "Active subscriptions",
              f"Subscriptions in {name} counted in MRR at the end of each month",
              lambda m: m.active_subscriptions, False, "Subscriptions"),
        chart("new", "New subscriptions", f"Subscriptions in {name} started in each month",
              lambda m: m.new_subscriptions, False, "Subscriptions"),
        chart("churned", "Churned subscriptions",
              f"Subscriptions in {name} that ended in each month",
              lambda m: m.churned_subscriptions, False, "Subscriptions"),
        chart("failed", "Failed payments", f"Payments in {name} that failed in each month",
              lambda m: m.failed_payments, False, "Payments",
              extra=[(Column("Amount failed", money=True), _series(metrics,
                                                                   lambda m: m.failed_amount))]),
        chart("revenue", "Revenue collected",
              f"Payments in {name} that succeeded in each month",
              lambda m: m.revenue, True, name),
    ]


# ---- the audit log ---------------------------------------------------------------------------

# Event types in plain words; a type missing here is shown from its code ("product.created"
# reads "Product created"), so a new event is never shown blank.
EVENT_WORDS = {
    "login.code_requested": "Asked for a sign-in code",
    "login.code_rejected": "Typed a wrong sign-in code",
    "login.locked": "Sign-in locked after wrong codes",
    "login.signed_in": "Signed in",
    "login.signed_out": "Signed out",
    "login_link.activated": "Portal link opened",
    "login_link.deactivated": "Portal link deactivated",
    "staff.created": "Staff account created",
    "staff.password_changed": "Staff password changed",
    "staff.sign_in_failed": "Dashboard sign-in failed",
    "staff.signed_in": "Signed in to the dashboard",
    "staff.signed_out": "Signed out of the dashboard",
    "customer.created": "Customer created",
    "customer.updated": "Customer details changed",
    "customer.deleted": "Customer deleted",
    "customer.tax_id.created": "Tax ID added",
    "customer.tax_id.deleted": "Tax ID removed",
    "customer.subscription.created": "Subscription started",
    "customer.subscription.updated": "Subscription changed",
    "customer.subscription.deleted": "Subscription ended",
    "payment_method.attached": "Card added",
    "payment_method.detached": "Card removed",
    "payment_method.updated": "Card changed",
    "invoice.finalized": "Invoice finalized",
    "invoice.paid": "Invoice paid",
    "invoice.payment_failed": "Invoice payment failed",
    "invoice.payment_succeeded": "Invoice payment succeeded",
    "invoice.voided": "Invoice voided",
    "product.created": "Product created",
    "product.updated": "Product changed",
    "product.deleted": "Product deleted",
    "price.created": "Price created",
    "price.updated": "Price changed",
    "coupon.created": "Coupon created",
    "coupon.updated": "Coupon changed",
    "branding.updated": "Branding changed",
    "portal_configuration.updated": "Customer portal settings changed",
}


def event_words(event_type: str) -> str:
    """An event type in plain words: "customer.subscription.updated" -> "Subscription changed"."""
    known = EVENT_WORDS.get(event_type)
    if known:
        return known
    words = event_type.replace("_", " ").replace(".", " ").strip()
    return words[:1].upper() + words[1:] if words else "Event"


def type_choices(session: Session) -> list[SelectChoice]:
    """The type filter's options: any, each group of types (a prefix), then each type."""
    types = audit.event_types(session)
    choices = [SelectChoice("", "Any event")]
    choices += [SelectChoice(prefix, f"Every {prefix.removesuffix(audit.PREFIX_MARK)} event "
                                     f"({prefix})", optgroup="Groups of events")
                for prefix in audit.type_prefixes(types)]
    choices += [SelectChoice(event_type, f"{event_words(event_type)} ({event_type})",
                             optgroup="Events") for event_type in types]
    return choices


@dataclass(frozen=True)
class People:
    """The names a page of events shows, looked up once for the page."""

    staff: dict[str, str]
    customers: dict[str, str | None]

    def actor(self, actor: str) -> str:
        """Who did it, in words: a staff member's or customer's email, System, Visitor."""
        kind, ident = audit.actor_parts(actor)
        if kind == "staff":
            return self.staff.get(ident) or f"Staff member {ident} (removed)"
        if kind == "customer":
            return self.customers.get(ident) or f"Customer {ident}"
        return {"system": "System", "visitor": "Visitor", "merchant": "Merchant",
                "api": "API"}.get(kind, kind or "Unknown")

    def customer(self, customer_id: str | None) -> str | None:
        if not customer_id:
            return None
        return self.customers.get(customer_id) or customer_id


def people_for(session: Session, events: Sequence) -> People:
    """Staff and customer emails for ``events``: two queries a page, never one a row."""
    staff_ids = sorted({ident for kind, ident in (audit.actor_parts(e.actor) for e in events)
                        if kind == "staff"})
    staff = dict(session.execute(select(StaffUser.id, StaffUser.email)
                                 .where(StaffUser.id.in_(staff_ids))).all()) if staff_ids else {}
    return People(staff=staff,
                  customers=audit.customer_emails(session, audit.customer_ids_of(events)))


@dataclass(frozen=True)
class EventRow:
    """One line of the audit log as the page shows it."""

    id: str
    created: object  # an aware datetime
    who: str
    words: str
    type: str
    customer_id: str | None
    customer: str | None
    object_id: str | None
    ip_address: str | None
    data: tuple[tuple[str, str], ...]


def event_rows(session: Session, events: Sequence) -> list[EventRow]:
    """``events`` ready to show, with every name looked up in one query per kind."""
    people = people_for(session, events)
    return [EventRow(id=e.id, created=e.created, who=people.actor(e.actor),
                     words=event_words(e.type), type=e.type, customer_id=e.customer_id,
                     customer=people.customer(e.customer_id), object_id=e.object_id,
                     ip_address=e.ip_address, data=tuple(audit.shown_data(e.data)))
            for e in events]


def currency_name(currency: str) -> str:
    """"US Dollar" for usd, in the page's language."""
    try:
        return get_currency_name(currency.upper(), locale=_locale())
    except (ValueError, LookupError):
        return currency.upper()
