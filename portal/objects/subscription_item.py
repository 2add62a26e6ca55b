"""Stripe's ``subscription_item`` from portal.subscriptions.models.SubscriptionItem."""

from __future__ import annotations

from sqlalchemy.orm import selectinload

from portal.objects.common import load, ts
from portal.objects.price import plan
from portal.objects.registry import serialize_many, serializer
from portal.subscriptions.models import SubscriptionItem


def _preload(session, items) -> dict:
    load(session, SubscriptionItem, items, selectinload(SubscriptionItem.price),
         selectinload(SubscriptionItem.subscription), needs=("price", "subscription"))
    prices = {item.price_id: item.price for item in items}
    price_json = dict(zip(prices, serialize_many(session, list(prices.values())), strict=True))
    return {"prices": price_json}


@serializer(SubscriptionItem, "subscription_item", preload=_preload)
def serialize_subscription_item(session, item: SubscriptionItem, ctx) -> dict:
    subscription = item.subscription
    return {
        "id": item.id,
        "object": "subscription_item",
        "billed_until": None,
        "billing_thresholds": None,
        "created": ts(item.created),
        "current_period_end": ts(subscription.current_period_end),
        "current_period_start": ts(subscription.current_period_start),
        "current_trial": None,
        "discounts": [],
        "metadata": {},
        "plan": plan(item.price),
        "price": ctx["prices"][item.price_id],
        "quantity": item.quantity,
        "subscription": item.subscription_id,
        "tax_rates": [],
    }
