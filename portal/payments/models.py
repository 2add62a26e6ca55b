"""Saved payment methods and every attempt to take a payment.

Only what a processor hands back is kept: brand, last four digits, expiry and an opaque token.
A full card number or CVC never reaches a column or a log line.
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.dbtypes import UTCDateTime, utcnow
from portal.extensions import db
from portal.ids import id_factory

# How brands are written for customers; the processor's codes are Stripe's.
BRAND_NAMES = {
    "visa": "Visa",
    "mastercard": "Mastercard",
    "amex": "American Express",
    "discover": "Discover",
    "diners": "Diners Club",
    "jcb": "JCB",
    "unionpay": "UnionPay",
}

LIVE_CARD_WHERE = "customer_id IS NOT NULL AND detached_at IS NULL"


class PaymentMethod(db.Model):
    __tablename__ = "payment_method"
    __table_args__ = (
        CheckConstraint("card_exp_month BETWEEN 1 AND 12", name="card_exp_month_valid"),
        # One saved copy of a card (same number, same expiry) per customer, behind the lock
        # attach_card takes. Only live cards: a removed card keeps its row for history, with
        # customer_id cleared, and the customer may add the same card again.
        Index("uq_payment_method_live_card", "customer_id", "fingerprint", "card_exp_month",
              "card_exp_year", unique=True,
              postgresql_where=text(LIVE_CARD_WHERE), sqlite_where=text(LIVE_CARD_WHERE)),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("pm"))
    # None once detached: the row stays so old payments still name their method.
    customer_id: Mapped[str | None] = mapped_column(
        ForeignKey("customer.id", ondelete="SET NULL"), index=True
    )
    type: Mapped[str] = mapped_column(String(20), default="card")
    card_brand: Mapped[str] = mapped_column(String(20))  # visa, mastercard, amex, ...
    card_last4: Mapped[str] = mapped_column(String(4))
    card_exp_month: Mapped[int] = mapped_column(Integer)
    card_exp_year: Mapped[int] = mapped_column(Integer)
    card_funding: Mapped[str | None] = mapped_column(String(10))
    card_country: Mapped[str | None] = mapped_column(String(2))
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    processor: Mapped[str] = mapped_column(String(40), default="test")
    processor_token: Mapped[str] = mapped_column(String(255))
    billing_name: Mapped[str | None] = mapped_column(String(256))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    detached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    metadata_: Mapped[dict] = mapped_column("metadata", JSON, default=dict)

    customer = relationship("Customer", foreign_keys=[customer_id])

    @property
    def brand_name(self) -> str:
        return BRAND_NAMES.get(self.card_brand) or _("Card")

    @property
    def label(self) -> str:
        """How the card is named to the customer, e.g. "Visa ending in 4242"."""
        return _("%(brand_name)s ending in %(card_last4)s", brand_name=self.brand_name,
                 card_last4=self.card_last4)

    @property
    def expiry(self) -> str:
        return f"{self.card_exp_month:02d}/{self.card_exp_year}"

    def months_left(self, now: datetime) -> int:
        """Whole months after ``now``'s month in which the card still works (0: expires this
        month; negative: expired). A card works to the last day of its expiry month."""
        return (self.card_exp_year * 12 + self.card_exp_month) - (now.year * 12 + now.month)

    def is_expired(self, now: datetime) -> bool:
        return self.months_left(now) < 0

    def expires_soon(self, now: datetime) -> bool:
        """Expires at the end of this month or next: time to add a new card."""
        return 0 <= self.months_left(now) <= 1


class Payment(db.Model):
    """One attempt to charge a payment method, keyed so a retry never charges twice."""

    __tablename__ = "payment"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("py"))
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customer.id"), index=True)
    invoice_id: Mapped[str | None] = mapped_column(ForeignKey("invoice.id"), index=True)
    payment_method_id: Mapped[str | None] = mapped_column(ForeignKey("payment_method.id"))
    amount: Mapped[int] = mapped_column(Integer)  # minor units
    currency: Mapped[str] = mapped_column(String(3))
    # processing -> succeeded | failed
    status: Mapped[str] = mapped_column(String(20), default="processing")
    failure_code: Mapped[str | None] = mapped_column(String(60))
    failure_message: Mapped[str | None] = mapped_column(Text)
    processor_reference: Mapped[str | None] = mapped_column(String(255))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    payment_method = relationship("PaymentMethod")
    invoice = relationship("Invoice", back_populates="payments")
