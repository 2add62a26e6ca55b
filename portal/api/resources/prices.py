"""/v1/prices: create, retrieve, update and list prices.

Prices are immutable once made, as on Stripe: an update changes only ``active``,
``nickname``, ``metadata`` and ``lookup_key``; a new amount, currency, interval or product is
a new price (archive the old one with ``active=false``).
"""

from __future__ import annotations

from sqlalchemy import select

from portal.api.errors import not_found
from portal.api.lists import paginate
from portal.api.params import (
    LIST_PARAMS,
    UNSET,
    Boolean,
    Id,
    Integer,
    List,
    Metadata,
    Object,
    Refused,
    String,
    TimestampRange,
    invalid,
    merged_metadata,
    range_conditions,
)
from portal.api.resources.products import catalog_refused, find_product
from portal.api.routing import ApiCall, endpoint
from portal.catalog import operations as ops
from portal.catalog.models import INTERVALS, Price
from portal.catalog.pricing import MAX_UNIT_AMOUNT
from portal.objects import serialize, serialize_many

OBJECT = "price"
TAG = "Products and prices"
IMMUTABLE = ("A price's amount, currency, interval and product cannot change once it is "
             "created: create a new price, and archive this one with active=false.")

_RECURRING = Object(fields={
    "interval": String(enum=INTERVALS, required=True),
    "interval_count": Integer(minimum=1, maximum=365),
})
CREATE = {
    "product": Id(description="The product's id; or give product_data to create one."),
    "product_data": Object(fields={
        "name": String(required=True),
        "active": Boolean(),
        "metadata": Metadata(),
        "statement_descriptor": String(),
        "tax_code": String(),
        "unit_label": String(),
    }),
    "currency": String(required=True, max_length=3),
    "unit_amount": Integer(required=True, minimum=0, maximum=MAX_UNIT_AMOUNT),
    "recurring": _RECURRING,
    "nickname": String(),
    "active": Boolean(),
    "metadata": Metadata(),
    "lookup_key": String(max_length=ops.LOOKUP_KEY_MAX),
    "transfer_lookup_key": Boolean(),
}
UPDATE = {
    "active": Boolean(),
    "nickname": String(nullable=True),
    "metadata": Metadata(),
    "lookup_key": String(max_length=ops.LOOKUP_KEY_MAX, nullable=True),
    "transfer_lookup_key": Boolean(),
    **{name: Refused(reason=IMMUTABLE)
       for name in ("unit_amount", "currency", "recurring", "product")},
}
LIST = {**LIST_PARAMS,
        "product": String(max_length=64),
        "active": Boolean(),
        "currency": String(max_length=3),
        "type": String(enum=("recurring", "one_time")),
        "recurring": Object(fields={"interval": String(enum=INTERVALS)}),
        "lookup_keys": List(item=String(max_length=ops.LOOKUP_KEY_MAX), max_items=10),
        "created": TimestampRange()}


def find_price(call: ApiCall, price_id: str, param: str = "id") -> Price:
    price = call.session.get(Price, price_id)
    if price is None:
        raise not_found(OBJECT, price_id, param)
    return price


@endpoint("POST", "/prices", params=CREATE, returns=OBJECT, summary="Create a price", tag=TAG)
def create_price(call: ApiCall) -> dict:
    """A price of an existing product (``product``) or of one made with it
    (``product_data``): ``unit_amount`` minor units of ``currency``, once or ``recurring``."""
    if "product" not in call and "product_data" not in call:
        raise invalid("Missing required param: product.", "product", "parameter_missing")
    if "product" in call and "product_data" in call:
        raise invalid("You may only specify one of these parameters: product, product_data.",
                      "product_data")
    recurring = call.get("recurring") or {}
    try:
        if "product" in call:
            product = find_product(call, call["product"], param="product")
        else:
            data = call["product_data"]
            product = ops.create_product(
                call.session, name=data["name"], tax_code=data.get("tax_code"),
                statement_descriptor=data.get("statement_descriptor"),
                unit_label=data.get("unit_label"), active=data.get("active", True),
                metadata=merged_metadata({}, data["metadata"]) if "metadata" in data else None,
                now=call.now, actor=call.actor)
        price = ops.create_price(
            call.session, product, unit_amount=call["unit_amount"], currency=call["currency"],
            recurring_interval=recurring.get("interval"),
            recurring_interval_count=recurring.get("interval_count", 1),
            nickname=call.get("nickname"), active=call.get("active", True),
            metadata=merged_metadata({}, call["metadata"]) if "metadata" in call else None,
            lookup_key=call.get("lookup_key"),
            transfer_lookup_key=call.get("transfer_lookup_key", False),
            now=call.now, actor=call.actor)
    except ops.CatalogRefused as refusal:
        error = catalog_refused(refusal)
        if "product_data" in call and refusal.field in ("name", "tax_code", "unit_label",
                                                        "statement_descriptor"):
            error.param = f"product_data[{refusal.field}]"
        raise error from None
    return serialize(call.session, price)


@endpoint("GET", "/prices/<price_id>", returns=OBJECT, summary="Retrieve a price", tag=TAG)
def retrieve_price(call: ApiCall, price_id: str) -> dict:
    """One price, archived or not."""
    return serialize(call.session, find_price(call, price_id))


@endpoint("POST", "/prices/<price_id>", params=UPDATE, returns=OBJECT,
          summary="Update a price", tag=TAG)
def update_price(call: ApiCall, price_id: str) -> dict:
    """Change ``active`` (false archives it), ``nickname``, ``metadata`` (keys merge) or
    ``lookup_key``; nothing else about a price changes."""
    price = find_price(call, price_id)
    changes = {}
    if "active" in call:
        changes["active"] = call["active"]
    if "nickname" in call:
        changes["nickname"] = None if call["nickname"] is UNSET else call["nickname"]
    if "metadata" in call:
        changes["metadata"] = merged_metadata(price.metadata_, call["metadata"])
    if "lookup_key" in call:
        changes["lookup_key"] = None if call["lookup_key"] is UNSET else call["lookup_key"]
        changes["transfer_lookup_key"] = call.get("transfer_lookup_key", False)
    try:
        ops.update_price(call.session, price, now=call.now, actor=call.actor, **changes)
    except ops.CatalogRefused as refusal:
        raise catalog_refused(refusal) from None
    return serialize(call.session, price)


@endpoint("GET", "/prices", params=LIST, returns=f"list:{OBJECT}", summary="List prices",
          tag=TAG)
def list_prices(call: ApiCall) -> dict:
    """Prices, newest first, filtered by ``product``, ``active``, ``currency``, ``type``,
    ``recurring[interval]``, ``lookup_keys`` and ``created``."""
    query = select(Price)
    if "product" in call:
        query = query.where(Price.product_id == call["product"])
    if "active" in call:
        query = query.where(Price.active.is_(call["active"]))
    if "currency" in call:
        query = query.where(Price.currency == call["currency"].lower())
    if "type" in call:
        recurring = Price.recurring_interval
        query = query.where(recurring.is_not(None) if call["type"] == "recurring"
                            else recurring.is_(None))
    interval = (call.get("recurring") or {}).get("interval")
    if interval:
        query = query.where(Price.recurring_interval == interval)
    if "lookup_keys" in call:
        query = query.where(Price.lookup_key.in_(call["lookup_keys"]))
    if "created" in call:
        query = query.where(*range_conditions(Price.created, call["created"]))
    return paginate(call, query, Price, url="/v1/prices", object_name=OBJECT,
                    serialize_many=lambda rows: serialize_many(call.session, rows))
