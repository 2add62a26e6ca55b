"""/v1/products: create, retrieve, update, delete and list the catalog's products.

The rules are the catalog's (portal/catalog/operations.py, the dashboard's too). What the
portal does not model is refused with a reason rather than dropped: a product has at most one
image (``images`` takes one URL, kept and given back but never loaded by the portal's pages,
which show only images uploaded in the dashboard), and no default price (create prices with
POST /v1/prices).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app
from sqlalchemy import event, select

from portal.api.errors import ApiError, not_found
from portal.api.lists import paginate
from portal.api.params import (
    LIST_PARAMS,
    UNSET,
    Boolean,
    Id,
    List,
    Metadata,
    Refused,
    String,
    TimestampRange,
    invalid,
    merged_metadata,
    range_conditions,
)
from portal.api.routing import ApiCall, endpoint
from portal.catalog import operations as ops
from portal.catalog.models import Product
from portal.objects import serialize, serialize_many

OBJECT = "product"
TAG = "Products and prices"

# CatalogRefused's fields as Stripe's parameters (None: the request as a whole).
PARAM_OF = {"image": "images", "interval": "recurring[interval]",
            "interval_count": "recurring[interval_count]"}
NO_DEFAULT_PRICE = ("Products here have no default price: create the price with POST "
                    "/v1/prices, naming the product.")

# Bounds that only stop floods: the catalog's rules (and messages) decide.
_TEXT = String(nullable=True)
_FIELDS = {
    "name": String(),
    "description": _TEXT,
    "active": Boolean(),
    "metadata": Metadata(),
    "statement_descriptor": _TEXT,
    "tax_code": _TEXT,
    "unit_label": _TEXT,
    "images": List(item=String(max_length=2048), max_items=8, nullable=True,
                   description="At most one URL: kept and returned, never loaded by the "
                               "portal, which shows only images uploaded in the dashboard."),
}
CREATE = {**_FIELDS, "name": String(required=True),
          "default_price_data": Refused(reason=NO_DEFAULT_PRICE)}
UPDATE = {**_FIELDS, "default_price": Refused(reason=NO_DEFAULT_PRICE)}
LIST = {**LIST_PARAMS, "active": Boolean(), "created": TimestampRange(),
        "ids": List(item=Id(), description="Only these products.")}


def catalog_refused(refusal: ops.CatalogRefused) -> ApiError:
    """A CatalogRefused as Stripe's 400, naming Stripe's parameter."""
    param = PARAM_OF.get(refusal.field, refusal.field) if refusal.field else None
    return ApiError(400, str(refusal.message), code="parameter_invalid" if param else None,
                    param=param)


def find_product(call: ApiCall, product_id: str, param: str = "id") -> Product:
    product = call.session.get(Product, product_id)
    if product is None:
        raise not_found(OBJECT, product_id, param)
    return product


def _value(value):
    return None if value is UNSET else value


def image_url(call: ApiCall):
    """The one image URL ``images`` sends (None: no image), or UNSET when not sent."""
    if "images" not in call:
        return UNSET
    images = _value(call["images"]) or []
    if len(images) > 1:
        raise invalid("A product here has at most one image: send at most one URL in "
                      "images.", "images")
    return images[0] if images else None


def after_commit(call: ApiCall, action: Callable[[], None]) -> None:
    """Run ``action`` once this request's work is committed (never if it is rolled back)."""
    session = call.session() if callable(call.session) else call.session
    event.listen(session, "after_commit", lambda _session: action(), once=True)


def _discard_later(call: ApiCall, name: str | None) -> None:
    if name:
        path = current_app.instance_path
        after_commit(call, lambda: ops.discard_image_file(path, name))


@endpoint("POST", "/products", params=CREATE, returns=OBJECT, summary="Create a product",
          tag=TAG)
def create_product(call: ApiCall) -> dict:
    """A new product, active unless ``active=false``."""
    url = image_url(call)
    try:
        product = ops.create_product(
            call.session, name=call["name"], description=_value(call.get("description")),
            tax_code=_value(call.get("tax_code")),
            statement_descriptor=_value(call.get("statement_descriptor")),
            unit_label=_value(call.get("unit_label")),
            metadata=merged_metadata({}, call["metadata"]) if "metadata" in call else None,
            active=call.get("active", True), image_url=None if url is UNSET else url,
            now=call.now, actor=call.actor)
    except ops.CatalogRefused as refusal:
        raise catalog_refused(refusal) from None
    return serialize(call.session, product)


@endpoint("GET", "/products/<product_id>", returns=OBJECT, summary="Retrieve a product",
          tag=TAG)
def retrieve_product(call: ApiCall, product_id: str) -> dict:
    """One product, archived or not."""
    return serialize(call.session, find_product(call, product_id))


@endpoint("POST", "/products/<product_id>", params=UPDATE, returns=OBJECT,
          summary="Update a product", tag=TAG)
def update_product(call: ApiCall, product_id: str) -> dict:
    """Change the parameters sent ("" clears one); ``active=false`` archives the product and
    ``true`` makes it active again; metadata keys merge."""
    product = find_product(call, product_id)
    changes = {name: _value(call[name]) for name in
               ("name", "description", "tax_code", "statement_descriptor", "unit_label")
               if name in call}
    url = image_url(call)
    if url is not UNSET and url in serialize(call.session, product)["images"]:
        url = UNSET  # the image as retrieved, sent back unchanged
    extra = {}
    if url is not UNSET:
        extra["image_url"] = url
    if "metadata" in call:
        extra["metadata"] = merged_metadata(product.metadata_, call["metadata"])
    try:
        previous = ops.update_product(call.session, product, now=call.now, actor=call.actor,
                                      **changes, **extra)
    except ops.CatalogRefused as refusal:
        raise catalog_refused(refusal) from None
    if "active" in call:
        # Archiving is its own operation (and event), as in the dashboard.
        change = ops.unarchive_product if call["active"] else ops.archive_product
        change(call.session, product, now=call.now, actor=call.actor)
    if "image" in previous:
        _discard_later(call, previous["image"])
    return serialize(call.session, product)


@endpoint("DELETE", "/products/<product_id>", returns=OBJECT, deleted=True,
          summary="Delete a product", tag=TAG)
def delete_product(call: ApiCall, product_id: str) -> dict:
    """Delete a product nothing uses, with its prices; one in use is refused (archive it with
    ``active=false`` instead)."""
    product = find_product(call, product_id)
    try:
        image = ops.delete_product(call.session, product, now=call.now, actor=call.actor)
    except ops.CatalogRefused as refusal:
        raise catalog_refused(refusal) from None
    _discard_later(call, image)
    return {"id": product_id, "object": OBJECT, "deleted": True}


@endpoint("GET", "/products", params=LIST, returns=f"list:{OBJECT}", summary="List products",
          tag=TAG)
def list_products(call: ApiCall) -> dict:
    """Products, newest first; ``active`` filters archived ones in or out."""
    query = select(Product)
    if "active" in call:
        query = query.where(Product.active.is_(call["active"]))
    if "created" in call:
        query = query.where(*range_conditions(Product.created, call["created"]))
    if "ids" in call:
        query = query.where(Product.id.in_(call["ids"]))
    return paginate(call, query, Product, url="/v1/products", object_name=OBJECT,
                    serialize_many=lambda rows: serialize_many(call.session, rows))
