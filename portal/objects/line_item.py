"""Stripe's invoice ``line_item`` from portal.invoices.models.InvoiceLine."""

from __future__ import annotations

from sqlalchemy.orm import selectinload

from portal.invoices.models import InvoiceLine
from portal.objects.common import decimal_string, livemode, load, ts
from portal.objects.coupon import discount_id
from portal.objects.price import plan
from portal.objects.registry import serialize_many, serializer


def _preload(session, lines) -> dict:
    load(session, InvoiceLine, lines, selectinload(InvoiceLine.price),
         selectinload(InvoiceLine.tax_rate), selectinload(InvoiceLine.invoice),
         needs=("price", "tax_rate", "invoice"))
    prices = {line.price_id: line.price for line in lines if line.price is not None}
    price_json = dict(zip(prices, serialize_many(session, list(prices.values())), strict=True))
    return {"prices": price_json}


def tax_behavior(line: InvoiceLine) -> str:
    return "inclusive" if line.tax_rate is not None and line.tax_rate.inclusive else "exclusive"


def taxes(line: InvoiceLine) -> list[dict]:
    """Stripe's ``taxes`` of a line: the portal's one tax rate per line, when it taxed it."""
    if not line.tax_amount and line.tax_rate_id is None:
        return []
    return [{
        "amount": line.tax_amount,
        "tax_behavior": tax_behavior(line),
        "tax_rate_details": {"tax_rate": line.tax_rate_id} if line.tax_rate_id else None,
        "taxability_reason": "not_available",
        "taxable_amount": line.amount - line.discount_amount,
        "type": "tax_rate_details",
    }]


def _parent(line: InvoiceLine, subscription_id: str | None) -> dict | None:
    if not line.subscription_item_id:
        return None
    return {
        "invoice_item_details": None,
        "subscription_item_details": {
            "invoice_item": None,
            "proration": bool(line.proration),
            "proration_details": {"credited_items": None},
            "subscription": subscription_id,
            "subscription_item": line.subscription_item_id,
        },
        "type": "subscription_item_details",
    }


@serializer(InvoiceLine, "line_item", preload=_preload)
def serialize_line_item(session, line: InvoiceLine, ctx) -> dict:
    invoice = line.invoice
    subscription_id = invoice.subscription_id
    start = line.period_start or invoice.period_start or invoice.created
    end = line.period_end or invoice.period_end or start
    discounts = ([{"amount": line.discount_amount, "discount": discount_id(subscription_id)}]
                 if line.discount_amount and subscription_id else [])
    price_json = ctx["prices"].get(line.price_id)
    line_taxes = taxes(line)
    return {
        "id": line.id,
        "object": "line_item",
        "amount": line.amount,
        "currency": invoice.currency,
        "description": line.description,
        "discount_amounts": discounts,
        "discountable": True,
        "discounts": [],
        "invoice": line.invoice_id,
        "livemode": livemode(),
        "metadata": {},
        "parent": _parent(line, subscription_id),
        "period": {"end": ts(end), "start": ts(start)},
        "pretax_credit_amounts": [],
        "pricing": {
            "price_details": ({"price": line.price_id, "product": line.price.product_id}
                              if line.price is not None else None),
            "type": "price_details",
            "unit_amount_decimal": decimal_string(line.unit_amount),
        },
        "quantity": line.quantity,
        "quantity_decimal": decimal_string(line.quantity),
        "subscription": subscription_id,
        "subtotal": line.amount,
        "taxes": line_taxes,
        # Before 2025: the price itself, the plan, and these flags at the top level.
        "plan": plan(line.price) if line.price is not None else None,
        "price": price_json,
        "proration": bool(line.proration),
        "subscription_item": line.subscription_item_id,
        "tax_amounts": [{"amount": t["amount"], "inclusive": t["tax_behavior"] == "inclusive",
                         "tax_rate": line.tax_rate_id, "taxability_reason": None,
                         "taxable_amount": t["taxable_amount"]} for t in line_taxes],
        "type": "subscription" if line.subscription_item_id else "invoiceitem",
    }
