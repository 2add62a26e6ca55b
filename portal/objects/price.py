"""Stripe's ``price`` (and the ``plan`` Stripe still nests in subscription items) from
portal.catalog.models.Price."""

from __future__ import annotations

from portal.catalog.models import Price
from portal.objects.common import decimal_string, livemode, metadata, ts
from portal.objects.registry import serializer


def recurring(price: Price) -> dict | None:
    if not price.recurring_interval:
        return None
    return {
        "interval": price.recurring_interval,
        "interval_count": price.recurring_interval_count or 1,
        "meter": None,
        "trial_period_days": None,
        "usage_type": "licensed",
    }


@serializer(Price, "price")
def serialize_price(session, price: Price, ctx) -> dict:
    return {
        "id": price.id,
        "object": "price",
        "active": bool(price.active),
        "billing_scheme": "per_unit",
        "created": ts(price.created),
        "currency": price.currency,
        "custom_unit_amount": None,
        "livemode": livemode(),
        "lookup_key": price.lookup_key,
        "metadata": metadata(price.metadata_),
        "nickname": price.nickname,
        "product": price.product_id,
        "recurring": recurring(price),
        "tax_behavior": price.tax_behavior or "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring" if price.recurring_interval else "one_time",
        "unit_amount": price.unit_amount,
        "unit_amount_decimal": decimal_string(price.unit_amount),
    }


def plan(price: Price) -> dict | None:
    """Stripe's legacy ``plan`` for a recurring price (same id), as subscription items carry."""
    if not price.recurring_interval:
        return None
    return {
        "id": price.id,
        "object": "plan",
        "active": bool(price.active),
        "amount": price.unit_amount,
        "amount_decimal": decimal_string(price.unit_amount),
        "billing_scheme": "per_unit",
        "created": ts(price.created),
        "currency": price.currency,
        "interval": price.recurring_interval,
        "interval_count": price.recurring_interval_count or 1,
        "livemode": livemode(),
        "metadata": metadata(price.metadata_),
        "meter": None,
        "nickname": price.nickname,
        "product": price.product_id,
        "tiers_mode": None,
        "transform_usage": None,
        "trial_period_days": None,
        "usage_type": "licensed",
    }
