"""Invoices, their lines, and the sequence that numbers them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.dbtypes import UTCDateTime, utcnow
from portal.extensions import db
from portal.ids import id_factory

STATUSES = ("draft", "open", "paid", "void", "uncollectible")


class Invoice(db.Model):
    __tablename__ = "invoice"
    __table_args__ = (
        CheckConstraint(
            "status IN ('draft', 'open', 'paid', 'void', 'uncollectible')", name="status_known"
        ),
        CheckConstraint("amount_paid >= 0 AND amount_due >= 0", name="amounts_not_negative"),
        # A customer's invoices newest first (the overview, each page of the history by keyset)
        # read in index order and stop at the page's end, however many invoices they have.
        Index("ix_invoice_customer_created", "customer_id", "created", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("in"))
    # A human number such as ACME-0007; given when the invoice is finalized, never reused.
    number: Mapped[str | None] = mapped_column(String(40), unique=True)
    # Indexed by ix_invoice_customer_created, whose first column it is.
    customer_id: Mapped[str] = mapped_column(ForeignKey("customer.id"))
    subscription_id: Mapped[str | None] = mapped_column(ForeignKey("subscription.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    currency: Mapped[str] = mapped_column(String(3))
    billing_reason: Mapped[str | None] = mapped_column(String(40))
    collection_method: Mapped[str] = mapped_column(String(30), default="charge_automatically")
    description: Mapped[str | None] = mapped_column(Text)
    # All money in minor units of `currency`.
    subtotal: Mapped[int] = mapped_column(Integer, default=0)
    total_discount: Mapped[int] = mapped_column(Integer, default=0)
    tax: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    amount_due: Mapped[int] = mapped_column(Integer, default=0)
    amount_paid: Mapped[int] = mapped_column(Integer, default=0)
    period_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    finalized_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    marked_uncollectible_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    next_payment_attempt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The customer's name, email, address and tax IDs as they were when finalized.
    customer_snapshot: Mapped[dict] = mapped_column(JSON, default=dict)
    metadata_: Mapped[dict] = mapped_column("metadata", JSON, default=dict)
    # What made this invoice, unique, so making it twice (the engine run twice, in two processes,
    # or again after a crash) fails at the database: "sub_...:cycle:2026-12-01T00:00:00+00:00".
    creation_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    # The customer's balance (negative: credit) before and after this invoice took from it.
    starting_balance: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    ending_balance: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    customer = relationship("Customer", backref="invoices")
    subscription = relationship("Subscription", backref="invoices")
    lines: Mapped[list[InvoiceLine]] = relationship(
        back_populates="invoice", cascade="all, delete-orphan", order_by="InvoiceLine.position"
    )
    payments = relationship("Payment", back_populates="invoice", order_by="Payment.created")

    @property
    def amount_remaining(self) -> int:
        return max(self.amount_due - self.amount_paid, 0)


class InvoiceLine(db.Model):
    __tablename__ = "invoice_line"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("il"))
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    description: Mapped[str] = mapped_column(String(500))
    price_id: Mapped[str | None] = mapped_column(ForeignKey("price.id"))
    subscription_item_id: Mapped[str | None] = mapped_column(String(40))
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    unit_amount: Mapped[int] = mapped_column(Integer, default=0)
    amount: Mapped[int] = mapped_column(Integer, default=0)  # quantity * unit_amount, before discount
    discount_amount: Mapped[int] = mapped_column(Integer, default=0)
    tax_amount: Mapped[int] = mapped_column(Integer, default=0)
    tax_rate_id: Mapped[str | None] = mapped_column(ForeignKey("tax_rate.id"))
    period_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    proration: Mapped[bool] = mapped_column(Boolean, default=False)

    invoice: Mapped[Invoice] = relationship(back_populates="lines")
    price = relationship("Price")
    tax_rate = relationship("TaxRate")


class InvoiceItem(db.Model):
    """A pending line (a proration, say) waiting for the customer's next invoice, as Stripe's
    invoice items: ``invoice_id`` is set when an invoice takes it, and never taken twice."""

    __tablename__ = "invoice_item"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("ii"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customer.id"), index=True)
    subscription_id: Mapped[str | None] = mapped_column(ForeignKey("subscription.id"), index=True)
    invoice_id: Mapped[str | None] = mapped_column(ForeignKey("invoice.id"), index=True)
    description: Mapped[str] = mapped_column(String(500))
    price_id: Mapped[str | None] = mapped_column(ForeignKey("price.id"))
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    amount: Mapped[int] = mapped_column(Integer)  # minor units; negative for a credit
    currency: Mapped[str] = mapped_column(String(3))
    period_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    proration: Mapped[bool] = mapped_column(Boolean, default=False)
    # Unique like Invoice.creation_key: a change that is retried adds its prorations once.
    creation_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    price = relationship("Price")


class InvoiceNumberSequence(db.Model):
    """The next number for a prefix; rows are locked while a number is taken."""

    __tablename__ = "invoice_number_sequence"

    prefix: Mapped[str] = mapped_column(String(20), primary_key=True)
    next_value: Mapped[int] = mapped_column(Integer, default=1)
