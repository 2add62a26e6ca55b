"""Webhook endpoints, the Stripe events recorded for them, and every delivery attempt.

A delivery itself is an outbox row (``OutboxMessage(kind="webhook", payload={"endpoint_id",
"event_id"})``): its lease, retries and outcome are the outbox's. ``WebhookAttempt`` logs each
try at it for the dashboard.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.dbtypes import UTCDateTime
from portal.extensions import db
from portal.ids import id_factory

ENDPOINT_STATUSES = ("enabled", "disabled")


class WebhookEndpoint(db.Model):
    __tablename__ = "webhook_endpoint"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("we"))
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(Text)
    # Event types (portal.webhooks.types.WEBHOOK_EVENT_TYPES) or ["*"] for all of them.
    enabled_events: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default="enabled")  # enabled, disabled
    # "whsec_..." sealed with portal.outbox.sealing (it must be readable to sign); shown to
    # staff at creation and when they ask, never logged.
    secret_sealed: Mapped[str] = mapped_column(Text)
    metadata_: Mapped[dict] = mapped_column("metadata", JSON, default=dict)
    api_version: Mapped[str | None] = mapped_column(String(40))
    created: Mapped[datetime] = mapped_column(UTCDateTime)
    updated: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Event(db.Model):
    """A Stripe event: the id is the AuditEvent's ("evt_..."), ``body`` the whole JSON
    (``object: "event"``, ``data.object`` as it was when the change committed)."""

    __tablename__ = "webhook_event"
    __table_args__ = (Index("ix_webhook_event_created", "created", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    type: Mapped[str] = mapped_column(String(80), index=True)
    object_id: Mapped[str | None] = mapped_column(String(40), index=True)
    customer_id: Mapped[str | None] = mapped_column(String(40), index=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime)
    body: Mapped[dict] = mapped_column(JSON)


class WebhookAttempt(db.Model):
    """One try at delivering one event to one endpoint."""

    __tablename__ = "webhook_attempt"
    __table_args__ = (Index("ix_webhook_attempt_delivery", "delivery_id", "attempt"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("wha"))
    # The outbox row this attempt was for (no foreign key: housekeeping may purge the row).
    delivery_id: Mapped[str] = mapped_column(String(40))
    endpoint_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_endpoint.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[str] = mapped_column(String(40), index=True)
    attempt: Mapped[int] = mapped_column(Integer)  # 1 for the first try of that delivery
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)  # None: no answer
    response_excerpt: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(String(80))  # the exception's class, or "HTTP 500"
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
