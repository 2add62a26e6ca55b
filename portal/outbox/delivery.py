"""Delivering the outbox: lease a due row, send it, then mark it sent, each in its own transaction.

Emails are sent here; webhooks (``kind="webhook"``) are claimed by the same helpers and sent
by ``portal.webhooks.delivery``. ``deliver_due`` takes the kinds in turn.

The database lease is what keeps delivery to once: a worker commits its claim
(``claimed_until`` = now + lease, ``claimed_by`` = itself) before it talks to the mail server,
and nobody else takes the row until the lease has passed. Claims use ``SELECT ... FOR UPDATE
SKIP LOCKED`` on PostgreSQL, so parallel workers pass each other's rows by, and a
compare-and-set UPDATE on every database, so two claimers of one row never both win.

The one window left: a worker that dies after the mail server took the email and before it
committed ``sent_at`` leaves the row claimed; once the lease passes, another worker sends it
again. Both copies carry the same Message-ID (``<row id@host>``), so mail clients and servers
that look at it show one email.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import force_locale
from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from portal import dbtypes, mailer
from portal.extensions import db
from portal.i18n import DEFAULT
from portal.ops import metrics
from portal.ops.logs import bound_request_id
from portal.outbox.models import OutboxMessage
from portal.outbox.sealing import unseal

log = logging.getLogger("portal.outbox")


@dataclass(frozen=True)
class DeliveryPolicy:
    """How long a claim lasts, how often a send is tried, and how long to wait in between."""

    lease: timedelta
    max_attempts: int
    retry_base_seconds: float
    retry_max_seconds: float

    @classmethod
    def from_config(cls, config) -> DeliveryPolicy:
        """Read the policy from the app's configuration."""
        return cls(lease=timedelta(seconds=float(config["OUTBOX_LEASE_SECONDS"])),
                   max_attempts=max(int(config["OUTBOX_MAX_ATTEMPTS"]), 1),
                   retry_base_seconds=float(config["OUTBOX_RETRY_BASE_SECONDS"]),
                   retry_max_seconds=float(config["OUTBOX_RETRY_MAX_SECONDS"]))

    def backoff(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th failure: the base, doubled each time, capped."""
        doublings = min(max(attempts - 1, 0), 32)
        return timedelta(seconds=min(self.retry_base_seconds * 2 ** doublings,
                                     self.retry_max_seconds))


def worker_name() -> str:
    """Who claims: host, process and thread, so a lease left behind names its holder."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"[:80]


def message_id_for(row_id: str) -> str:
    """The Message-ID of the email in outbox row ``row_id``: the same on every resend."""
    host = urlsplit(str(current_app.config.get("PUBLIC_URL") or "")).hostname
    return f"<{row_id}@{host or 'portal.invalid'}>"


# ---- which rows are due ------------------------------------------------------------------------

KINDS = ("email", "webhook")


def unfinished(model, kind: str | None = "email"):
    """Rows of ``kind`` (any kind: None) neither sent nor given up on."""
    pending = and_(model.sent_at.is_(None), model.failed_at.is_(None))
    return pending if kind is None else and_(model.kind == kind, pending)


def _recipient(model):
    return func.lower(model.payload["to"].as_string())


def _claimable(now: datetime, kind: str = "email"):
    due = and_(
        unfinished(OutboxMessage, kind),
        OutboxMessage.available_at <= now,
        or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
    )
    if kind != "email":
        return due  # webhooks: each delivery on its own (Stripe promises no order either)
    earlier = aliased(OutboxMessage)
    return and_(
        due,
        # One recipient's emails leave in the order they were made, each after the one before
        # it was sent or given up on: the newest sign-in code is always the last to arrive.
        ~exists().where(
            unfinished(earlier),
            _recipient(earlier) == _recipient(OutboxMessage),
            or_(earlier.created < OutboxMessage.created,
                and_(earlier.created == OutboxMessage.created, earlier.id < OutboxMessage.id)),
        ),
    )


def claim_next(session: Session, *, now: datetime, policy, worker: str,
               kind: str = "email") -> OutboxMessage | None:
    """Lease the oldest due row of ``kind`` to ``worker`` for ``policy.lease`` and commit the
    lease; None when none is due."""
    postgres = session.get_bind().dialect.name == "postgresql"
    candidates = (select(OutboxMessage.id).where(_claimable(now, kind))
                  .order_by(OutboxMessage.created, OutboxMessage.id)
                  # SQLite has no row locks: a few candidates, in case a parallel worker
                  # wins the first one.
                  .limit(1 if postgres else 5))
    if postgres:
        candidates = candidates.with_for_update(skip_locked=True, of=OutboxMessage)
    for row_id in session.scalars(candidates).all():
        won = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id, _claimable(now, kind))
            .values(claimed_until=now + policy.lease, claimed_by=worker)
            .execution_options(synchronize_session=False)
        ).rowcount == 1
        if won:
            session.commit()
            return session.get(OutboxMessage, row_id)
    session.rollback()
    return None


# ---- sending one --------------------------------------------------------------------------------

def deliver_claimed(session: Session, message: OutboxMessage, *, now: datetime | None,
                    policy: DeliveryPolicy) -> str:
    """Send a row this worker claimed and record the outcome, in a new transaction:
    "sent", "dropped" (deliver=false), "retry", "failed" (the last attempt) or "expired"."""
    row_id, attempts = message.id, message.attempts or 0
    payload = dict(message.payload or {})
    moment = now or dbtypes.utcnow()
    expires_at = payload.get("expires_at")
    if expires_at and datetime.fromisoformat(expires_at) <= moment:
        _finish(session, row_id, payload, failed_at=moment, last_error="Expired")
        log.info("outbox: dropped the %s email %s to %s: it expired before it could be sent",
                 payload.get("template"), row_id, payload.get("to"))
        return "expired"
    deliver = payload.get("deliver", True)
    try:
        context = dict(payload.get("context") or {})
        if payload.get("secret"):
            context.update(unseal(payload["secret"]))
        locale = payload.get("locale") or DEFAULT
        with force_locale(locale):  # the words, dates and amounts of the recipient's language
            text, html = mailer.render_email(payload["template"], **context)
        subject = mailer.render_subject(payload["subject"], locale)
        if deliver:
            mailer.send(payload["to"], subject, text, html, message_id=message_id_for(row_id))
        else:
            # Built as for sending, then thrown away: the work a real send takes, so an
            # address nobody has costs the app what a customer's does.
            mailer.build_message(payload["to"], subject, text, html,
                                 message_id=message_id_for(row_id)).as_string()
    except Exception as error:  # any failure is the row's, never the worker's
        session.rollback()
        return _record_failure(session, row_id, attempts, payload, error,
                               now=now or dbtypes.utcnow(), policy=policy)
    _finish(session, row_id, payload, sent_at=now or dbtypes.utcnow())
    if deliver:
        log.info("outbox: sent the %s email %s to %s", payload.get("template"), row_id,
                 payload.get("to"))
    return "sent" if deliver else "dropped"


def _erased(payload: dict) -> dict:
    return {key: value for key, value in payload.items() if key != "secret"}


def _finish(session: Session, row_id: str, payload: dict, **values) -> None:
    """Sent, dropped or given up on: the lease ends and the secret part is erased."""
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == row_id, unfinished(OutboxMessage))
        .values(claimed_until=None, payload=_erased(payload), **values)
        .execution_options(synchronize_session=False)
    )
    session.commit()


def _record_failure(session: Session, row_id: str, attempts: int, payload: dict,
                    error: Exception, *, now: datetime, policy: DeliveryPolicy) -> str:
    # Only the exception's class: its text may quote the message, and the message may hold
    # a passcode.
    name = type(error).__name__
    attempts += 1
    template, to = payload.get("template"), payload.get("to")
    if attempts >= policy.max_attempts:
        _finish(session, row_id, payload, attempts=attempts, failed_at=now, last_error=name)
        log.error("outbox: gave up on the %s email %s to %s after %d attempts: %s",
                  template, row_id, to, attempts, name)
        return "failed"
    delay = policy.backoff(attempts)
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == row_id, unfinished(OutboxMessage))
        .values(attempts=attempts, available_at=now + delay, claimed_until=None,
                last_error=name)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    log.warning("outbox: the %s email %s to %s failed: %s (attempt %d of %d, next in %d s)",
                template, row_id, to, name, attempts, policy.max_attempts,
                delay.total_seconds())
    return "retry"


# ---- sending everything due ---------------------------------------------------------------------

def _deliverer(kind: str, config):
    """``(deliver_claimed, policy)`` for rows of ``kind``."""
    if kind == "webhook":
        from portal.webhooks import delivery as webhooks

        return webhooks.deliver_claimed, webhooks.WebhookPolicy.from_config(config)
    return deliver_claimed, DeliveryPolicy.from_config(config)


def deliver_due(*, now: datetime | None = None, limit: int | None = None,
                stop: threading.Event | None = None, kinds: tuple[str, ...] = KINDS,
                budget_seconds: float | None = None) -> int:
    """Deliver every row of ``kinds`` that is due, one claim at a time, the kinds in turn;
    returns how many were handled. ``now`` fixes the clock (tests); ``stop`` ends the run
    between two rows, and so does ``budget_seconds`` running out (a job's time limit)."""
    app = current_app._get_current_object()
    deliverers = {kind: _deliverer(kind, app.config) for kind in kinds}
    worker = worker_name()
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    active = list(kinds)
    handled = 0
    while active:
        for kind in list(active):
            if ((limit is not None and handled >= limit)
                    or (stop is not None and stop.is_set())
                    or (deadline is not None and time.monotonic() > deadline)):
                return handled
            deliver, policy = deliverers[kind]
            # An app context per row gives it a session of its own: nothing the caller has
            # pending is committed with a claim, and nothing stale is read.
            with app.app_context():
                message = claim_next(db.session, now=now or dbtypes.utcnow(), policy=policy,
                                     worker=worker, kind=kind)
                if message is None:
                    active.remove(kind)
                    continue
                payload = message.payload or {}
                # Logged under the id of the request that queued the row.
                with bound_request_id(payload.get("request_id")):
                    outcome = deliver(db.session, message, now=now, policy=policy)
                metrics.outbox_delivered(kind, outcome, payload.get("template"))
            handled += 1
    return handled


def pending_count(*, now: datetime | None = None, kinds: tuple[str, ...] = KINDS) -> int:
    """Rows due by ``now`` that are neither sent nor given up on (being sent included)."""
    app = current_app._get_current_object()
    with app.app_context():
        return db.session.scalar(
            select(func.count()).select_from(OutboxMessage)
            .where(unfinished(OutboxMessage, None), OutboxMessage.kind.in_(kinds),
                   OutboxMessage.available_at <= (now or dbtypes.utcnow())))


def drain(*, timeout: float = 10.0, now: datetime | None = None) -> bool:
    """Deliver what is due and wait for what other workers are sending; True when nothing
    due is left within ``timeout`` seconds (tests, and a clean shutdown)."""
    deadline = time.monotonic() + timeout
    while True:
        deliver_due(now=now)
        if pending_count(now=now) == 0:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
