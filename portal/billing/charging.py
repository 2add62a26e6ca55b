"""Collecting what invoices are owed: the billing engine's automatic charges, the retry
schedule after a failure (dunning), and the emails that go with them.

The charge itself is portal.invoices.operations.charge_invoice, the one the portal's Pay button
uses: a Payment with a unique idempotency key is committed as "processing" before the
processor is called, outside any lock, and the outcome is saved after. What this module adds
runs in the transaction that saves the outcome (the ``on_outcome`` hook), so a failed payment
and its retry date, the subscription's new status and the customer's email are committed
together or not at all.

Automatic attempts are keyed ``f"{invoice.id}:attempt:{n}"``, n counting the engine's attempts
at that invoice from 1. The key is chosen under the invoice's lock after checking the invoice is
still due, so two runs at once choose the same key and the second is answered with the first's
result, and a rerun after a crash never charges an attempt twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from babel.dates import format_date
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.billing.policy import BillingPolicy
from portal.events import raise_event
from portal.i18n import locale_for_customer
from portal.invoices import operations
from portal.invoices.models import Invoice
from portal.money import format_money
from portal.outbox.models import OutboxMessage
from portal.outbox.operations import enqueue_email, request_locale
from portal.payments.gateway import DECLINE_MESSAGES, PaymentGateway
from portal.payments.models import Payment, PaymentMethod
from portal.portal_settings.operations import get_branding
from portal.subscriptions.models import Subscription
from portal.translation import N_

log = logging.getLogger("portal.billing")

ACTOR = "system"
NO_CARD = "payment_method_missing"
# Stored with the failed payment in English; shown translated (portal.translation.shown).
NO_CARD_MESSAGE = N_("There is no card on file to charge. Add a card, then pay this invoice.")


def attempt_key(invoice_id: str, attempt: int) -> str:
    """The idempotency key of the engine's ``attempt``-th charge of an invoice."""
    return f"{invoice_id}:attempt:{attempt}"


def automatic_attempts(session: Session, invoice_id: str) -> list[Payment]:
    """The engine's attempts at an invoice, oldest first (the customer's own tries from the
    portal are not counted: they do not move the retry schedule)."""
    return list(session.scalars(
        select(Payment)
        .where(Payment.invoice_id == invoice_id,
               Payment.idempotency_key.startswith(f"{invoice_id}:attempt:", autoescape=True))
        .order_by(Payment.created, Payment.id)
    ).all())


def is_automatic(payment: Payment) -> bool:
    """Whether the engine made this attempt (by its key)."""
    return bool(payment.invoice_id) and payment.idempotency_key.startswith(
        f"{payment.invoice_id}:attempt:")


def payment_method_for(invoice: Invoice) -> PaymentMethod | None:
    """The card to charge: the subscription's default, else the customer's, if still saved."""
    candidates = []
    if invoice.subscription is not None:
        candidates.append(invoice.subscription.default_payment_method)
    candidates.append(invoice.customer.default_payment_method)
    for method in candidates:
        if (method is not None and method.customer_id == invoice.customer_id
                and method.detached_at is None):
            return method
    return None


def is_due(invoice: Invoice, now: datetime) -> bool:
    """Open, charged automatically, something left to pay, and its next attempt has come."""
    return (invoice.status == "open" and invoice.collection_method == "charge_automatically"
            and invoice.amount_remaining > 0 and invoice.next_payment_attempt is not None
            and invoice.next_payment_attempt <= now)


@dataclass(frozen=True)
class Collection:
    """What one look at a due invoice did: charged, failed, would_charge, skipped, or
    not_due (someone else dealt with it first); ``text`` says it for the run's listing."""

    kind: str
    invoice_id: str
    text: str = ""
    # "canceled" or "unpaid" when this failure was the last retry and the subscription
    # became that.
    outcome: str | None = None


def collect_invoice(session: Session, invoice_id: str, *, now: datetime,
                    gateway: PaymentGateway, policy: BillingPolicy,
                    dry_run: bool = False) -> Collection:
    """Charge one due invoice once, or say what would be charged (``dry_run``, nothing
    written). Commits (except in a dry run)."""
    invoice = session.get(Invoice, invoice_id)
    if invoice is None:
        return Collection("not_due", invoice_id)
    if dry_run:
        return _describe(session, invoice, now)
    # The same locks, in the same order, as the portal's Pay button: subscription, invoice.
    operations.lock_invoice(session, invoice)
    session.refresh(invoice)
    if not is_due(invoice, now):
        # Paid, retried or rescheduled by someone else since the run listed it.
        session.commit()
        return Collection("not_due", invoice_id)
    label = _label(invoice)
    outcomes: list[str | None] = []
    hook = _hook(policy, now, outcomes)
    processing = _processing(session, invoice.id)
    if processing is not None:
        age = now - processing.created
        session.commit()
        if policy.resend_after <= age < policy.resend_before:
            result = operations.resend_processing_payment(
                session, invoice, processing, now=now, actor=ACTOR, gateway=gateway,
                on_outcome=hook)
            return _collected(result, invoice_id, label, outcomes, resent=True)
        if age >= policy.resend_before:
            log.warning("payment %s for invoice %s has been processing since %s: check it "
                        "with the processor", processing.id, invoice_id, processing.created)
        return Collection("skipped", invoice_id, f"{label}: a payment is still processing")

    method = payment_method_for(invoice)
    attempt = len(automatic_attempts(session, invoice.id)) + 1
    key = attempt_key(invoice.id, attempt)
    if method is None or operations.is_expired(method, now):
        code = NO_CARD if method is None else "expired_card"
        outcome = _record_failure_without_charge(session, invoice, method, key, code, now=now,
                                                 policy=policy)
        session.commit()
        reason = "no card on file" if method is None else f"{method.label} has expired"
        return Collection("failed", invoice_id, f"{label}: not charged, {reason}",
                          outcome=outcome)
    try:
        # The locks taken above are still held, and nothing was processing under them.
        result = operations.charge_invoice(session, invoice, method, key=key, now=now,
                                           actor=ACTOR, gateway=gateway, on_outcome=hook,
                                           locked=True)
    except operations.PaymentRefused as refusal:
        session.rollback()
        return Collection("skipped", invoice_id, f"{label}: {refusal.message}")
    return _collected(result, invoice_id, label, outcomes)


def _label(invoice: Invoice) -> str:
    amount = format_money(invoice.amount_remaining, invoice.currency, "en")
    return f"invoice {invoice.number or invoice.id} ({amount})"


def _processing(session: Session, invoice_id: str) -> Payment | None:
    return session.scalars(
        select(Payment).where(Payment.invoice_id == invoice_id, Payment.status == "processing")
        .order_by(Payment.created, Payment.id).limit(1)
    ).first()


def _describe(session: Session, invoice: Invoice, now: datetime) -> Collection:
    # What a dry run wrote is rolled back, numbers included: name new invoices by amount.
    label = _label(invoice)
    if invoice.finalized_at == now and invoice.period_start and invoice.period_end:
        amount = format_money(invoice.amount_remaining, invoice.currency, "en")
        label = (f"the new invoice for {invoice.period_start:%b %-d} – "
                 f"{invoice.period_end:%b %-d, %Y} ({amount})")
    if not is_due(invoice, now):
        return Collection("not_due", invoice.id)
    if _processing(session, invoice.id) is not None:
        return Collection("skipped", invoice.id, f"{label}: a payment is still processing")
    method = payment_method_for(invoice)
    if method is None:
        return Collection("would_charge", invoice.id, f"{label}: would fail, no card on file")
    if operations.is_expired(method, now):
        return Collection("would_charge", invoice.id,
                          f"{label}: would fail, {method.label} has expired")
    attempt = len(automatic_attempts(session, invoice.id)) + 1
    return Collection("would_charge", invoice.id,
                      f"{label}: would charge {method.label} (attempt {attempt})")


def _collected(result: operations.PayResult, invoice_id: str, label: str,
               outcomes: list[str | None], *, resent: bool = False) -> Collection:
    how = " (asked again about a payment left processing)" if resent else ""
    if result.replayed or result.status == "already_paid":
        return Collection("skipped", invoice_id, f"{label}: already attempted by another run")
    if result.status == "succeeded":
        card = operations.card_label(result.payment.payment_method if result.payment else None)
        return Collection("charged", invoice_id, f"{label}: charged {card}{how}")
    if result.status == "failed":
        return Collection("failed", invoice_id,
                          f"{label}: declined, {operations.decline_message(result.payment)}{how}",
                          outcome=outcomes[-1] if outcomes else None)
    return Collection("skipped", invoice_id,
                      f"{label}: the processor gave no answer; the payment stays processing")


def _hook(policy: BillingPolicy, now: datetime, outcomes: list[str | None]):
    def on_outcome(session: Session, invoice: Invoice, payment: Payment) -> None:
        # Only the engine's own attempts move the schedule; a customer's try in the portal
        # that failed was shown to them on the page.
        if payment.status == "failed" and is_automatic(payment):
            outcomes.append(after_failure(session, invoice, now=now, policy=policy))

    return on_outcome


def _record_failure_without_charge(session: Session, invoice: Invoice,
                                   method: PaymentMethod | None, key: str, code: str, *,
                                   now: datetime, policy: BillingPolicy) -> str | None:
    """No usable card: the attempt fails without reaching the processor, and is kept as a
    failed payment (so the invoice page says why) and counted like any other failure."""
    message = DECLINE_MESSAGES.get(code) or NO_CARD_MESSAGE
    payment = Payment(idempotency_key=key, customer_id=invoice.customer_id,
                      invoice_id=invoice.id, payment_method_id=method.id if method else None,
                      amount=invoice.amount_remaining, currency=invoice.currency,
                      status="failed", failure_code=code, failure_message=message,
                      created=now, completed_at=now)
    session.add(payment)
    invoice.attempt_count = (invoice.attempt_count or 0) + 1
    session.flush()
    raise_event(session, "invoice.payment_failed", now=now, actor=ACTOR,
                customer_id=invoice.customer_id, object_id=invoice.id,
                data={"payment_id": payment.id, "amount": payment.amount,
                      "currency": payment.currency, "failure_code": code,
                      "attempt_count": invoice.attempt_count,
                      "payment_method_id": payment.payment_method_id})
    return after_failure(session, invoice, now=now, policy=policy)


def after_failure(session: Session, invoice: Invoice, *, now: datetime,
                  policy: BillingPolicy) -> str | None:
    """After the engine's n-th failed attempt at ``invoice``: the next try per the policy and
    a past-due subscription, or after the last one a canceled or unpaid subscription (which
    it returns); and an email to the customer either way. The caller holds the
    subscription's and the invoice's locks and commits."""
    failures = [p for p in automatic_attempts(session, invoice.id) if p.status == "failed"]
    attempt = len(failures)
    first_failed_at = min(p.completed_at or p.created for p in failures)
    next_at = policy.next_attempt(first_failed_at, attempt)
    invoice.next_payment_attempt = next_at
    subscription = invoice.subscription
    outcome = None
    if subscription is not None and next_at is not None:
        if subscription.status in ("active", "trialing"):
            _set_status(session, subscription, "past_due", now=now, invoice=invoice)
    elif subscription is not None and subscription.status in ("active", "trialing", "past_due"):
        outcome = policy.after_final_failure
        _stop_collecting(session, subscription, now=now)
        if outcome == "canceled":
            subscription.status = "canceled"
            subscription.ended_at = now
            subscription.canceled_at = now
            subscription.cancellation_reason = "payment_failed"
            touch(subscription, now)
            raise_event(session, "customer.subscription.deleted", now=now, actor=ACTOR,
                        customer_id=subscription.customer_id, object_id=subscription.id,
                        data={"status": "canceled", "cancellation_reason": "payment_failed",
                              "invoice_id": invoice.id})
        else:
            _set_status(session, subscription, "unpaid", now=now, invoice=invoice)
    _email_failure(session, invoice, attempt=attempt, next_at=next_at, outcome=outcome,
                   final=next_at is None, now=now)
    return outcome


def touch(subscription: Subscription, now: datetime) -> None:
    """Mark the subscription changed: the version bump tells a page still showing the old
    state (a customer's change form) that it moved."""
    subscription.version = (subscription.version or 0) + 1
    subscription.updated = now


def _set_status(session: Session, subscription: Subscription, status: str, *, now: datetime,
                invoice: Invoice) -> None:
    previous = subscription.status
    subscription.status = status
    touch(subscription, now)
    raise_event(session, "customer.subscription.updated", now=now, actor=ACTOR,
                customer_id=subscription.customer_id, object_id=subscription.id,
                data={"status": status, "previous_status": previous,
                      "reason": "payment_failed", "invoice_id": invoice.id})


def _stop_collecting(session: Session, subscription: Subscription, *, now: datetime) -> None:
    """No more automatic charges for a subscription that is canceled or unpaid: its other
    open invoices stay payable in the portal, but are not retried."""
    for other in session.scalars(select(Invoice).where(
            Invoice.subscription_id == subscription.id, Invoice.status == "open",
            Invoice.next_payment_attempt.is_not(None))).all():
        other.next_payment_attempt = None


# ---- emails ------------------------------------------------------------------------------

def invoice_url(invoice_id: str, public_url: str | None = None) -> str:
    """Where the customer pays the invoice: absolute under PUBLIC_URL when the app has one,
    else the portal's path (the engine runs with no request to build a URL from)."""
    from flask import current_app, has_app_context
    from werkzeug.routing import BuildError

    path = f"/p/invoices/{invoice_id}"
    if has_app_context():
        public_url = public_url or current_app.config.get("PUBLIC_URL")
        try:
            path = current_app.url_map.bind("localhost").build(
                "invoices.invoice_detail", {"invoice_id": invoice_id})
        except BuildError:  # an app without the invoice pages: the usual path serves
            pass
    return (public_url.rstrip("/") + path) if public_url else path


def _long_date(value: datetime | None, locale: str) -> str | None:
    return format_date(value, "long", locale=locale) if value else None


def email_locale(customer) -> str:
    """The language of an email to ``customer``: the page's when they caused it, else theirs."""
    return request_locale(locale_for_customer(customer))


def email_context(session: Session, invoice: Invoice, locale: str = "en") -> dict:
    """What every billing email says about the merchant and the invoice (JSON only: the
    worker renders it later), with amounts and dates written for ``locale``."""
    branding = get_branding(session)
    customer = invoice.customer
    return {
        "business_name": branding.business_name,
        "brand_color": branding.brand_color,
        "support_email": branding.support_email,
        "customer_name": customer.name,
        "invoice_id": invoice.id,
        "invoice_number": invoice.number,
        "subscription_id": invoice.subscription_id,
        "amount_due": invoice.amount_remaining,
        "currency": invoice.currency,
        "amount_text": format_money(invoice.amount_remaining, invoice.currency, locale),
        "due_date": invoice.due_date.isoformat() if invoice.due_date else None,
        "due_date_text": _long_date(invoice.due_date, locale),
        "pay_url": invoice_url(invoice.id),
    }


def queue_email_once(session: Session, *, dedupe_key: str, to: str | None, subject: str,
                     template: str, context: dict, now: datetime,
                     locale: str | None = None) -> OutboxMessage | None:
    """Queue an email unless one with ``dedupe_key`` was queued before (or there is no
    address). The unique dedupe key is the last guard, in a savepoint so the caller's change
    survives it."""
    if not to:
        return None
    if session.scalars(select(OutboxMessage.id).where(
            OutboxMessage.dedupe_key == dedupe_key)).first() is not None:
        return None
    try:
        with session.begin_nested():
            message = enqueue_email(session, to=to, subject=subject, template=template,
                                    context=context, now=now, dedupe_key=dedupe_key,
                                    locale=locale)
            session.flush()
    except IntegrityError:
        return None
    return message


def _email_failure(session: Session, invoice: Invoice, *, attempt: int,
                   next_at: datetime | None, outcome: str | None, final: bool,
                   now: datetime) -> None:
    locale = email_locale(invoice.customer)
    context = email_context(session, invoice, locale)
    failed = [p for p in automatic_attempts(session, invoice.id) if p.status == "failed"]
    with force_locale(locale):  # the decline and the card in the email's language
        context.update({
            "attempt": attempt,
            "failure_message": operations.decline_message(failed[-1]) if failed else None,
            "card_label": operations.card_label(failed[-1].payment_method) if failed else None,
            "next_attempt": next_at.isoformat() if next_at else None,
            "next_attempt_text": _long_date(next_at, locale),
            "outcome": outcome,
        })
    business = context["business_name"]
    if not final:
        subject = _l("Your payment to %(business)s failed", business=business)
    elif outcome == "canceled":
        subject = _l("Your %(business)s subscription has been canceled", business=business)
    elif outcome == "unpaid":
        subject = _l("Your %(business)s subscription is on hold until you pay",
                     business=business)
    else:
        subject = _l("We could not collect your payment to %(business)s", business=business)
    queue_email_once(session, dedupe_key=f"{invoice.id}:payment_failed:{attempt}",
                     to=invoice.customer.email, subject=subject,
                     template="billing_payment_failed_final" if final else "billing_payment_failed",
                     context=context, now=now, locale=locale)


def queue_invoice_email(session: Session, invoice: Invoice, *, now: datetime) -> None:
    """The email that sends a ``send_invoice`` invoice: what is due, by when, and where to
    pay it."""
    locale = email_locale(invoice.customer)
    context = email_context(session, invoice, locale)
    queue_email_once(session, dedupe_key=f"{invoice.id}:invoice_sent", to=invoice.customer.email,
                     subject=_l("Your %(business_name)s invoice %(number)s",
                                business_name=context["business_name"], number=invoice.number),
                     template="billing_invoice", context=context, now=now,
                     locale=locale)
