"""The outbox table: one row per side effect waiting to be carried out."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.dbtypes import UTCDateTime, utcnow
from portal.extensions import db
from portal.ids import id_factory


class OutboxMessage(db.Model):
    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_message_due", "sent_at", "available_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("obx"))
    kind: Mapped[str] = mapped_column(String(40))  # "email"; "webhook" later
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    # Unique when given: raising one side effect twice for one cause stores it once.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # A worker that takes a row leases it until then; a worker killed mid-send loses the lease.
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # gave up after the last retry
    last_error: Mapped[str | None] = mapped_column(Text)
