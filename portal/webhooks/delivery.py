"""Delivering webhooks: the worker POSTs each event to each endpoint that wants it.

A delivery is an outbox row of kind "webhook", claimed with the outbox's lease
(``portal.outbox.delivery.claim_next(kind="webhook")``) and sent here, outside any
transaction: the claim is committed before the POST, the outcome and the attempt's log row
after it, together. A 2xx answer is delivered; anything else (another status, a redirect,
which is never followed, a timeout, a refused connection) is retried with exponential
backoff until the row's ``give_up_at`` (three days after the event, or after a resend),
then given up on. A disabled or deleted endpoint's deliveries stop.

Each POST is signed afresh (``Stripe-Signature: t=<now>,v1=...``, portal.webhooks.signing),
so ``stripe.Webhook.construct_event`` accepts it within its five-minute tolerance.
Receivers may see one event twice (a worker that died after the POST and before it
recorded the answer; a resend): Stripe's advice holds, deduplicate by ``event.id``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from portal import dbtypes
from portal.outbox.delivery import unfinished
from portal.outbox.models import OutboxMessage
from portal.webhooks.models import Event, WebhookAttempt, WebhookEndpoint
from portal.webhooks.signing import signature_header, unseal_secret

log = logging.getLogger("portal.webhooks")

USER_AGENT = "BillingPortal-Webhooks/1.0 (+self-hosted billing portal)"
EXCERPT_CHARS = 500
_READ_AT_MOST = 4096  # of the answer's body: enough for the excerpt, never the whole of it


@dataclass(frozen=True)
class WebhookPolicy:
    """The lease on a delivery, the POST's timeout, the backoff and the retry window."""

    lease: timedelta
    timeout: float
    retry_base_seconds: float
    retry_max_seconds: float
    window: timedelta
    allow_http: bool

    @classmethod
    def from_config(cls, config) -> WebhookPolicy:
        return cls(lease=timedelta(seconds=float(config["WEBHOOK_LEASE_SECONDS"])),
                   timeout=float(config["WEBHOOK_TIMEOUT_SECONDS"]),
                   retry_base_seconds=float(config["WEBHOOK_RETRY_BASE_SECONDS"]),
                   retry_max_seconds=float(config["WEBHOOK_RETRY_MAX_SECONDS"]),
                   window=timedelta(seconds=float(config["WEBHOOK_RETRY_WINDOW_SECONDS"])),
                   allow_http=bool(config["WEBHOOK_ALLOW_HTTP"]))

    def backoff(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th failure: the base, doubled each time, capped."""
        doublings = min(max(attempts - 1, 0), 32)
        return timedelta(seconds=min(self.retry_base_seconds * 2 ** doublings,
                                     self.retry_max_seconds))


@dataclass(frozen=True)
class Answer:
    """What one POST came to."""

    status_code: int | None
    excerpt: str | None
    error: str | None
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def event_payload(session: Session, event: Event) -> bytes:
    """The bytes POSTed (and signed): the event's JSON with ``pending_webhooks`` as it is
    now, indented as Stripe sends it."""
    body = dict(event.body)
    body["pending_webhooks"] = pending_webhooks(session, event.id)
    return json.dumps(body, indent=2, ensure_ascii=False).encode("utf-8")


def pending_webhooks(session: Session, event_id: str) -> int:
    """Deliveries of ``event_id`` not yet delivered nor given up on."""
    return session.scalar(
        select(func.count()).select_from(OutboxMessage)
        .where(unfinished(OutboxMessage, "webhook"),
               OutboxMessage.payload["event_id"].as_string() == event_id)) or 0


def deliver_claimed(session: Session, message: OutboxMessage, *, now: datetime | None,
                    policy: WebhookPolicy) -> str:
    """POST a delivery this worker claimed and record the outcome and the attempt:
    "sent", "retry", "failed" (given up on) or "stopped" (the endpoint is gone or off)."""
    row_id, attempts = message.id, message.attempts or 0
    payload = dict(message.payload or {})
    moment = now or dbtypes.utcnow()
    endpoint = session.get(WebhookEndpoint, payload.get("endpoint_id"))
    event = session.get(Event, payload.get("event_id"))
    if endpoint is None or endpoint.status != "enabled" or event is None:
        reason = ("Endpoint deleted" if endpoint is None else
                  "Endpoint disabled" if endpoint.status != "enabled" else "Event missing")
        _settle(session, row_id, failed_at=moment, last_error=reason)
        log.info("webhooks: stopped delivery %s: %s", row_id, reason.lower())
        return "stopped"
    give_up_at = _give_up_at(payload, event, policy)
    endpoint_id, event_id, event_type, url = endpoint.id, event.id, event.type, endpoint.url
    try:
        body = event_payload(session, event)
        secret = unseal_secret(endpoint.secret_sealed)
    except Exception as error:  # a SECRET_KEY changed since: the secret cannot be read
        answer = Answer(None, None, type(error).__name__, 0)
    else:
        # No transaction stays open while the endpoint takes its time.
        session.rollback()
        if urlsplit(url).scheme != "https" and not policy.allow_http:
            answer = Answer(None, None, "InsecureURL", 0)
        else:
            answer = post(url, body, secret, timestamp=int(moment.timestamp()),
                          timeout=policy.timeout)
    session.rollback()
    attempt = attempts + 1
    session.add(WebhookAttempt(
        delivery_id=row_id, endpoint_id=endpoint_id, event_id=event_id, attempt=attempt,
        attempted_at=moment, status_code=answer.status_code, response_excerpt=answer.excerpt,
        error=answer.error, duration_ms=answer.duration_ms))
    outcome = _error_text(answer)
    if answer.delivered:
        _settle(session, row_id, attempts=attempt, sent_at=dbtypes.utcnow() if now is None
                else now, last_error=None)
        log.info("webhooks: delivered %s %s to %s (HTTP %s)", event_type, event_id,
                 endpoint_id, answer.status_code)
        return "sent"
    if moment >= give_up_at or answer.error == "InsecureURL":
        _settle(session, row_id, attempts=attempt, failed_at=moment, last_error=outcome)
        log.error("webhooks: gave up on %s %s to %s after %d attempts: %s", event_type,
                  event_id, endpoint_id, attempt, outcome)
        return "failed"
    next_at = min(moment + policy.backoff(attempt), give_up_at)
    _settle(session, row_id, attempts=attempt, available_at=next_at, last_error=outcome)
    log.warning("webhooks: %s %s to %s failed: %s (attempt %d, next at %s)", event_type,
                event_id, endpoint_id, outcome, attempt, next_at.isoformat())
    return "retry"


def _give_up_at(payload: dict, event: Event, policy: WebhookPolicy) -> datetime:
    stored = payload.get("give_up_at")
    if stored:
        return datetime.fromisoformat(stored)
    return event.created + policy.window


def _error_text(answer: Answer) -> str | None:
    if answer.delivered:
        return None
    if answer.status_code is not None:
        return f"HTTP {answer.status_code}"
    return answer.error


def _settle(session: Session, row_id: str, **values) -> None:
    """The lease ends with the outcome, in the transaction that logs the attempt."""
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == row_id, unfinished(OutboxMessage, "webhook"))
        .values(claimed_until=None, **values)
        .execution_options(synchronize_session=False))
    session.commit()


def headers_for(body: bytes, secret: str, timestamp: int) -> dict:
    """The headers of a delivery."""
    return {"Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            "Stripe-Signature": signature_header(body, secret, timestamp),
            "Cache-Control": "no-cache",
            "Accept": "*/*; q=0.5, application/json"}


def post(url: str, body: bytes, secret: str, *, timestamp: int, timeout: float) -> Answer:
    """One signed POST of ``body`` to ``url``; never raises. Redirects are answers (not
    delivered), and only the first few KiB of the answer are read."""
    started = time.monotonic()
    deadline = started + timeout
    try:
        with httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False) as client:
            with client.stream("POST", url, content=body,
                               headers=headers_for(body, secret, timestamp)) as response:
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size >= _READ_AT_MOST or time.monotonic() > deadline:
                        break
                status = response.status_code
    except Exception as error:  # httpx.HTTPError, or an URL httpx cannot even use
        return Answer(None, None, type(error).__name__[:80], _ms(started))
    excerpt = b"".join(chunks)[:_READ_AT_MOST].decode("utf-8", errors="replace")
    return Answer(status, excerpt[:EXCERPT_CHARS] or None, None, _ms(started))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
