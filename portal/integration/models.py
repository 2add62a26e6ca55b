"""The integration's tables: secret API keys (the merchant's systems sign in to /v1 with one)
and the answers kept for idempotent retries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.dbtypes import UTCDateTime
from portal.extensions import db
from portal.ids import id_factory


class ApiKey(db.Model):
    """A secret key (``sk_live_...``). Only its SHA-256 digest is kept: it is shown once."""

    __tablename__ = "api_key"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("key"))
    name: Mapped[str] = mapped_column(String(100))
    # The key is 48 random letters and digits: a plain digest is as strong as the key, and it
    # lets a request find its key with one indexed lookup.
    secret_digest: Mapped[str] = mapped_column(String(64), unique=True)
    redacted: Mapped[str] = mapped_column(String(40))  # sk_live_...wxyz, for lists
    created: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(80))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(80))

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class IdempotentRequest(db.Model):
    """A POST sent with an Idempotency-Key: its parameters' fingerprint and, once it ran, the
    answer replayed to every retry for 24 hours."""

    __tablename__ = "api_idempotent_request"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Unique: two requests with one key meet here, and only one of them runs.
    key: Mapped[str] = mapped_column(String(255), unique=True)
    api_key_id: Mapped[str | None] = mapped_column(ForeignKey("api_key.id", ondelete="SET NULL"))
    fingerprint: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    created: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # While running: the request holding it, until then (a crashed one lets a retry take over).
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    request_id: Mapped[str] = mapped_column(String(40))
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
