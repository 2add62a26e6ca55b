"""The product catalog's writes and rules: products (name, description, image, tax code,
statement descriptor, unit label), their prices, archiving, and deleting what nothing uses.

Called by the dashboard (portal/admin/catalog) and, later, the Stripe-compatible API. Every
operation takes the session, ``now`` and the ``actor`` ("staff:stf_...", "api", ...), checks
its rules, flushes, and raises one event (product.created, product.updated, product.deleted,
price.created, price.updated, price.deleted, as Stripe names them); the caller commits.

A rule broken raises ``CatalogRefused(message, field)``: the message is for the merchant, the
field names what to fix (None: the request as a whole).

Prices are immutable once created, as Stripe's are: only ``active`` and ``nickname`` change.
A new amount is a new price, so what a subscription was sold at never moves under it.
Products and prices are archived rather than deleted once anything refers to them: an
invoice, a subscription, a pending invoice item, a scheduled plan change or the customer
portal's configuration.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, cast, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from portal.catalog import tax_codes
from portal.catalog.models import INTERVALS, Price, Product
from portal.catalog.pricing import MAX_UNIT_AMOUNT
from portal.events import raise_event
from portal.images import (
    ImageRefused,
    ProcessedImage,
    is_stored_name,
    process_image,
    store_image,
    uploads_dir,
)
from portal.money import format_money, is_currency

log = logging.getLogger("portal.catalog")

NAME_MAX = 250
DESCRIPTION_MAX = 1000
UNIT_LABEL_MAX = 12
DESCRIPTOR_MIN, DESCRIPTOR_MAX = 5, 22
DESCRIPTOR_FORBIDDEN = "<>\\'\"*"
NICKNAME_MAX = 250
LOOKUP_KEY_MAX = 200
IMAGE_URL_MAX = 500
# The portal shows product images at most a few hundred CSS pixels wide; 640 stays sharp on
# high-density screens and keeps each image to tens of kilobytes.
IMAGE_MAX_SIDE = 640
IMAGE_PREFIX = "product"
# Stripe's limit: a price repeats at least once a year.
MAX_INTERVAL_COUNT = {"day": 365, "week": 52, "month": 12, "year": 1}

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_EXCEPT_NEWLINE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")
_UNSET = object()


class CatalogRefused(ValueError):
    """A catalog change breaks a rule; ``message`` says why in words for the merchant and
    ``field`` names the field to fix (None when it is the change as a whole)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


# ---- the rules, one function per field (the dashboard's forms call them too) -------------------

def clean_name(value: str | None) -> str:
    """A product's name: required, at most 250 characters."""
    name = (value or "").strip()
    if not name:
        raise CatalogRefused("Enter the product's name", "name")
    if len(name) > NAME_MAX:
        raise CatalogRefused(f"Name must be {NAME_MAX} characters or fewer", "name")
    if _CONTROL.search(name):
        raise CatalogRefused("Name must not contain control characters such as tabs or line "
                             "breaks", "name")
    return name


def clean_description(value: str | None) -> str | None:
    """A product's description (shown to customers): optional, at most 1,000 characters;
    line breaks are kept, other control characters refused."""
    text = (value or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        return None
    if len(text) > DESCRIPTION_MAX:
        raise CatalogRefused(f"Description must be {DESCRIPTION_MAX:,} characters or fewer",
                             "description")
    if _CONTROL_EXCEPT_NEWLINE.search(text):
        raise CatalogRefused("Description must not contain control characters such as tabs",
                             "description")
    return text


def clean_statement_descriptor(value: str | None) -> str | None:
    """What the customer's bank statement shows: optional; 5 to 22 characters of Latin letters
    (A to Z), digits, spaces and punctuation, at least one letter, none of < > \\ ' " *."""
    text = (value or "").strip()
    if not text:
        return None
    field = "statement_descriptor"
    for character in text:
        if character in DESCRIPTOR_FORBIDDEN:
            raise CatalogRefused(f"Statement descriptor cannot contain {character} (leave out "
                                 "< > \\ ' \" and *)", field)
    if any(not (" " <= character <= "~") for character in text):
        raise CatalogRefused("Statement descriptor can only use Latin letters without accents "
                             "(A to Z), digits, spaces and punctuation", field)
    if len(text) < DESCRIPTOR_MIN:
        raise CatalogRefused(f"Statement descriptor must be at least {DESCRIPTOR_MIN} "
                             "characters", field)
    if len(text) > DESCRIPTOR_MAX:
        raise CatalogRefused(f"Statement descriptor must be {DESCRIPTOR_MAX} characters or "
                             "fewer", field)
    if not any(character.isascii() and character.isalpha() for character in text):
        raise CatalogRefused("Statement descriptor must include at least one letter, not only "
                             "digits", field)
    return text


def clean_unit_label(value: str | None) -> str | None:
    """How one unit is called ("seat", shown as "per seat"): optional, at most 12 characters."""
    text = (value or "").strip()
    if not text:
        return None
    if len(text) > UNIT_LABEL_MAX:
        raise CatalogRefused(f"Unit label must be {UNIT_LABEL_MAX} characters or fewer",
                             "unit_label")
    if _CONTROL.search(text):
        raise CatalogRefused("Unit label must not contain control characters", "unit_label")
    return text


def clean_tax_code(value: str | None, current: str | None = None) -> str | None:
    """A tax code from the list (portal/catalog/tax_codes.py), or none. A product keeps a code
    it already has from elsewhere (the API), so editing it loses nothing."""
    code = (value or "").strip()
    if not code:
        return None
    if tax_codes.is_known(code) or (current and code == current):
        return code
    raise CatalogRefused("Choose a tax code from the list", "tax_code")


def clean_nickname(value: str | None) -> str | None:
    """A price's nickname, seen only in the dashboard: optional, at most 250 characters."""
    text = (value or "").strip()
    if not text:
        return None
    if len(text) > NICKNAME_MAX:
        raise CatalogRefused(f"Nickname must be {NICKNAME_MAX} characters or fewer", "nickname")
    if _CONTROL.search(text):
        raise CatalogRefused("Nickname must not contain control characters", "nickname")
    return text


def clean_image_url(value: str | None) -> str | None:
    """An image kept as a URL (the API's ``images``): an absolute http(s) address of at most
    500 characters. The portal never loads it (customers' pages show only images it stores),
    but it is kept and given back, as Stripe does."""
    text = (value or "").strip()
    if not text:
        return None
    if len(text) > IMAGE_URL_MAX:
        raise CatalogRefused(f"Image URLs must be {IMAGE_URL_MAX} characters or fewer", "image")
    if not re.fullmatch(r"https?://[^\s/?#]+[^\s]*", text, flags=re.IGNORECASE) \
            or _CONTROL.search(text):
        raise CatalogRefused("Image URLs must be absolute http or https addresses", "image")
    return text


def clean_lookup_key(value: str | None) -> str | None:
    """A price's lookup key (how an integration finds it without its id): optional, at most
    200 characters, unique among prices."""
    text = (value or "").strip()
    if not text:
        return None
    if len(text) > LOOKUP_KEY_MAX:
        raise CatalogRefused(f"Lookup keys must be {LOOKUP_KEY_MAX} characters or fewer",
                             "lookup_key")
    if _CONTROL.search(text):
        raise CatalogRefused("Lookup keys must not contain control characters", "lookup_key")
    return text


def clean_metadata(value) -> dict:
    """Metadata as stored: a dict of strings (the API checks its keys' and values' sizes)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CatalogRefused("Metadata must be a set of keys and values", "metadata")
    return {str(key): str(item) for key, item in value.items()}


def check_recurring(interval: str | None, interval_count: int | None) -> tuple[str | None, int]:
    """(interval, count) for a price: None for one-time, else every 1 to N days, weeks,
    months or years, at most a year apart."""
    if interval is None:
        return None, 1
    if interval not in INTERVALS:
        raise CatalogRefused("Choose days, weeks, months or years", "interval")
    if not isinstance(interval_count, int) or isinstance(interval_count, bool) \
            or interval_count < 1:
        raise CatalogRefused("Enter how often the price repeats, as a whole number of 1 or "
                             "more", "interval_count")
    most = MAX_INTERVAL_COUNT[interval]
    if interval_count > most:
        unit = interval if most == 1 else f"{interval}s"
        raise CatalogRefused(f"A price repeats at least once a year: enter at most {most} "
                             f"{unit}", "interval_count")
    return interval, interval_count


def check_unit_amount(unit_amount, currency: str) -> int:
    """An integer of minor units from 0 to Stripe's ceiling."""
    if not isinstance(unit_amount, int) or isinstance(unit_amount, bool):
        raise CatalogRefused("Enter the price as a whole number of the currency's smallest "
                             "unit", "unit_amount")
    if unit_amount < 0:
        raise CatalogRefused("Enter a price of 0 or more", "unit_amount")
    if unit_amount > MAX_UNIT_AMOUNT:
        raise CatalogRefused(f"Enter a price of at most {format_money(MAX_UNIT_AMOUNT, currency)}",
                             "unit_amount")
    return unit_amount


# ---- where a price or product is used -------------------------------------------------------

def price_usage(session: Session, price_ids: Iterable[str]) -> dict[str, str]:
    """For each of ``price_ids`` that something refers to, where (one reason, in words).
    A price on this map cannot be deleted, only archived."""
    from portal.invoices.models import InvoiceItem, InvoiceLine
    from portal.portal_settings.models import PortalConfiguration
    from portal.subscriptions.models import Subscription, SubscriptionItem

    ids = list(dict.fromkeys(price_ids))
    if not ids:
        return {}
    used: dict[str, str] = {}

    def note(found: Iterable[str], reason: str) -> None:
        for price_id in found:
            used.setdefault(price_id, reason)

    note(session.scalars(select(SubscriptionItem.price_id)
                         .where(SubscriptionItem.price_id.in_(ids)).distinct()),
         "a subscription is on it")
    note(session.scalars(select(InvoiceLine.price_id)
                         .where(InvoiceLine.price_id.in_(ids)).distinct()),
         "an invoice lists it")
    note(session.scalars(select(InvoiceItem.price_id)
                         .where(InvoiceItem.price_id.in_(ids)).distinct()),
         "an invoice item waiting for the next invoice uses it")
    # A scheduled plan change names its price in JSON ({"price": "price_..."}). Ids are long
    # and random, so finding one in the JSON's text finds exactly that price.
    scheduled = session.scalars(select(Subscription.pending_update).where(or_(
        *[cast(Subscription.pending_update, String).contains(price_id) for price_id in ids])))
    note([p["price"] for p in scheduled if isinstance(p, dict) and p.get("price") in ids],
         "a subscription's scheduled plan change switches to it")
    for configuration in session.scalars(select(PortalConfiguration)):
        offered = {configuration.retention_downgrade_price_id}
        for entry in configuration.subscription_update_products or []:
            if isinstance(entry, dict):
                offered.update(p for p in entry.get("prices") or [] if isinstance(p, str))
        note([price_id for price_id in ids if price_id in offered],
             "the customer portal offers it")
    return used


def product_usage(session: Session, product: Product) -> str | None:
    """Why ``product`` cannot be deleted (something refers to it or to a price of it), or
    None when nothing does."""
    from portal.portal_settings.models import PortalConfiguration

    used = price_usage(session, [price.id for price in product.prices])
    if used:
        price_id, reason = next(iter(used.items()))
        price = next(p for p in product.prices if p.id == price_id)
        return f"its price {_price_label(price)} is in use: {reason}"
    for configuration in session.scalars(select(PortalConfiguration)):
        for entry in configuration.subscription_update_products or []:
            if isinstance(entry, dict) and entry.get("product") == product.id:
                return "the customer portal offers it"
    return None


def offerable_prices(session: Session, *, currency: str | None = None,
                     recurring: bool | None = None) -> list[Price]:
    """Prices a new subscription (or a portal configuration) may use: active prices of active
    products, by product name then amount. Archived ones stay on what already uses them."""
    query = (select(Price).join(Price.product)
             .where(Price.active.is_(True), Product.active.is_(True))
             .options(selectinload(Price.product))
             .order_by(Product.name, Product.id, Price.unit_amount, Price.created))
    if currency:
        query = query.where(Price.currency == currency.lower())
    if recurring is not None:
        query = query.where(Price.recurring_interval.is_not(None) if recurring
                            else Price.recurring_interval.is_(None))
    return list(session.scalars(query))


def _price_label(price: Price) -> str:
    every = ""
    if price.recurring_interval:
        count = price.recurring_interval_count
        every = f" per {price.recurring_interval}" if count == 1 \
            else f" every {count} {price.recurring_interval}s"
    return f"{format_money(price.unit_amount, price.currency)}{every}"


# ---- products ---------------------------------------------------------------------------------

def _product_data(product: Product) -> dict:
    return {"name": product.name, "active": product.active, "tax_code": product.tax_code,
            "unit_label": product.unit_label, "statement_descriptor": product.statement_descriptor,
            "image": product.image}


def _prepare_image(data: bytes) -> ProcessedImage:
    try:
        return process_image(data, max_side=IMAGE_MAX_SIDE, noun="image")
    except ImageRefused as refused:
        raise CatalogRefused(str(refused), "image") from None


def image_name_for(image) -> str:
    """The prefix a stored product image's name starts with: its size, so pages can give
    <img> its width and height without opening the file ("product-640x480-...")."""
    return f"{IMAGE_PREFIX}-{image.width}x{image.height}"


def create_product(session: Session, *, name: str, now: datetime, actor: str,
                   description: str | None = None, tax_code: str | None = None,
                   statement_descriptor: str | None = None, unit_label: str | None = None,
                   image: bytes | None = None, instance_path: str | None = None,
                   metadata: dict | None = None, active: bool = True,
                   image_url: str | None = None) -> Product:
    """Add a product to the catalog (active unless ``active=False``), with an optional image
    (JPEG, PNG or WEBP, checked by content and re-encoded) or an image URL kept as given
    (``clean_image_url``)."""
    fields = {
        "name": clean_name(name),
        "description": clean_description(description),
        "tax_code": clean_tax_code(tax_code),
        "statement_descriptor": clean_statement_descriptor(statement_descriptor),
        "unit_label": clean_unit_label(unit_label),
    }
    processed = _prepare_image(image) if image else None  # before anything is written
    url = clean_image_url(image_url)
    product = Product(**fields, active=bool(active), created=now, updated=now,
                      metadata_=clean_metadata(metadata), image=url)
    if processed is not None:
        product.image = store_image(_instance(instance_path), processed,
                                    prefix=image_name_for(processed))
    session.add(product)
    session.flush()
    raise_event(session, "product.created", now=now, actor=actor, object_id=product.id,
                data=_product_data(product))
    return product


_EDITABLE = {
    "name": lambda value, product: clean_name(value),
    "description": lambda value, product: clean_description(value),
    "tax_code": lambda value, product: clean_tax_code(value, current=product.tax_code),
    "statement_descriptor": lambda value, product: clean_statement_descriptor(value),
    "unit_label": lambda value, product: clean_unit_label(value),
}


def update_product(session: Session, product: Product, *, now: datetime, actor: str,
                   image: bytes | None = None, instance_path: str | None = None,
                   image_url=_UNSET, metadata=_UNSET, **changes) -> dict:
    """Change any of name, description, tax_code, statement_descriptor and unit_label (the
    ones given) and, with ``image``, the image (checked by content, re-encoded, stored under a
    new name), or with ``image_url`` an image kept as a URL (None removes the image);
    ``metadata`` is the whole new dict (archiving is archive_product's). All or nothing, with
    one product.updated event. Returns the previous values of what changed
    (``previous["image"]`` is the old file, to delete once committed); empty when nothing
    changed, and then no event is raised."""
    unknown = set(changes) - set(_EDITABLE)
    if unknown:
        raise TypeError(f"update_product cannot change {', '.join(sorted(unknown))}")
    cleaned = {key: _EDITABLE[key](value, product) for key, value in changes.items()}
    processed = _prepare_image(image) if image is not None else None
    if image_url is not _UNSET and processed is None:
        cleaned["image"] = clean_image_url(image_url)
    previous = {key: getattr(product, key) for key, value in cleaned.items()
                if getattr(product, key) != value}
    if metadata is not _UNSET:
        new_metadata = clean_metadata(metadata)
        old_metadata = dict(product.metadata_ or {})
        if new_metadata != old_metadata:
            # Stripe's previous_attributes for metadata: each key that moved, as it was.
            previous["metadata"] = {key: old_metadata.get(key, "")
                                    for key in set(old_metadata) | set(new_metadata)
                                    if old_metadata.get(key) != new_metadata.get(key)}
            product.metadata_ = new_metadata
    if processed is None and not previous:
        return {}
    for key in previous:
        if key != "metadata":
            setattr(product, key, cleaned[key])
    if processed is not None:
        previous["image"] = product.image
        product.image = store_image(_instance(instance_path), processed,
                                    prefix=image_name_for(processed))
    _product_changed(session, product, previous, now=now, actor=actor)
    return previous


def _product_changed(session: Session, product: Product, previous: dict, *, now: datetime,
                     actor: str) -> None:
    product.updated = now
    session.flush()
    raise_event(session, "product.updated", now=now, actor=actor, object_id=product.id,
                data={"previous_attributes": previous, **_product_data(product)})


@dataclass(frozen=True)
class ImageChange:
    """What a new or removed image leaves behind: the file the product used before (to
    delete once the change is committed) and the new one (to delete if it is not)."""

    new: str | None
    old: str | None


def set_product_image(session: Session, product: Product, data: bytes, *, now: datetime,
                      actor: str, instance_path: str | None = None) -> ImageChange:
    """Give the product a new image: checked by its content (JPEG, PNG or WEBP, under 2 MB),
    re-encoded without metadata, at most 640 pixels a side, stored under a new name."""
    previous = update_product(session, product, image=data, instance_path=instance_path,
                              now=now, actor=actor)
    return ImageChange(new=product.image, old=previous.get("image"))


def remove_product_image(session: Session, product: Product, *, now: datetime,
                         actor: str) -> ImageChange:
    """Take the product's image away (the file goes once the change is committed)."""
    old = product.image
    if old is None:
        return ImageChange(new=None, old=None)
    product.image = None
    _product_changed(session, product, {"image": old}, now=now, actor=actor)
    return ImageChange(new=None, old=old)


def discard_image_file(instance_path: str, name: str | None) -> None:
    """Delete a stored product image nothing refers to any more. Best effort: a file left
    behind is served to no one (the image view serves only names a product has)."""
    if not name or not is_stored_name(name) or not name.startswith(f"{IMAGE_PREFIX}-"):
        return
    try:
        (uploads_dir(instance_path) / name).unlink(missing_ok=True)
    except OSError:
        log.warning("could not delete the unused product image %s", name)


def archive_product(session: Session, product: Product, *, now: datetime, actor: str) -> bool:
    """Archive the product: what uses it keeps it, but it is offered for nothing new.
    False when it was archived already."""
    return _set_product_active(session, product, False, now=now, actor=actor)


def unarchive_product(session: Session, product: Product, *, now: datetime, actor: str) -> bool:
    """Make an archived product active again (its active prices are offered again)."""
    return _set_product_active(session, product, True, now=now, actor=actor)


def _set_product_active(session, product, active: bool, *, now, actor) -> bool:
    if product.active == active:
        return False
    product.active = active
    _product_changed(session, product, {"active": not active}, now=now, actor=actor)
    return True


def delete_product(session: Session, product: Product, *, now: datetime, actor: str) -> str | None:
    """Delete a product nothing uses, with its prices; refused (archive it instead) while a
    subscription, an invoice, an invoice item, a scheduled change or the portal refers to it
    or to one of its prices. Returns the image file to delete once committed."""
    reason = product_usage(session, product)
    if reason:
        raise CatalogRefused(f"{product.name} cannot be deleted because {reason}. Archive it "
                             "instead: it stays on what uses it and is offered for nothing new.")
    prices = list(product.prices)
    image, product_id, name = product.image, product.id, product.name
    try:
        # A subscription given one of its prices by another request just now: the foreign key
        # refuses the delete, and the answer is the rule's.
        with session.begin_nested():
            for price in prices:
                session.delete(price)
            session.delete(product)
            session.flush()
    except IntegrityError:
        raise CatalogRefused(f"{name} cannot be deleted because it is in use. Archive it "
                             "instead.") from None
    for price in prices:
        raise_event(session, "price.deleted", now=now, actor=actor, object_id=price.id,
                    data={"product": product_id})
    raise_event(session, "product.deleted", now=now, actor=actor, object_id=product_id,
                data={"name": name})
    return image


# ---- prices -----------------------------------------------------------------------------------

def _price_data(price: Price) -> dict:
    return {"product": price.product_id, "unit_amount": price.unit_amount,
            "currency": price.currency, "recurring_interval": price.recurring_interval,
            "recurring_interval_count": price.recurring_interval_count,
            "nickname": price.nickname, "active": price.active,
            "lookup_key": price.lookup_key}


def create_price(session: Session, product: Product, *, unit_amount: int, currency: str,
                 now: datetime, actor: str, recurring_interval: str | None = None,
                 recurring_interval_count: int = 1, nickname: str | None = None,
                 metadata: dict | None = None, active: bool = True,
                 lookup_key: str | None = None, transfer_lookup_key: bool = False) -> Price:
    """Add a price to the product: an amount in minor units of ``currency``, once or every N
    days, weeks, months or years; active unless ``active=False``. A ``lookup_key`` another
    price has is refused, or moved to this one with ``transfer_lookup_key``."""
    if not is_currency(currency):
        raise CatalogRefused("Choose a currency from the list", "currency")
    currency = currency.lower()
    amount = check_unit_amount(unit_amount, currency)
    interval, count = check_recurring(recurring_interval, recurring_interval_count)
    nickname, key = clean_nickname(nickname), clean_lookup_key(lookup_key)
    price = Price(product=product, unit_amount=amount, currency=currency,
                  recurring_interval=interval, recurring_interval_count=count,
                  nickname=nickname, active=bool(active), created=now,
                  metadata_=clean_metadata(metadata))
    session.add(price)
    if key is not None:
        _take_lookup_key(session, price, key, transfer_lookup_key, now=now, actor=actor)
    _flush_lookup_key(session, price)
    raise_event(session, "price.created", now=now, actor=actor, object_id=price.id,
                data=_price_data(price))
    return price


def _take_lookup_key(session: Session, price: Price, key: str, transfer: bool, *,
                     now: datetime, actor: str) -> None:
    """Give ``price`` the lookup key, taking it from the price that has it when ``transfer``
    (that price raises its own price.updated); refused otherwise."""
    holder = session.scalars(select(Price).where(Price.lookup_key == key)).first()
    if holder is not None and holder is not price:
        if not transfer:
            raise CatalogRefused(f"A price ({holder.id}) already uses that lookup key.",
                                 "lookup_key")
        holder.lookup_key = None
        session.flush()
        raise_event(session, "price.updated", now=now, actor=actor, object_id=holder.id,
                    data={"previous_attributes": {"lookup_key": key}, **_price_data(holder)})
    price.lookup_key = key


def _flush_lookup_key(session: Session, price: Price) -> None:
    """Add and flush the price; a lookup key taken meanwhile by another request is refused as
    the rule refuses it (the unique index decides)."""
    try:
        with session.begin_nested():
            session.add(price)
            session.flush()
    except IntegrityError:
        if price.lookup_key is None:
            raise
        raise CatalogRefused("Another price already uses that lookup key.",
                             "lookup_key") from None


def update_price(session: Session, price: Price, *, now: datetime, actor: str,
                 active=_UNSET, nickname=_UNSET, metadata=_UNSET, lookup_key=_UNSET,
                 transfer_lookup_key: bool = False) -> dict:
    """Change what a price may change: ``active``, ``nickname``, ``metadata`` (the whole new
    dict) and ``lookup_key`` (its amount, currency and interval never do). Returns the
    previous values of what changed."""
    previous = {}
    if lookup_key is not _UNSET:
        key = clean_lookup_key(lookup_key)
        if key != price.lookup_key:
            previous["lookup_key"] = price.lookup_key
            if key is None:
                price.lookup_key = None
            else:
                _take_lookup_key(session, price, key, transfer_lookup_key, now=now,
                                 actor=actor)
            _flush_lookup_key(session, price)
    if metadata is not _UNSET:
        new_metadata, old_metadata = clean_metadata(metadata), dict(price.metadata_ or {})
        if new_metadata != old_metadata:
            previous["metadata"] = {key: old_metadata.get(key, "")
                                    for key in set(old_metadata) | set(new_metadata)
                                    if old_metadata.get(key) != new_metadata.get(key)}
            price.metadata_ = new_metadata
    if active is not _UNSET and bool(active) != price.active:
        previous["active"] = price.active
        price.active = bool(active)
    if nickname is not _UNSET:
        cleaned = clean_nickname(nickname)
        if cleaned != price.nickname:
            previous["nickname"] = price.nickname
            price.nickname = cleaned
    if previous:
        session.flush()
        raise_event(session, "price.updated", now=now, actor=actor, object_id=price.id,
                    data={"previous_attributes": previous, **_price_data(price)})
    return previous


def archive_price(session: Session, price: Price, *, now: datetime, actor: str) -> bool:
    """Archive the price: subscriptions on it keep it; no new one is sold it."""
    return bool(update_price(session, price, active=False, now=now, actor=actor))


def unarchive_price(session: Session, price: Price, *, now: datetime, actor: str) -> bool:
    """Make an archived price active again."""
    return bool(update_price(session, price, active=True, now=now, actor=actor))


def delete_price(session: Session, price: Price, *, now: datetime, actor: str) -> None:
    """Delete a price nothing uses; refused (archive it instead) once anything refers to it."""
    label = _price_label(price)
    reason = price_usage(session, [price.id]).get(price.id)
    if reason:
        raise CatalogRefused(f"The {label} price cannot be deleted because {reason}. Archive "
                             "it instead.")
    price_id, product_id = price.id, price.product_id
    try:
        with session.begin_nested():
            session.delete(price)
            session.flush()
    except IntegrityError:
        raise CatalogRefused(f"The {label} price cannot be deleted because it is in use. "
                             "Archive it instead.") from None
    raise_event(session, "price.deleted", now=now, actor=actor, object_id=price_id,
                data={"product": product_id})


def _instance(instance_path: str | None) -> str:
    if instance_path:
        return instance_path
    from flask import current_app

    return current_app.instance_path
