"""The one place business events are raised.

An event is a row in the audit log. For the types webhooks carry
(``portal.webhooks.types.WEBHOOK_EVENT_TYPES``) it is also recorded as a Stripe event, with a
delivery for each endpoint that wants it, when the transaction commits
(``portal.webhooks.recording``). So operations raise events here and nowhere else.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from portal.dbtypes import UTCDateTime
from portal.extensions import db
from portal.ids import id_factory

log = logging.getLogger("portal.events")

# Keys that must never reach the log, even by accident.
_SECRET_KEYS = {"code", "passcode", "card_number", "number", "cvc", "password", "token"}


class AuditEvent(db.Model):
    __tablename__ = "audit_event"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("evt"))
    type: Mapped[str] = mapped_column(String(80), index=True)  # e.g. login.signed_in
    customer_id: Mapped[str | None] = mapped_column(
        ForeignKey("customer.id", ondelete="SET NULL"), index=True
    )
    actor: Mapped[str] = mapped_column(String(80), index=True)  # customer:cus_..., merchant, system, api
    object_id: Mapped[str | None] = mapped_column(String(40))
    ip_address: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


def customer_actor(customer_id: str | None) -> str:
    """How a customer acting for themselves is named in events; "visitor" when unknown."""
    return f"customer:{customer_id}" if customer_id else "visitor"


def raise_event(
    session: Session,
    type: str,
    *,
    now: datetime,
    actor: str,
    customer_id: str | None = None,
    object_id: str | None = None,
    ip_address: str | None = None,
    data: dict | None = None,
) -> AuditEvent:
    """Record that something happened; the caller commits with its own change."""
    clean = {k: v for k, v in (data or {}).items() if k not in _SECRET_KEYS}
    event = AuditEvent(
        type=type,
        customer_id=customer_id,
        actor=actor,
        object_id=object_id,
        ip_address=ip_address,
        data=clean,
        created=now,
    )
    session.add(event)
    # Imported here: the webhooks package imports this module's model.
    from portal.webhooks.recording import note_event

    note_event(session, event)
    log.info("event %s actor=%s customer=%s object=%s", type, actor, customer_id, object_id)
    return event
