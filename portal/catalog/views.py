"""Public product images (the portal shows them), outside /p/ so they may be cached, and the
words every template uses for prices and product images."""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import Blueprint, abort, current_app, send_from_directory
from flask_babel import get_locale
from sqlalchemy import select

from portal.catalog import pricing
from portal.catalog.models import Product
from portal.catalog.operations import IMAGE_PREFIX
from portal.extensions import db
from portal.images import is_stored_name, uploads_dir

bp = Blueprint("catalog", __name__, url_prefix="/product-images")

# What store_image names a product image: "product-640x480-<16 hex>.png" (portal/catalog/
# operations.py puts the size in the name, so pages size the <img> without reading the file).
_STORED = re.compile(rf"{IMAGE_PREFIX}-(\d{{1,5}})x(\d{{1,5}})-[0-9a-f]{{16}}\.(?:jpg|png|webp)")


@bp.get("/<name>")
def product_image(name: str):
    """Serve a product's uploaded image; cached a day (a new image gets a new name)."""
    if not is_stored_name(name) or not _STORED.fullmatch(name):
        abort(404)
    # Only images a product (active or archived) has: a replaced one is gone for everyone.
    if db.session.scalar(select(Product.id).where(Product.image == name).limit(1)) is None:
        abort(404)
    return send_from_directory(uploads_dir(current_app.instance_path), name, max_age=86400)


@dataclass(frozen=True)
class ImageTag:
    """What an <img> of a product needs: where, and its size in CSS pixels."""

    url: str
    width: int
    height: int


@bp.app_template_global("product_image")
def product_image_tag(product, box: int = 96) -> ImageTag | None:
    """The product's stored image fitted in a ``box`` pixels square, or None (no image, or one
    that is not ours, such as a URL set through the API: the portal loads nothing from
    elsewhere)."""
    from flask import url_for

    name = getattr(product, "image", None)
    match = _STORED.fullmatch(name or "")
    if match is None or not is_stored_name(name):
        return None
    width, height = int(match.group(1)), int(match.group(2))
    if not width or not height:
        return None
    scale = min(1.0, box / max(width, height))
    return ImageTag(url=url_for("catalog.product_image", name=name),
                    width=max(1, round(width * scale)), height=max(1, round(height * scale)))


def _locale() -> str:
    return str(get_locale() or "en")


@bp.app_template_global("unit_price_text")
def unit_price_text(price, amount: int | None = None) -> str:
    """"$10.00 per seat per month": the price of one unit, as customers read it."""
    return pricing.unit_price_text(price, _locale(), amount)


@bp.app_template_global("quantity_text")
def quantity_text(quantity: int, unit_label: str | None) -> str:
    """"3 seats", or "3" without a unit label."""
    return pricing.quantity_text(quantity, unit_label)


@bp.app_template_global("price_interval_text")
def price_interval_text(price) -> str:
    """"per month", "every 3 months", or "" for a one-time price."""
    return pricing.interval_text(price)
