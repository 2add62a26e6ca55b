"""The billing engine: advances every subscription that is due and collects what is owed.

``run(session, now=..., gateway=..., policy=...)`` is plain Python over a session; time is a
parameter, so a test (or ``flask billing run --now``) can run it a month ahead. One run:

1. lists the work: subscriptions that are due (a trial or a period ended, a ``cancel_at`` or
   the end of a collection pause came), and open ``charge_automatically`` invoices whose next
   payment attempt has come; grouped by subscription;
2. for each subscription, moves it forward one period per short transaction (subscription,
   then customer, locked in that order): ends the trial, applies a scheduled change
   (``pending_update``) at the boundary, moves the period, and writes the period's invoice
   once (creation key ``f"{sub.id}:cycle:{period_start.isoformat()}"``); or ends it at the
   period end or at ``cancel_at``. Several periods missed make one invoice each;
3. then charges the subscription's due invoices (portal.billing.charging), one attempt each.

Exactly once, whatever runs at the same time or dies halfway: a subscription is claimed with
``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL (another run already has it: skipped) or
SQLite's write lock, and is checked again under the lock, so a period is moved by one run only;
the creation key's unique index stops a second invoice for a period; and each charge is a
Payment row with a unique idempotency key committed before the processor is called.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy import event as orm_event
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from portal.billing import charging
from portal.billing.calc import add_months, next_period_end
from portal.billing.invoicing import (
    InvoiceExists,
    coupon_in_force,
    draft_for,
    item_lines,
    pending_items,
    period_after,
    period_lines,
    plan_after_pending_update,
    write_invoice,
)
from portal.billing.policy import BillingPolicy
from portal.customers.models import Customer
from portal.events import raise_event
from portal.invoices.models import Invoice
from portal.locking import lock_customer, lock_subscription
from portal.money import format_money
from portal.payments.gateway import PaymentGateway
from portal.subscriptions.models import Subscription

log = logging.getLogger("portal.billing")

ACTOR = charging.ACTOR
# Statuses the engine moves forward. "unpaid" keeps being invoiced (as Stripe does) but is not
# charged automatically; "paused", "incomplete" and "canceled" are left alone.
ADVANCING = ("trialing", "active", "past_due", "unpaid")
# A run stops moving one subscription after this many periods (a daily price years behind),
# so one subscription cannot hold up the rest; the next run carries on from there.
MAX_PERIODS_PER_RUN = 400
# A step that meets a unique index another run filled first, a deadlock PostgreSQL broke, or
# SQLite's busy timeout is tried again from a fresh transaction this many times.
STEP_TRIES = 3

Progress = Callable[[int, int], None]


@dataclass
class RunSummary:
    """What a run did (or, in a dry run, would do), counted and listed."""

    renewed: int = 0  # periods moved forward, trials ended included
    invoiced: int = 0  # invoices written
    charged: int = 0  # charges that succeeded (in a dry run: charges it would attempt)
    failed: int = 0  # attempts that failed
    canceled: int = 0  # subscriptions ended: at period end, at cancel_at, or unpaid for good
    skipped: int = 0  # due, but another run had it or a payment is still processing
    errors: int = 0  # subscriptions or invoices that raised (logged); the rest went on
    dry_run: bool = False
    actions: list[str] = field(default_factory=list)

    def line(self) -> str:
        """The summary line the command ends with."""
        counts = (f"renewed {self.renewed}, invoiced {self.invoiced}, "
                  f"{'would charge' if self.dry_run else 'charged'} {self.charged}, "
                  f"failed {self.failed}, canceled {self.canceled}, skipped {self.skipped}")
        if self.errors:
            counts += f", errors {self.errors}"
        return ("Dry run, nothing written: " if self.dry_run else "") + counts


@dataclass(frozen=True)
class Unit:
    """One piece of a run's work: a subscription (its periods, then its due invoices), or an
    invoice that belongs to no subscription."""

    subscription_id: str | None = None
    invoice_id: str | None = None


@dataclass(frozen=True)
class Step:
    """What one transaction did to a subscription."""

    kind: str  # renewed | ended | resumed | locked
    text: str = ""
    invoice_created: bool = False
    # Whether the subscription as this step left it is still due (more periods missed).
    due_again: bool = True


def run(session: Session, *, now: datetime, gateway: PaymentGateway, policy: BillingPolicy,
        dry_run: bool = False, progress: Progress | None = None) -> RunSummary:
    """Advance every due subscription and charge every due invoice as of ``now``, each in its
    own short transaction; ``dry_run`` lists what would happen and writes nothing.
    ``progress(done, total)`` is called once the work is listed and after each piece."""
    now = as_utc(now)
    summary = RunSummary(dry_run=dry_run)
    session.info["billing_dry_run"] = dry_run
    session.info[_HELD] = []
    try:
        return _run(session, now=now, gateway=gateway, policy=policy, dry_run=dry_run,
                    progress=progress, summary=summary)
    finally:
        session.info.pop("billing_dry_run", None)
        session.info.pop(_HELD, None)


# The session's identity map holds clean rows weakly: a row the engine read (the subscription
# it claimed, the customer it locked) and no longer names is gone by the commit, and the commit's
# webhook events read it again, with everything it points to. During a run every row loaded or
# written is held until its transaction ends, so a transaction reads each row once.
_HELD = "portal.billing.held"


@orm_event.listens_for(Session, "loaded_as_persistent")
@orm_event.listens_for(Session, "pending_to_persistent")
def _hold(session: Session, instance) -> None:
    held = session.info.get(_HELD)
    if held is not None:
        held.append(instance)


@orm_event.listens_for(Session, "after_transaction_end")
def _let_go(session: Session, transaction) -> None:
    if transaction.parent is None and session.info.get(_HELD):
        session.info[_HELD] = []


def _run(session: Session, *, now: datetime, gateway: PaymentGateway, policy: BillingPolicy,
         dry_run: bool, progress: Progress | None, summary: RunSummary) -> RunSummary:
    units = due_work(session, now)
    session.rollback()  # the listing's read transaction; every piece starts afresh
    if progress is not None:
        progress(0, len(units))
    held: list[Unit] = []
    for done, unit in enumerate(units, 1):
        if _do_unit(session, unit, now=now, gateway=gateway, policy=policy, dry_run=dry_run,
                    summary=summary, last_try=False):
            held.append(unit)
        if progress is not None:
            progress(done, len(units))
    # A subscription locked a moment ago (a customer's change, a payment being saved) is
    # usually free by now: one more try, so it does not wait for the next run.
    for unit in held:
        _do_unit(session, unit, now=now, gateway=gateway, policy=policy, dry_run=dry_run,
                 summary=summary, last_try=True)
    return summary


def _do_unit(session: Session, unit: Unit, *, now: datetime, gateway: PaymentGateway,
             policy: BillingPolicy, dry_run: bool, summary: RunSummary,
             last_try: bool) -> bool:
    """Do one piece of work; True when its subscription was held elsewhere (and left)."""
    try:
        if unit.subscription_id is not None:
            return _subscription_unit(session, unit.subscription_id, now=now,
                                      gateway=gateway, policy=policy, dry_run=dry_run,
                                      summary=summary, last_try=last_try)
        _collect(session, unit.invoice_id, now=now, gateway=gateway, policy=policy,
                 dry_run=dry_run, summary=summary, label=unit.invoice_id)
    except Exception as error:  # one broken subscription must not stop the others
        session.rollback()
        summary.errors += 1
        what = unit.subscription_id or unit.invoice_id
        summary.actions.append(f"{what}: error, {type(error).__name__}: {error}")
        log.exception("billing run: %s failed", what)
    finally:
        if dry_run:
            # Everything the dry run worked out in the transaction goes, nothing is kept.
            session.rollback()
    return False


def run_from_app(app, now: datetime | None = None, *, dry_run: bool = False,
                 progress: Progress | None = None) -> RunSummary:
    """One call for the worker's periodic job and the command: the app's session, gateway
    (PORTAL_PAYMENT_GATEWAY) and policy (BILLING_*), at ``now`` (default: the real time)."""
    from portal.dbtypes import utcnow
    from portal.extensions import db
    from portal.payments.gateway import get_gateway

    with app.app_context():
        gateway = get_gateway(config=app.config)
        policy = BillingPolicy.from_config(app.config)
        try:
            return run(db.session, now=now or utcnow(), gateway=gateway, policy=policy,
                       dry_run=dry_run, progress=progress)
        finally:
            db.session.remove()


def as_utc(moment: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


# ---- what is due ---------------------------------------------------------------------------

def due_subscriptions_clause(now: datetime):
    """SQL for "this subscription has something to do at ``now``"."""
    return and_(
        Subscription.ended_at.is_(None),
        Subscription.status.in_(ADVANCING),
        or_(
            and_(Subscription.status == "trialing",
                 or_(Subscription.trial_end <= now,
                     and_(Subscription.trial_end.is_(None),
                          Subscription.current_period_end <= now))),
            and_(Subscription.status != "trialing", Subscription.current_period_end <= now),
            Subscription.cancel_at <= now,
            Subscription.pause_collection_resumes_at <= now,
        ),
    )


def due_invoices_clause(now: datetime):
    """SQL for "this invoice is to be charged at ``now``"."""
    return and_(Invoice.status == "open", Invoice.collection_method == "charge_automatically",
                Invoice.next_payment_attempt.is_not(None), Invoice.next_payment_attempt <= now,
                Invoice.amount_due > Invoice.amount_paid)


def due_work(session: Session, now: datetime) -> list[Unit]:
    """The run's work, in order: due subscriptions (longest overdue first), subscriptions
    with only invoices to charge, then invoices of no subscription."""
    units: dict[str, Unit] = {}
    for sub_id in session.scalars(
            select(Subscription.id).where(due_subscriptions_clause(now))
            .order_by(Subscription.current_period_end, Subscription.id)):
        units.setdefault(sub_id, Unit(subscription_id=sub_id))
    loose: list[Unit] = []
    for invoice_id, sub_id in session.execute(
            select(Invoice.id, Invoice.subscription_id).where(due_invoices_clause(now))
            .order_by(Invoice.next_payment_attempt, Invoice.id)):
        if sub_id is None:
            loose.append(Unit(invoice_id=invoice_id))
        else:
            units.setdefault(sub_id, Unit(subscription_id=sub_id))
    return list(units.values()) + loose


def boundary_of(subscription: Subscription) -> datetime:
    """Where the subscription's current stretch ends: its trial, or its period."""
    if subscription.status == "trialing" and subscription.trial_end is not None:
        return subscription.trial_end
    return subscription.current_period_end


def is_due(subscription: Subscription, now: datetime) -> bool:
    """The Python twin of due_subscriptions_clause, checked again under the lock."""
    if subscription.ended_at is not None or subscription.status not in ADVANCING:
        return False
    if subscription.cancel_at is not None and subscription.cancel_at <= now:
        return True
    resumes = subscription.pause_collection_resumes_at
    if resumes is not None and resumes <= now:
        return True
    return boundary_of(subscription) <= now


# ---- one subscription ----------------------------------------------------------------------

def _subscription_unit(session: Session, sub_id: str, *, now: datetime,
                       gateway: PaymentGateway, policy: BillingPolicy, dry_run: bool,
                       summary: RunSummary, last_try: bool = True) -> bool:
    """Move the subscription through every period that is due, then charge what it owes;
    True when another transaction holds it (counted as skipped only on the ``last_try``)."""
    email = session.scalars(select(Customer.email).join(Subscription)
                            .where(Subscription.id == sub_id)).first()
    label = f"{sub_id} ({email})" if email else sub_id
    for _ in range(MAX_PERIODS_PER_RUN):
        step = _step_with_retries(session, sub_id, now=now, dry_run=dry_run)
        if step is None:
            break
        if step.kind == "locked":
            if last_try:
                summary.skipped += 1
                summary.actions.append(f"{label}: skipped, another run is billing it")
            return True
        if not dry_run:
            session.commit()
        summary.actions.append(f"{label}: {step.text}")
        if step.kind == "renewed":
            summary.renewed += 1
        elif step.kind == "ended":
            summary.canceled += 1
        summary.invoiced += int(step.invoice_created)
        if step.kind == "ended" or not step.due_again:
            # Not due once this step committed: no second claim only to find that out.
            break
    else:
        log.warning("billing run: %s is more than %d periods behind; the next run goes on",
                    sub_id, MAX_PERIODS_PER_RUN)

    invoice_ids = list(session.scalars(
        select(Invoice.id).where(Invoice.subscription_id == sub_id, due_invoices_clause(now))
        .order_by(Invoice.period_start, Invoice.created, Invoice.id)))
    if not dry_run:
        session.commit()
    for invoice_id in invoice_ids:
        _collect(session, invoice_id, now=now, gateway=gateway, policy=policy,
                 dry_run=dry_run, summary=summary, label=label)
    return False


def _step_with_retries(session: Session, sub_id: str, *, now: datetime,
                       dry_run: bool) -> Step | None:
    for attempt in range(1, STEP_TRIES + 1):
        try:
            return advance_once(session, sub_id, now=now, dry_run=dry_run)
        except (IntegrityError, OperationalError):
            # A dry run cannot start again: what it worked out so far would be lost.
            if dry_run or attempt == STEP_TRIES:
                raise
            session.rollback()
            log.warning("billing run: %s met another writer; trying again", sub_id,
                        exc_info=True)
    return None


def _claim(session: Session, sub_id: str, *, dry_run: bool) -> Subscription | None:
    """The subscription, locked for this transaction; None when another run holds it."""
    if dry_run:
        # Reads only (what a dry run writes is rolled back), so it waits for nobody.
        return session.scalars(select(Subscription).where(Subscription.id == sub_id)
                               .execution_options(populate_existing=True)).one_or_none()
    if session.get_bind().dialect.name == "postgresql":
        # Another run holding it is billing it now: skip rather than queue behind it.
        return session.scalars(
            select(Subscription).where(Subscription.id == sub_id)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        ).one_or_none()
    # SQLite has no row locks: its write lock queues the runs, and the check after it sees
    # what the run before committed.
    return lock_subscription(session, sub_id)


def advance_once(session: Session, sub_id: str, *, now: datetime,
                 dry_run: bool = False) -> Step | None:
    """Move the subscription one step (a period, its end, or the end of a pause), or None
    when nothing is due. Flushes; the caller commits (or, in a dry run, rolls back)."""
    subscription = _claim(session, sub_id, dry_run=dry_run)
    if subscription is None:
        exists = session.scalars(select(Subscription.id).where(Subscription.id == sub_id)).first()
        return Step("locked") if exists else None
    if not is_due(subscription, now):
        return None
    if not subscription.items:
        # Nothing to bill or to move a period by: left for the merchant to look at.
        log.warning("billing run: %s has no items; left alone", sub_id)
        return None
    if not dry_run:
        lock_customer(session, subscription.customer)

    boundary = boundary_of(subscription)
    cancel_at = subscription.cancel_at
    if cancel_at is not None and cancel_at <= now and cancel_at <= boundary:
        return _end(session, subscription, at=cancel_at, now=now)
    if boundary > now:
        # Only the end of a collection pause is due: the next period will be invoiced.
        subscription.pause_collection_resumes_at = None
        charging.touch(subscription, now)
        raise_event(session, "customer.subscription.updated", now=now, actor=ACTOR,
                    customer_id=subscription.customer_id, object_id=subscription.id,
                    data={"reason": "collection_resumed"})
        return Step("resumed", "collection resumed")
    if subscription.cancel_at_period_end:
        return _end(session, subscription, at=boundary, now=now)
    step = _renew(session, subscription, boundary, now=now)
    return replace(step, due_again=is_due(subscription, now))


def _end(session: Session, subscription: Subscription, *, at: datetime,
         now: datetime) -> Step:
    subscription.status = "canceled"
    subscription.ended_at = at
    subscription.canceled_at = subscription.canceled_at or at
    subscription.cancellation_reason = (subscription.cancellation_reason
                                        or "cancellation_requested")
    charging.touch(subscription, now)
    raise_event(session, "customer.subscription.deleted", now=now, actor=ACTOR,
                customer_id=subscription.customer_id, object_id=subscription.id,
                data={"status": "canceled", "ended_at": at.isoformat(),
                      "cancellation_reason": subscription.cancellation_reason})
    return Step("ended", f"ended {_day(at)} as the customer asked")


def _renew(session: Session, subscription: Subscription, start: datetime, *,
           now: datetime) -> Step:
    """The period (or trial) ending at ``start`` is over: the next one begins there."""
    was_trial = subscription.status == "trialing"
    notes = ["trial ended" if was_trial else "renewed"]
    changed: dict = {}
    old_price = subscription.items[0].price
    if subscription.pending_update:
        # A change the customer scheduled for the period end (a downgrade) applies now.
        price, quantity, _ = plan_after_pending_update(session, subscription)[0]
        item = subscription.items[0]
        changed = {"price": price.id, "quantity": quantity,
                   "previous_price": item.price_id, "previous_quantity": item.quantity}
        item.price = price
        item.quantity = quantity
        subscription.pending_update = None
        notes.append(f"now {quantity} × {price.product.name}")
    price = subscription.items[0].price
    new_interval = ((price.recurring_interval, price.recurring_interval_count)
                    != (old_price.recurring_interval, old_price.recurring_interval_count))
    if (subscription.billing_cycle_anchor is None or was_trial or new_interval
            or not _on_boundary(subscription.billing_cycle_anchor, price, start)):
        # Periods are counted from here on: Stripe resets the anchor at a trial's end and
        # when the interval changes; and a period that ends off the anchor's beat (moved by
        # hand, or seeded so) would otherwise be followed by a sliver of a period.
        subscription.billing_cycle_anchor = start
    end = period_after(subscription, start, price)
    if was_trial:
        subscription.status = "active"
    subscription.current_period_start, subscription.current_period_end = start, end
    charging.touch(subscription, now)
    notes.append(f"period {_day(start)} – {_day(end)}")

    invoice, created = None, False
    resumes = subscription.pause_collection_resumes_at
    if resumes is not None and resumes > start:
        notes.append("not invoiced, collection paused")
    else:
        subscription.pause_collection_resumes_at = None
        invoice, created = _invoice_period(session, subscription, start, end, now=now)
        if invoice is not None:
            notes.append(_invoice_note(invoice, created=created,
                                       numbered=not _in_dry_run(session)))
    raise_event(session, "customer.subscription.updated", now=now, actor=ACTOR,
                customer_id=subscription.customer_id, object_id=subscription.id,
                data={"reason": "trial_ended" if was_trial else "renewed",
                      "current_period_start": start.isoformat(),
                      "current_period_end": end.isoformat(),
                      "invoice_id": invoice.id if invoice is not None else None,
                      "pending_update_applied": changed or None})
    return Step("renewed", ", ".join(notes), invoice_created=created)


def _on_boundary(anchor: datetime, price, moment: datetime) -> bool:
    """Whether ``moment`` is one of the period ends counted from ``anchor``."""
    if moment <= anchor:
        return moment == anchor
    return next_period_end(anchor, price.recurring_interval, price.recurring_interval_count,
                           moment - timedelta(seconds=1)) == moment


def cycle_key(subscription_id: str, period_start: datetime) -> str:
    """The creation key of a subscription's invoice for the period that starts then."""
    return f"{subscription_id}:cycle:{as_utc(period_start).isoformat()}"


def _invoice_period(session: Session, subscription: Subscription, start: datetime,
                    end: datetime, *, now: datetime) -> tuple[Invoice | None, bool]:
    """Write and finalize the period's invoice once; (invoice, whether this call wrote it)."""
    coupon = subscription.discount_coupon
    if (coupon is not None and coupon.duration == "repeating"
            and subscription.discount_end is None and coupon.duration_in_months):
        # A repeating coupon ends N months after it began, wherever it was attached.
        subscription.discount_end = add_months(subscription.discount_start or start,
                                               coupon.duration_in_months)
    in_force = coupon_in_force(subscription, start)
    lines = item_lines(pending_items(session, subscription.id))
    lines += period_lines(subscription, start, end)
    draft = draft_for(session, subscription, lines, at=start, period_start=start,
                      period_end=end)
    try:
        invoice = write_invoice(session, subscription, draft,
                                creation_key=cycle_key(subscription.id, start),
                                billing_reason="subscription_cycle", now=now, actor=ACTOR)
    except InvoiceExists as exists:
        return exists.invoice, False
    if in_force is not None and in_force.duration == "once":
        # A "once" coupon is used up by the first invoice it discounts.
        subscription.discount_end = start
    if invoice.status == "open":
        if subscription.status == "unpaid":
            # Invoiced, as Stripe does, but not charged until the customer pays.
            invoice.next_payment_attempt = None
        if subscription.collection_method == "send_invoice":
            charging.queue_invoice_email(session, invoice, now=now)
    return invoice, True


def _day(moment: datetime) -> str:
    return f"{moment:%b %-d, %Y}"


def _in_dry_run(session: Session) -> bool:
    return bool(session.info.get("billing_dry_run"))


def _invoice_note(invoice: Invoice, *, created: bool, numbered: bool) -> str:
    amount = format_money(invoice.amount_due, invoice.currency, "en")
    if not numbered:
        # A dry run's numbers are rolled back with the rest: the real run may give others.
        return f"a new invoice for {amount}"
    return (f"invoice {invoice.number or invoice.id} for {amount}"
            + ("" if created else " (already written)"))


# ---- charging --------------------------------------------------------------------------------

def _collect(session: Session, invoice_id: str, *, now: datetime, gateway: PaymentGateway,
             policy: BillingPolicy, dry_run: bool, summary: RunSummary, label: str) -> None:
    result = charging.collect_invoice(session, invoice_id, now=now, gateway=gateway,
                                      policy=policy, dry_run=dry_run)
    if result.kind == "not_due":
        return
    summary.actions.append(f"{label}: {result.text}")
    if result.kind in ("charged", "would_charge"):
        summary.charged += 1
    elif result.kind == "failed":
        summary.failed += 1
        if result.outcome == "canceled":
            summary.canceled += 1
    else:
        summary.skipped += 1
