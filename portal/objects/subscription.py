"""Stripe's ``subscription`` from portal.subscriptions.models.Subscription."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal.objects.common import list_object, list_url, livemode, load, metadata, ts
from portal.objects.coupon import subscription_discount
from portal.objects.registry import serialize_many, serializer
from portal.subscriptions.models import Subscription, SubscriptionItem


def _preload(session, subscriptions) -> dict:
    """Items with their prices and products, coupons, and each subscription's latest invoice:
    a fixed number of queries however many subscriptions there are."""
    from portal.invoices.models import Invoice

    ids = [s.id for s in subscriptions]
    load(session, Subscription, subscriptions,
         selectinload(Subscription.items).selectinload(SubscriptionItem.price),
         selectinload(Subscription.discount_coupon), needs=("items", "discount_coupon"))
    items = [item for sub in subscriptions for item in sub.items]
    items_json = dict(zip([i.id for i in items], serialize_many(session, items), strict=True))
    coupons = {s.discount_coupon.id: s.discount_coupon for s in subscriptions
               if s.discount_coupon is not None}
    coupons_json = dict(zip(coupons, serialize_many(session, list(coupons.values())),
                            strict=True))
    latest: dict[str, str] = {}
    for sub_id, invoice_id in session.execute(
            select(Invoice.subscription_id, Invoice.id).where(Invoice.subscription_id.in_(ids))
            .order_by(Invoice.created, Invoice.id)):
        latest[sub_id] = invoice_id
    return {"items": items_json, "coupons": coupons_json, "latest_invoice": latest}


def cancellation_details(subscription: Subscription) -> dict:
    return {"comment": subscription.cancellation_comment,
            "feedback": subscription.cancellation_feedback,
            "reason": subscription.cancellation_reason}


def pause_collection(subscription: Subscription) -> dict | None:
    """Stripe's pause_collection: periods roll on and nothing is billed until resumes_at."""
    if subscription.pause_collection_resumes_at is None:
        return None
    return {"behavior": "void", "resumes_at": ts(subscription.pause_collection_resumes_at)}


@serializer(Subscription, "subscription", preload=_preload)
def serialize_subscription(session, subscription: Subscription, ctx) -> dict:
    items = [ctx["items"][item.id] for item in subscription.items]
    discount = subscription_discount(subscription,
                                     ctx["coupons"].get(subscription.discount_coupon_id))
    return {
        "id": subscription.id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": ts(subscription.billing_cycle_anchor
                                   or subscription.current_period_start),
        "billing_cycle_anchor_config": None,
        "billing_mode": {"flexible": None, "type": "classic", "updated_at": None},
        "billing_thresholds": None,
        "cancel_at": ts(subscription.cancel_at),
        "cancel_at_period_end": bool(subscription.cancel_at_period_end),
        "canceled_at": ts(subscription.canceled_at),
        "cancellation_details": cancellation_details(subscription),
        "collection_method": subscription.collection_method,
        "created": ts(subscription.created),
        "currency": subscription.currency,
        # Moved onto the items in 2025; kept here too for older integrations.
        "current_period_end": ts(subscription.current_period_end),
        "current_period_start": ts(subscription.current_period_start),
        "customer": subscription.customer_id,
        "customer_account": None,
        "days_until_due": subscription.days_until_due,
        "default_payment_method": subscription.default_payment_method_id,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        # The one discount before 2025 (``discount``), and the ids list Stripe has now.
        "discount": discount,
        "discounts": [discount["id"]] if discount else [],
        "ended_at": ts(subscription.ended_at),
        "invoice_settings": {"account_tax_ids": None, "custom_fields": None,
                             "description": None, "footer": None,
                             "issuer": {"type": "self"}},
        "items": list_object(items, list_url("/v1/subscription_items",
                                             subscription=subscription.id),
                             total_count=len(items)),
        "latest_invoice": ctx["latest_invoice"].get(subscription.id),
        "livemode": livemode(),
        "metadata": metadata(subscription.metadata_),
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": pause_collection(subscription),
        "payment_settings": {"payment_method_options": None, "payment_method_types": None,
                             "save_default_payment_method": "off"},
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": ts(subscription.created),
        "status": subscription.status,
        "test_clock": None,
        "transfer_data": None,
        "trial_end": ts(subscription.trial_end),
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": ts(subscription.trial_start),
    }
