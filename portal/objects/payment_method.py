"""Stripe's ``payment_method`` (cards only) from portal.payments.models.PaymentMethod."""

from __future__ import annotations

from portal.objects.common import livemode, metadata, ts
from portal.objects.registry import serializer
from portal.payments.models import PaymentMethod

# Stripe's card.display_brand values for the portal's brand codes (Stripe's card.brand codes).
DISPLAY_BRANDS = {
    "amex": "american_express",
    "diners": "diners_club",
    "discover": "discover",
    "jcb": "jcb",
    "mastercard": "mastercard",
    "unionpay": "union_pay",
    "visa": "visa",
}
FUNDING = ("credit", "debit", "prepaid", "unknown")


def _card(method: PaymentMethod) -> dict:
    brand = method.card_brand or "unknown"
    return {
        "brand": brand,
        "checks": None,
        "country": method.card_country,
        "display_brand": DISPLAY_BRANDS.get(brand, "other"),
        "exp_month": method.card_exp_month,
        "exp_year": method.card_exp_year,
        "fingerprint": method.fingerprint,
        "funding": method.card_funding if method.card_funding in FUNDING else "unknown",
        "generated_from": None,
        "last4": method.card_last4,
        "networks": {"available": [brand], "preferred": None},
        "regulated_status": None,
        "three_d_secure_usage": None,
        "wallet": None,
    }


@serializer(PaymentMethod, "payment_method")
def serialize_payment_method(session, method: PaymentMethod, ctx) -> dict:
    result = {
        "id": method.id,
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {
            # Stripe always writes the address object here, its parts null when unknown.
            "address": {"city": None, "country": None, "line1": None, "line2": None,
                        "postal_code": None, "state": None},
            "email": None,
            "name": method.billing_name,
            "phone": None,
            "tax_id": None,
        },
        "created": ts(method.created),
        # None once detached, as Stripe's detach leaves it.
        "customer": None if method.detached_at else method.customer_id,
        "customer_account": None,
        "livemode": livemode(),
        "metadata": metadata(method.metadata_),
        "type": method.type or "card",
    }
    if result["type"] == "card":
        result["card"] = _card(method)
    return result
