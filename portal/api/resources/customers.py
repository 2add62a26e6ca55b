"""/v1/customers: create, retrieve, update, delete and list customers.

Every rule is the portal's own (portal/customers/operations.py): the email check the portal's
forms make, the lengths of names and phones, ISO country codes. A deleted customer stays in
the database (invoices refer to it), retrieves as ``{"id", "object", "deleted": true}`` like
on Stripe, and is neither listed nor changed.
"""

from __future__ import annotations

from sqlalchemy import select

from portal.api.errors import ApiError, not_found
from portal.api.lists import paginate
from portal.api.params import (
    LIST_PARAMS,
    UNSET,
    Id,
    List,
    Metadata,
    Object,
    String,
    TimestampRange,
    merged_metadata,
    range_conditions,
)
from portal.api.routing import ApiCall, endpoint
from portal.customers import operations as ops
from portal.customers.models import Customer, normalize_email
from portal.objects import serialize, serialize_many

OBJECT = "customer"
TAG = "Customers"

# Lengths are the portal's rules (the operations' messages); these bounds only stop floods.
_TEXT = String(max_length=5000, nullable=True)
_ADDRESS = Object(nullable=True, fields={
    "line1": _TEXT, "line2": _TEXT, "city": _TEXT, "state": _TEXT, "postal_code": _TEXT,
    "country": String(nullable=True, description="ISO 3166-1 alpha-2, such as US."),
})
_SHIPPING = Object(nullable=True, fields={
    "name": String(required=True),
    "phone": _TEXT,
    "address": Object(required=True, fields=_ADDRESS.fields),
})
_FIELDS = {
    "email": _TEXT,
    "name": _TEXT,
    "phone": _TEXT,
    "description": _TEXT,
    "metadata": Metadata(),
    "address": _ADDRESS,
    "shipping": _SHIPPING,
    "preferred_locales": List(item=String(max_length=35), max_items=10, nullable=True),
    "invoice_settings": Object(fields={
        "default_payment_method": Id(nullable=True,
                                     description="One of the customer's cards."),
    }),
}
CREATE = dict(_FIELDS)
UPDATE = dict(_FIELDS)
LIST = {**LIST_PARAMS,
        "email": String(max_length=512, description="Exact, case-insensitive."),
        "created": TimestampRange()}


def _value(value):
    """A parameter as the operations take it: "" (UNSET) is None, which clears."""
    return None if value is UNSET else value


def _address(value):
    if value is UNSET or value is None:
        return None
    return {name: _value(part) for name, part in value.items()}


def _shipping(value):
    if value is UNSET or value is None:
        return None
    shipping = {name: _value(part) for name, part in value.items() if name != "address"}
    shipping["address"] = _address(value.get("address"))
    return shipping


def refused(refusal: ops.CustomerRefused) -> ApiError:
    """A CustomerRefused as Stripe's 400, naming Stripe's parameter."""
    param = refusal.field
    if param == "default_payment_method":
        param = "invoice_settings[default_payment_method]"
    return ApiError(400, str(refusal.message), code="parameter_invalid", param=param)


def find_customer(call: ApiCall, customer_id: str, *, param: str = "id",
                  deleted_ok: bool = False) -> Customer:
    """The customer, or Stripe's 404; a deleted one is missing unless ``deleted_ok``."""
    customer = call.session.get(Customer, customer_id)
    if customer is None or (customer.deleted and not deleted_ok):
        raise not_found(OBJECT, customer_id, param)
    return customer


def _changes(call: ApiCall) -> dict:
    changes = {name: _value(call[name]) for name in ("email", "name", "phone", "description")
               if name in call}
    if "address" in call:
        changes["address"] = _address(call["address"])
    if "shipping" in call:
        changes["shipping"] = _shipping(call["shipping"])
    if "preferred_locales" in call:
        changes["preferred_locales"] = _value(call["preferred_locales"]) or []
    settings = call.get("invoice_settings") or {}
    if "default_payment_method" in settings:
        changes["default_payment_method"] = _value(settings["default_payment_method"])
    return changes


@endpoint("POST", "/customers", params=CREATE, returns=OBJECT, summary="Create a customer",
          tag=TAG)
def create_customer(call: ApiCall) -> dict:
    """A new customer; an email other customers have is allowed, as on Stripe."""
    changes = _changes(call)
    metadata = merged_metadata({}, call["metadata"]) if "metadata" in call else None
    changes.setdefault("email", None)
    try:
        customer = ops.create_customer(call.session, metadata=metadata, now=call.now,
                                       actor=call.actor, **changes)
    except ops.CustomerRefused as refusal:
        raise refused(refusal) from None
    return serialize(call.session, customer)


@endpoint("GET", "/customers/<customer_id>", returns=OBJECT, summary="Retrieve a customer",
          tag=TAG)
def retrieve_customer(call: ApiCall, customer_id: str) -> dict:
    """One customer; a deleted one answers ``{"id", "object", "deleted": true}``."""
    return serialize(call.session, find_customer(call, customer_id, deleted_ok=True))


@endpoint("POST", "/customers/<customer_id>", params=UPDATE, returns=OBJECT,
          summary="Update a customer", tag=TAG)
def update_customer(call: ApiCall, customer_id: str) -> dict:
    """Change the parameters sent; "" clears one; metadata keys merge ("" removes a key)."""
    customer = find_customer(call, customer_id)
    changes = _changes(call)
    if "metadata" in call:
        changes["metadata"] = merged_metadata(customer.metadata_, call["metadata"])
    try:
        ops.update_customer(call.session, customer, now=call.now, actor=call.actor, **changes)
    except ops.CustomerRefused as refusal:
        raise refused(refusal) from None
    return serialize(call.session, customer)


@endpoint("DELETE", "/customers/<customer_id>", returns=OBJECT, deleted=True,
          summary="Delete a customer", tag=TAG)
def delete_customer(call: ApiCall, customer_id: str) -> dict:
    """Delete the customer and cancel its live subscriptions now, as Stripe does."""
    customer = find_customer(call, customer_id)
    ops.delete_customer(call.session, customer, now=call.now, actor=call.actor)
    return {"id": customer.id, "object": OBJECT, "deleted": True}


@endpoint("GET", "/customers", params=LIST, returns=f"list:{OBJECT}",
          summary="List customers", tag=TAG)
def list_customers(call: ApiCall) -> dict:
    """Customers that are not deleted, newest first; ``email`` matches exactly, without regard
    to case (as sign-in compares addresses); ``created`` bounds the creation time."""
    query = select(Customer).where(Customer.deleted.is_not(True))
    if "email" in call:
        query = query.where(Customer.email_normalized == (normalize_email(call["email"])
                                                          or None))
    if "created" in call:
        query = query.where(*range_conditions(Customer.created, call["created"]))
    return paginate(call, query, Customer, url="/v1/customers", object_name=OBJECT,
                    serialize_many=lambda rows: serialize_many(call.session, rows))
