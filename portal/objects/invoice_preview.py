"""Stripe's preview ``invoice`` (the upcoming invoice) from a ``portal.billing.calc.InvoiceDraft``.

A preview is never stored, so it has no model and no registered serializer: the API calls
``serialize_invoice_preview`` with the draft the billing functions worked out (the same draft
the engine or the change will write). Its shape is the stored invoice's (``invoice.py``), with
Stripe's preview differences: ``id`` is ``upcoming_in_...`` (create_preview) or null (the older
upcoming endpoint), ``status`` is draft, no number, no URLs, lines without ids of their own.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from portal.billing.calc import DraftLine, InvoiceDraft
from portal.catalog.models import Price, TaxRate
from portal.customers.models import Customer
from portal.objects.common import decimal_string, list_object, livemode, metadata, ts
from portal.objects.coupon import discount_id
from portal.objects.customer import billing_address, shipping
from portal.objects.invoice import total_tax_amounts, total_taxes_of
from portal.objects.price import plan
from portal.objects.registry import serialize_many
from portal.subscriptions.models import Subscription


def _by_id(session, model, ids) -> dict:
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    return {row.id: row for row in session.scalars(select(model).where(model.id.in_(wanted)))}


def preview_id(subscription: Subscription) -> str:
    """Stripe's id of a preview: ``upcoming_in_`` and something of its own."""
    return "upcoming_in_" + subscription.id.removeprefix("sub_")


def _line(line: DraftLine, position: int, *, currency: str, invoice_id: str | None,
          subscription: Subscription, start: datetime, prices: dict, price_json: dict,
          inclusive: dict) -> dict:
    discounts = ([{"amount": line.discount_amount, "discount": discount_id(subscription.id)}]
                 if line.discount_amount else [])
    behaviour = "inclusive" if inclusive.get(line.tax_rate_id) else "exclusive"
    taxes = [] if not line.tax_amount and line.tax_rate_id is None else [{
        "amount": line.tax_amount, "tax_behavior": behaviour,
        "tax_rate_details": {"tax_rate": line.tax_rate_id} if line.tax_rate_id else None,
        "taxability_reason": "not_available",
        "taxable_amount": line.amount - line.discount_amount, "type": "tax_rate_details"}]
    price = prices.get(line.price_id)
    item_id = line.subscription_item_id
    parent = None
    if item_id:  # as the stored line: a proration carried as an invoice item names no item
        parent = {"invoice_item_details": None, "subscription_item_details": {
            "invoice_item": line.invoice_item_id, "proration": bool(line.proration),
            "proration_details": {"credited_items": None}, "subscription": subscription.id,
            "subscription_item": item_id}, "type": "subscription_item_details"}
    line_start = line.period_start or start
    return {
        "id": f"il_tmp_{position}",
        "object": "line_item",
        "amount": line.amount,
        "currency": currency,
        "description": line.description,
        "discount_amounts": discounts,
        "discountable": True,
        "discounts": [],
        "invoice": invoice_id,
        "livemode": livemode(),
        "metadata": {},
        "parent": parent,
        "period": {"end": ts(line.period_end or line_start), "start": ts(line_start)},
        "pretax_credit_amounts": [],
        "pricing": {
            "price_details": ({"price": price.id, "product": price.product_id}
                              if price is not None else None),
            "type": "price_details",
            "unit_amount_decimal": decimal_string(line.unit_amount),
        },
        "quantity": line.quantity,
        "quantity_decimal": decimal_string(line.quantity),
        "subscription": subscription.id,
        "subtotal": line.amount,
        "taxes": taxes,
        "plan": plan(price) if price is not None else None,
        "price": price_json.get(line.price_id),
        "proration": bool(line.proration),
        "subscription_item": item_id,
        "tax_amounts": [{"amount": t["amount"], "inclusive": t["tax_behavior"] == "inclusive",
                         "tax_rate": line.tax_rate_id, "taxability_reason": None,
                         "taxable_amount": t["taxable_amount"]} for t in taxes],
        "type": "subscription" if item_id and not line.proration else "invoiceitem",
    }


def serialize_invoice_preview(session, draft: InvoiceDraft, *, subscription: Subscription,
                              customer: Customer, billing_reason: str, now: datetime,
                              invoice_id: str | None,
                              proration_date: datetime | None = None) -> dict:
    """The preview of ``draft`` (the subscription's next invoice, or the one a change makes
    now) as Stripe's invoice object."""
    prices = _by_id(session, Price, [line.price_id for line in draft.lines])
    price_json = dict(zip(prices, serialize_many(session, list(prices.values())), strict=True))
    rates = _by_id(session, TaxRate, [line.tax_rate_id for line in draft.lines])
    inclusive = {rate_id: bool(rate.inclusive) for rate_id, rate in rates.items()}
    start = draft.period_start or now
    lines = [_line(line, position, currency=draft.currency, invoice_id=invoice_id,
                   subscription=subscription, start=start, prices=prices,
                   price_json=price_json, inclusive=inclusive)
             for position, line in enumerate(draft.lines)]
    discount = discount_id(subscription.id) if draft.total_discount else None
    inclusive_tax = sum(line.tax_amount for line in draft.lines if inclusive.get(line.tax_rate_id))
    total_taxes = total_taxes_of(lines)
    sub_metadata = metadata(subscription.metadata_)
    details = {"metadata": sub_metadata, "subscription": subscription.id,
               "subscription_proration_date": ts(proration_date)}
    amount_due = draft.amount_due
    return {
        "id": invoice_id,
        "object": "invoice",
        "account_country": None,
        "account_name": None,
        "account_tax_ids": None,
        "amount_due": amount_due,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": amount_due,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": False,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None,
                          "provider": None, "status": None},
        "automatically_finalizes_at": None,
        "billing_reason": billing_reason,
        "collection_method": subscription.collection_method,
        "confirmation_secret": None,
        "created": ts(start),
        "currency": draft.currency,
        "custom_fields": None,
        "customer": customer.id,
        "customer_account": None,
        "customer_address": billing_address(customer),
        "customer_email": customer.email,
        "customer_name": customer.name,
        "customer_phone": customer.phone,
        "customer_shipping": shipping(customer),
        "customer_tax_exempt": "none",
        "customer_tax_ids": [{"type": t.type, "value": t.value} for t in customer.tax_ids],
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [discount] if discount else [],
        "due_date": None,
        "effective_at": None,
        "ending_balance": draft.ending_balance,
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": list_object(lines, f"/v1/invoices/{invoice_id or 'upcoming'}/lines",
                             total_count=len(lines)),
        "livemode": livemode(),
        "metadata": {},
        "next_payment_attempt": (ts(start) if subscription.collection_method
                                 == "charge_automatically" and amount_due else None),
        "number": None,
        "on_behalf_of": None,
        "parent": {"quote_details": None, "subscription_details": details,
                   "type": "subscription_details"},
        "payment_settings": {"default_mandate": None, "payment_method_options": None,
                             "payment_method_types": None},
        "period_end": ts(draft.period_end or start),
        "period_start": ts(draft.period_start or start),
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": draft.starting_balance,
        "statement_descriptor": None,
        "status": "draft",
        "status_details": None,
        "status_transitions": {"finalized_at": None, "marked_uncollectible_at": None,
                               "paid_at": None, "voided_at": None},
        "subtotal": draft.subtotal,
        "subtotal_excluding_tax": draft.subtotal - inclusive_tax,
        "test_clock": None,
        "threshold_reason": None,
        "total": draft.total,
        "total_discount_amounts": ([{"amount": draft.total_discount, "discount": discount}]
                                   if discount else []),
        "total_excluding_tax": draft.total - draft.tax,
        "total_pretax_credit_amounts": [],
        "total_taxes": total_taxes,
        "webhooks_delivered_at": None,
        "paid": False,
        "subscription": subscription.id,
        "subscription_details": {"metadata": sub_metadata},
        "tax": draft.tax,
        "total_tax_amounts": total_tax_amounts(total_taxes),
    }
