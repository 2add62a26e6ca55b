"""Recording Stripe events and their webhook deliveries in the change's own transaction.

``raise_event`` notes each event of a webhook type on the session (``note_event``). Just
before the session commits (the root transaction, not a savepoint) the noted events that
are still in the session are written as ``Event`` rows, each with its object serialized as
it is at that moment (the state the commit makes visible), and one outbox row per enabled
endpoint that wants the type. The commit then writes them together with the change, so a
change that commits always has its event and deliveries, and a rollback leaves neither.

Operations flush and views commit; the billing engine commits each step itself: the hook
is on every commit of every session, so all three are covered the same way. A savepoint
that rolls back takes its events with it (they leave the session, and are skipped here).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import event as orm_event
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session
from sqlalchemy.orm import Session as OrmSession

from portal.events import AuditEvent
from portal.objects import serialize_by_id
from portal.objects.common import API_VERSION, livemode
from portal.outbox.models import OutboxMessage
from portal.webhooks.models import Event, WebhookEndpoint
from portal.webhooks.types import is_webhook_type, object_type_for, wants

log = logging.getLogger("portal.webhooks")

_PENDING = "portal.webhooks.pending"
_REQUEST = "portal.webhooks.request"


def note_event(session: Session, audit_event: AuditEvent) -> None:
    """Called by ``raise_event``: record ``audit_event`` as a Stripe event at commit, when
    its type is one webhooks carry."""
    if not is_webhook_type(audit_event.type):
        return
    session.info.setdefault(_PENDING, []).append((audit_event, _request_of(session)))


def set_api_request(session: Session, *, request_id: str | None,
                    idempotency_key: str | None = None) -> None:
    """The API request this session works for: events raised from now on carry it in their
    ``request`` (``{"id": "req_...", "idempotency_key": ...}``). Outside the API both are
    null, as Stripe writes them for changes nobody requested through the API."""
    session.info[_REQUEST] = {"id": request_id, "idempotency_key": idempotency_key}


def _request_of(session: Session) -> dict:
    """The API request events raised now belong to: ``set_api_request``'s, else the one the
    API's routing is serving (``g.api_request_id``, ``g.api_idempotency_key``)."""
    if _REQUEST in session.info:
        return dict(session.info[_REQUEST])
    from flask import g, has_request_context, request

    if has_request_context() and request.path.startswith("/v1/") and g.get("api_request_id"):
        return {"id": g.api_request_id, "idempotency_key": g.get("api_idempotency_key")}
    return {}


def delivery_key(endpoint_id: str, event_id: str) -> str:
    """The outbox dedupe key of an event's first delivery to an endpoint."""
    return f"webhook:{endpoint_id}:{event_id}"


def delivery_payload(endpoint_id: str, event_id: str, *, give_up_at: datetime) -> dict:
    """A delivery's outbox payload, with the id of the request that caused it, if any."""
    from portal.outbox.operations import with_request_id

    return with_request_id({"endpoint_id": endpoint_id, "event_id": event_id,
                            "give_up_at": give_up_at.isoformat()})


def retry_window() -> timedelta:
    """How long after an event (or a resend) its delivery is retried:
    PORTAL_WEBHOOK_RETRY_WINDOW_SECONDS, three days by default."""
    from flask import current_app, has_app_context

    from portal.config import Defaults

    seconds = (current_app.config.get("WEBHOOK_RETRY_WINDOW_SECONDS")
               if has_app_context() else None)
    return timedelta(seconds=float(seconds or Defaults.WEBHOOK_RETRY_WINDOW_SECONDS))


# ---- the hooks --------------------------------------------------------------------------

@orm_event.listens_for(OrmSession, "before_commit")
def _record_before_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint's release: the root commit records
    if not session.info.get(_PENDING):
        return
    # Every change the transaction made is in the database before its objects are read.
    session.flush()
    record_pending(session)


@orm_event.listens_for(OrmSession, "after_transaction_end")
def _forget_after_transaction(session: Session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(_PENDING, None)  # rolled back (or already recorded)


def record_pending(session: Session) -> list[Event]:
    """Write the noted events and their deliveries now (the commit hook calls this; the
    caller commits)."""
    pending = session.info.pop(_PENDING, None) or []
    noted = [(audit, request) for audit, request in pending if _still_in_session(audit)]
    if not noted:
        return []
    endpoints = list(session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.status == "enabled")
        .order_by(WebhookEndpoint.created, WebhookEndpoint.id)))
    window = retry_window()
    recorded = []
    for audit, request in noted:
        targets = [endpoint for endpoint in endpoints if wants(endpoint.enabled_events,
                                                               audit.type)]
        body = build_event(session, audit, request=request, pending_webhooks=len(targets))
        event = Event(id=audit.id, type=audit.type, object_id=audit.object_id,
                      customer_id=audit.customer_id, created=audit.created, body=body)
        session.add(event)
        for endpoint in targets:
            session.add(OutboxMessage(
                kind="webhook", created=audit.created, available_at=audit.created,
                dedupe_key=delivery_key(endpoint.id, event.id),
                payload=delivery_payload(endpoint.id, event.id,
                                         give_up_at=audit.created + window)))
        recorded.append(event)
        log.info("webhooks: recorded %s %s for %d endpoint(s)", audit.type, audit.id,
                 len(targets))
    return recorded


def _still_in_session(audit: AuditEvent) -> bool:
    # A savepoint that rolled back expunged what it added: that event never happened.
    state = inspect(audit)
    return state.persistent and not state.deleted


# ---- the event's JSON --------------------------------------------------------------------

def build_event(session: Session, audit: AuditEvent, *, request: dict | None = None,
                pending_webhooks: int = 0) -> dict:
    """Stripe's event JSON for ``audit``, its object serialized as the database has it now."""
    object_type = object_type_for(audit.type)
    obj = serialize_object(session, object_type, audit.object_id)
    data: dict = {"object": obj}
    previous = previous_attributes(audit.data or {}, obj)
    if previous:
        data["previous_attributes"] = previous
    request = request or {}
    return {
        "id": audit.id,
        "object": "event",
        "api_version": API_VERSION,
        "created": int(audit.created.timestamp()),
        "data": data,
        "livemode": bool(obj.get("livemode", livemode())),
        "pending_webhooks": pending_webhooks,
        "request": {"id": request.get("id"), "idempotency_key": request.get("idempotency_key")},
        "type": audit.type,
    }


def serialize_object(session: Session, object_type: str, object_id: str | None) -> dict:
    """The object as Stripe shows it (``portal.objects.serialize_by_id``); a deleted one as
    Stripe shows a deleted object."""
    obj = serialize_by_id(session, object_type, object_id) if object_id else None
    if obj is None:
        return {"id": object_id, "object": object_type, "deleted": True, "livemode": livemode()}
    return obj


def previous_attributes(data: dict, obj: dict) -> dict:
    """What changed, as it was before: the ``previous_attributes`` an operation recorded in
    its event's data (and ``previous_status`` as ``status``), keeping only the object's own
    fields, so no internal name reaches a merchant."""
    found: dict = {}
    recorded = data.get("previous_attributes")
    if isinstance(recorded, dict):
        found.update(recorded)
    if "previous_status" in data and "status" not in found:
        found["status"] = data["previous_status"]
    return {key: value for key, value in found.items() if key in obj}

