"""Subscriptions and their items, shaped like Stripe's so merchants recognise the fields."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.dbtypes import UTCDateTime, utcnow
from portal.extensions import db
from portal.ids import id_factory

STATUSES = ("trialing", "active", "past_due", "canceled", "unpaid", "incomplete", "paused")
# Statuses in which a customer has a subscription that is "active" for login and payment rules.
LIVE_STATUSES = ("trialing", "active", "past_due")
COLLECTION_METHODS = ("charge_automatically", "send_invoice")


class Subscription(db.Model):
    __tablename__ = "subscription"
    __table_args__ = (
        CheckConstraint(
            "status IN ('trialing', 'active', 'past_due', 'canceled', 'unpaid', 'incomplete', 'paused')",
            name="status_known",
        ),
        CheckConstraint(
            "collection_method IN ('charge_automatically', 'send_invoice')",
            name="collection_method_known",
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("sub"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customer.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="incomplete")
    currency: Mapped[str] = mapped_column(String(3))
    current_period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    current_period_end: Mapped[datetime] = mapped_column(UTCDateTime)
    billing_cycle_anchor: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    cancel_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # cancellation_details: reason (cancellation_requested, payment_failed, ...), feedback, comment
    cancellation_reason: Mapped[str | None] = mapped_column(String(40))
    cancellation_feedback: Mapped[str | None] = mapped_column(String(40))
    cancellation_comment: Mapped[str | None] = mapped_column(String(500))
    collection_method: Mapped[str] = mapped_column(String(30), default="charge_automatically")
    days_until_due: Mapped[int | None] = mapped_column(Integer)
    default_payment_method_id: Mapped[str | None] = mapped_column(
        ForeignKey("payment_method.id", ondelete="SET NULL")
    )
    trial_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    trial_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    metadata_: Mapped[dict] = mapped_column("metadata", JSON, default=dict)

    # The discount in force (a retention offer, say): the coupon, and when it stops applying
    # (None: for ever, or until the first invoice for a "once" coupon has used it).
    discount_coupon_id: Mapped[str | None] = mapped_column(ForeignKey("coupon.id"))
    discount_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    discount_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Stripe's pause_collection: until this moment periods roll on but nothing is invoiced.
    pause_collection_resumes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A change the customer asked for that waits for the period end (a downgrade):
    # {"price": "price_...", "quantity": 2, "requested_at": "...", "actor": "customer:cus_..."}
    pending_update: Mapped[dict | None] = mapped_column(JSON)
    # Bumped by every change, so two changes made from one stale page cannot both apply: the
    # second finds the version moved and the customer is asked to reload.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    updated: Mapped[datetime | None] = mapped_column(UTCDateTime)

    customer = relationship("Customer", backref="subscriptions")
    discount_coupon = relationship("Coupon")
    items: Mapped[list[SubscriptionItem]] = relationship(
        back_populates="subscription", cascade="all, delete-orphan", order_by="SubscriptionItem.created"
    )
    default_payment_method = relationship("PaymentMethod")

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES


class SubscriptionItem(db.Model):
    __tablename__ = "subscription_item"
    __table_args__ = (CheckConstraint("quantity >= 0", name="quantity_not_negative"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("si"))
    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("subscription.id", ondelete="CASCADE"), index=True
    )
    price_id: Mapped[str] = mapped_column(ForeignKey("price.id"))
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    subscription: Mapped[Subscription] = relationship(back_populates="items")
    price = relationship("Price")
