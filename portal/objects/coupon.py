"""Stripe's ``coupon`` from portal.catalog.models.Coupon, and the ``discount`` a subscription
carries with one."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.catalog.models import Coupon
from portal.objects.common import livemode, metadata, ts
from portal.objects.registry import serializer


def _preload(session, coupons) -> dict:
    """How many subscriptions carry each coupon (Stripe's times_redeemed), in one query."""
    from portal.subscriptions.models import Subscription

    ids = [c.id for c in coupons]
    counts = dict(session.execute(
        select(Subscription.discount_coupon_id, func.count())
        .where(Subscription.discount_coupon_id.in_(ids))
        .group_by(Subscription.discount_coupon_id)).all())
    return {"times_redeemed": counts}


@serializer(Coupon, "coupon", preload=_preload)
def serialize_coupon(session, coupon: Coupon, ctx) -> dict:
    return {
        "id": coupon.id,
        "object": "coupon",
        "amount_off": coupon.amount_off,
        "applies_to": None,
        "created": ts(coupon.created),
        "currency": coupon.currency,
        "duration": coupon.duration,
        "duration_in_months": coupon.duration_in_months,
        "livemode": livemode(),
        "max_redemptions": None,
        "metadata": metadata(coupon.metadata_),
        "name": coupon.name,
        "percent_off": float(coupon.percent_off) if coupon.percent_off is not None else None,
        "redeem_by": None,
        "times_redeemed": ctx["times_redeemed"].get(coupon.id, 0),
        "valid": bool(coupon.active),
    }


def discount_id(subscription_id: str) -> str:
    """The portal keeps one discount per subscription, without an id of its own: Stripe's
    ``di_`` id is made from the subscription's, so it is the same every time."""
    return "di_" + subscription_id.removeprefix("sub_")


def subscription_discount(subscription, coupon_json: dict | None) -> dict | None:
    """Stripe's ``discount`` object for the subscription's coupon, or None without one."""
    if not subscription.discount_coupon_id or coupon_json is None:
        return None
    return {
        "id": discount_id(subscription.id),
        "object": "discount",
        "checkout_session": None,
        "coupon": coupon_json,  # before 2025 the coupon itself; now under source
        "customer": subscription.customer_id,
        "customer_account": None,
        "end": ts(subscription.discount_end),
        "invoice": None,
        "invoice_item": None,
        "promotion_code": None,
        "source": {"coupon": subscription.discount_coupon_id, "type": "coupon"},
        "start": ts(subscription.discount_start or subscription.created),
        "subscription": subscription.id,
        "subscription_item": None,
    }
