"""Fixtures for invoice tests: a gateway that counts its charges, payments, and branding."""

from __future__ import annotations

import pytest

from tests.invoices.counting_gateway import CountingGateway

# Named by its full dotted path: a bare "conftest" module name is shared by every conftest.py.
GATEWAY_SPEC = "tests.invoices.counting_gateway:CountingGateway"


@pytest.fixture
def app_config() -> dict:
    return {"PAYMENT_GATEWAY": GATEWAY_SPEC}


@pytest.fixture
def gateway(app):
    """The counting gateway's class; its counts start at zero in every test."""
    CountingGateway.reset()
    yield CountingGateway
    CountingGateway.reset()


@pytest.fixture
def branding(session):
    from portal.portal_settings.operations import get_branding

    brand = get_branding(session)
    brand.business_name = "Acme Cloud"
    brand.brand_color = "#3b2fc9"
    brand.support_email = "support@acme.example"
    brand.address = "Acme Cloud Inc.\n500 Market Street\nSan Francisco, CA 94105"
    brand.invoice_prefix = "ACME"
    session.commit()
    return brand


@pytest.fixture
def add_payment(session, now):
    """Record a payment attempt against ``invoice`` as the portal would have."""
    from portal.payments.models import Payment

    counter = iter(range(1, 10_000))

    def add(invoice, method, status="succeeded", amount=None, created=None, failure_code=None,
            failure_message=None):
        payment = Payment(idempotency_key=f"test:{invoice.id}:{next(counter)}",
                          customer_id=invoice.customer_id, invoice_id=invoice.id,
                          payment_method_id=method.id if method else None,
                          amount=amount or invoice.total, currency=invoice.currency,
                          status=status, failure_code=failure_code,
                          failure_message=failure_message, created=created or now,
                          completed_at=None if status == "processing" else (created or now))
        session.add(payment)
        session.commit()
        return payment

    return add


@pytest.fixture
def other_customer(make_customer):
    return make_customer(email="mallory@example.com", name="Mallory Other")
