"""Invoice rules shared by the portal and, later, the merchant dashboard and API: which invoices
a customer sees, how their history pages, and paying an open invoice exactly once."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, bindparam, inspect, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from portal.catalog.models import Price
from portal.events import raise_event
from portal.invoices.models import Invoice, InvoiceLine
from portal.locking import lock_subscription
from portal.payments.gateway import DECLINE_MESSAGES, PaymentGateway
from portal.payments.models import Payment, PaymentMethod
from portal.subscriptions.models import Subscription
from portal.translation import shown

log = logging.getLogger("portal.invoices")

PAGE_SIZE = 10
# Drafts are the merchant's work in progress: customers never see them.
CUSTOMER_VISIBLE_STATUSES = ("open", "paid", "void", "uncollectible")
STATUS_LABELS = {
    "draft": _l("Draft"),
    "open": _l("Open"),
    "past_due": _l("Past due"),
    "paid": _l("Paid"),
    "void": _l("Void"),
    "uncollectible": _l("Uncollectible"),
}
# Whole sentences, not the status label lower-cased inside one: not every language can.
NOT_PAYABLE_MESSAGES = {
    "draft": _l("This invoice cannot be paid: it is draft."),
    "paid": _l("This invoice cannot be paid: it is paid."),
    "void": _l("This invoice cannot be paid: it is void."),
    "uncollectible": _l("This invoice cannot be paid: it is uncollectible."),
}
_ID = re.compile(r"[A-Za-z0-9_]{1,40}")
_FORM_KEY = re.compile(r"[A-Za-z0-9_-]{16,100}")


# ---- reading ---------------------------------------------------------------------------------

def display_status(invoice: Invoice, now: datetime) -> str:
    """The status a customer reads: an open invoice whose due date has passed is "past_due"."""
    if invoice.status == "open" and invoice.due_date is not None and invoice.due_date < now:
        return "past_due"
    return invoice.status


def status_label(status: str) -> str:
    return str(STATUS_LABELS.get(status) or status.replace("_", " ").capitalize())


def not_payable_message(status: str) -> str:
    """Why an invoice in ``status`` cannot be paid, as one sentence."""
    message = NOT_PAYABLE_MESSAGES.get(status)
    if message is not None:
        return str(message)
    return _("This invoice cannot be paid: it is %(status_label)s.",
             status_label=status_label(status).lower())


def card_label(method: PaymentMethod | None) -> str:
    """"Visa ending in 4242", or a plain phrase when the payment has no card on record."""
    if method is None:
        return _("No card on record")
    return method.label


def customer_invoice(session: Session, customer_id: str, invoice_id: str, *,
                     with_details: bool = False) -> Invoice | None:
    """The customer's own invoice with this id, or None (also for drafts and made-up ids).
    ``with_details`` loads its lines, tax rates, payments and their cards up front."""
    if not invoice_id or not _ID.fullmatch(invoice_id):
        return None
    return session.scalars(_customer_invoice_statement(with_details),
                           {"invoice_id": invoice_id, "customer_id": customer_id}).first()


@cache
def _customer_invoice_statement(with_details: bool):
    """Built once per process: making the select and its loader options cost more than
    running it on every page that shows an invoice."""
    query = select(Invoice).where(
        Invoice.id == bindparam("invoice_id"),
        Invoice.customer_id == bindparam("customer_id"),
        Invoice.status.in_(CUSTOMER_VISIBLE_STATUSES),
    )
    if with_details:
        # Two queries in all, not one per line's tax rate, product and per payment's card.
        query = query.options(
            selectinload(Invoice.lines).joinedload(InvoiceLine.tax_rate),
            selectinload(Invoice.lines).joinedload(InvoiceLine.price).joinedload(Price.product),
            selectinload(Invoice.payments).joinedload(Payment.payment_method),
        )
    return query


@dataclass(frozen=True)
class InvoicePage:
    invoices: list[Invoice]
    has_newer: bool
    has_older: bool
    cursor_ignored: bool = False

    @property
    def newer_cursor(self) -> str | None:
        return self.invoices[0].id if self.has_newer and self.invoices else None

    @property
    def older_cursor(self) -> str | None:
        return self.invoices[-1].id if self.has_older and self.invoices else None


def invoice_page(session: Session, customer_id: str, *, after: str | None = None,
                 before: str | None = None, limit: int = PAGE_SIZE) -> InvoicePage:
    """One page of the customer's invoices, newest first, by keyset on (created, id).

    ``after`` gives the page older than that invoice, ``before`` the page newer than it. A cursor
    that is not one of the customer's own visible invoices is ignored: the newest page is shown,
    exactly as for a made-up id, so nothing about other customers' invoices leaks.
    """
    base = select(Invoice).where(Invoice.customer_id == customer_id,
                                 Invoice.status.in_(CUSTOMER_VISIBLE_STATUSES))
    cursor_id = after or before
    cursor = customer_invoice(session, customer_id, cursor_id) if cursor_id else None
    ignored = bool(cursor_id) and cursor is None

    if cursor is not None and after:
        rows = session.scalars(
            base.where(or_(Invoice.created < cursor.created,
                           and_(Invoice.created == cursor.created, Invoice.id < cursor.id)))
            .order_by(Invoice.created.desc(), Invoice.id.desc()).limit(limit + 1)
        ).all()
        return InvoicePage(list(rows[:limit]), has_newer=True, has_older=len(rows) > limit)
    if cursor is not None:
        rows = session.scalars(
            base.where(or_(Invoice.created > cursor.created,
                           and_(Invoice.created == cursor.created, Invoice.id > cursor.id)))
            .order_by(Invoice.created.asc(), Invoice.id.asc()).limit(limit + 1)
        ).all()
        return InvoicePage(list(reversed(rows[:limit])), has_newer=len(rows) > limit,
                           has_older=True)
    rows = session.scalars(
        base.order_by(Invoice.created.desc(), Invoice.id.desc()).limit(limit + 1)
    ).all()
    return InvoicePage(list(rows[:limit]), has_newer=False, has_older=len(rows) > limit,
                       cursor_ignored=ignored)


def tax_breakdown(invoice: Invoice) -> list[tuple[str, int]]:
    """(label, amount) per tax rate on the lines, e.g. ("VAT (23%)", 667); one "Tax" row when
    the lines do not account for the invoice's tax."""
    if not invoice.tax:
        return []
    rows: dict[str, int] = {}
    for line in invoice.lines:
        if not line.tax_amount:
            continue
        rate = line.tax_rate
        if rate is not None:
            percentage = format(rate.percentage.normalize(), "f")
            label = f"{rate.display_name} ({percentage}%)"
        else:
            label = _("Tax")
        rows[label] = rows.get(label, 0) + line.tax_amount
    if sum(rows.values()) != invoice.tax:
        return [(_("Tax"), invoice.tax)]
    return list(rows.items())


def receipt_number(invoice: Invoice) -> str:
    """One receipt per paid invoice, so its number is the invoice's with an R."""
    return f"{invoice.number or invoice.id}-R"


def attached_payment_methods(session: Session, customer_id: str) -> list[PaymentMethod]:
    """The cards the customer has saved now, oldest first."""
    return list(session.scalars(_attached_payment_methods_statement(),
                                {"customer_id": customer_id}).all())


@cache
def _attached_payment_methods_statement():
    return (select(PaymentMethod).where(PaymentMethod.customer_id == bindparam("customer_id"),
                                        PaymentMethod.detached_at.is_(None))
            .order_by(PaymentMethod.created, PaymentMethod.id))


def is_expired(method: PaymentMethod, now: datetime) -> bool:
    return (method.card_exp_year, method.card_exp_month) < (now.year, now.month)


def processing_payment(invoice: Invoice) -> Payment | None:
    return next((p for p in invoice.payments if p.status == "processing"), None)


def succeeded_payments(invoice: Invoice) -> list[Payment]:
    return [p for p in invoice.payments if p.status == "succeeded"]


def is_payable(invoice: Invoice) -> bool:
    """Open (past due included) with something left to pay and no payment under way."""
    return (invoice.status == "open" and invoice.amount_remaining > 0
            and processing_payment(invoice) is None)


def decline_message(payment: Payment) -> str:
    """Why a payment failed, in the words customers are shown everywhere (stored in English,
    shown in the page's or email's language)."""
    return shown(DECLINE_MESSAGES.get(payment.failure_code or "")
                 or payment.failure_message
                 or DECLINE_MESSAGES["card_declined"])


# ---- paying ----------------------------------------------------------------------------------

def new_form_key() -> str:
    """The key a pay form carries; the same form submitted twice carries the same key."""
    return secrets.token_urlsafe(24)


def is_form_key(value: str | None) -> bool:
    return bool(value) and bool(_FORM_KEY.fullmatch(value))


def payment_key(invoice_id: str, form_key: str) -> str:
    """The stored idempotency key. Prefixed with the invoice, so a key sent by one customer can
    never match, and so reveal, another customer's payment."""
    return f"portal:{invoice_id}:{form_key}"


class PaymentRefused(Exception):
    """Nothing was charged, and why. ``field`` names the form field the message belongs to."""

    def __init__(self, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


@dataclass(frozen=True)
class PayResult:
    # succeeded | failed | processing | already_paid
    status: str
    payment: Payment | None
    # True when this call charged nothing and answered with an earlier attempt's result.
    replayed: bool = False

    @property
    def message(self) -> str | None:
        if self.status == "failed" and self.payment is not None:
            return decline_message(self.payment)
        return None


def _result_of(payment: Payment) -> PayResult:
    return PayResult(payment.status, payment, replayed=True)


def _lock_invoice(session: Session, invoice_id: str) -> None:
    # An UPDATE takes the row lock on PostgreSQL and the database write lock on SQLite (which
    # ignores FOR UPDATE), so concurrent payers of one invoice queue here until the holder commits.
    session.execute(
        update(Invoice).where(Invoice.id == invoice_id)
        .values(attempt_count=Invoice.attempt_count)
        .execution_options(synchronize_session=False)
    )


def _payments_of(session: Session, invoice_id: str, status: str) -> list[Payment]:
    # Queried, not read from invoice.payments, so it sees what other requests just committed.
    return list(session.scalars(
        select(Payment).where(Payment.invoice_id == invoice_id, Payment.status == status)
        .order_by(Payment.created, Payment.id)
    ).all())


def _payment_by_key(session: Session, key: str) -> Payment | None:
    return session.scalars(select(Payment).where(Payment.idempotency_key == key)).first()


def pay_invoice(session: Session, invoice: Invoice, payment_method: PaymentMethod,
                idempotency_key: str, *, now: datetime, actor: str,
                gateway: PaymentGateway) -> PayResult:
    """Charge what is left on an open invoice, at most once per invoice however often it is sent.

    Unlike other operations this one commits, twice: the payment is saved as "processing" and
    made visible to every other request before the processor is called (so a double click, a
    resubmitted form or a second tab finds it and charges nothing), and the outcome is saved as
    soon as it is known. Raises PaymentRefused when nothing was attempted.
    """
    if not is_form_key(idempotency_key):
        raise PaymentRefused("invalid_key", _("Reload the page and try again."))
    return charge_invoice(session, invoice, payment_method,
                          key=payment_key(invoice.id, idempotency_key), now=now, actor=actor,
                          gateway=gateway)


# Called in the transaction that records a charge's outcome, under the invoice's locks, so
# what the caller adds (the billing engine's retry schedule) commits with the outcome or not
# at all.
OutcomeHook = Callable[[Session, Invoice, Payment], None]


def charge_invoice(session: Session, invoice: Invoice, method: PaymentMethod, *, key: str,
                   now: datetime, actor: str, gateway: PaymentGateway,
                   on_outcome: OutcomeHook | None = None, locked: bool = False) -> PayResult:
    """Charge what is left on ``invoice`` to ``method`` once per ``key``: the portal's Pay
    button and the billing engine both come here.

    Commits twice: the payment as "processing" under the invoice's lock before the processor
    is called (outside any lock), then the outcome. A payment still processing blocks every
    other charge of the invoice. Raises PaymentRefused when nothing was attempted.

    ``locked``: the caller took lock_invoice in the transaction still open, refreshed the
    invoice after it and found no payment processing (the billing engine does), so the
    claim does not take the locks and read the same rows again."""
    try:
        claimed = _claim(session, invoice, method, key, now=now, actor=actor, locked=locked)
    except IntegrityError:
        # Two requests with one key passed the lock together (possible only where the database
        # took no lock): the key's unique index stopped the second, which answers with the first.
        session.rollback()
        earlier = _payment_by_key(session, key)
        if earlier is None:
            raise
        return _result_of(earlier)
    if isinstance(claimed, PayResult):
        return claimed
    return _charge(session, invoice, claimed, method, now=now, actor=actor, gateway=gateway,
                   on_outcome=on_outcome)


def resend_processing_payment(session: Session, invoice: Invoice, payment: Payment, *,
                              now: datetime, actor: str, gateway: PaymentGateway,
                              on_outcome: OutcomeHook | None = None) -> PayResult:
    """Ask the processor again about a payment left "processing" (its caller died before the
    answer was saved), with the payment's own idempotency key: by the gateway contract the
    processor answers with the first charge's result and never charges twice."""
    method = payment.payment_method
    if method is None:
        return PayResult("processing", payment)
    return _charge(session, invoice, payment, method, now=now, actor=actor, gateway=gateway,
                   on_outcome=on_outcome)


def lock_invoice(session: Session, invoice: Invoice) -> None:
    """Take the locks a payment of ``invoice`` changes things under, in the one lock order:
    its subscription first (paying may make it active again), then the invoice."""
    if invoice.subscription_id:
        lock_subscription(session, invoice.subscription_id)
    _lock_invoice(session, invoice.id)


def _claim(session: Session, invoice: Invoice, method: PaymentMethod, key: str, *,
           now: datetime, actor: str, locked: bool = False) -> Payment | PayResult:
    """Under the invoice's lock: answer a repeat, refuse what cannot be paid, or save a
    processing payment and commit it."""
    if not locked:
        lock_invoice(session, invoice)
        session.refresh(invoice)
    earlier = _payment_by_key(session, key)
    if earlier is not None:
        session.commit()
        if earlier.payment_method_id != method.id:
            raise PaymentRefused(
                "key_reused",
                _("This form was already used to pay with another card. Check the card and pay "
                  "again."),
            )
        return _result_of(earlier)
    if invoice.status == "paid":
        session.commit()
        done = _payments_of(session, invoice.id, "succeeded")
        return PayResult("already_paid", done[-1] if done else None, replayed=True)
    if invoice.status != "open":
        session.commit()
        raise PaymentRefused("not_payable", not_payable_message(invoice.status))
    if not locked and _payments_of(session, invoice.id, "processing"):
        session.commit()
        raise PaymentRefused(
            "in_progress",
            _("A payment for this invoice is already being processed, so we have not charged "
              "you again. Check this page again in a minute."),
        )
    if method.customer_id != invoice.customer_id or method.detached_at is not None:
        session.commit()
        raise PaymentRefused("payment_method_unknown", _("Choose one of your saved cards"),
                             "payment_method")
    if is_expired(method, now):
        session.commit()
        raise PaymentRefused("expired_card",
                             _("This card has expired. Choose another card or add a new one."),
                             "payment_method")
    amount = invoice.amount_remaining
    if amount == 0:
        # Nothing to take (a fully discounted invoice): it is paid without a charge.
        _mark_paid(session, invoice, None, now=now, actor=actor)
        session.commit()
        return PayResult("succeeded", None)
    payment = Payment(idempotency_key=key, customer_id=invoice.customer_id, invoice_id=invoice.id,
                      payment_method_id=method.id, amount=amount, currency=invoice.currency,
                      status="processing", created=now)
    session.add(payment)
    session.flush()
    # What the processor is asked, as committed: the commit expires the rows, and reading them
    # back would only open a transaction that stays idle while the processor answers.
    inspect(payment).info[_ASKED] = _asked(invoice, payment, method)
    session.commit()
    return payment


# Key in a payment's InstanceState.info: the _Ask its claim committed.
_ASKED = "portal.invoices.asked"


@dataclass(frozen=True)
class _Ask:
    """One charge as the processor is asked for it, and the rows to lock for its answer."""

    payment_id: str
    token: str
    amount: int
    currency: str
    idempotency_key: str
    description: str
    invoice_id: str
    subscription_id: str | None


def _asked(invoice: Invoice, payment: Payment, method: PaymentMethod) -> _Ask:
    return _Ask(payment_id=payment.id, token=method.processor_token, amount=payment.amount,
                currency=payment.currency, idempotency_key=payment.idempotency_key,
                description=f"Invoice {invoice.number}", invoice_id=invoice.id,
                subscription_id=invoice.subscription_id)


def _charge(session: Session, invoice: Invoice, payment: Payment, method: PaymentMethod, *,
            now: datetime, actor: str, gateway: PaymentGateway,
            on_outcome: OutcomeHook | None = None) -> PayResult:
    """Call the processor once, outside any lock, then record what it said."""
    ask = inspect(payment).info.pop(_ASKED, None) or _asked(invoice, payment, method)
    try:
        outcome = gateway.charge(ask.token, amount=ask.amount, currency=ask.currency,
                                 idempotency_key=ask.idempotency_key,
                                 description=ask.description)
    except Exception:
        # We cannot know whether money moved, so the payment stays "processing": that blocks a
        # second charge until the processor's answer is reconciled.
        log.exception("charge for payment %s got no answer", ask.payment_id)
        from portal.ops.metrics import payment_outcome

        payment_outcome("processing")
        return PayResult("processing", payment)

    if ask.subscription_id:
        lock_subscription(session, ask.subscription_id)
    _lock_invoice(session, ask.invoice_id)
    session.refresh(invoice)
    session.refresh(payment)
    if payment.status != "processing":
        # Another caller asking about the same payment (a resend after a crash) saved the
        # answer first: recording it again would count the money twice.
        session.commit()
        return _result_of(payment)
    invoice.attempt_count = (invoice.attempt_count or 0) + 1
    payment.completed_at = now
    if outcome.succeeded:
        payment.status = "succeeded"
        payment.processor_reference = outcome.reference
        _mark_paid(session, invoice, payment, now=now, actor=actor)
    else:
        payment.status = "failed"
        payment.failure_code = outcome.failure_code or "card_declined"
        payment.failure_message = (DECLINE_MESSAGES.get(payment.failure_code)
                                   or outcome.failure_message
                                   or DECLINE_MESSAGES["card_declined"])
        raise_event(session, "invoice.payment_failed", now=now, actor=actor,
                    customer_id=invoice.customer_id, object_id=invoice.id,
                    data={"payment_id": payment.id, "amount": payment.amount,
                          "currency": payment.currency, "failure_code": payment.failure_code,
                          "attempt_count": invoice.attempt_count,
                          "payment_method_id": payment.payment_method_id})
    if on_outcome is not None:
        on_outcome(session, invoice, payment)
    session.commit()
    return PayResult(payment.status, payment)


def _mark_paid(session: Session, invoice: Invoice, payment: Payment | None, *, now: datetime,
               actor: str) -> None:
    if payment is not None:
        invoice.amount_paid = (invoice.amount_paid or 0) + payment.amount
    data = {"payment_id": payment.id if payment else None, "amount_paid": invoice.amount_paid,
            "currency": invoice.currency}
    if invoice.status == "open" and invoice.amount_paid >= invoice.amount_due:
        invoice.status = "paid"
        invoice.paid_at = now
        invoice.next_payment_attempt = None
        raise_event(session, "invoice.paid", now=now, actor=actor,
                    customer_id=invoice.customer_id, object_id=invoice.id, data=data)
        _restore_subscription(session, invoice, now=now, actor=actor)
    else:
        # Money arrived for an invoice that changed meanwhile (voided while the card was
        # charged): recorded for the merchant to refund or settle, never silently dropped.
        raise_event(session, "invoice.payment_succeeded", now=now, actor=actor,
                    customer_id=invoice.customer_id, object_id=invoice.id, data=data)


def _restore_subscription(session: Session, invoice: Invoice, *, now: datetime,
                          actor: str, reason: str = "invoice_paid") -> None:
    """A past-due (or unpaid) subscription is active again once the invoice just paid was the
    last of its open invoices past their due date. Here, in the one paid path, so the portal's
    Pay button, a retry by the billing engine and any later front door all do it. The caller
    holds the subscription's lock (lock_invoice)."""
    if not invoice.subscription_id:
        return
    subscription = session.get(Subscription, invoice.subscription_id)
    if subscription is None or subscription.status not in ("past_due", "unpaid"):
        return
    # Past due: its due date has passed, or a charge of it has already failed (the engine may
    # have run ahead of the clock this payment is made by).
    still_owed = session.scalars(
        select(Invoice.id).where(Invoice.subscription_id == subscription.id,
                                 Invoice.id != invoice.id, Invoice.status == "open",
                                 Invoice.amount_due > Invoice.amount_paid,
                                 or_(Invoice.due_date < now, Invoice.attempt_count > 0))
        .limit(1)
    ).first()
    if still_owed is not None:
        return
    previous = subscription.status
    subscription.status = "active"
    subscription.version = (subscription.version or 0) + 1
    subscription.updated = now
    raise_event(session, "customer.subscription.updated", now=now, actor=actor,
                customer_id=subscription.customer_id, object_id=subscription.id,
                data={"status": "active", "previous_status": previous,
                      "reason": reason, "invoice_id": invoice.id})


# ---- voiding ---------------------------------------------------------------------------------

class VoidRefused(Exception):
    """The invoice was not voided, and why (``code``: not_open, in_progress)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def void_invoice(session: Session, invoice: Invoice, *, now: datetime, actor: str) -> Invoice:
    """Void an open invoice (the merchant's; Stripe's void): nothing more is collected on it,
    the customer's balance it used is given back, and a past-due subscription whose last
    overdue invoice this was is active again. Raises invoice.voided. Refused (VoidRefused)
    for any other status and while a payment of it is being processed. Locks in the one
    order: the subscription, the customer, the invoice; flushes, the caller commits."""
    from portal.billing.invoicing import credit_balance
    from portal.locking import lock_customer

    if invoice.subscription_id:
        lock_subscription(session, invoice.subscription_id)
    customer = lock_customer(session, invoice.customer)
    _lock_invoice(session, invoice.id)
    session.refresh(invoice)
    if invoice.status != "open":
        raise VoidRefused("not_open", f"You can only void an open invoice; this one is "
                                      f"{invoice.status}.")
    if _payments_of(session, invoice.id, "processing"):
        raise VoidRefused("in_progress", "A payment of this invoice is being processed: "
                                         "void it once that payment has an outcome.")
    invoice.status = "void"
    invoice.voided_at = now
    invoice.next_payment_attempt = None
    used = invoice.ending_balance - invoice.starting_balance
    if used:
        credit_balance(session, customer, -used, invoice.currency, now=now,
                       # Customers read it with their balance: stored as written.
                       description=_("Invoice %(number)s voided", number=invoice.number),
                       creation_key=f"{invoice.id}:void:balance", type="adjustment")
    raise_event(session, "invoice.voided", now=now, actor=actor,
                customer_id=invoice.customer_id, object_id=invoice.id,
                data={"number": invoice.number, "amount_due": invoice.amount_due,
                      "amount_paid": invoice.amount_paid, "currency": invoice.currency,
                      "balance_returned": -used})
    _restore_subscription(session, invoice, now=now, actor=actor, reason="invoice_voided")
    session.flush()
    return invoice
