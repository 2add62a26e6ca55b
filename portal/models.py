"""Every model, imported in one place so Alembic and create_all see the whole schema."""

from portal.admin.models import StaffSession, StaffUser
from portal.catalog.models import Coupon, Price, Product, TaxRate
from portal.customers.models import (
    Customer,
    CustomerBalanceTransaction,
    LoginPasscode,
    SignInSession,
    TaxId,
)
from portal.events import AuditEvent
from portal.integration.models import ApiKey, IdempotentRequest
from portal.invoices.models import Invoice, InvoiceItem, InvoiceLine, InvoiceNumberSequence
from portal.mailer import DevMail
from portal.outbox.models import OutboxMessage
from portal.payments.models import Payment, PaymentMethod
from portal.portal_settings.models import Branding, LoginLink, PortalConfiguration, PortalSession
from portal.subscriptions.models import Subscription, SubscriptionItem

__all__ = [
    "ApiKey", "AuditEvent", "IdempotentRequest", "Branding", "Coupon", "Customer", "CustomerBalanceTransaction", "DevMail",
    "Invoice", "InvoiceItem", "InvoiceLine", "InvoiceNumberSequence", "LoginLink",
    "LoginPasscode", "OutboxMessage", "Payment", "PaymentMethod",
    "PortalConfiguration", "PortalSession", "Price", "Product", "SignInSession", "StaffSession",
    "StaffUser", "Subscription", "SubscriptionItem", "TaxId", "TaxRate",
]
