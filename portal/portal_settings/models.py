"""What the merchant configures: the portal's features, branding, login links and sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.dbtypes import UTCDateTime, utcnow
from portal.extensions import db
from portal.ids import id_factory

ALLOWED_CUSTOMER_UPDATES = ("address", "email", "name", "phone", "shipping", "tax_id")
CANCELLATION_REASONS = (
    "too_expensive",
    "missing_features",
    "switched_service",
    "unused",
    "customer_service",
    "too_complex",
    "low_quality",
    "other",
)


class PortalConfiguration(db.Model):
    """Stripe's billing_portal.configuration, flattened into columns (bpc_...)."""

    __tablename__ = "portal_configuration"
    # The default configuration is read on every customer page that has no cached copy; the
    # API can create any number of configurations beside it.
    __table_args__ = (Index("ix_portal_configuration_is_default", "is_default"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("bpc"))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    headline: Mapped[str | None] = mapped_column(String(60))
    privacy_policy_url: Mapped[str | None] = mapped_column(String(500))
    terms_of_service_url: Mapped[str | None] = mapped_column(String(500))
    default_return_url: Mapped[str | None] = mapped_column(String(500))
    login_page_enabled: Mapped[bool] = mapped_column(Boolean, default=False)

    customer_update_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    customer_update_allowed: Mapped[list] = mapped_column(
        JSON, default=lambda: ["address", "name", "phone", "shipping", "tax_id"]
    )
    invoice_history_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    payment_method_update_enabled: Mapped[bool] = mapped_column(Boolean, default=True)

    subscription_cancel_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    subscription_cancel_mode: Mapped[str] = mapped_column(String(20), default="at_period_end")
    subscription_cancel_proration_behavior: Mapped[str] = mapped_column(String(20), default="none")
    cancellation_reason_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    cancellation_reason_options: Mapped[list] = mapped_column(
        JSON, default=lambda: list(CANCELLATION_REASONS)
    )

    # Offered once before a cancel is final (features.subscription_cancel beyond Stripe's one
    # coupon): a coupon, a pause of up to N months (0: none), and a cheaper price.
    retention_coupon_id: Mapped[str | None] = mapped_column(ForeignKey("coupon.id"))
    retention_pause_max_months: Mapped[int] = mapped_column(Integer, default=0,
                                                            server_default="0")
    retention_downgrade_price_id: Mapped[str | None] = mapped_column(ForeignKey("price.id"))

    subscription_update_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    subscription_update_default_allowed_updates: Mapped[list] = mapped_column(JSON, default=list)
    # [{"product": "prod_...", "prices": ["price_..."], "adjustable_quantity": {...}}]
    subscription_update_products: Mapped[list] = mapped_column(JSON, default=list)
    subscription_update_proration_behavior: Mapped[str] = mapped_column(String(20), default="none")
    schedule_at_period_end_conditions: Mapped[list] = mapped_column(JSON, default=list)
    trial_update_behavior: Mapped[str] = mapped_column(String(20), default="end_trial")

    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    metadata_: Mapped[dict] = mapped_column("metadata", JSON, default=dict)

    def allows_update(self, field: str) -> bool:
        """True when customers may change ``field`` (one of ALLOWED_CUSTOMER_UPDATES)."""
        return self.customer_update_enabled and field in (self.customer_update_allowed or [])


class Branding(db.Model):
    """The merchant's name and look; one row, read into every page's layout."""

    __tablename__ = "branding"

    id: Mapped[int] = mapped_column(primary_key=True)
    business_name: Mapped[str] = mapped_column(String(100), default="Billing portal")
    icon: Mapped[str | None] = mapped_column(String(500))  # square image, path under uploads
    logo: Mapped[str | None] = mapped_column(String(500))
    brand_color: Mapped[str] = mapped_column(String(7), default="#1f4fd1")
    accent_color: Mapped[str] = mapped_column(String(7), default="#0b6e4f")
    support_email: Mapped[str | None] = mapped_column(String(320))
    support_phone: Mapped[str | None] = mapped_column(String(40))
    support_url: Mapped[str | None] = mapped_column(String(500))
    address: Mapped[str | None] = mapped_column(Text)  # printed on invoices and receipts
    invoice_prefix: Mapped[str] = mapped_column(String(12), default="INV")
    # A key of portal.branding.FONT_STACKS: system fonts only, nothing is downloaded.
    font: Mapped[str] = mapped_column(String(20), default="system", server_default="system")
    updated: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class LoginLink(db.Model):
    """A shareable login URL, /p/login/<id>. Deactivating it kills every copy already shared."""

    __tablename__ = "login_link"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    configuration_id: Mapped[str | None] = mapped_column(ForeignKey("portal_configuration.id"))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    configuration = relationship("PortalConfiguration")


class PortalSession(db.Model):
    """A short-lived portal session a merchant creates for a signed-in user (bps_...).

    Its URL, /p/session/<token>, signs the customer in once, within ``expires_at``. Only the
    token's SHA-256 is kept (``token_digest``): the URL is shown once, when the session is made.
    ``flow`` is Stripe's session.flow object; ``flow_completed_at`` is when the customer finished
    it (after which ``flow.after_completion`` decides what the sign-in may still see).
    """

    __tablename__ = "portal_session"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("bps"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customer.id"), index=True)
    configuration_id: Mapped[str | None] = mapped_column(ForeignKey("portal_configuration.id"))
    return_url: Mapped[str | None] = mapped_column(String(500))
    locale: Mapped[str | None] = mapped_column(String(10))
    flow: Mapped[dict | None] = mapped_column(JSON)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    token_digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    flow_completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    customer = relationship("Customer")
    configuration = relationship("PortalConfiguration")

    # The URL, known only to the call that made the session and never stored:
    # create_portal_session sets it on the instance it returns, the serializer shows it.
    created_url = None
