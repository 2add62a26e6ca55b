"""Housekeeping, run by the scheduler and by ``flask --app portal housekeeping``.

Purges rows that can never be used again (expired or used passcodes after a retention window,
ended or expired sign-ins, delivered outbox rows that no dedupe key needs, API answers kept
past their 24 hours), and settles
payments a crash left "processing".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from portal.customers.models import LoginPasscode, SignInSession
from portal.invoices.models import Invoice
from portal.outbox.models import OutboxMessage
from portal.payments.gateway import PaymentGateway
from portal.payments.models import Payment

log = logging.getLogger("portal.housekeeping")


def _seconds(value) -> timedelta:
    return value if isinstance(value, timedelta) else timedelta(seconds=float(value))


def purge_login_passcodes(session: Session, *, now: datetime, retention: timedelta) -> int:
    """Delete passcodes that expired, or were used, more than ``retention`` ago."""
    cutoff = now - retention
    return session.execute(
        delete(LoginPasscode)
        .where(or_(LoginPasscode.expires_at < cutoff, LoginPasscode.used_at < cutoff))
        .execution_options(synchronize_session=False)
    ).rowcount


def purge_sign_ins(session: Session, *, now: datetime, idle: timedelta,
                   absolute: timedelta) -> int:
    """Delete sign-ins that ended, or that idled or lived past their lifetime: the same rule
    ``portal.request_context.sign_in_is_live`` applies, so none of them could sign anyone in."""
    return session.execute(
        delete(SignInSession)
        .where(or_(SignInSession.ended_at.is_not(None),
                   SignInSession.last_seen < now - idle,
                   SignInSession.created < now - absolute))
        .execution_options(synchronize_session=False)
    ).rowcount


def purge_outbox(session: Session, *, now: datetime, retention: timedelta) -> int:
    """Delete outbox rows sent or given up on more than ``retention`` ago. Rows with a dedupe
    key stay: they are what stops the same side effect being raised again."""
    cutoff = now - retention
    return session.execute(
        delete(OutboxMessage)
        .where(OutboxMessage.dedupe_key.is_(None),
               or_(OutboxMessage.sent_at < cutoff, OutboxMessage.failed_at < cutoff))
        .execution_options(synchronize_session=False)
    ).rowcount


@dataclass
class Reconciled:
    """The payment ids a reconcile settled, by outcome."""

    succeeded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    still_processing: list[str] = field(default_factory=list)


def reconcile_payments(session: Session, *, now: datetime, older_than: timedelta,
                       gateway: PaymentGateway) -> Reconciled:
    """Ask the gateway again about payments left "processing" for longer than ``older_than``
    (the request that charged died before it recorded the answer), with each payment's own
    idempotency key, so the processor answers with the original outcome and never charges
    twice; record it as paying an invoice does. Commits once per payment."""
    # Recorded by the invoices' own code, so a reconciled payment looks like any other.
    from portal.invoices.operations import lock_invoice, resend_processing_payment

    done = Reconciled()
    stuck = session.scalars(
        select(Payment.id).where(Payment.status == "processing", Payment.created < now - older_than)
        .order_by(Payment.created, Payment.id)
    ).all()
    for payment_id in stuck:
        payment = session.get(Payment, payment_id)
        if payment is None or payment.invoice_id is None or payment.payment_method_id is None:
            log.warning("payment %s is processing without an invoice or card to settle it by",
                        payment_id)
            done.still_processing.append(payment_id)
            continue
        invoice = session.get(Invoice, payment.invoice_id)
        # Held through the gateway call (subscription, then invoice: the one lock order): a
        # second housekeeping run waits here and then finds the payment settled. Recording the
        # answer checks again that the payment is still processing, so the billing engine's
        # own resend cannot count it twice either.
        lock_invoice(session, invoice)
        session.refresh(payment)
        if payment.status != "processing":
            session.commit()
            continue
        result = resend_processing_payment(session, invoice, payment, now=now, actor="system",
                                           gateway=gateway)
        # No answer again: nothing was recorded; let the invoice go until the next run.
        session.rollback()
        if result.status == "succeeded":
            done.succeeded.append(payment_id)
        elif result.status == "failed":
            done.failed.append(payment_id)
        else:
            done.still_processing.append(payment_id)
        log.info("payment %s reconciled: %s", payment_id, result.status)
    return done


def run(session: Session, *, now: datetime, config, gateway: PaymentGateway) -> dict:
    """Every chore, each committed on its own; returns what each did."""
    passcodes = purge_login_passcodes(
        session, now=now, retention=_seconds(config["LOGIN_PASSCODE_RETENTION_SECONDS"]))
    session.commit()
    sign_ins = purge_sign_ins(session, now=now,
                              idle=_seconds(config["PERMANENT_SESSION_LIFETIME"]),
                              absolute=_seconds(config["SESSION_ABSOLUTE_LIFETIME"]))
    session.commit()
    outbox = purge_outbox(session, now=now,
                          retention=_seconds(config["OUTBOX_RETENTION_SECONDS"]))
    session.commit()
    from portal.integration.idempotency import purge as purge_idempotent_requests

    idempotent = purge_idempotent_requests(session, now=now)
    session.commit()
    payments = reconcile_payments(
        session, now=now, older_than=_seconds(config["PAYMENT_RECONCILE_AFTER_SECONDS"]),
        gateway=gateway)
    return {"login_passcodes": passcodes, "sign_ins": sign_ins, "outbox_messages": outbox,
            "idempotent_requests": idempotent,
            "payments_succeeded": len(payments.succeeded),
            "payments_failed": len(payments.failed),
            "payments_still_processing": len(payments.still_processing)}

