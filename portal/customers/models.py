"""Customers, their tax IDs, and the server-side state of login passcodes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.dbtypes import UTCDateTime, utcnow
from portal.extensions import db
from portal.ids import id_factory


def normalize_email(email: str | None) -> str:
    """The form emails are matched in: trimmed and case-insensitive."""
    return (email or "").strip().lower()


class Customer(db.Model):
    __tablename__ = "customer"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("cus"))
    email: Mapped[str | None] = mapped_column(String(320))  # stored exactly as given
    email_normalized: Mapped[str | None] = mapped_column(String(320), index=True)
    name: Mapped[str | None] = mapped_column(String(256))
    phone: Mapped[str | None] = mapped_column(String(40))
    description: Mapped[str | None] = mapped_column(Text)

    address_line1: Mapped[str | None] = mapped_column(String(200))
    address_line2: Mapped[str | None] = mapped_column(String(200))
    address_city: Mapped[str | None] = mapped_column(String(100))
    address_state: Mapped[str | None] = mapped_column(String(100))
    address_postal_code: Mapped[str | None] = mapped_column(String(20))
    address_country: Mapped[str | None] = mapped_column(String(2))  # ISO 3166-1 alpha-2

    shipping_name: Mapped[str | None] = mapped_column(String(256))
    shipping_phone: Mapped[str | None] = mapped_column(String(40))
    shipping_line1: Mapped[str | None] = mapped_column(String(200))
    shipping_line2: Mapped[str | None] = mapped_column(String(200))
    shipping_city: Mapped[str | None] = mapped_column(String(100))
    shipping_state: Mapped[str | None] = mapped_column(String(100))
    shipping_postal_code: Mapped[str | None] = mapped_column(String(20))
    shipping_country: Mapped[str | None] = mapped_column(String(2))

    preferred_locales: Mapped[list] = mapped_column(JSON, default=list)
    currency: Mapped[str | None] = mapped_column(String(3))
    default_payment_method_id: Mapped[str | None] = mapped_column(
        ForeignKey("payment_method.id", use_alter=True, ondelete="SET NULL")
    )
    invoice_prefix: Mapped[str | None] = mapped_column(String(12))
    # Stripe's customer balance in minor units of `currency`: negative is credit the next
    # invoices use up, positive is owed and added to the next invoice.
    balance: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    metadata_: Mapped[dict] = mapped_column("metadata", JSON, default=dict)

    tax_ids: Mapped[list[TaxId]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", order_by="TaxId.created"
    )
    default_payment_method = relationship(
        "PaymentMethod", foreign_keys=[default_payment_method_id], post_update=True
    )

    def set_email(self, email: str | None) -> None:
        """Store the address as given and the form it is matched in."""
        self.email = email
        self.email_normalized = normalize_email(email) or None

    def __repr__(self) -> str:
        return f"<Customer {self.id} {self.email!r}>"


class CustomerBalanceTransaction(db.Model):
    """Each change to a customer's balance, so the balance is always the sum of its history."""

    __tablename__ = "customer_balance_transaction"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("cbtxn"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"),
                                             index=True)
    # credit (unused time given back), applied_to_invoice, adjustment
    type: Mapped[str] = mapped_column(String(30))
    amount: Mapped[int] = mapped_column(Integer)  # negative: credit to the customer
    currency: Mapped[str] = mapped_column(String(3))
    ending_balance: Mapped[int] = mapped_column(Integer)
    invoice_id: Mapped[str | None] = mapped_column(ForeignKey("invoice.id"))
    description: Mapped[str | None] = mapped_column(String(500))
    creation_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TaxId(db.Model):
    __tablename__ = "tax_id"
    # Each number once per customer, behind the lock add_tax_id takes.
    __table_args__ = (Index("uq_tax_id_customer_type_value", "customer_id", "type", "value",
                            unique=True),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("txi"))
    customer_id: Mapped[str] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[str] = mapped_column(String(20))  # eu_vat, gb_vat, us_ein, ...
    value: Mapped[str] = mapped_column(String(64))
    country: Mapped[str | None] = mapped_column(String(2))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    customer: Mapped[Customer] = relationship(back_populates="tax_ids")


class LoginPasscode(db.Model):
    """One issued passcode. The code itself is never stored: only a keyed HMAC of it."""

    __tablename__ = "login_passcode"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("lpc"))
    customer_id: Mapped[str | None] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), index=True
    )
    email_normalized: Mapped[str] = mapped_column(String(320), index=True)
    code_hmac: Mapped[str] = mapped_column(String(128))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


Index("ix_customer_email_created", Customer.email_normalized, Customer.created)


class SignInSession(db.Model):
    """A signed-in browser. The cookie names it; signing out or idling ends it on the server,
    so a copied or replayed cookie stops working too."""

    __tablename__ = "sign_in_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"), index=True)
    # How the customer arrived: "login_link" (email cannot be changed) or "portal_session".
    via: Mapped[str] = mapped_column(String(20), default="login_link")
    configuration_id: Mapped[str | None] = mapped_column(String(40))
    portal_session_id: Mapped[str | None] = mapped_column(String(40))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
