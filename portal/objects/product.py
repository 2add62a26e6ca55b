"""Stripe's ``product`` from portal.catalog.models.Product."""

from __future__ import annotations

import re

from portal.catalog.models import Product
from portal.objects.common import livemode, metadata, public_url, ts
from portal.objects.registry import serializer

_ABSOLUTE = re.compile(r"https?://", re.IGNORECASE)


def image_urls(product: Product) -> list[str]:
    """Stripe's ``images``: the product's image as an absolute URL (an uploaded one is served
    by the portal under PUBLIC_URL), or none."""
    name = product.image
    if not name:
        return []
    if _ABSOLUTE.match(name):
        return [name]
    url = public_url("catalog.product_image", name=name)
    return [url] if url else []


@serializer(Product, "product")
def serialize_product(session, product: Product, ctx) -> dict:
    return {
        "id": product.id,
        "object": "product",
        "active": bool(product.active),
        "created": ts(product.created),
        "default_price": None,
        "description": product.description,
        "images": image_urls(product),
        "livemode": livemode(),
        "marketing_features": [],
        "metadata": metadata(product.metadata_),
        "name": product.name,
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": product.statement_descriptor,
        "tax_code": product.tax_code,
        "type": "service",
        "unit_label": product.unit_label,
        "updated": ts(product.updated or product.created),
        "url": None,
    }
