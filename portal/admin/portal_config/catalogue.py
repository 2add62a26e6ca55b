"""What the configuration page offers from the catalogue: products with their recurring
prices, coupons and prices for the retention offers, in one read per page."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from portal.catalog.models import Coupon, Price, Product
from portal.portal_settings.models import PortalConfiguration
from portal.subscriptions.views import coupon_text, price_text


def price_label(price: Price, *, with_product: bool = False) -> str:
    """"$29.00 per month (Pro monthly)", optionally led by the product's name."""
    text = price_text(price)
    if price.nickname:
        text += f" ({price.nickname})"
    if with_product:
        text = f"{price.product.name}: {text}"
    if not price.active or (with_product and not price.product.active):
        text += " (archived)"
    return text


@dataclass
class Catalogue:
    """The choices the page shows. Archived products, prices and coupons appear only while the
    saved configuration still names them, so the merchant can see and remove them."""

    products: list[Product] = field(default_factory=list)
    coupons: list[tuple[Coupon, str]] = field(default_factory=list)
    recurring_prices: list[tuple[Price, str]] = field(default_factory=list)
    _prices: dict[str, list[tuple[Price, str]]] = field(default_factory=dict)

    def prices_of(self, product_id: str | None) -> list[tuple[Price, str]]:
        return self._prices.get(product_id or "", [])

    def product(self, product_id: str | None) -> Product | None:
        return next((p for p in self.products if p.id == product_id), None)


def load_catalogue(session: Session, config: PortalConfiguration) -> Catalogue:
    """Active products and prices, plus whatever the saved configuration names."""
    entries = [e for e in config.subscription_update_products or [] if isinstance(e, dict)]
    saved_products = {e.get("product") for e in entries if isinstance(e.get("product"), str)}
    saved_prices = {p for e in entries for p in (e.get("prices") or []) if isinstance(p, str)}
    if config.retention_downgrade_price_id:
        saved_prices.add(config.retention_downgrade_price_id)
    products = session.scalars(
        select(Product).where(or_(Product.active.is_(True), Product.id.in_(saved_products)))
        .options(selectinload(Product.prices)).order_by(Product.name, Product.id)
    ).all()
    catalogue = Catalogue()
    for product in products:
        prices = [p for p in product.prices if p.is_recurring
                  and ((p.active and product.active) or p.id in saved_prices)]
        if not prices and product.id not in saved_products:
            continue  # nothing a subscription could switch to
        catalogue.products.append(product)
        catalogue._prices[product.id] = [(p, price_label(p)) for p in prices]
        catalogue.recurring_prices += [(p, price_label(p, with_product=True)) for p in prices]
    coupons = session.scalars(
        select(Coupon).where(or_(Coupon.active.is_(True),
                                 Coupon.id == (config.retention_coupon_id or "")))
        .order_by(Coupon.name, Coupon.id)
    ).all()
    catalogue.coupons = [(c, f"{c.name}: {coupon_text(c)}" + ("" if c.active else " (archived)"))
                         for c in coupons]
    return catalogue
