"""Subscription rules shared by the portal and, later, the merchant dashboard and the API: what a
customer's subscription costs next, and the changes a customer may make to it (cancel, renew,
switch price or quantity, accept a retention offer, drop a scheduled change).

Every change follows one pattern (docs/conventions.md, "Changing a subscription"):
lock the subscription (then its customer, when money or the balance is involved), check the
version the customer's page was drawn with, work the change out with the same function that
previewed it, apply exactly that, bump the version, stamp ``updated`` and raise one event.

No Flask here: operations take the session, ``now``, the ``actor`` and the portal
``configuration`` explicitly, flush, and leave the commit to the caller. The one exception is a
change that charges a card now: it commits through ``pay_invoice``, which must make its payment
visible before calling the processor.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from fractions import Fraction

from babel.dates import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from portal.billing import charging, invoicing
from portal.billing.calc import (
    DraftLine,
    InvoiceDraft,
    add_months,
    assemble,
    next_period_end,
    period_boundary,
    prorate,
)
from portal.billing.engine import cycle_key
from portal.billing.policy import BillingPolicy
from portal.catalog.models import Coupon, Price
from portal.customers.models import Customer, CustomerBalanceTransaction
from portal.events import raise_event
from portal.i18n import locale_for_customer
from portal.invoices.models import Invoice, InvoiceItem
from portal.invoices.operations import (
    PaymentRefused,
    PayResult,
    charge_invoice,
    decline_message,
    is_expired,
    pay_invoice,
)
from portal.locking import lock_customer, lock_subscription
from portal.outbox.operations import enqueue_email
from portal.payments.gateway import PaymentGateway
from portal.payments.models import Payment, PaymentMethod
from portal.portal_settings.models import CANCELLATION_REASONS, PortalConfiguration
from portal.subscriptions.models import COLLECTION_METHODS, Subscription, SubscriptionItem
from portal.translation import current_locale

STALE_MESSAGE = _l("This subscription changed since you opened this page. Check it and try again.")

# What customers read for each of Stripe's cancellation feedback codes.
CANCELLATION_REASON_LABELS = {
    "too_expensive": _l("Too expensive"),
    "missing_features": _l("Missing features"),
    "switched_service": _l("Switched to another service"),
    "unused": _l("No longer using it"),
    "customer_service": _l("Customer service was less than expected"),
    "too_complex": _l("Too complex"),
    "low_quality": _l("Quality was less than expected"),
    "other": _l("Other reason"),
}
assert set(CANCELLATION_REASON_LABELS) == set(CANCELLATION_REASONS)

RETENTION_OFFERS = ("coupon", "pause", "downgrade")
# Stripe's adjustable_quantity maximum when the merchant gives none.
DEFAULT_MAX_QUANTITY = 99
# A previewed proration date is honoured for this long, so the amounts a customer confirmed are
# the amounts charged (Stripe's proration_date); older previews are worked out again at `now`.
PREVIEW_VALID_FOR = timedelta(hours=1)
# Rough lengths, only to say which billing interval is shorter than another.
_INTERVAL_DAYS = {"day": Fraction(1), "week": Fraction(7), "month": Fraction(365, 12),
                  "year": Fraction(365)}


class SubscriptionRefused(Exception):
    """The change was not made, and why, in words for the customer. ``field`` names the form
    field the message belongs to (None: the form as a whole); ``code`` is for callers."""

    def __init__(self, message: str, *, code: str = "refused", field: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field


class StaleSubscription(SubscriptionRefused):
    """The subscription changed after the customer's page was drawn: nothing was applied."""

    def __init__(self):
        super().__init__(STALE_MESSAGE, code="stale")


# ---- reading ---------------------------------------------------------------------------------

def _with_plan():
    # Items, prices, products and the coupon in the page's one query, never one per row.
    return (joinedload(Subscription.items).joinedload(SubscriptionItem.price)
            .joinedload(Price.product),
            joinedload(Subscription.discount_coupon))


def customer_subscriptions(session: Session, customer: Customer) -> list[Subscription]:
    """The customer's subscriptions: live ones first, then ended ones, oldest first within."""
    subscriptions = session.scalars(
        select(Subscription).where(Subscription.customer_id == customer.id)
        .options(*_with_plan()).order_by(Subscription.created, Subscription.id)
    ).unique().all()
    return sorted(subscriptions, key=lambda s: s.status == "canceled")


def find_subscription(session: Session, customer: Customer, subscription_id: str
                      ) -> Subscription | None:
    """One of the customer's subscriptions by id; None for anyone else's, as for a made-up id."""
    return session.scalars(
        select(Subscription).where(Subscription.id == subscription_id,
                                   Subscription.customer_id == customer.id)
        .options(*_with_plan())
    ).unique().first()


def is_ended(subscription: Subscription) -> bool:
    """True once the subscription is over (cancelled now, or ended by the engine)."""
    return subscription.status == "canceled" or subscription.ended_at is not None


def is_trialing(subscription: Subscription, now: datetime) -> bool:
    """True while a free trial runs: nothing has been paid for the current period."""
    return (subscription.status == "trialing" and subscription.trial_end is not None
            and subscription.trial_end > now)


def is_paused(subscription: Subscription, now: datetime) -> bool:
    """True while collection is paused (a retention pause): renewals make no invoice."""
    resumes = subscription.pause_collection_resumes_at
    return resumes is not None and resumes > now


def discount_in_force(subscription: Subscription, now: datetime) -> Coupon | None:
    """The coupon that applies to an invoice made now, if any."""
    return invoicing.coupon_in_force(subscription, now)


def can_renew(subscription: Subscription, now: datetime) -> bool:
    """A subscription set to end at its period end can be kept until that moment."""
    return (subscription.cancel_at_period_end and not is_ended(subscription)
            and now < subscription.current_period_end)


def scheduled_price(session: Session, subscription: Subscription) -> Price | None:
    """The price a scheduled change switches to (its product loaded), or None."""
    pending = subscription.pending_update or {}
    price_id = pending.get("price")
    if not isinstance(price_id, str):
        return None
    # Often loaded already (update_options loads it with the prices it offers).
    loaded = session.identity_map.get(session.identity_key(Price, price_id))
    if loaded is not None and "product" in loaded.__dict__:
        return loaded
    return session.scalars(select(Price).where(Price.id == price_id)
                           .options(joinedload(Price.product))).first()


def scheduled_change_date(subscription: Subscription) -> datetime | None:
    """When a scheduled change takes effect: at the end of the current period."""
    if not subscription.pending_update:
        return None
    return subscription.current_period_end


# ---- the next invoice, as it is or as it would be after a change ---------------------------

@dataclass(frozen=True)
class Projection:
    """What a subscription's next invoice depends on, as it is now or as it would be after a
    change. ``next_invoice`` turns it into the invoice the next renewal would make, the way
    ``invoicing.upcoming_invoice`` does for the subscription as stored (a test holds the two
    to the same answer), so a preview and the state it promises cannot disagree."""

    subscription: Subscription
    plan: tuple[tuple[Price, int, str | None], ...]  # what the next period bills
    status: str
    ended: bool
    cancel_at_period_end: bool
    period_start: datetime
    period_end: datetime
    anchor: datetime
    trial_end: datetime | None
    pause_resumes_at: datetime | None
    coupon: Coupon | None
    discount_end: datetime | None
    balance: int

    @classmethod
    def of(cls, session: Session, subscription: Subscription) -> Projection:
        return cls(
            subscription=subscription,
            plan=tuple(invoicing.plan_after_pending_update(session, subscription)),
            status=subscription.status, ended=subscription.ended_at is not None,
            cancel_at_period_end=bool(subscription.cancel_at_period_end),
            period_start=subscription.current_period_start,
            period_end=subscription.current_period_end,
            anchor=subscription.billing_cycle_anchor or subscription.current_period_start,
            trial_end=subscription.trial_end,
            pause_resumes_at=subscription.pause_collection_resumes_at,
            coupon=subscription.discount_coupon, discount_end=subscription.discount_end,
            balance=subscription.customer.balance or 0,
        )

    def but(self, **changes) -> Projection:
        return replace(self, **changes)


def next_invoice(projection: Projection, pending: Iterable[DraftLine], tax_rate) -> InvoiceDraft | None:
    """The invoice the next renewal makes for ``projection``, with ``pending`` items on it."""
    if projection.status == "canceled" or projection.ended or projection.cancel_at_period_end:
        return None
    start = projection.period_end
    if projection.status == "trialing" and projection.trial_end:
        start = projection.trial_end
    if projection.pause_resumes_at is not None and projection.pause_resumes_at > start:
        return None
    if not projection.plan:
        return None
    price = projection.plan[0][0]
    end = next_period_end(projection.anchor, price.recurring_interval,
                          price.recurring_interval_count, start)
    lines = list(pending) + invoicing.period_lines(projection.subscription, start, end,
                                                   list(projection.plan))
    coupon = projection.coupon
    if coupon is not None and projection.discount_end is not None and start >= projection.discount_end:
        coupon = None
    return assemble(projection.subscription.currency, lines,
                    discount=invoicing.discount_of(coupon), tax_rate=tax_rate,
                    balance=projection.balance, period_start=start, period_end=end)


def pending_lines(session: Session, subscription: Subscription) -> list[DraftLine]:
    """The items waiting for the subscription's next invoice, as draft lines."""
    return invoicing.item_lines(invoicing.pending_items(session, subscription.id))


def upcoming_invoices(session: Session, customer: Customer, subscriptions: list[Subscription],
                      now: datetime) -> dict[str, InvoiceDraft | None]:
    """Each subscription's upcoming invoice, as ``invoicing.upcoming_invoice`` gives it, for a
    list page: the pending items of all of them in one query and the tax rate looked up once,
    instead of both once per subscription."""
    ids = [s.id for s in subscriptions]
    items_by_subscription: dict[str, list[InvoiceItem]] = {i: [] for i in ids}
    if ids:
        for item in session.scalars(
                select(InvoiceItem).where(InvoiceItem.subscription_id.in_(ids),
                                          InvoiceItem.invoice_id.is_(None))
                .order_by(InvoiceItem.created, InvoiceItem.id)):
            items_by_subscription[item.subscription_id].append(item)
    # Scheduled prices into the session's identity map, so reading each plan queries nothing.
    wanted = {(s.pending_update or {}).get("price") for s in subscriptions}
    wanted = {price_id for price_id in wanted if isinstance(price_id, str)}
    if wanted:
        session.scalars(select(Price).where(Price.id.in_(wanted))
                        .options(joinedload(Price.product))).all()
    tax_rate = invoicing.tax_rate_for(session, customer) if subscriptions else None
    return {s.id: next_invoice(Projection.of(session, s),
                               invoicing.item_lines(items_by_subscription[s.id]), tax_rate)
            for s in subscriptions}


# ---- money helpers ---------------------------------------------------------------------------

def _describe(quantity: int, price: Price) -> str:
    label = price.product.unit_label
    if not label:
        return _("%(quantity)s × %(name)s", quantity=quantity, name=price.product.name)
    # The unit label is the merchant's word ("seat"), counted as they wrote it.
    unit = f"{label}{'s' if quantity != 1 else ''}"
    return _("%(quantity)s × %(name)s %(unit)s", quantity=quantity, name=price.product.name,
             unit=unit)


def _day(moment: datetime) -> str:
    """"Dec 1, 2026" in the language being written (Babel's medium date, in UTC)."""
    return format_date(moment, "medium", locale=current_locale())


def _interval_days(price: Price) -> Fraction:
    return _INTERVAL_DAYS[price.recurring_interval] * price.recurring_interval_count


def _same_interval(a: Price, b: Price) -> bool:
    return (a.recurring_interval, a.recurring_interval_count) == (
        b.recurring_interval, b.recurring_interval_count)


def yearly_amount(price: Price, quantity: int = 1) -> Fraction:
    """What a price costs over a year, to compare prices billed over different intervals."""
    return Fraction(price.unit_amount * quantity) * Fraction(365) / _interval_days(price)


def _card_for(session: Session, subscription: Subscription, customer: Customer,
              now: datetime) -> PaymentMethod | None:
    """The card a charge now would use: the subscription's own, else the customer's default;
    only one that is still saved and has not expired."""
    for method_id in (subscription.default_payment_method_id, customer.default_payment_method_id):
        if not method_id:
            continue
        method = session.get(PaymentMethod, method_id)
        if (method is not None and method.customer_id == customer.id
                and method.detached_at is None and not method.is_expired(now)):
            return method
    return None


def payment_card(session: Session, subscription: Subscription, now: datetime
                 ) -> PaymentMethod | None:
    """The card a change that charges now would be paid with, for the preview to name."""
    return _card_for(session, subscription, subscription.customer, now)


# ---- cancelling ------------------------------------------------------------------------------

@dataclass(frozen=True)
class CancelPlan:
    """What cancelling would do: when the subscription ends, and the credit for unused time."""

    mode: str  # at_period_end | immediately
    ends_at: datetime
    credit: InvoiceDraft | None  # the unused time, discounted and taxed; total <= 0

    @property
    def credit_amount(self) -> int:
        """The credit added to the balance, as a positive number of minor units."""
        return -self.credit.total if self.credit is not None else 0


def cancellation_options(configuration: PortalConfiguration) -> list[tuple[str, str]]:
    """The reasons the merchant asks about, in their order, with the words customers read."""
    if not configuration.cancellation_reason_enabled:
        return []
    options = configuration.cancellation_reason_options or []
    return [(code, CANCELLATION_REASON_LABELS[code]) for code in options
            if code in CANCELLATION_REASON_LABELS]


def cancel_refusal(subscription: Subscription, now: datetime,
                   configuration: PortalConfiguration) -> str | None:
    """Why this subscription cannot be cancelled now, or None when it can."""
    if not configuration.subscription_cancel_enabled:
        return _("Cancelling subscriptions is not available here.")
    if is_ended(subscription):
        return _("This subscription has already ended.")
    if subscription.cancel_at_period_end:
        return _("This subscription is already set to end on %(day)s.",
                 day=_day(subscription.current_period_end))
    return None


def _unused_time_credit(session: Session, subscription: Subscription,
                        at: datetime) -> InvoiceDraft | None:
    """The credit for the paid time left after ``at``: each item's amount for the period,
    prorated by the second, with the discount and tax its invoice had. None when nothing was
    paid for the period (a trial, or a pause that skipped its invoice)."""
    if is_trialing(subscription, at):
        return None
    resumes = subscription.pause_collection_resumes_at
    if resumes is not None and resumes > subscription.current_period_start:
        return None
    start, end = subscription.current_period_start, subscription.current_period_end
    lines = []
    for item in subscription.items:
        unused = prorate(item.price.unit_amount * item.quantity, start, end, at)
        if unused:
            lines.append(DraftLine(
                description=_("Unused time on %(describe)s after %(day)s",
                              describe=_describe(item.quantity, item.price), day=_day(at)),
                amount=-unused, quantity=item.quantity, unit_amount=item.price.unit_amount,
                price_id=item.price_id, subscription_item_id=item.id, period_start=at,
                period_end=end, proration=True))
    if not lines:
        return None
    # The coupon the period's invoice had, and no balance: this is what that time cost.
    return invoicing.draft_for(session, subscription, lines, at=start, period_start=at,
                               period_end=end, use_balance=False)


def plan_cancel(session: Session, subscription: Subscription, *, now: datetime,
                configuration: PortalConfiguration) -> CancelPlan:
    """What cancelling now would do, for the confirmation page and for cancelling itself."""
    if configuration.subscription_cancel_mode != "immediately":
        return CancelPlan("at_period_end", subscription.current_period_end, None)
    credit = None
    if configuration.subscription_cancel_proration_behavior == "create_prorations":
        credit = _unused_time_credit(session, subscription, now)
        if credit is not None and credit.total >= 0:
            credit = None
    return CancelPlan("immediately", now, credit)


def cancel_subscription(session: Session, subscription: Subscription, *, expected_version: int,
                        now: datetime, actor: str, configuration: PortalConfiguration,
                        feedback: str | None = None, comment: str | None = None) -> CancelPlan:
    """Cancel as the configuration says: at the period end, or now (with a credit for the
    unused time when it prorates), keeping the customer's reason and comment."""
    subscription = _lock(session, subscription, expected_version)
    refusal = cancel_refusal(subscription, now, configuration)
    if refusal:
        raise SubscriptionRefused(refusal, code="not_cancellable")
    if feedback is not None and feedback not in dict(cancellation_options(configuration)):
        raise SubscriptionRefused(_("Choose one of the reasons listed"), field="reason")
    comment = (comment or "").strip()[:500] or None
    customer = subscription.customer
    if configuration.subscription_cancel_mode == "immediately":
        # The balance may change: the customer's lock, after the subscription's (one order).
        customer = lock_customer(session, customer)
    cancel = plan_cancel(session, subscription, now=now, configuration=configuration)
    _record_cancel(session, subscription, customer, cancel, feedback=feedback, comment=comment,
                   now=now, actor=actor)
    return cancel


def _record_cancel(session: Session, subscription: Subscription, customer: Customer,
                   cancel: CancelPlan, *, feedback: str | None, comment: str | None,
                   now: datetime, actor: str) -> None:
    """Write a cancel worked out by ``plan_cancel`` (or the merchant's): the end now or at the
    period end, the credit for unused time, the one event and the customer's email. The
    subscription (and, for a cancel now, the customer) is locked by the caller."""
    previous = {"status": subscription.status,
                "cancel_at_period_end": subscription.cancel_at_period_end,
                "pending_update": subscription.pending_update}
    subscription.canceled_at = now
    subscription.cancellation_reason = "cancellation_requested"
    subscription.cancellation_feedback = feedback
    subscription.cancellation_comment = comment
    # A scheduled change would take effect when the subscription ends: it never will.
    subscription.pending_update = None
    if cancel.mode == "immediately":
        subscription.status = "canceled"
        subscription.ended_at = now
        subscription.cancel_at_period_end = False
        subscription.cancel_at = None
        if cancel.credit is not None:
            invoicing.credit_balance(
                session, customer, cancel.credit.total, subscription.currency, now=now,
                description=_("Unused time on subscription %(id)s after %(day)s",
                              id=subscription.id, day=_day(now)),
                creation_key=f"{subscription.id}:cancel:unused-time")
        event_type, action = "customer.subscription.deleted", "canceled"
    else:
        subscription.cancel_at_period_end = True
        subscription.cancel_at = subscription.current_period_end
        event_type, action = "customer.subscription.updated", "cancel_at_period_end"
    _changed(session, subscription, event_type, action, now=now, actor=actor, data={
        "status": subscription.status, "cancel_at_period_end": subscription.cancel_at_period_end,
        "cancel_at": _iso(subscription.cancel_at), "ended_at": _iso(subscription.ended_at),
        "cancellation_details": {"reason": "cancellation_requested", "feedback": feedback,
                                 "comment": comment},
        "credit": cancel.credit_amount, "previous_attributes": previous})
    _email(session, subscription, "subscription_canceled",
           _l("Your subscription has been cancelled") if cancel.mode == "immediately"
           else _l("Your subscription ends on %(day)s", day=_day(cancel.ends_at)), now=now,
           context={"ends_on": _day(cancel.ends_at), "immediately": cancel.mode == "immediately",
                    "credit": cancel.credit_amount})
    session.flush()


def end_subscription_now(session: Session, subscription: Subscription, *, now: datetime,
                         actor: str, reason: str = "merchant") -> bool:
    """End the subscription now, quietly (deleting its customer does: no proration credit, no
    final invoice, no email; the customer did not ask). The API's DELETE, which takes
    Stripe's options, is ``cancel_subscription_now``. Takes the
    subscription's lock (the caller may hold it already, and may then hold the customer's
    too). Raises customer.subscription.deleted with ``data["reason"]`` (``merchant``,
    ``customer_deleted``); False for one that had already ended."""
    locked = lock_subscription(session, subscription.id)
    if locked is None or is_ended(locked):
        return False
    subscription = locked
    previous = {"status": subscription.status,
                "cancel_at_period_end": subscription.cancel_at_period_end,
                "pending_update": subscription.pending_update}
    subscription.status = "canceled"
    subscription.canceled_at = now
    subscription.ended_at = now
    subscription.cancel_at_period_end = False
    subscription.cancel_at = None
    subscription.cancellation_reason = "cancellation_requested"
    # A scheduled change would take effect when the subscription ends: it never will.
    subscription.pending_update = None
    _changed(session, subscription, "customer.subscription.deleted", "canceled", now=now,
             actor=actor, data={
                 "status": "canceled", "reason": reason, "ended_at": _iso(now),
                 "cancel_at_period_end": False, "cancel_at": None,
                 "cancellation_details": {"reason": "cancellation_requested", "feedback": None,
                                          "comment": None},
                 "credit": 0, "previous_attributes": previous})
    session.flush()
    return True


def renew_subscription(session: Session, subscription: Subscription, *, expected_version: int,
                       now: datetime, actor: str, configuration: PortalConfiguration) -> None:
    """Keep a subscription that was set to end at its period end, until that moment."""
    subscription = _lock(session, subscription, expected_version)
    if is_ended(subscription) or (subscription.cancel_at_period_end
                                  and now >= subscription.current_period_end):
        raise SubscriptionRefused(
            _("This subscription ended on %(day)s, so it can no longer be renewed.",
              day=_day(subscription.ended_at or subscription.current_period_end)), code="ended")
    if not subscription.cancel_at_period_end:
        raise SubscriptionRefused(_("This subscription is not set to end, so there is nothing to renew."),
                                  code="not_cancelling")
    _keep(session, subscription, now=now, actor=actor)


def _keep(session: Session, subscription: Subscription, *, now: datetime, actor: str) -> None:
    """Undo a cancel at the period end on the locked subscription: one event, one email."""
    previous = {"cancel_at_period_end": True, "canceled_at": _iso(subscription.canceled_at),
                "cancellation_details": {"reason": subscription.cancellation_reason,
                                         "feedback": subscription.cancellation_feedback,
                                         "comment": subscription.cancellation_comment}}
    subscription.cancel_at_period_end = False
    subscription.cancel_at = None
    subscription.canceled_at = None
    subscription.cancellation_reason = None
    subscription.cancellation_feedback = None
    subscription.cancellation_comment = None
    _changed(session, subscription, "customer.subscription.updated", "renewed", now=now,
             actor=actor, data={"cancel_at_period_end": False, "previous_attributes": previous})
    _email(session, subscription, "subscription_renewed", _l("Your subscription will continue"),
           now=now, context={"renews_on": _day(subscription.current_period_end)})
    session.flush()


# ---- changing price or quantity --------------------------------------------------------------

@dataclass(frozen=True)
class QuantityRange:
    """The quantities a product's adjustable_quantity allows, both ends included."""

    minimum: int
    maximum: int

    def __contains__(self, quantity: int) -> bool:
        return self.minimum <= quantity <= self.maximum


@dataclass(frozen=True)
class UpdateOptions:
    """What a customer may change about a subscription: ``reason`` says plainly why nothing,
    when ``prices`` is empty."""

    reason: str | None = None
    prices: tuple[Price, ...] = ()
    # product id -> the quantities allowed for that product's prices (absent: not adjustable)
    quantities: dict[str, QuantityRange] = field(default_factory=dict)

    @property
    def allowed(self) -> bool:
        return self.reason is None

    def quantity_range(self, price: Price) -> QuantityRange | None:
        return self.quantities.get(price.product_id)


def _product_entries(configuration: PortalConfiguration) -> list[dict]:
    entries = configuration.subscription_update_products or []
    return [e for e in entries if isinstance(e, dict) and isinstance(e.get("product"), str)]


def _quantity_range(entry: dict) -> QuantityRange | None:
    adjustable = entry.get("adjustable_quantity") or {}
    if not isinstance(adjustable, dict) or not adjustable.get("enabled"):
        return None

    def whole(value, default: int) -> int:
        return value if isinstance(value, int) and not isinstance(value, bool) else default

    # At least one: a subscription for nothing is a cancellation, which has its own way.
    minimum = max(whole(adjustable.get("minimum"), 1), 1)
    maximum = max(whole(adjustable.get("maximum"), DEFAULT_MAX_QUANTITY), minimum)
    return QuantityRange(minimum, maximum)


def update_options(session: Session, subscription: Subscription, *, now: datetime,
                   configuration: PortalConfiguration) -> UpdateOptions:
    """The prices and quantities this subscription may switch to, or why it cannot."""
    if not configuration.subscription_update_enabled:
        return UpdateOptions(_("Changing plans is not available here."))
    if is_ended(subscription):
        return UpdateOptions(_("This subscription has ended, so its plan cannot be changed."))
    if len(subscription.items) != 1:
        return UpdateOptions(_("This subscription has several items, so its plan cannot be "
                               "changed here."))
    if subscription.cancel_at_period_end:
        return UpdateOptions(_("This subscription ends on %(day)s. Renew it first if you want "
                               "to change your plan.", day=_day(subscription.current_period_end)))
    if subscription.status in ("past_due", "unpaid"):
        return UpdateOptions(_("A payment for this subscription is overdue. Pay the open invoice "
                               "first, then you can change your plan."))
    if subscription.status not in ("active", "trialing"):
        return UpdateOptions(_("This subscription is not active, so its plan cannot be "
                               "changed."))
    if is_paused(subscription, now):
        return UpdateOptions(_("Payments are paused until %(day)s. You can change your plan "
                               "after that.", day=_day(subscription.pause_collection_resumes_at)))
    item = subscription.items[0]
    entries = {e["product"]: e for e in _product_entries(configuration)}
    if item.price.product_id not in entries:
        return UpdateOptions(_("Your %(name)s plan cannot be switched here.",
                               name=item.price.product.name))
    allowed = set(configuration.subscription_update_default_allowed_updates or [])
    listed: list[str] = []
    if "price" in allowed:
        for entry in entries.values():
            listed += [p for p in entry.get("prices") or [] if isinstance(p, str)]
    # A scheduled change's price comes in the same query, for the page that shows it.
    scheduled = (subscription.pending_update or {}).get("price")
    wanted = listed + ([scheduled] if isinstance(scheduled, str) else [])
    found = {p.id: p for p in session.scalars(
        select(Price).where(Price.id.in_(wanted)).options(joinedload(Price.product)))} if wanted else {}
    prices = [found[p] for p in dict.fromkeys(listed) if p in found]
    # An archived price, or any price of an archived product, is offered to no one new.
    prices = [p for p in prices if p.active and p.product.active and p.is_recurring
              and p.currency == subscription.currency
              and p.product_id in entries and p.id in (entries[p.product_id].get("prices") or [])]
    if item.price not in prices:
        prices.insert(0, item.price)  # the current plan, so its quantity can still change
    quantities = {}
    if "quantity" in allowed:
        for product_id, entry in entries.items():
            quantity_range = _quantity_range(entry)
            if quantity_range is not None:
                quantities[product_id] = quantity_range
    if len(prices) == 1 and not quantities.get(item.price.product_id):
        return UpdateOptions(_("Your %(name)s plan cannot be changed here.",
                               name=item.price.product.name))
    return UpdateOptions(None, tuple(prices), quantities)


def quantity_for(options: UpdateOptions, subscription: Subscription, price: Price,
                 quantity: int | None) -> int:
    """The quantity a switch to ``price`` bills: the one asked for where the merchant lets it
    change; otherwise the current one within the same product, and 1 for another product."""
    item = subscription.items[0]
    if options.quantity_range(price) is None or quantity is None:
        return item.quantity if price.product_id == item.price.product_id else 1
    return quantity


@dataclass(frozen=True)
class PlannedChange:
    """A change of price or quantity worked out in full: when it applies, what it costs today,
    and the next invoice after it. Previews show it; ``change_subscription`` applies it."""

    subscription_id: str
    old_price: Price
    old_quantity: int
    price: Price
    quantity: int
    timing: str  # "now" or "period_end" (scheduled: a downgrade waits)
    effective_at: datetime
    proration_date: datetime
    proration_behavior: str
    # The credit for unused time and the charge for the time left, by the second.
    proration_lines: tuple[DraftLine, ...] = ()
    # Written and charged now (always_invoice, a trial ended, a new billing interval).
    invoice_now: InvoiceDraft | None = None
    new_period: tuple[datetime, datetime] | None = None
    ends_trial: bool = False
    next_invoice: InvoiceDraft | None = None
    scheduled_because: str | None = None

    @property
    def amount_due_today(self) -> int:
        return self.invoice_now.amount_due if self.invoice_now is not None else 0

    @property
    def carries_prorations(self) -> bool:
        """True when the prorations wait on the next invoice as pending items."""
        return bool(self.proration_lines) and self.invoice_now is None


def _proration_date(subscription: Subscription, now: datetime, previewed: datetime | None) -> datetime:
    """The moment prorations are counted from: the preview's, if recent and in this period."""
    if previewed is None:
        return now
    if (previewed <= now and now - previewed <= PREVIEW_VALID_FOR
            and previewed >= subscription.current_period_start):
        return previewed
    return now


def _schedule_reason(configuration: PortalConfiguration, old: Price, old_quantity: int,
                     new: Price, quantity: int) -> str | None:
    """Which of the configured conditions makes this change wait for the period end."""
    conditions = set(configuration.schedule_at_period_end_conditions or [])
    if ("decreasing_item_amount" in conditions
            and new.unit_amount * quantity < old.unit_amount * old_quantity):
        return "decreasing_item_amount"
    if "shortening_interval" in conditions and _interval_days(new) < _interval_days(old):
        return "shortening_interval"
    return None


def compute_change(session: Session, subscription: Subscription, price: Price, quantity: int, *,
                   now: datetime, configuration: PortalConfiguration,
                   proration_date: datetime | None = None) -> PlannedChange:
    """Work out switching the subscription's one item to ``quantity`` × ``price`` at ``now``,
    by the configuration's rules (no eligibility checks: ``plan_change`` makes those)."""
    item = subscription.items[0]
    old, old_quantity = item.price, item.quantity
    behavior = configuration.subscription_update_proration_behavior or "none"
    at = _proration_date(subscription, now, proration_date)
    base = dict(subscription_id=subscription.id, old_price=old, old_quantity=old_quantity,
                price=price, quantity=quantity, proration_behavior=behavior)
    projection = Projection.of(session, subscription).but(plan=((price, quantity, item.id),))
    existing = pending_lines(session, subscription)
    tax_rate = invoicing.tax_rate_for(session, subscription.customer)
    period_start, period_end = subscription.current_period_start, subscription.current_period_end

    if is_trialing(subscription, now):
        if configuration.trial_update_behavior == "continue_trial":
            # Nothing has been paid: the trial carries on and ends on the new plan.
            return PlannedChange(**base, timing="now", effective_at=now, proration_date=at,
                                 next_invoice=next_invoice(projection, existing, tax_rate))
        # The trial ends now and the first paid period of the new plan begins.
        new_period = (now, period_boundary(now, price.recurring_interval,
                                           price.recurring_interval_count, 1))
        return _restart_period(session, subscription, base, projection, existing, tax_rate,
                               new_period, credit=(), at=at, ends_trial=True)

    reason = _schedule_reason(configuration, old, old_quantity, price, quantity)
    if reason is not None:
        scheduled = projection.but(plan=((price, quantity, item.id),))
        return PlannedChange(**base, timing="period_end", effective_at=period_end,
                             proration_date=at, scheduled_because=reason,
                             next_invoice=next_invoice(scheduled, existing, tax_rate))

    credit: tuple[DraftLine, ...] = ()
    if behavior != "none":
        unused = prorate(old.unit_amount * old_quantity, period_start, period_end, at)
        if unused:
            credit = (DraftLine(
                description=_("Unused time on %(describe)s after %(day)s",
                              describe=_describe(old_quantity, old), day=_day(at)),
                amount=-unused, quantity=old_quantity, unit_amount=old.unit_amount,
                price_id=old.id, period_start=at, period_end=period_end, proration=True),)

    if not _same_interval(old, price):
        # A new billing interval starts a new period now, invoiced at once (as Stripe does).
        new_period = (now, period_boundary(now, price.recurring_interval,
                                           price.recurring_interval_count, 1))
        return _restart_period(session, subscription, base, projection, existing, tax_rate,
                               new_period, credit=credit, at=at, ends_trial=False)

    lines = list(credit)
    if behavior != "none":
        remaining = prorate(price.unit_amount * quantity, period_start, period_end, at)
        if remaining:
            lines.append(DraftLine(
                description=_("Remaining time on %(describe)s after %(day)s",
                              describe=_describe(quantity, price), day=_day(at)),
                amount=remaining, quantity=quantity, unit_amount=price.unit_amount,
                price_id=price.id, period_start=at, period_end=period_end, proration=True))
    if behavior == "always_invoice" and lines:
        invoice_now = invoicing.draft_for(session, subscription, existing + lines, at=now,
                                          period_start=at, period_end=period_end)
        after = projection.but(balance=invoice_now.ending_balance)
        return PlannedChange(**base, timing="now", effective_at=now, proration_date=at,
                             proration_lines=tuple(lines), invoice_now=invoice_now,
                             next_invoice=next_invoice(after, [], tax_rate))
    return PlannedChange(**base, timing="now", effective_at=now, proration_date=at,
                         proration_lines=tuple(lines),
                         next_invoice=next_invoice(projection, existing + lines, tax_rate))


def _restart_period(session, subscription, base, projection, existing, tax_rate, new_period,
                    *, credit, at, ends_trial) -> PlannedChange:
    """A change that begins a new billing period now (a new interval, or a trial ended): the
    whole first period invoiced today, less any credit, and the next invoice after it."""
    start, end = new_period
    price, quantity = base["price"], base["quantity"]
    item_id = subscription.items[0].id
    lines = existing + list(credit) + invoicing.period_lines(
        subscription, start, end, [(price, quantity, item_id)])
    invoice_now = invoicing.draft_for(session, subscription, lines, at=start, period_start=start,
                                      period_end=end)
    after = projection.but(status="active", trial_end=None if ends_trial else projection.trial_end,
                           period_start=start, period_end=end, anchor=start,
                           balance=invoice_now.ending_balance)
    return PlannedChange(**base, timing="now", effective_at=start, proration_date=at,
                         proration_lines=tuple(credit), invoice_now=invoice_now,
                         new_period=new_period, ends_trial=ends_trial,
                         next_invoice=next_invoice(after, [], tax_rate))


def plan_change(session: Session, subscription: Subscription, *, price_id: str | None,
                quantity: int | None, now: datetime, configuration: PortalConfiguration,
                proration_date: datetime | None = None,
                coupon: Coupon | None = None) -> PlannedChange:
    """Check a requested switch against the configuration and work it out; raises
    SubscriptionRefused (naming the field) when it is not allowed. ``coupon``: the change
    also applies this coupon from now (a portal session's subscription_update_confirm
    discount); the plan is worked out as if it were on the subscription already."""
    if coupon is not None:
        with _coupon_applied(subscription, coupon, now):
            return plan_change(session, subscription, price_id=price_id, quantity=quantity,
                               now=now, configuration=configuration,
                               proration_date=proration_date)
    options = update_options(session, subscription, now=now, configuration=configuration)
    if not options.allowed:
        raise SubscriptionRefused(options.reason, code="not_updatable")
    item = subscription.items[0]
    price = next((p for p in options.prices if p.id == price_id), None) if price_id else item.price
    if price is None:
        raise SubscriptionRefused(_("Choose one of the plans listed"), field="price")
    quantity_range = options.quantity_range(price)
    if quantity_range is not None and quantity is None:
        raise SubscriptionRefused(_("Enter a quantity"), field="quantity")
    if quantity_range is not None and quantity not in quantity_range:
        raise SubscriptionRefused(_quantity_message(quantity, quantity_range, price), field="quantity")
    quantity = quantity_for(options, subscription, price, quantity)
    if price.id == item.price_id and quantity == item.quantity:
        pending = subscription.pending_update
        raise SubscriptionRefused(
            _("This is your current plan. To keep it, cancel the scheduled change instead.")
            if pending else _("This is your current plan. Choose another plan or quantity."),
            field="price" if len(options.prices) > 1 else "quantity")
    return compute_change(session, subscription, price, quantity, now=now,
                          configuration=configuration, proration_date=proration_date)


@contextmanager
def _coupon_applied(subscription: Subscription, coupon: Coupon, now: datetime):
    """The subscription as if ``coupon`` applied from ``now``, for working a change out; as it
    was afterwards. Set as loaded values, so nothing is written and nothing is flushed."""
    names = ("discount_coupon", "discount_coupon_id", "discount_start", "discount_end")
    before = {name: getattr(subscription, name) for name in names}
    for name, value in (("discount_coupon", coupon), ("discount_coupon_id", coupon.id),
                        ("discount_start", now), ("discount_end", _coupon_end(coupon, now))):
        set_committed_value(subscription, name, value)
    try:
        yield
    finally:
        for name, value in before.items():
            set_committed_value(subscription, name, value)


def apply_coupon(subscription: Subscription, coupon: Coupon, now: datetime) -> None:
    """Put ``coupon`` on the (locked) subscription from ``now``, as a retention offer does."""
    subscription.discount_coupon = coupon
    subscription.discount_start = now
    subscription.discount_end = _coupon_end(coupon, now)


def _quantity_message(quantity: int, quantity_range: QuantityRange, price: Price) -> str:
    if quantity < quantity_range.minimum:
        return _("Enter a quantity of at least %(minimum)s", minimum=quantity_range.minimum)
    return _("Enter a quantity of at most %(maximum)s", maximum=quantity_range.maximum)


@dataclass(frozen=True)
class ChangeResult:
    """A change as applied: the plan it followed, and any invoice written and its payment."""

    plan: PlannedChange
    invoice: Invoice | None = None
    payment: PayResult | None = None
    # Why the charge failed (the change still applies; the invoice stays open to pay).
    decline_message: str | None = None

    @property
    def charged(self) -> int:
        """What was taken from the card now."""
        if self.payment is not None and self.payment.status == "succeeded" and self.invoice:
            return self.invoice.amount_paid
        return 0


def change_subscription(session: Session, subscription: Subscription, *, price_id: str | None,
                        quantity: int | None, expected_version: int, now: datetime, actor: str,
                        configuration: PortalConfiguration, gateway: PaymentGateway,
                        proration_date: datetime | None = None,
                        coupon: Coupon | None = None) -> ChangeResult:
    """Switch price and/or quantity as previewed: now (with the configured proration) or, for
    a downgrade the configuration holds back, at the period end. An invoice written now is
    charged to the saved card; if the charge fails the change stands, the invoice stays open
    and the subscription becomes past_due. ``coupon`` is applied from now with the change (its
    one event names it), as ``plan_change`` previewed it."""
    subscription = _lock(session, subscription, expected_version)
    customer = lock_customer(session, subscription.customer)
    plan = plan_change(session, subscription, price_id=price_id, quantity=quantity, now=now,
                       configuration=configuration, proration_date=proration_date,
                       coupon=coupon)
    extra = None
    if coupon is not None:
        extra = {"coupon": coupon.id,
                 "previous_discount_coupon": subscription.discount_coupon_id}
        apply_coupon(subscription, coupon, now)
    return _carry_out(session, subscription, customer, plan, now=now, actor=actor,
                      gateway=gateway, action=None, extra=extra)


def _carry_out(session: Session, subscription: Subscription, customer: Customer,
               plan: PlannedChange, *, now: datetime, actor: str, gateway: PaymentGateway | None,
               action: str | None, extra: dict | None = None) -> ChangeResult:
    """Apply ``plan`` to the locked subscription, raise its one event, then charge what it
    invoiced now."""
    card = None
    if plan.amount_due_today > 0 and subscription.collection_method == "charge_automatically":
        card = _card_for(session, subscription, customer, now)
        if card is None or gateway is None:
            raise SubscriptionRefused(
                _("This change is paid now, and you have no card we can charge. Add a card, "
                "then change your plan."), code="no_card")
    version = subscription.version
    previous = {"price": plan.old_price.id, "quantity": plan.old_quantity,
                "pending_update": subscription.pending_update, "status": subscription.status}
    invoice = _apply(session, subscription, plan, now=now, actor=actor)
    scheduled = plan.timing == "period_end"
    _changed(session, subscription, "customer.subscription.updated",
             action or ("plan_change_scheduled" if scheduled else "plan_changed"), now=now,
             actor=actor, data={
                 **(extra or {}), "price": plan.price.id, "quantity": plan.quantity,
                 "effective_at": _iso(plan.effective_at),
                 "proration_behavior": plan.proration_behavior,
                 "proration_date": _iso(plan.proration_date),
                 "invoice_id": invoice.id if invoice is not None else None,
                 "amount_due_today": plan.amount_due_today, "previous_attributes": previous})
    _email(session, subscription, "subscription_updated",
           _l("Your plan changes on %(day)s", day=_day(plan.effective_at)) if scheduled
           else _l("Your plan has changed"),
           now=now, context={"plan": _describe(plan.quantity, plan.price),
                             "previous_plan": _describe(plan.old_quantity, plan.old_price),
                             "scheduled": scheduled, "effective_on": _day(plan.effective_at),
                             "amount_due_today": plan.amount_due_today})
    session.flush()
    if invoice is None or card is None or invoice.status != "open":
        return ChangeResult(plan, invoice)
    # The key is the change itself: a retry of this change can never charge twice.
    key = f"subscription-{subscription.id}-v{version}"
    try:
        payment = pay_invoice(session, invoice, card, key, now=now, actor=actor, gateway=gateway)
    except PaymentRefused as refused:
        payment, message = None, refused.message
    else:
        message = payment.message if payment.status == "failed" else None
        if payment.status != "failed":
            return ChangeResult(plan, invoice, payment)
    # pay_invoice committed the change and the invoice; the failure makes the subscription
    # past due, under its lock again.
    subscription = lock_subscription(session, subscription.id)
    if subscription.status in ("active", "trialing"):
        subscription.status = "past_due"
        subscription.version += 1
        subscription.updated = now
    session.flush()
    return ChangeResult(plan, invoice, payment, decline_message=message)


def _apply(session: Session, subscription: Subscription, plan: PlannedChange, *, now: datetime,
           actor: str) -> Invoice | None:
    """Write what ``plan`` says: a scheduled change, or the new item, its prorations and the
    invoice made now."""
    if plan.timing == "period_end":
        subscription.pending_update = {
            "price": plan.price.id, "quantity": plan.quantity, "requested_at": _iso(now),
            "effective_at": _iso(plan.effective_at), "actor": actor,
            "reason": plan.scheduled_because}
        return None
    item = subscription.items[0]
    item.price = plan.price
    item.quantity = plan.quantity
    subscription.pending_update = None
    if plan.ends_trial:
        subscription.status = "active"
        subscription.trial_end = now
    if plan.new_period is not None:
        subscription.current_period_start, subscription.current_period_end = plan.new_period
        subscription.billing_cycle_anchor = plan.new_period[0]
    if plan.carries_prorations:
        for position, line in enumerate(plan.proration_lines):
            _add_pending_item(session, subscription, line,
                              key=f"{subscription.id}:v{subscription.version}:proration:{position}",
                              # Created a microsecond apart, so the next invoice lists the
                              # credit before the charge, as the preview did.
                              created=now + timedelta(microseconds=position))
    if plan.invoice_now is None:
        return None
    return invoicing.write_invoice(
        session, subscription, plan.invoice_now, billing_reason="subscription_update",
        creation_key=f"{subscription.id}:update:v{subscription.version}", now=now, actor=actor)


def _add_pending_item(session: Session, subscription: Subscription, line: DraftLine, *,
                      key: str, created: datetime) -> None:
    """A proration carried to the next invoice, once per key however often it is sent."""
    if session.scalars(select(InvoiceItem.id).where(InvoiceItem.creation_key == key)).first():
        return
    try:
        with session.begin_nested():
            session.add(InvoiceItem(
                customer_id=subscription.customer_id, subscription_id=subscription.id,
                description=line.description, price_id=line.price_id, quantity=line.quantity,
                amount=line.amount, currency=subscription.currency,
                period_start=line.period_start, period_end=line.period_end, proration=True,
                creation_key=key, created=created))
            session.flush()
    except IntegrityError:
        pass  # made by a writer that got there first: once is what the key promises


def cancel_scheduled_change(session: Session, subscription: Subscription, *,
                            expected_version: int, now: datetime, actor: str,
                            configuration: PortalConfiguration) -> None:
    """Drop a change waiting for the period end: the subscription renews as it is."""
    subscription = _lock(session, subscription, expected_version)
    if not subscription.pending_update:
        raise SubscriptionRefused(_("There is no scheduled change to cancel."), code="no_change")
    previous = subscription.pending_update
    subscription.pending_update = None
    _changed(session, subscription, "customer.subscription.updated", "scheduled_change_canceled",
             now=now, actor=actor, data={"previous_attributes": {"pending_update": previous}})
    session.flush()


# ---- retention offers ------------------------------------------------------------------------

@dataclass(frozen=True)
class RetentionOffers:
    """What the merchant offers before a cancel is final, as far as this subscription can take
    it: each offer once per subscription, and only one that would make a difference."""

    coupon: Coupon | None = None
    coupon_ends: datetime | None = None
    coupon_invoice: InvoiceDraft | None = None  # the next invoice with the coupon
    pause_resumes: dict[int, datetime] = field(default_factory=dict)  # months -> resumes at
    downgrade: PlannedChange | None = None

    def __bool__(self) -> bool:
        return bool(self.coupon or self.pause_resumes or self.downgrade)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, offered in (("coupon", self.coupon),
                                                ("pause", self.pause_resumes),
                                                ("downgrade", self.downgrade)) if offered)


def accepted_offers(subscription: Subscription) -> dict:
    """The retention offers this subscription has taken, with when."""
    accepted = (subscription.metadata_ or {}).get("retention_offers_accepted")
    return dict(accepted) if isinstance(accepted, dict) else {}


def _coupon_end(coupon: Coupon, start: datetime) -> datetime | None:
    """When a coupon applied at ``start`` stops: N months on for a repeating one."""
    if coupon.duration == "repeating" and coupon.duration_in_months:
        return add_months(start, coupon.duration_in_months)
    return None  # forever; or "once", which the first invoice uses up


def retention_offers(session: Session, subscription: Subscription, *, now: datetime,
                     configuration: PortalConfiguration) -> RetentionOffers:
    """The offers to show before the final cancel, worked out with their effect."""
    if cancel_refusal(subscription, now, configuration) is not None:
        return RetentionOffers()
    taken = accepted_offers(subscription)
    offers: dict = {}
    if configuration.retention_coupon_id and "coupon" not in taken:
        coupon = session.get(Coupon, configuration.retention_coupon_id)
        if (coupon is not None and coupon.active and discount_in_force(subscription, now) is None
                and (coupon.amount_off is None or coupon.currency == subscription.currency)):
            ends = _coupon_end(coupon, now)
            projection = Projection.of(session, subscription).but(coupon=coupon, discount_end=ends)
            offers.update(coupon=coupon, coupon_ends=ends, coupon_invoice=next_invoice(
                projection, pending_lines(session, subscription),
                invoicing.tax_rate_for(session, subscription.customer)))
    months = min(int(configuration.retention_pause_max_months or 0), 12)
    if (months > 0 and "pause" not in taken and _pausable(subscription, now)):
        offers["pause_resumes"] = {n: add_months(subscription.current_period_end, n)
                                   for n in range(1, months + 1)}
    if configuration.retention_downgrade_price_id and "downgrade" not in taken:
        downgrade = _retention_downgrade(session, subscription, now=now,
                                         configuration=configuration)
        if downgrade is not None:
            offers["downgrade"] = downgrade
    return RetentionOffers(**offers)


def _pausable(subscription: Subscription, now: datetime) -> bool:
    """Pauses are counted in months from the period end: only plans billed monthly or more
    often can skip whole invoices that way (a month's pause of a yearly plan would skip a
    year)."""
    if len(subscription.items) != 1 or is_trialing(subscription, now) or is_paused(subscription, now):
        return False
    if subscription.status != "active":
        return False
    return _interval_days(subscription.items[0].price) <= _INTERVAL_DAYS["month"]


def _retention_downgrade(session: Session, subscription: Subscription, *, now: datetime,
                         configuration: PortalConfiguration) -> PlannedChange | None:
    """The configured cheaper price as a worked-out change, when it is one for this plan."""
    if len(subscription.items) != 1 or subscription.status not in ("active", "trialing"):
        return None
    if is_paused(subscription, now):
        return None
    price = session.scalars(select(Price).where(Price.id == configuration.retention_downgrade_price_id)
                            .options(joinedload(Price.product))).first()
    item = subscription.items[0]
    if (price is None or not price.active or not price.product.active or not price.is_recurring
            or price.id == item.price_id
            or price.currency != subscription.currency):
        return None
    quantity = item.quantity if price.product_id == item.price.product_id else 1
    if yearly_amount(price, quantity) >= yearly_amount(item.price, item.quantity):
        return None  # only a cheaper plan is an offer
    if (subscription.pending_update or {}).get("price") == price.id:
        return None  # already on its way
    return compute_change(session, subscription, price, quantity, now=now,
                          configuration=configuration)


@dataclass(frozen=True)
class AcceptedOffer:
    """A retention offer as taken: which, and what it set."""

    offer: str
    coupon: Coupon | None = None
    discount_end: datetime | None = None
    resumes_at: datetime | None = None
    change: ChangeResult | None = None


def accept_retention_offer(session: Session, subscription: Subscription, offer: str, *,
                           expected_version: int, now: datetime, actor: str,
                           configuration: PortalConfiguration, months: int | None = None,
                           gateway: PaymentGateway | None = None) -> AcceptedOffer:
    """Take one of the retention offers instead of cancelling, in one step: the coupon, a
    pause of ``months``, or the cheaper plan. Each at most once per subscription, however
    often the form is sent."""
    subscription = _lock(session, subscription, expected_version)
    if offer not in RETENTION_OFFERS:
        raise SubscriptionRefused(_("This offer is not available."), code="no_offer", field="offer")
    customer = lock_customer(session, subscription.customer) if offer == "downgrade" else None
    offers = retention_offers(session, subscription, now=now, configuration=configuration)
    if offer not in offers.names:
        raise SubscriptionRefused(_("This offer is no longer available for this subscription."),
                                  code="no_offer")
    taken = {**accepted_offers(subscription), offer: _iso(now)}
    subscription.metadata_ = {**(subscription.metadata_ or {}), "retention_offers_accepted": taken}
    if offer == "downgrade":
        change = _carry_out(session, subscription, customer, offers.downgrade, now=now,
                            actor=actor, gateway=gateway, action="retention_offer_accepted",
                            extra={"offer": "downgrade"})
        return AcceptedOffer("downgrade", change=change)
    if offer == "coupon":
        subscription.discount_coupon = offers.coupon
        subscription.discount_start = now
        subscription.discount_end = offers.coupon_ends
        result = AcceptedOffer("coupon", coupon=offers.coupon, discount_end=offers.coupon_ends)
        data = {"coupon": offers.coupon.id, "discount_end": _iso(offers.coupon_ends)}
    else:
        if months not in offers.pause_resumes:
            raise SubscriptionRefused(
                _("Choose a pause of 1 to %(max)s months", max=max(offers.pause_resumes)),
                field="months")
        resumes = offers.pause_resumes[months]
        subscription.pause_collection_resumes_at = resumes
        result = AcceptedOffer("pause", resumes_at=resumes)
        data = {"pause_collection": {"behavior": "void", "resumes_at": _iso(resumes)},
                "months": months}
    _changed(session, subscription, "customer.subscription.updated", "retention_offer_accepted",
             now=now, actor=actor, data={"offer": offer, **data})
    _email(session, subscription, "subscription_offer_accepted", _l("Thank you for staying with us"),
           now=now, context={"offer": offer,
                             "coupon": offers.coupon.name if offer == "coupon" else None,
                             "until": _day(offers.coupon_ends) if offer == "coupon" and offers.coupon_ends
                             else (_day(result.resumes_at) if result.resumes_at else None)})
    session.flush()
    return result


# ---- the pattern every change follows ------------------------------------------------------

def _lock(session: Session, subscription: Subscription, expected_version: int | None
          ) -> Subscription:
    """The subscription under its row lock, reloaded with its items, when it is still the
    version the customer saw; StaleSubscription otherwise (nothing is changed). A merchant's
    API call draws no page: ``expected_version=None`` takes the subscription as it is."""
    locked = lock_subscription(session, subscription.id)
    if locked is None or (expected_version is not None and locked.version != expected_version):
        raise StaleSubscription()
    # The row lock holds the items too (every change takes it): read them as they are now.
    session.scalars(select(SubscriptionItem).where(SubscriptionItem.subscription_id == locked.id)
                    .execution_options(populate_existing=True)).all()
    session.refresh(locked, ["items"])
    return locked


def _changed(session: Session, subscription: Subscription, event_type: str, action: str, *,
             now: datetime, actor: str, data: dict) -> None:
    """Bump the version, stamp the time, and raise the change's one event."""
    subscription.version = (subscription.version or 1) + 1
    subscription.updated = now
    raise_event(session, event_type, now=now, actor=actor, customer_id=subscription.customer_id,
                object_id=subscription.id,
                data={"action": action, "version": subscription.version, **data})


def _email(session: Session, subscription: Subscription, template: str, subject: str, *,
           now: datetime, context: dict) -> None:
    """Confirm the change by email, through the outbox in the change's own transaction."""
    customer = subscription.customer
    if not customer.email:
        return
    product = subscription.items[0].price.product.name if subscription.items else ""
    enqueue_email(session, to=customer.email, subject=subject, template=template, now=now,
                  dedupe_key=f"{subscription.id}:v{subscription.version}:{template}",
                  # The page's language when they made the change, else their own.
                  fallback_locale=locale_for_customer(customer),
                  context={"subscription_id": subscription.id, "product": product,
                           "customer_name": customer.name, "currency": subscription.currency,
                           **context})


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


# ---- starting a subscription (the dashboard now, the Stripe-compatible API later) -------------

# Stripe's limits: trials of up to two years, twenty items on a subscription.
MAX_TRIAL_DAYS = 730
MAX_ITEMS = 20
# How long an emailed invoice may give the customer to pay; finalize_invoice's default is 30.
MAX_DAYS_UNTIL_DUE = 365
DEFAULT_DAYS_UNTIL_DUE = 30
# The most one invoice may charge (Stripe's largest amount, $999,999.99); it also keeps every
# amount far inside the 32-bit integer columns money is stored in.
MAX_INVOICE_AMOUNT = 99_999_999
NO_CARD_TO_START = ("This customer has no card to charge. They can add one in the portal; "
                    "or email them an invoice to pay, or start with a free trial.")


@dataclass(frozen=True)
class StartedSubscription:
    """A subscription as started: its first invoice (None during a free trial), what charging
    that invoice did, and whether this call only answered with an earlier start."""

    subscription: Subscription
    invoice: Invoice | None = None
    # Why the first charge failed (the subscription stands, past due, and is retried).
    decline_message: str | None = None
    replayed: bool = False

    @property
    def paid(self) -> bool:
        return self.invoice is not None and self.invoice.status == "paid"


def start_subscription(session: Session, customer: Customer, *,
                       items: list[tuple[Price, int]],
                       collection_method: str = "charge_automatically",
                       days_until_due: int | None = None, trial_period_days: int | None = None,
                       coupon: Coupon | None = None,
                       default_payment_method: PaymentMethod | None = None, now: datetime,
                       actor: str, gateway: PaymentGateway | None = None,
                       policy: BillingPolicy | None = None,
                       idempotency_key: str | None = None, metadata: dict | None = None,
                       cancel_at_period_end: bool = False) -> StartedSubscription:
    """Start a subscription to ``items`` ((price, quantity) pairs) for ``customer`` and
    raise customer.subscription.created. Its first period begins ``now`` (the billing cycle
    anchor). With a trial nothing is invoiced until the trial ends, when the billing engine
    renews it; without one the first period's invoice is written under the engine's own
    creation key (``<sub>:cycle:<now>``, so no run bills that period again), finalized, and
    collected as the engine collects: charged to the saved card through the shared charging
    path (``charge_automatically``; this commits, as paying does), or emailed with its due
    date (``send_invoice``). A charge that is declined leaves the subscription past due and
    the invoice open, retried on the merchant's schedule (``policy``).

    Refused with SubscriptionRefused, before anything is written: a price that is archived,
    one-time, or in another currency than the rest or the customer's other subscriptions; a
    quantity under 1; ``charge_automatically`` without a trial when the customer has no card
    that can be charged (rather than an ``incomplete`` subscription, which the engine would
    never bill and paying would never make active). The same ``idempotency_key`` (one per
    form, or the API's Idempotency-Key) starts one subscription however often it is sent:
    later calls answer with the first one, ``replayed`` set. ``metadata`` is the merchant's
    (Stripe's); ``cancel_at_period_end`` makes the first period the only one."""
    subscription_id = _started_id(customer.id, idempotency_key) if idempotency_key else None
    # The customer's lock first: a subscription that is new cannot be waited on, and the
    # balance the first invoice uses and the replay check below are read under it.
    customer = lock_customer(session, customer)
    if subscription_id is not None:
        earlier = session.get(Subscription, subscription_id, populate_existing=True)
        if earlier is not None:
            return _replayed_start(session, earlier, customer, items)
    plan = _checked_start(session, customer, items=items, collection_method=collection_method,
                          days_until_due=days_until_due, trial_period_days=trial_period_days,
                          coupon=coupon, default_payment_method=default_payment_method,
                          now=now, gateway=gateway)
    trial_end = now + timedelta(days=trial_period_days) if trial_period_days else None
    first = plan[0][0]
    # With a trial the periods are counted from its end (the engine resets the anchor there
    # too), so the upcoming-invoice preview names the period the engine will bill.
    anchor = trial_end or now
    subscription = Subscription(
        customer_id=customer.id, status="trialing" if trial_end else "active",
        currency=first.currency, current_period_start=now,
        current_period_end=trial_end or next_period_end(
            anchor, first.recurring_interval, first.recurring_interval_count, now),
        billing_cycle_anchor=anchor, collection_method=collection_method,
        days_until_due=(days_until_due if days_until_due is not None else DEFAULT_DAYS_UNTIL_DUE)
        if collection_method == "send_invoice" else None,
        default_payment_method_id=default_payment_method.id if default_payment_method else None,
        trial_start=now if trial_end else None, trial_end=trial_end, created=now,
        metadata_=dict(metadata or {}), version=1,
        cancel_at_period_end=bool(cancel_at_period_end))
    if cancel_at_period_end:
        subscription.cancel_at = subscription.current_period_end
    if subscription_id is not None:
        subscription.id = subscription_id
    if coupon is not None:
        subscription.discount_coupon = coupon
        subscription.discount_start = now
        subscription.discount_end = _coupon_end(coupon, now)
    for price, quantity in plan:
        subscription.items.append(SubscriptionItem(price=price, quantity=quantity, created=now))
    try:
        # A savepoint: a caller with the same key that got here first (one that did not wait
        # for the lock) makes the primary key refuse this copy, and the first one answers.
        with session.begin_nested():
            session.add(subscription)
            session.flush()
    except IntegrityError:
        earlier = session.get(Subscription, subscription_id) if subscription_id else None
        if earlier is None:
            raise
        return _replayed_start(session, earlier, customer, items)
    if customer.currency is None:
        customer.currency = subscription.currency  # as Stripe: a customer bills in one currency
    raise_event(session, "customer.subscription.created", now=now, actor=actor,
                customer_id=customer.id, object_id=subscription.id, data={
                    "status": subscription.status, "currency": subscription.currency,
                    "items": [{"price": price.id, "quantity": quantity} for price, quantity in plan],
                    "collection_method": collection_method,
                    "days_until_due": subscription.days_until_due,
                    "trial_end": _iso(trial_end), "coupon": coupon.id if coupon else None,
                    "cancel_at_period_end": subscription.cancel_at_period_end,
                    "current_period_start": _iso(subscription.current_period_start),
                    "current_period_end": _iso(subscription.current_period_end)})
    if trial_end is not None:
        session.flush()
        return StartedSubscription(subscription)

    in_force = invoicing.coupon_in_force(subscription, now)
    start, end = subscription.current_period_start, subscription.current_period_end
    draft = invoicing.draft_for(session, subscription, invoicing.period_lines(subscription, start, end),
                                at=now, period_start=start, period_end=end)
    invoice = invoicing.write_invoice(session, subscription, draft,
                                      creation_key=cycle_key(subscription.id, start),
                                      billing_reason="subscription_create", now=now, actor=actor)
    if in_force is not None and in_force.duration == "once":
        subscription.discount_end = start  # used up by this invoice, as the engine does
    session.flush()
    if invoice.status != "open":
        return StartedSubscription(subscription, invoice)  # nothing to pay (a free plan)
    if collection_method == "send_invoice":
        charging.queue_invoice_email(session, invoice, now=now)
        session.flush()
        return StartedSubscription(subscription, invoice)
    _charge_first_invoice(session, invoice, actor=actor, now=now, gateway=gateway,
                          policy=policy or BillingPolicy())
    session.refresh(subscription)
    session.refresh(invoice)
    return StartedSubscription(subscription, invoice,
                               decline_message=_first_decline(session, invoice))


def _charge_first_invoice(session: Session, invoice: Invoice, *, actor: str, now: datetime,
                          gateway: PaymentGateway, policy: BillingPolicy) -> None:
    """Charge the first invoice as the engine charges a renewal: the card it would choose,
    its first attempt's key (``<invoice>:attempt:1``, so its retries count on from here),
    and after a decline its retry schedule, past-due status and email. Commits (the payment
    is saved before the processor is called); the actor is whoever started the subscription."""
    method = charging.payment_method_for(invoice)

    def on_outcome(session: Session, invoice: Invoice, payment: Payment) -> None:
        if payment.status == "failed":
            charging.after_failure(session, invoice, now=now, policy=policy)

    try:
        charge_invoice(session, invoice, method, key=charging.attempt_key(invoice.id, 1),
                       now=now, actor=actor, gateway=gateway, on_outcome=on_outcome)
    except PaymentRefused:
        # Nothing was attempted (checked before anything was written, so only a change made
        # meanwhile gets here): the invoice stays open and the next billing run tries it.
        session.rollback()


def _started_id(customer_id: str, idempotency_key: str) -> str:
    """The id a subscription started with this key gets: derived from the customer and the
    key, so a second start with the same key meets the first at the primary key, whatever
    else is running."""
    alphabet = string.ascii_letters + string.digits
    number = int.from_bytes(hashlib.sha256(
        f"start-subscription\0{customer_id}\0{idempotency_key}".encode()).digest(), "big")
    chars = []
    for _position in range(24):
        number, index = divmod(number, len(alphabet))
        chars.append(alphabet[index])
    return "sub_" + "".join(chars)


def _replayed_start(session: Session, subscription: Subscription, customer: Customer,
                    items) -> StartedSubscription:
    """The answer to a start sent again with its idempotency key: the first start, unless the
    key was used for something else."""
    asked = sorted((getattr(price, "id", None), quantity) for price, quantity in items)
    made = sorted((item.price_id, item.quantity) for item in subscription.items)
    if subscription.customer_id != customer.id or asked != made:
        raise SubscriptionRefused("This form was already used to start a different "
                                  "subscription. Reload the page and try again.",
                                  code="idempotency_key_reused")
    invoice = session.scalars(
        select(Invoice).where(Invoice.subscription_id == subscription.id,
                              Invoice.billing_reason == "subscription_create")
        .order_by(Invoice.created, Invoice.id).limit(1)).first()
    return StartedSubscription(subscription, invoice,
                               decline_message=_first_decline(session, invoice) if invoice else None,
                               replayed=True)


def _first_decline(session: Session, invoice: Invoice) -> str | None:
    """Why the last attempt at a still-open invoice failed, in the customer-facing words."""
    if invoice.status != "open":
        return None
    failed = session.scalars(select(Payment).where(Payment.invoice_id == invoice.id,
                                                   Payment.status == "failed")
                             .order_by(Payment.created.desc(), Payment.id.desc())).first()
    return decline_message(failed) if failed is not None else None


def _checked_start(session: Session, customer: Customer, *, items, collection_method: str,
                   days_until_due, trial_period_days, coupon: Coupon | None,
                   default_payment_method: PaymentMethod | None, now: datetime,
                   gateway: PaymentGateway | None) -> list[tuple[Price, int]]:
    """The (price, quantity) pairs to subscribe to, once every rule of a new subscription
    holds; SubscriptionRefused naming the field otherwise. Reads only."""
    if customer.deleted:
        raise SubscriptionRefused("This customer has been deleted.", code="customer_deleted")
    plan = list(items or [])
    if not plan:
        raise SubscriptionRefused("Choose a price", code="no_items", field="price")
    if len(plan) > MAX_ITEMS:
        raise SubscriptionRefused(f"A subscription can have up to {MAX_ITEMS} prices",
                                  code="too_many_items", field="price")
    seen: set[str] = set()
    for price, quantity in plan:
        if not isinstance(price, Price):
            raise SubscriptionRefused("Choose one of the prices listed", code="no_price",
                                      field="price")
        name = price.product.name
        if not price.active or not price.product.active:
            raise SubscriptionRefused(f"The {name} price is archived. Choose an active price.",
                                      code="price_archived", field="price")
        if not price.is_recurring:
            raise SubscriptionRefused(f"The {name} price is charged once, not every period. "
                                      "Choose a recurring price.", code="price_not_recurring",
                                      field="price")
        if price.id in seen:
            raise SubscriptionRefused(f"The {name} price is listed twice. Give it one "
                                      "quantity instead.", code="duplicate_price", field="price")
        seen.add(price.id)
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise SubscriptionRefused("Enter a quantity of at least 1", code="quantity",
                                      field="quantity")
    first = plan[0][0]
    if any(price.currency != first.currency for price, _ in plan):
        raise SubscriptionRefused("All the prices of a subscription must be in one currency",
                                  code="mixed_currencies", field="price")
    if any(not _same_interval(price, first) for price, _ in plan):
        raise SubscriptionRefused("All the prices of a subscription must be billed over the "
                                  "same interval", code="mixed_intervals", field="price")
    if sum(price.unit_amount * quantity for price, quantity in plan) > MAX_INVOICE_AMOUNT:
        raise SubscriptionRefused("That comes to more than one invoice can charge. Enter a "
                                  "smaller quantity.", code="amount_too_large", field="quantity")
    billed_in = _billing_currency(session, customer)
    if billed_in is not None and billed_in != first.currency:
        raise SubscriptionRefused(
            f"This customer is billed in {billed_in.upper()}. Choose a price in "
            f"{billed_in.upper()}.", code="currency_mismatch", field="price")

    if collection_method not in COLLECTION_METHODS:
        raise SubscriptionRefused("Choose how to collect payment", code="collection_method",
                                  field="collection_method")
    if days_until_due is not None:
        if collection_method != "send_invoice":
            raise SubscriptionRefused("Days until due is only for invoices emailed to pay",
                                      code="days_until_due", field="days_until_due")
        if (isinstance(days_until_due, bool) or not isinstance(days_until_due, int)
                or not 0 <= days_until_due <= MAX_DAYS_UNTIL_DUE):
            raise SubscriptionRefused(f"Enter a number of days from 0 to {MAX_DAYS_UNTIL_DUE}",
                                      code="days_until_due", field="days_until_due")
    if trial_period_days is not None and (
            isinstance(trial_period_days, bool) or not isinstance(trial_period_days, int)
            or not 0 <= trial_period_days <= MAX_TRIAL_DAYS):
        raise SubscriptionRefused(f"Enter a trial of 1 to {MAX_TRIAL_DAYS} days, or leave it "
                                  "empty for none", code="trial_period_days",
                                  field="trial_period_days")
    if coupon is not None:
        if not coupon.active:
            raise SubscriptionRefused("This coupon is no longer active", code="coupon_inactive",
                                      field="coupon")
        if coupon.amount_off is not None and coupon.currency != first.currency:
            raise SubscriptionRefused("This coupon takes money off in another currency",
                                      code="coupon_currency", field="coupon")
    if default_payment_method is not None and (
            default_payment_method.customer_id != customer.id
            or default_payment_method.detached_at is not None):
        raise SubscriptionRefused("Choose one of the customer's saved cards",
                                  code="payment_method_unknown", field="default_payment_method")
    if collection_method == "send_invoice" and not customer.email:
        raise SubscriptionRefused("This customer has no email address to send invoices to. "
                                  "Charge their card instead.", code="no_email",
                                  field="collection_method")
    owed = sum(price.unit_amount * quantity for price, quantity in plan)
    if collection_method == "charge_automatically" and not trial_period_days and owed > 0:
        # The card the engine's charge will use (charging.payment_method_for): checked now,
        # so nothing is written when there is none.
        method = default_payment_method or customer.default_payment_method
        if method is None or method.customer_id != customer.id or method.detached_at is not None:
            raise SubscriptionRefused(NO_CARD_TO_START, code="no_card",
                                      field="collection_method")
        if is_expired(method, now):
            raise SubscriptionRefused(
                f"The customer's card ({method.label}) has expired. They can add a new one in "
                "the portal; or email them an invoice to pay.", code="expired_card",
                field="collection_method")
        if gateway is None:
            raise ValueError("start_subscription needs a gateway to charge the first invoice")
    return [(price, int(quantity)) for price, quantity in plan]


def _billing_currency(session: Session, customer: Customer) -> str | None:
    """The currency the customer is already billed in, if any: theirs, else that of a
    subscription still running, else that of the balance they carry."""
    if customer.currency:
        return customer.currency
    running = session.scalars(
        select(Subscription.currency).where(Subscription.customer_id == customer.id,
                                            Subscription.status != "canceled",
                                            Subscription.ended_at.is_(None))
        .order_by(Subscription.created, Subscription.id).limit(1)).first()
    if running:
        return running
    if customer.balance:
        return session.scalars(
            select(CustomerBalanceTransaction.currency)
            .where(CustomerBalanceTransaction.customer_id == customer.id)
            .order_by(CustomerBalanceTransaction.created.desc()).limit(1)).first()
    return None


# ---- changes a merchant makes (the Stripe-compatible API) -----------------------------------
# The merchant may change what the portal's configuration keeps from customers (any active
# recurring price, the proration behaviour of their choosing), but by the same pattern: lock,
# work the change out with the functions that preview it, apply exactly that, one event.

PRORATION_BEHAVIORS = ("create_prorations", "none", "always_invoice")
# Metadata keys the portal keeps on a subscription for itself: a merchant's metadata update
# never removes them (a customer could otherwise take a retention offer twice).
INTERNAL_METADATA = ("retention_offers_accepted",)


@dataclass(frozen=True)
class MerchantRules:
    """What ``compute_change`` reads from a portal configuration, as a merchant's own change
    sets it (Stripe's rules): the proration behaviour asked for, every change applied now
    (nothing waits for the period end), and a trial that goes on, on the new plan."""

    subscription_update_proration_behavior: str = "create_prorations"
    schedule_at_period_end_conditions: tuple[str, ...] = ()
    trial_update_behavior: str = "continue_trial"


def merchant_plan_change(session: Session, subscription: Subscription, *,
                         price: Price | None, quantity: int | None, proration_behavior: str,
                         now: datetime, proration_date: datetime | None = None
                         ) -> PlannedChange | None:
    """Check a merchant's change of the subscription's one item to ``quantity`` × ``price``
    (None: keep it) and work it out, as ``change_subscription_items`` would apply it at
    ``now``; None when it changes nothing. Reads only, so it is also the preview (Stripe's
    upcoming invoice with ``subscription_items``). SubscriptionRefused names the field."""
    if is_ended(subscription):
        raise SubscriptionRefused("A canceled subscription can only update its metadata and "
                                  "cancellation details.", code="ended", field="items")
    if len(subscription.items) != 1:
        raise SubscriptionRefused("This subscription has several items: only a subscription "
                                  "with one item can change its price or quantity.",
                                  code="several_items", field="items")
    if proration_behavior not in PRORATION_BEHAVIORS:
        raise SubscriptionRefused("Choose create_prorations, none or always_invoice",
                                  code="proration_behavior", field="proration_behavior")
    item = subscription.items[0]
    price = price or item.price
    quantity = item.quantity if quantity is None else quantity
    if price.id != item.price_id:
        name = price.product.name
        if not price.active or not price.product.active:
            raise SubscriptionRefused(f"The {name} price is archived. Choose an active price.",
                                      code="price_archived", field="price")
        if not price.is_recurring:
            raise SubscriptionRefused(f"The {name} price is charged once, not every period. "
                                      "Choose a recurring price.", code="price_not_recurring",
                                      field="price")
        if price.currency != subscription.currency:
            raise SubscriptionRefused(
                f"This subscription is billed in {subscription.currency.upper()}. Choose a "
                f"price in {subscription.currency.upper()}.", code="currency_mismatch",
                field="price")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise SubscriptionRefused("Enter a quantity of at least 1", code="quantity",
                                  field="quantity")
    if price.unit_amount * quantity > MAX_INVOICE_AMOUNT:
        raise SubscriptionRefused("That comes to more than one invoice can charge. Enter a "
                                  "smaller quantity.", code="amount_too_large", field="quantity")
    if proration_date is not None:
        # Stripe's times are whole seconds: the second the period started in is in it.
        if not (subscription.current_period_start.replace(microsecond=0) <= proration_date
                <= now and now - proration_date <= PREVIEW_VALID_FOR):
            raise SubscriptionRefused(
                "The proration date must be in the current period, not in the future, and at "
                "most an hour ago (a preview's proration date is honoured for an hour).",
                code="proration_date", field="proration_date")
        proration_date = max(proration_date, subscription.current_period_start)
    if price.id == item.price_id and quantity == item.quantity:
        return None
    return compute_change(session, subscription, price, quantity, now=now,
                          configuration=MerchantRules(proration_behavior),
                          proration_date=proration_date)


def change_subscription_items(session: Session, subscription: Subscription, *,
                              price: Price | None, quantity: int | None,
                              proration_behavior: str, now: datetime, actor: str,
                              gateway: PaymentGateway | None,
                              proration_date: datetime | None = None) -> ChangeResult | None:
    """A merchant's change of price and/or quantity (the API's ``items``), applied now as
    ``merchant_plan_change`` works it out: prorations carried to the next invoice
    (create_prorations), none, or invoiced and charged at once (always_invoice, and any
    change of billing interval, as Stripe does). None when nothing changes. A charge that
    fails leaves the change applied, the invoice open and the subscription past_due, like a
    customer's change; an invoice to charge with no usable card is refused beforehand."""
    subscription = _lock(session, subscription, None)
    customer = lock_customer(session, subscription.customer)
    plan = merchant_plan_change(session, subscription, price=price, quantity=quantity,
                                proration_behavior=proration_behavior, now=now,
                                proration_date=proration_date)
    if plan is None:
        return None
    return _carry_out(session, subscription, customer, plan, now=now, actor=actor,
                      gateway=gateway, action=None)


def set_cancel_at_period_end(session: Session, subscription: Subscription, cancel: bool, *,
                             now: datetime, actor: str, feedback: str | None = None,
                             comment: str | None = None) -> bool:
    """The merchant's ``cancel_at_period_end``: true ends the subscription when its period
    ends, false keeps it; the same event and email as the customer's cancel and renew. False
    when it already was so (nothing written)."""
    subscription = _lock(session, subscription, None)
    if is_ended(subscription):
        raise SubscriptionRefused("A canceled subscription can only update its metadata and "
                                  "cancellation details.", code="ended",
                                  field="cancel_at_period_end")
    if cancel == bool(subscription.cancel_at_period_end):
        return False
    if cancel:
        _checked_feedback(feedback)
        _record_cancel(session, subscription, subscription.customer,
                       CancelPlan("at_period_end", subscription.current_period_end, None),
                       feedback=feedback, comment=_clean_comment(comment), now=now,
                       actor=actor)
    else:
        _keep(session, subscription, now=now, actor=actor)
    return True


def cancel_subscription_now(session: Session, subscription: Subscription, *, prorate: bool,
                            now: datetime, actor: str, invoice_now: bool = False,
                            feedback: str | None = None,
                            comment: str | None = None) -> CancelPlan:
    """The merchant's cancel (the API's DELETE): the subscription ends now, even one set to
    end at its period end. With ``prorate`` the paid time left is credited to the customer's
    balance (the unused time, discounted and taxed as its invoice was), as the portal's
    prorating cancel does; without it nothing is refunded. ``invoice_now`` (Stripe's final
    invoice) is refused while prorations wait for the next invoice: the portal writes no
    final invoice for them (the prorated credit goes to the balance either way). Raises
    customer.subscription.deleted."""
    subscription = _lock(session, subscription, None)
    if is_ended(subscription):
        raise SubscriptionRefused("This subscription has already been canceled.",
                                  code="ended")
    _checked_feedback(feedback)
    customer = lock_customer(session, subscription.customer)
    if invoice_now and invoicing.pending_items(session, subscription.id):
        raise SubscriptionRefused(
            "This subscription has prorations waiting for its next invoice, and a final "
            "invoice for them is not supported: cancel without invoice_now (they stay "
            "pending), or at the period end so the last invoice takes them.",
            code="invoice_now", field="invoice_now")
    credit = _unused_time_credit(session, subscription, now) if prorate else None
    if credit is not None and credit.total >= 0:
        credit = None
    cancel = CancelPlan("immediately", now, credit)
    _record_cancel(session, subscription, customer, cancel, feedback=feedback,
                   comment=_clean_comment(comment), now=now, actor=actor)
    return cancel


def _checked_feedback(feedback: str | None) -> None:
    if feedback is not None and feedback not in CANCELLATION_REASONS:
        raise SubscriptionRefused(f"Choose one of: {', '.join(CANCELLATION_REASONS)}",
                                  code="feedback", field="feedback")


def _clean_comment(comment: str | None) -> str | None:
    return (comment or "").strip()[:500] or None


_KEEP = object()


def update_subscription_details(session: Session, subscription: Subscription, *,
                                metadata=_KEEP, default_payment_method=_KEEP, now: datetime,
                                actor: str) -> bool:
    """The merchant's metadata (the whole new dict, the portal's own keys kept) and the card
    the subscription is charged to (a PaymentMethod of the customer, or None for the
    customer's default). One customer.subscription.updated when something changed; False
    otherwise. An ended subscription takes only metadata, as on Stripe."""
    subscription = _lock(session, subscription, None)
    previous: dict = {}
    if default_payment_method is not _KEEP:
        if is_ended(subscription):
            raise SubscriptionRefused("A canceled subscription can only update its metadata "
                                      "and cancellation details.", code="ended",
                                      field="default_payment_method")
        if default_payment_method is not None and (
                default_payment_method.customer_id != subscription.customer_id
                or default_payment_method.detached_at is not None):
            raise SubscriptionRefused(
                f"The customer does not have a payment method with the ID "
                f"{default_payment_method.id}.", code="payment_method_unknown",
                field="default_payment_method")
        new_id = default_payment_method.id if default_payment_method is not None else None
        if new_id != subscription.default_payment_method_id:
            previous["default_payment_method"] = subscription.default_payment_method_id
            subscription.default_payment_method_id = new_id
    if metadata is not _KEEP:
        current = dict(subscription.metadata_ or {})
        kept = {key: current[key] for key in INTERNAL_METADATA if key in current}
        wanted = {**{k: v for k, v in dict(metadata or {}).items()
                     if k not in INTERNAL_METADATA}, **kept}
        if wanted != current:
            previous["metadata"] = {k: v for k, v in current.items()
                                    if k not in INTERNAL_METADATA}
            subscription.metadata_ = wanted
    if not previous:
        return False
    _changed(session, subscription, "customer.subscription.updated", "details_updated",
             now=now, actor=actor, data={
                 "default_payment_method": subscription.default_payment_method_id,
                 "previous_attributes": previous})
    session.flush()
    return True


def merchant_preview(session: Session, subscription: Subscription, *, now: datetime,
                     change: bool = False, price: Price | None = None,
                     quantity: int | None = None,
                     proration_behavior: str = "create_prorations",
                     proration_date: datetime | None = None
                     ) -> tuple[InvoiceDraft | None, str, PlannedChange | None]:
    """The invoice Stripe's upcoming-invoice preview shows, its billing reason, and the change
    worked out (if any). For a change (``change``: the API's subscription items), what
    ``change_subscription_items`` would do now: the invoice it writes at once
    (always_invoice, a new billing interval, a trial ended), else the next renewal with the
    prorations on it. Without a change, or for one that changes nothing, the next renewal as
    ``invoicing.upcoming_invoice`` gives it. None: no invoice comes (the subscription ends)."""
    plan = None
    if change:
        plan = merchant_plan_change(session, subscription, price=price, quantity=quantity,
                                    proration_behavior=proration_behavior, now=now,
                                    proration_date=proration_date)
    if plan is None:
        return invoicing.upcoming_invoice(session, subscription, now), "subscription_cycle", None
    if plan.invoice_now is not None:
        return plan.invoice_now, "subscription_update", plan
    return plan.next_invoice, "subscription_cycle", plan


def next_renewing_subscription(session: Session, customer: Customer,
                               now: datetime) -> Subscription | None:
    """The customer's subscription whose next invoice comes first (Stripe's upcoming invoice
    for a customer), among those that will renew; None when none will."""
    upcoming = []
    for subscription in customer_subscriptions(session, customer):
        draft = invoicing.upcoming_invoice(session, subscription, now)
        if draft is not None:
            upcoming.append((draft.period_start or now, subscription.created, subscription.id,
                             subscription))
    return min(upcoming)[3] if upcoming else None
