"""Stripe's ``invoice`` from portal.invoices.models.Invoice."""

from __future__ import annotations

from sqlalchemy.orm import selectinload

from portal.customers.models import Customer
from portal.invoices.models import Invoice, InvoiceLine
from portal.objects.common import (
    address,
    list_object,
    livemode,
    load,
    metadata,
    public_url,
    ts,
)
from portal.objects.coupon import discount_id
from portal.objects.customer import billing_address, shipping
from portal.objects.line_item import tax_behavior
from portal.objects.registry import serialize_many, serializer


def _preload(session, invoices) -> dict:
    """Lines (with prices, products and tax rates), customers and subscriptions of every
    invoice, and the merchant's name: a fixed number of queries however many invoices."""
    from portal.portal_settings.models import Branding

    load(session, Invoice, invoices,
         selectinload(Invoice.lines).selectinload(InvoiceLine.price),
         selectinload(Invoice.lines).selectinload(InvoiceLine.tax_rate),
         selectinload(Invoice.customer).selectinload(Customer.tax_ids),
         selectinload(Invoice.subscription), needs=("lines", "customer", "subscription"))
    drafts = {i.customer.id: i.customer for i in invoices
              if i.status == "draft" or not i.customer_snapshot}
    load(session, Customer, list(drafts.values()), selectinload(Customer.tax_ids),
         needs=("tax_ids",))
    lines = [line for invoice in invoices for line in invoice.lines]
    lines_json = dict(zip([line.id for line in lines], serialize_many(session, lines),
                          strict=True))
    branding = session.get(Branding, 1)  # read only: a serializer never creates the row
    return {"lines": lines_json, "account_name": branding.business_name if branding else None}


def hosted_invoice_url(invoice: Invoice) -> str | None:
    """The portal's page of the invoice (the customer signs in to see and pay it); Stripe has
    none for a draft."""
    if invoice.status == "draft":
        return None
    return public_url("invoices.invoice_detail", invoice_id=invoice.id)


def invoice_pdf_url(invoice: Invoice) -> str | None:
    if invoice.status == "draft":
        return None
    return public_url("invoices.invoice_pdf", invoice_id=invoice.id)


def _customer_fields(invoice: Invoice) -> dict:
    """The customer as the invoice shows them: as they are until it is finalized, then as the
    portal froze them (Stripe does the same)."""
    customer = invoice.customer
    snapshot = invoice.customer_snapshot or {}
    if invoice.status == "draft" or not snapshot:
        return {
            "customer_address": billing_address(customer),
            "customer_email": customer.email,
            "customer_name": customer.name,
            "customer_phone": customer.phone,
            "customer_shipping": shipping(customer),
            "customer_tax_ids": [{"type": t.type, "value": t.value} for t in customer.tax_ids],
        }
    where = snapshot.get("address") or {}
    return {
        "customer_address": address(**{k: where.get(k) for k in (
            "line1", "line2", "city", "state", "postal_code", "country")}),
        "customer_email": snapshot.get("email"),
        "customer_name": snapshot.get("name"),
        "customer_phone": snapshot.get("phone"),
        "customer_shipping": snapshot.get("shipping"),
        "customer_tax_ids": [{"type": t.get("type"), "value": t.get("value")}
                             for t in snapshot.get("tax_ids") or []],
    }


def _parent(invoice: Invoice) -> dict | None:
    if not invoice.subscription_id:
        return None
    return {
        "quote_details": None,
        "subscription_details": {
            "metadata": metadata(invoice.subscription.metadata_) if invoice.subscription else {},
            "subscription": invoice.subscription_id,
            "subscription_proration_date": None,
        },
        "type": "subscription_details",
    }


def total_taxes_of(lines_json: list[dict]) -> list[dict]:
    """The lines' taxes added up per tax rate and behaviour, as Stripe's total_taxes."""
    totals: dict[tuple, dict] = {}
    for line in lines_json:
        for tax in line["taxes"]:
            rate = (tax["tax_rate_details"] or {}).get("tax_rate")
            key = (rate, tax["tax_behavior"])
            entry = totals.setdefault(key, {**tax, "amount": 0, "taxable_amount": 0})
            entry["amount"] += tax["amount"]
            entry["taxable_amount"] += tax["taxable_amount"]
    return list(totals.values())


def total_tax_amounts(total_taxes: list[dict]) -> list[dict]:
    """The older total_tax_amounts Stripe still sends, from the same sums as total_taxes."""
    return [{"amount": t["amount"], "inclusive": t["tax_behavior"] == "inclusive",
             "tax_rate": (t["tax_rate_details"] or {}).get("tax_rate"),
             "taxability_reason": None, "taxable_amount": t["taxable_amount"]}
            for t in total_taxes]


@serializer(Invoice, "invoice", preload=_preload)
def serialize_invoice(session, invoice: Invoice, ctx) -> dict:
    lines_json = [ctx["lines"][line.id] for line in invoice.lines]
    discounted = bool(invoice.total_discount) and bool(invoice.subscription_id)
    discount = discount_id(invoice.subscription_id) if discounted else None
    inclusive_tax = sum(line.tax_amount for line in invoice.lines
                        if tax_behavior(line) == "inclusive")
    total_taxes = total_taxes_of(lines_json)
    finalized = invoice.status != "draft"
    return {
        "id": invoice.id,
        "object": "invoice",
        "account_country": None,
        "account_name": ctx["account_name"],
        "account_tax_ids": None,
        "amount_due": invoice.amount_due,
        "amount_overpaid": 0,
        "amount_paid": invoice.amount_paid,
        "amount_remaining": invoice.amount_remaining,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": invoice.attempt_count or 0,
        "attempted": bool(invoice.attempt_count),
        "auto_advance": invoice.next_payment_attempt is not None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None,
                          "provider": None, "status": None},
        "automatically_finalizes_at": None,
        "billing_reason": invoice.billing_reason,
        "collection_method": invoice.collection_method,
        "confirmation_secret": None,
        "created": ts(invoice.created),
        "currency": invoice.currency,
        "custom_fields": None,
        "customer": invoice.customer_id,
        "customer_account": None,
        **_customer_fields(invoice),
        "customer_tax_exempt": "none",
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": invoice.description,
        "discounts": [discount] if discount else [],
        "due_date": ts(invoice.due_date),
        "effective_at": ts(invoice.finalized_at),
        "ending_balance": invoice.ending_balance if finalized else None,
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": hosted_invoice_url(invoice),
        "invoice_pdf": invoice_pdf_url(invoice),
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": list_object(lines_json, f"/v1/invoices/{invoice.id}/lines",
                             total_count=len(lines_json)),
        "livemode": livemode(),
        "metadata": metadata(invoice.metadata_),
        "next_payment_attempt": ts(invoice.next_payment_attempt),
        "number": invoice.number,
        "on_behalf_of": None,
        "parent": _parent(invoice),
        "payment_settings": {"default_mandate": None, "payment_method_options": None,
                             "payment_method_types": None},
        "period_end": ts(invoice.period_end or invoice.created),
        "period_start": ts(invoice.period_start or invoice.created),
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": invoice.starting_balance or 0,
        "statement_descriptor": None,
        "status": invoice.status,
        "status_details": None,
        "status_transitions": {
            "finalized_at": ts(invoice.finalized_at),
            "marked_uncollectible_at": ts(invoice.marked_uncollectible_at),
            "paid_at": ts(invoice.paid_at),
            "voided_at": ts(invoice.voided_at),
        },
        "subtotal": invoice.subtotal,
        "subtotal_excluding_tax": invoice.subtotal - inclusive_tax,
        "test_clock": None,
        "threshold_reason": None,
        "total": invoice.total,
        "total_discount_amounts": ([{"amount": invoice.total_discount, "discount": discount}]
                                   if discount else []),
        "total_excluding_tax": invoice.total - invoice.tax,
        "total_pretax_credit_amounts": [],
        "total_taxes": total_taxes,
        "webhooks_delivered_at": None,
        # Before 2025: these sat at the top level.
        "paid": invoice.status == "paid",
        "subscription": invoice.subscription_id,
        "subscription_details": ({"metadata": _parent(invoice)["subscription_details"]["metadata"]}
                                 if invoice.subscription_id else None),
        "tax": invoice.tax,
        "total_tax_amounts": total_tax_amounts(total_taxes),
    }
