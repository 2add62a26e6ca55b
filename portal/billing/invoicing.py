"""From subscriptions to invoices: what a period's invoice holds, the upcoming-invoice preview,
and writing an invoice exactly once.

Shared by the billing engine (renewals), subscription changes (prorations, "always invoice")
and the customer's previews. Plain Python over a session and ``now``: no Flask request.
"""

from __future__ import annotations

from datetime import datetime

from babel.dates import format_date
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.billing.calc import (
    Discount,
    DraftLine,
    InvoiceDraft,
    TaxRateSpec,
    assemble,
    next_period_end,
)
from portal.catalog.models import Coupon, Price, TaxRate
from portal.catalog.pricing import quantity_text
from portal.customers.models import Customer, CustomerBalanceTransaction
from portal.events import raise_event
from portal.invoices.models import Invoice, InvoiceItem, InvoiceLine
from portal.invoices.numbering import allocate_invoice_number
from portal.money import format_money
from portal.portal_settings.operations import get_branding
from portal.subscriptions.models import Subscription
from portal.translation import current_locale


def describe_period_line(quantity: int, price: Price, start: datetime, end: datetime) -> str:
    """The line customers read: "1 × Pro (Dec 1, 2026 – Jan 1, 2027)", and for a product sold
    by the unit "Team: 3 seats × $10.00 per seat (Dec 1, 2026 – Jan 1, 2027)". Written into
    the invoice, so a later change to the product never rewrites an invoice already sent."""
    # Written in the language in force when the line is made (the page's, for a customer's
    # own change) and stored as written: an invoice is never reworded afterwards.
    locale = current_locale()
    start_text = format_date(start, "medium", locale=locale)
    end_text = format_date(end, "medium", locale=locale)
    label = price.product.unit_label
    if not label:
        return _("%(quantity)s × %(name)s (%(start)s – %(end)s)", quantity=quantity,
                 name=price.product.name, start=start_text, end=end_text)
    each = format_money(price.unit_amount, price.currency, locale)
    return _("%(name)s: %(quantity_text)s × %(each)s per %(label)s (%(start)s – %(end)s)",
             name=price.product.name, quantity_text=quantity_text(quantity, label), each=each,
             label=label, start=start_text, end=end_text)


def period_after(subscription: Subscription, start: datetime,
                 price: Price | None = None) -> datetime:
    """Where the billing period that begins at ``start`` ends, by the price's interval."""
    price = price or subscription.items[0].price
    return next_period_end(subscription.billing_cycle_anchor or subscription.current_period_start,
                           price.recurring_interval, price.recurring_interval_count, start)


def coupon_in_force(subscription: Subscription, at: datetime) -> Coupon | None:
    """The subscription's coupon if it still applies to an invoice dated ``at``."""
    coupon = subscription.discount_coupon
    if coupon is None:
        return None
    if subscription.discount_end is not None and at >= subscription.discount_end:
        return None
    return coupon


def discount_of(coupon: Coupon | None) -> Discount | None:
    """A coupon as calc's arithmetic takes it."""
    if coupon is None:
        return None
    return Discount(percent_off=coupon.percent_off, amount_off=coupon.amount_off,
                    name=coupon.name)


def tax_rate_for(session: Session, customer: Customer) -> TaxRateSpec | None:
    """The active tax rate for the customer's billing address: one for their country and
    state, else one for their country alone; none without a country.

    Merchants add a rate per place they collect tax (the dashboard sets these later); a
    customer somewhere no rate names pays no tax."""
    if not customer.address_country:
        return None
    rates = session.scalars(
        select(TaxRate).where(TaxRate.active.is_(True),
                              TaxRate.country == customer.address_country)
        .order_by(TaxRate.created, TaxRate.id)
    ).all()
    state = (customer.address_state or "").strip().lower()
    chosen = next((r for r in rates if r.state and r.state.strip().lower() == state), None)
    chosen = chosen or next((r for r in rates if not r.state), None)
    if chosen is None:
        return None
    label = f"{chosen.display_name} ({format(chosen.percentage.normalize(), 'f')}%)"
    return TaxRateSpec(id=chosen.id, percentage=chosen.percentage, inclusive=chosen.inclusive,
                       label=label)


def pending_items(session: Session, subscription_id: str) -> list[InvoiceItem]:
    """Prorations and other items waiting for this subscription's next invoice."""
    return list(session.scalars(
        select(InvoiceItem).where(InvoiceItem.subscription_id == subscription_id,
                                  InvoiceItem.invoice_id.is_(None))
        .order_by(InvoiceItem.created, InvoiceItem.id)
    ).all())


def item_lines(items: list[InvoiceItem]) -> list[DraftLine]:
    """Pending invoice items as draft lines that take them."""
    return [DraftLine(description=item.description, amount=item.amount, quantity=item.quantity,
                      unit_amount=item.amount // max(item.quantity, 1) if item.quantity else 0,
                      price_id=item.price_id, period_start=item.period_start,
                      period_end=item.period_end, proration=item.proration,
                      invoice_item_id=item.id) for item in items]


def period_lines(subscription: Subscription, start: datetime, end: datetime,
                 plan: list[tuple[Price, int, str | None]] | None = None) -> list[DraftLine]:
    """One line per item for the period, at ``plan`` ((price, quantity, item id) triples,
    default the subscription's items as they are)."""
    if plan is None:
        plan = [(item.price, item.quantity, item.id) for item in subscription.items]
    return [DraftLine(description=describe_period_line(quantity, price, start, end),
                      amount=price.unit_amount * quantity, quantity=quantity,
                      unit_amount=price.unit_amount, price_id=price.id,
                      subscription_item_id=item_id, period_start=start, period_end=end)
            for price, quantity, item_id in plan if quantity > 0]


def plan_after_pending_update(session: Session, subscription: Subscription
                              ) -> list[tuple[Price, int, str | None]]:
    """The (price, quantity, item) the next period bills: a scheduled change applies then."""
    plan = [(item.price, item.quantity, item.id) for item in subscription.items]
    pending = subscription.pending_update or {}
    if pending and plan:
        price = session.get(Price, pending.get("price")) or plan[0][0]
        plan[0] = (price, int(pending.get("quantity") or plan[0][1]), plan[0][2])
    return plan


def draft_for(session: Session, subscription: Subscription, lines: list[DraftLine], *,
              at: datetime, period_start: datetime | None = None,
              period_end: datetime | None = None, use_balance: bool = True) -> InvoiceDraft:
    """Discount, tax and settle ``lines`` for the subscription's customer as of ``at``."""
    customer = subscription.customer
    return assemble(subscription.currency, lines,
                    discount=discount_of(coupon_in_force(subscription, at)),
                    tax_rate=tax_rate_for(session, customer),
                    balance=(customer.balance or 0) if use_balance else 0,
                    period_start=period_start, period_end=period_end)


def upcoming_invoice(session: Session, subscription: Subscription,
                     now: datetime) -> InvoiceDraft | None:
    """The invoice the next renewal will make, as Stripe's upcoming-invoice preview: None when
    no renewal comes (ending at period end, already ended) or collection is paused then."""
    if subscription.status in ("canceled", "incomplete_expired") or subscription.ended_at:
        return None
    if subscription.cancel_at_period_end:
        return None
    start = subscription.current_period_end
    if subscription.status == "trialing" and subscription.trial_end:
        start = subscription.trial_end
    resumes = subscription.pause_collection_resumes_at
    if resumes is not None and resumes > start:
        return None
    plan = plan_after_pending_update(session, subscription)
    if not plan:
        return None
    end = period_after(subscription, start, plan[0][0])
    lines = item_lines(pending_items(session, subscription.id))
    lines += period_lines(subscription, start, end, plan)
    return draft_for(session, subscription, lines, at=start, period_start=start, period_end=end)


def customer_snapshot(customer: Customer) -> dict:
    """The customer's details as the invoice prints them, frozen at finalization."""
    return {
        "name": customer.name,
        "email": customer.email,
        "address": {
            "line1": customer.address_line1, "line2": customer.address_line2,
            "city": customer.address_city, "state": customer.address_state,
            "postal_code": customer.address_postal_code, "country": customer.address_country,
        },
        "tax_ids": [{"type": t.type, "value": t.value} for t in customer.tax_ids],
    }


class InvoiceExists(Exception):
    """An invoice with this creation key was already made (by another run, or an earlier one)."""

    def __init__(self, invoice: Invoice | None):
        super().__init__("invoice already created")
        self.invoice = invoice


def invoice_by_key(session: Session, creation_key: str) -> Invoice | None:
    """The invoice made for ``creation_key``, if there is one."""
    return session.scalars(select(Invoice).where(Invoice.creation_key == creation_key)).first()


def write_invoice(session: Session, subscription: Subscription, draft: InvoiceDraft, *,
                  creation_key: str, billing_reason: str, now: datetime, actor: str,
                  finalize: bool = True) -> Invoice:
    """Write ``draft`` as the subscription's invoice, finalized (numbered, the customer frozen
    onto it, the balance used, pending items taken) unless ``finalize`` is False.

    At most once per ``creation_key``: the key's unique index stops a second writer (in a
    savepoint, so the caller's transaction survives) and InvoiceExists names the first one.
    The caller commits."""
    earlier = invoice_by_key(session, creation_key)
    if earlier is not None:
        raise InvoiceExists(earlier)
    customer = subscription.customer
    send_invoice = subscription.collection_method == "send_invoice"
    invoice = Invoice(
        customer_id=customer.id, subscription_id=subscription.id, status="draft",
        currency=draft.currency, billing_reason=billing_reason,
        collection_method=subscription.collection_method, subtotal=draft.subtotal,
        total_discount=draft.total_discount, tax=draft.tax, total=draft.total,
        amount_due=draft.amount_due, amount_paid=0, period_start=draft.period_start,
        period_end=draft.period_end, created=now, attempt_count=0, customer_snapshot={},
        metadata_={}, creation_key=creation_key, starting_balance=draft.starting_balance,
        ending_balance=draft.ending_balance,
    )
    for position, line in enumerate(draft.lines):
        invoice.lines.append(InvoiceLine(
            position=position, description=line.description, price_id=line.price_id,
            subscription_item_id=line.subscription_item_id, quantity=line.quantity,
            unit_amount=line.unit_amount, amount=line.amount,
            discount_amount=line.discount_amount, tax_amount=line.tax_amount,
            tax_rate_id=line.tax_rate_id, period_start=line.period_start,
            period_end=line.period_end, proration=line.proration,
        ))
    try:
        with session.begin_nested():
            session.add(invoice)
            session.flush()
    except IntegrityError:
        raise InvoiceExists(invoice_by_key(session, creation_key)) from None

    taken = [line.invoice_item_id for line in draft.lines if line.invoice_item_id]
    for item_id in taken:
        item = session.get(InvoiceItem, item_id)
        if item is not None and item.invoice_id is None:
            item.invoice_id = invoice.id
    if finalize:
        finalize_invoice(session, invoice, customer, now=now, actor=actor,
                         days_until_due=subscription.days_until_due if send_invoice else None)
    return invoice


def finalize_invoice(session: Session, invoice: Invoice, customer: Customer, *, now: datetime,
                     actor: str, days_until_due: int | None = None) -> None:
    """Number the invoice, freeze the customer onto it, take its share of their balance, and
    open it (or mark it paid when nothing is due)."""
    from datetime import timedelta

    invoice.number = allocate_invoice_number(
        session, customer.invoice_prefix or get_branding(session).invoice_prefix)
    invoice.customer_snapshot = customer_snapshot(customer)
    invoice.finalized_at = now
    applied = invoice.ending_balance - invoice.starting_balance
    if applied:
        # The draft was worked out from the balance as it was; the customer row is locked by the
        # caller, so it is still that balance.
        customer.balance = invoice.ending_balance
        session.add(CustomerBalanceTransaction(
            customer_id=customer.id, type="applied_to_invoice", amount=applied,
            currency=invoice.currency, ending_balance=invoice.ending_balance,
            invoice_id=invoice.id, created=now,
            description=_("Applied to invoice %(number)s", number=invoice.number),
            creation_key=f"{invoice.id}:balance"))
    if invoice.collection_method == "send_invoice":
        invoice.due_date = now + timedelta(days=days_until_due or 30)
    else:
        invoice.due_date = now
    if invoice.amount_due == 0:
        invoice.status = "paid"
        invoice.paid_at = now
    else:
        invoice.status = "open"
        invoice.next_payment_attempt = (now if invoice.collection_method == "charge_automatically"
                                        else None)
    raise_event(session, "invoice.finalized", now=now, actor=actor, customer_id=customer.id,
                object_id=invoice.id,
                data={"number": invoice.number, "amount_due": invoice.amount_due,
                      "currency": invoice.currency, "billing_reason": invoice.billing_reason})
    if invoice.status == "paid":
        raise_event(session, "invoice.paid", now=now, actor=actor, customer_id=customer.id,
                    object_id=invoice.id, data={"amount_paid": 0, "currency": invoice.currency})


def credit_balance(session: Session, customer: Customer, amount: int, currency: str, *,
                   now: datetime, description: str, creation_key: str,
                   type: str = "credit") -> CustomerBalanceTransaction | None:
    """Add ``amount`` (negative: credit) to the customer's balance, once per ``creation_key``.
    The caller holds the customer's lock and commits."""
    existing = session.scalars(select(CustomerBalanceTransaction).where(
        CustomerBalanceTransaction.creation_key == creation_key)).first()
    if existing is not None or amount == 0:
        return existing
    customer.balance = (customer.balance or 0) + amount
    entry = CustomerBalanceTransaction(customer_id=customer.id, type=type, amount=amount,
                                       currency=currency, ending_balance=customer.balance,
                                       description=description, creation_key=creation_key,
                                       created=now)
    session.add(entry)
    return entry
