"""The merchant's catalog: products, their prices, and tax rates."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.dbtypes import UTCDateTime, utcnow
from portal.extensions import db
from portal.ids import id_factory

INTERVALS = ("day", "week", "month", "year")


class Product(db.Model):
    __tablename__ = "product"
    __table_args__ = (
        CheckConstraint(
            "statement_descriptor IS NULL OR length(statement_descriptor) BETWEEN 5 AND 22",
            name="statement_descriptor_length",
        ),
        CheckConstraint("unit_label IS NULL OR length(unit_label) <= 12", name="unit_label_length"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("prod"))
    name: Mapped[str] = mapped_column(String(250))
    description: Mapped[str | None] = mapped_column(Text)
    image: Mapped[str | None] = mapped_column(String(500))  # a path under instance/uploads or a URL
    tax_code: Mapped[str | None] = mapped_column(String(40))
    statement_descriptor: Mapped[str | None] = mapped_column(String(22))
    unit_label: Mapped[str | None] = mapped_column(String(12))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated: Mapped[datetime | None] = mapped_column(UTCDateTime)
    metadata_: Mapped[dict] = mapped_column("metadata", JSON, default=dict)

    prices: Mapped[list[Price]] = relationship(back_populates="product", order_by="Price.created")


class Price(db.Model):
    __tablename__ = "price"
    __table_args__ = (
        CheckConstraint("unit_amount >= 0", name="unit_amount_not_negative"),
        CheckConstraint(
            "recurring_interval IS NULL OR recurring_interval IN ('day', 'week', 'month', 'year')",
            name="recurring_interval_known",
        ),
        CheckConstraint("recurring_interval_count >= 1", name="interval_count_positive"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("price"))
    product_id: Mapped[str] = mapped_column(ForeignKey("product.id"), index=True)
    unit_amount: Mapped[int] = mapped_column(Integer)  # minor units of `currency`
    currency: Mapped[str] = mapped_column(String(3))  # ISO 4217, lower case as Stripe does
    recurring_interval: Mapped[str | None] = mapped_column(String(5))  # None: one-time price
    recurring_interval_count: Mapped[int] = mapped_column(Integer, default=1)
    nickname: Mapped[str | None] = mapped_column(String(250))
    lookup_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    tax_behavior: Mapped[str] = mapped_column(String(12), default="unspecified")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    metadata_: Mapped[dict] = mapped_column("metadata", JSON, default=dict)

    product: Mapped[Product] = relationship(back_populates="prices")

    @property
    def is_recurring(self) -> bool:
        return self.recurring_interval is not None


class TaxRate(db.Model):
    __tablename__ = "tax_rate"
    # The rates for a customer's country, looked up when their address changes.
    __table_args__ = (Index("ix_tax_rate_country", "country"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("txr"))
    display_name: Mapped[str] = mapped_column(String(50))
    description: Mapped[str | None] = mapped_column(String(250))
    # A percentage such as 20 or 8.875; not money, so a decimal is exact enough.
    percentage: Mapped[Decimal] = mapped_column(Numeric(7, 4))
    inclusive: Mapped[bool] = mapped_column(Boolean, default=False)
    country: Mapped[str | None] = mapped_column(String(2))
    state: Mapped[str | None] = mapped_column(String(100))
    jurisdiction: Mapped[str | None] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    metadata_: Mapped[dict] = mapped_column("metadata", JSON, default=dict)


COUPON_DURATIONS = ("once", "repeating", "forever")


class Coupon(db.Model):
    """A discount a subscription can carry, as Stripe's coupons: a percentage or a fixed amount
    off each invoice, for one invoice, for N months, or for ever."""

    __tablename__ = "coupon"
    __table_args__ = (
        CheckConstraint("duration IN ('once', 'repeating', 'forever')", name="duration_known"),
        CheckConstraint(
            "(percent_off IS NULL) <> (amount_off IS NULL)", name="percent_or_amount_off"
        ),
        CheckConstraint("percent_off IS NULL OR (percent_off > 0 AND percent_off <= 100)",
                        name="percent_off_range"),
        CheckConstraint("amount_off IS NULL OR (amount_off > 0 AND currency IS NOT NULL)",
                        name="amount_off_has_currency"),
        CheckConstraint(
            "(duration = 'repeating') = (duration_in_months IS NOT NULL)",
            name="months_only_when_repeating",
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("co"))
    name: Mapped[str] = mapped_column(String(40))  # shown to customers, e.g. "3 months 50% off"
    # A percentage such as 25 or 12.5; the discount it gives is rounded half up to the minor unit.
    percent_off: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    amount_off: Mapped[int | None] = mapped_column(Integer)  # minor units of `currency`
    currency: Mapped[str | None] = mapped_column(String(3))
    duration: Mapped[str] = mapped_column(String(10), default="once")
    duration_in_months: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    metadata_: Mapped[dict] = mapped_column("metadata", JSON, default=dict)
