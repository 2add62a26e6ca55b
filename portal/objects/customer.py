"""Stripe's ``customer`` from portal.customers.models.Customer."""

from __future__ import annotations

from sqlalchemy import or_, select

from portal.customers.models import Customer
from portal.dbtypes import utcnow
from portal.objects.common import address, livemode, metadata, ts
from portal.objects.registry import serializer


def _preload(session, customers) -> dict:
    """Which of ``customers`` are delinquent (Stripe: an open invoice whose automatic payment
    failed or whose due date passed), in one query."""
    from portal.invoices.models import Invoice

    ids = [c.id for c in customers if not c.deleted]
    if not ids:
        return {"delinquent": set()}
    delinquent = set(session.scalars(
        select(Invoice.customer_id).where(
            Invoice.customer_id.in_(ids), Invoice.status == "open",
            or_(Invoice.attempt_count > 0, Invoice.due_date < utcnow()),
        ).distinct()))
    return {"delinquent": delinquent}


def shipping(customer: Customer) -> dict | None:
    where = address(customer.shipping_line1, customer.shipping_line2, customer.shipping_city,
                    customer.shipping_state, customer.shipping_postal_code,
                    customer.shipping_country)
    if where is None and not customer.shipping_name and not customer.shipping_phone:
        return None
    return {"address": where, "carrier": None, "name": customer.shipping_name,
            "phone": customer.shipping_phone, "tracking_number": None}


def billing_address(customer: Customer) -> dict | None:
    return address(customer.address_line1, customer.address_line2, customer.address_city,
                   customer.address_state, customer.address_postal_code,
                   customer.address_country)


@serializer(Customer, "customer", preload=_preload)
def serialize_customer(session, customer: Customer, ctx) -> dict:
    if customer.deleted:
        # What Stripe answers for a deleted customer, on retrieve as on delete.
        return {"id": customer.id, "object": "customer", "deleted": True}
    return {
        "id": customer.id,
        "object": "customer",
        "address": billing_address(customer),
        "balance": customer.balance or 0,
        "business_name": None,
        "created": ts(customer.created),
        "currency": customer.currency,
        "customer_account": None,
        "default_source": None,
        "delinquent": customer.id in ctx["delinquent"],
        "description": customer.description,
        "discount": None,
        "email": customer.email,
        "individual_name": None,
        "invoice_prefix": customer.invoice_prefix,
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": customer.default_payment_method_id,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": livemode(),
        "metadata": metadata(customer.metadata_),
        "name": customer.name,
        "next_invoice_sequence": None,
        "phone": customer.phone,
        "preferred_locales": list(customer.preferred_locales or []),
        "shipping": shipping(customer),
        "tax_exempt": "none",
        "test_clock": None,
    }
