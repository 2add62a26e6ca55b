"""Staff accounts (the merchant's people) and their signed-in sessions, apart from customers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.dbtypes import UTCDateTime, utcnow
from portal.extensions import db
from portal.ids import id_factory


class StaffUser(db.Model):
    """Someone who may use the dashboard; made by ``flask --app portal create-admin EMAIL``."""

    __tablename__ = "staff_user"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("stf"))
    email: Mapped[str] = mapped_column(String(320))  # as typed, for display
    email_normalized: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2id, with its parameters
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StaffSession(db.Model):
    """One signed-in browser. The cookie holds a random token; the row holds only its digest."""

    __tablename__ = "staff_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the cookie token
    staff_id: Mapped[str] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"),
                                          index=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ip_address: Mapped[str | None] = mapped_column(String(64))

    staff = relationship(StaffUser)
