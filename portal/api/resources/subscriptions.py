"""/v1/subscriptions and /v1/subscription_items: start, read, change and cancel subscriptions.

Every write is an operation of portal/subscriptions/operations.py (the merchant's ones:
``start_subscription``, ``change_subscription_items``, ``set_cancel_at_period_end``,
``update_subscription_details``, ``cancel_subscription_now``); this module only reads Stripe's
parameters, finds the objects they name and turns refusals into Stripe's errors.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import exists, or_, select

from portal.api.errors import ApiError, not_found
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
    String,
    Timestamp,
    merged_metadata,
)
from portal.api.routing import ApiCall, endpoint
from portal.billing.policy import BillingPolicy
from portal.catalog.models import Coupon, Price
from portal.customers.models import Customer
from portal.objects import serialize, serialize_many
from portal.payments.gateway import get_gateway
from portal.payments.models import PaymentMethod
from portal.portal_settings.models import CANCELLATION_REASONS
from portal.subscriptions import operations as ops
from portal.subscriptions.models import COLLECTION_METHODS, STATUSES, Subscription, SubscriptionItem

OBJECT = "subscription"
TAG = "Subscriptions"
# Stripe's payment_behavior: the portal has no incomplete subscriptions, so only the one
# behaviour it does (a declined first charge leaves the subscription past due) is accepted.
PAYMENT_BEHAVIORS = ("allow_incomplete",)
_CANCELLATION_DETAILS = Object(fields={
    "comment": String(max_length=500, nullable=True),
    "feedback": String(enum=CANCELLATION_REASONS, nullable=True),
}, description="Why the subscription is canceled.")

CREATE = {
    "customer": Id(required=True, description="The customer to subscribe."),
    "items": List(item=Object(fields={
        "price": Id(required=True),
        "quantity": Integer(minimum=0),
    }), required=True, max_items=ops.MAX_ITEMS,
        description="The prices to subscribe to, one currency and interval."),
    "collection_method": String(enum=COLLECTION_METHODS),
    "days_until_due": Integer(minimum=0, maximum=ops.MAX_DAYS_UNTIL_DUE),
    "trial_period_days": Integer(minimum=0, maximum=ops.MAX_TRIAL_DAYS),
    "default_payment_method": Id(),
    "coupon": Id(description="Older clients' way to give a coupon; or discounts."),
    "discounts": List(item=Object(fields={"coupon": Id(required=True)}), max_items=1),
    "metadata": Metadata(),
    "cancel_at_period_end": Boolean(),
    "payment_behavior": String(enum=PAYMENT_BEHAVIORS),
}
_ITEM_CHANGE = Object(fields={
    "id": Id(),
    "price": Id(),
    "quantity": Integer(minimum=0),
    "deleted": Boolean(),
})
UPDATE = {
    "cancel_at_period_end": Boolean(),
    "cancellation_details": _CANCELLATION_DETAILS,
    "items": List(item=_ITEM_CHANGE, max_items=ops.MAX_ITEMS,
                  description="items[0][id] with a new price and/or quantity."),
    "proration_behavior": String(enum=ops.PRORATION_BEHAVIORS),
    "proration_date": Timestamp(),
    "metadata": Metadata(),
    "default_payment_method": Id(nullable=True),
    "payment_behavior": String(enum=PAYMENT_BEHAVIORS),
}
CANCEL = {
    "invoice_now": Boolean(),
    "prorate": Boolean(description="Credit the unused paid time to the customer's balance."),
    "cancellation_details": _CANCELLATION_DETAILS,
}
LIST_STATUSES = (*STATUSES, "all", "ended", "incomplete_expired")
LIST = {
    **LIST_PARAMS,
    "customer": Id(),
    "status": String(enum=LIST_STATUSES),
    "price": Id(),
    "collection_method": String(enum=COLLECTION_METHODS),
}
ITEM_LIST = {**LIST_PARAMS, "subscription": Id(required=True)}

# Stripe's parameter for each field a SubscriptionRefused names.
_UPDATE_PARAMS = {"items": "items", "price": "items[0][price]",
                  "quantity": "items[0][quantity]", "proration_behavior": "proration_behavior",
                  "proration_date": "proration_date",
                  "cancel_at_period_end": "cancel_at_period_end",
                  "default_payment_method": "default_payment_method",
                  "feedback": "cancellation_details[feedback]"}
_CODE_PARAMS = {"no_card": "default_payment_method", "expired_card": "default_payment_method"}


def missing(object_name: str, object_id: str, param: str) -> ApiError:
    """Stripe's 400 for a parameter naming an object that does not exist."""
    return ApiError(400, f"No such {object_name}: '{object_id}'", code="resource_missing",
                    param=param)


def refused(refusal: ops.SubscriptionRefused, params: dict, default: str | None = None
            ) -> ApiError:
    """A SubscriptionRefused as Stripe's invalid_request_error naming the parameter."""
    if refusal.code == "idempotency_key_reused":
        return ApiError(400, "Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with.", type="idempotency_error")
    param = _CODE_PARAMS.get(refusal.code) or params.get(refusal.field) or default
    return ApiError(400, str(refusal.message), param=param)


def find_subscription(call: ApiCall, subscription_id: str, param: str = "id") -> Subscription:
    subscription = call.session.get(Subscription, subscription_id)
    if subscription is None:
        raise not_found(OBJECT, subscription_id, param)
    return subscription


def _customer(call: ApiCall) -> Customer:
    customer = call.session.get(Customer, call["customer"])
    if customer is None or customer.deleted:
        raise missing("customer", call["customer"], "customer")
    return customer


def _price(call: ApiCall, price_id: str, param: str) -> Price:
    price = call.session.get(Price, price_id)
    if price is None:
        raise missing("price", price_id, param)
    return price


def _payment_method(call: ApiCall, method_id: str, customer_id: str,
                    param: str) -> PaymentMethod:
    method = call.session.get(PaymentMethod, method_id)
    if method is None:
        raise missing("payment_method", method_id, param)
    if method.customer_id != customer_id or method.detached_at is not None:
        # Another customer's card is refused in the words Stripe uses, not as missing.
        raise ApiError(400, f"The customer does not have a payment method with the ID "
                       f"{method_id}. The payment method must be attached to the customer.",
                       code="resource_missing", param=param)
    return method


def _coupon(call: ApiCall) -> tuple[Coupon | None, str | None]:
    given = [("coupon", call["coupon"])] if "coupon" in call else []
    for index, entry in enumerate(call.get("discounts") or []):
        given.append((f"discounts[{index}][coupon]", entry["coupon"]))
    if len(given) > 1:
        raise ApiError(400, "You may only specify one of these parameters: coupon, discounts.",
                       param="discounts")
    if not given:
        return None, None
    param, coupon_id = given[0]
    coupon = call.session.get(Coupon, coupon_id)
    if coupon is None:
        raise missing("coupon", coupon_id, param)
    return coupon, param


def _gateway():
    return get_gateway()


def _cancellation(call: ApiCall) -> tuple[str | None, str | None]:
    details = call.get("cancellation_details") or {}
    feedback, comment = details.get("feedback"), details.get("comment")
    return (None if feedback is UNSET else feedback, None if comment is UNSET else comment)


@endpoint("POST", "/subscriptions", params=CREATE, returns=OBJECT, tag=TAG,
          summary="Create a subscription")
def create_subscription(call: ApiCall) -> dict:
    """Start a subscription: its trial begins, or its first invoice is charged to the card
    (a decline leaves it past due, retried on the merchant's schedule) or emailed. The same
    Idempotency-Key starts one subscription however often it is sent."""
    customer = _customer(call)
    items, params = [], {}
    for index, entry in enumerate(call["items"]):
        items.append((_price(call, entry["price"], f"items[{index}][price]"),
                      entry.get("quantity", 1)))
    one = len(items) == 1
    params.update(price="items[0][price]" if one else "items",
                  quantity="items[0][quantity]" if one else "items",
                  collection_method="collection_method", days_until_due="days_until_due",
                  trial_period_days="trial_period_days",
                  default_payment_method="default_payment_method")
    method = None
    if "default_payment_method" in call:
        method = _payment_method(call, call["default_payment_method"], customer.id,
                                 "default_payment_method")
    coupon, coupon_param = _coupon(call)
    params["coupon"] = coupon_param
    collection = call.get("collection_method", "charge_automatically")
    key = call.idempotency_key
    try:
        started = ops.start_subscription(
            call.session, customer, items=items, collection_method=collection,
            days_until_due=call.get("days_until_due"),
            trial_period_days=call.get("trial_period_days"), coupon=coupon,
            default_payment_method=method, now=call.now, actor=call.actor,
            gateway=_gateway() if collection == "charge_automatically" else None,
            policy=BillingPolicy.from_config(current_app.config),
            idempotency_key=f"api:{key}" if key else None,
            metadata=merged_metadata({}, call["metadata"]) if "metadata" in call else None,
            cancel_at_period_end=call.get("cancel_at_period_end", False))
    except ops.SubscriptionRefused as refusal:
        raise refused(refusal, params) from None
    return serialize(call.session, started.subscription)


@endpoint("GET", "/subscriptions/<subscription_id>", returns=OBJECT, tag=TAG,
          summary="Retrieve a subscription")
def retrieve_subscription(call: ApiCall, subscription_id: str) -> dict:
    """One subscription, ended ones included."""
    return serialize(call.session, find_subscription(call, subscription_id))


def item_change(call: ApiCall, subscription: Subscription, entries: list[dict],
                prefix: str) -> tuple[Price | None, int | None]:
    """Stripe's ``items`` of an update (or a preview's ``subscription_items``) as the one
    item's new price and quantity. The portal changes the price or quantity of a
    subscription's one item: adding, removing or several items are refused by name."""
    if len(entries) != 1:
        raise ApiError(400, f"Give exactly one item, {prefix}[0][id], with its new price "
                       "and/or quantity: adding or removing items is not supported.",
                       param=prefix)
    entry = entries[0]
    if entry.get("deleted"):
        raise ApiError(400, "Removing an item is not supported: cancel the subscription "
                       "instead.", param=f"{prefix}[0][deleted]")
    if "id" not in entry:
        raise ApiError(400, f"Adding an item is not supported: give {prefix}[0][id], the "
                       "subscription's item, with its new price and/or quantity.",
                       param=f"{prefix}[0][id]")
    if not any(item.id == entry["id"] for item in subscription.items):
        raise missing("subscription_item", entry["id"], f"{prefix}[0][id]")
    if "price" not in entry and "quantity" not in entry:
        raise ApiError(400, f"Give {prefix}[0][price] and/or {prefix}[0][quantity].",
                       param=f"{prefix}[0]")
    price = _price(call, entry["price"], f"{prefix}[0][price]") if "price" in entry else None
    return price, entry.get("quantity")


@endpoint("POST", "/subscriptions/<subscription_id>", params=UPDATE, returns=OBJECT, tag=TAG,
          summary="Update a subscription")
def update_subscription(call: ApiCall, subscription_id: str) -> dict:
    """Change the one item's price or quantity (with Stripe's proration behaviours), set or
    undo the cancel at the period end, the metadata and the card. Each kind of change raises
    its own customer.subscription.updated."""
    subscription = find_subscription(call, subscription_id)
    feedback, comment = _cancellation(call)
    if "cancellation_details" in call and call.get("cancel_at_period_end") is not True:
        raise ApiError(400, "cancellation_details can only be given with "
                       "cancel_at_period_end=true (or when canceling).",
                       param="cancellation_details")
    if "proration_date" in call and "items" not in call:
        raise ApiError(400, "proration_date is only used with items.", param="proration_date")
    behavior = call.get("proration_behavior", "create_prorations")
    if "proration_date" in call and behavior == "none":
        raise ApiError(400, "proration_date cannot be used with proration_behavior=none.",
                       param="proration_date")
    change = item_change(call, subscription, call["items"], "items") if "items" in call else None
    details = {}
    if "metadata" in call:
        details["metadata"] = merged_metadata(subscription.metadata_, call["metadata"])
    if "default_payment_method" in call:
        given = call["default_payment_method"]
        details["default_payment_method"] = None if given is UNSET else _payment_method(
            call, given, subscription.customer_id, "default_payment_method")
    try:
        if details:
            ops.update_subscription_details(call.session, subscription, now=call.now,
                                            actor=call.actor, **details)
        if "cancel_at_period_end" in call:
            ops.set_cancel_at_period_end(call.session, subscription,
                                         call["cancel_at_period_end"], now=call.now,
                                         actor=call.actor, feedback=feedback, comment=comment)
        if change is not None:
            price, quantity = change
            ops.change_subscription_items(
                call.session, subscription, price=price, quantity=quantity,
                proration_behavior=behavior, proration_date=call.get("proration_date"),
                now=call.now, actor=call.actor, gateway=_gateway())
    except ops.SubscriptionRefused as refusal:
        raise refused(refusal, _UPDATE_PARAMS) from None
    return serialize(call.session, find_subscription(call, subscription_id))


@endpoint("DELETE", "/subscriptions/<subscription_id>", params=CANCEL, returns=OBJECT, tag=TAG,
          summary="Cancel a subscription")
def cancel_subscription(call: ApiCall, subscription_id: str) -> dict:
    """End the subscription now (Stripe's cancel); ``prorate`` credits the unused time to
    the customer's balance. Answers the canceled subscription."""
    subscription = find_subscription(call, subscription_id)
    feedback, comment = _cancellation(call)
    try:
        ops.cancel_subscription_now(call.session, subscription,
                                    prorate=call.get("prorate", False),
                                    invoice_now=call.get("invoice_now", False),
                                    feedback=feedback, comment=comment, now=call.now,
                                    actor=call.actor)
    except ops.SubscriptionRefused as refusal:
        raise refused(refusal, {"feedback": "cancellation_details[feedback]",
                                "invoice_now": "invoice_now"}) from None
    return serialize(call.session, find_subscription(call, subscription_id))


@endpoint("GET", "/subscriptions", params=LIST, returns=f"list:{OBJECT}", tag=TAG,
          summary="List subscriptions")
def list_subscriptions(call: ApiCall) -> dict:
    """Subscriptions newest first; without ``status`` the canceled ones are left out, as on
    Stripe (``all`` lists every one, ``ended`` only those that ended)."""
    query = select(Subscription)
    if "customer" in call:
        query = query.where(Subscription.customer_id == call["customer"])
    ended = or_(Subscription.status == "canceled", Subscription.ended_at.is_not(None))
    status = call.get("status")
    if status is None:
        query = query.where(~ended)
    elif status == "ended":
        query = query.where(ended)
    elif status != "all":
        query = query.where(Subscription.status == status)
    if "price" in call:
        query = query.where(exists().where(SubscriptionItem.subscription_id == Subscription.id,
                                           SubscriptionItem.price_id == call["price"]))
    if "collection_method" in call:
        query = query.where(Subscription.collection_method == call["collection_method"])
    return paginate(call, query, Subscription, url="/v1/subscriptions", object_name=OBJECT,
                    serialize_many=lambda rows: serialize_many(call.session, rows))


@endpoint("GET", "/subscription_items", params=ITEM_LIST, returns="list:subscription_item",
          tag=TAG, summary="List a subscription's items")
def list_subscription_items(call: ApiCall) -> dict:
    """The items of one subscription."""
    subscription = find_subscription(call, call["subscription"], "subscription")
    query = select(SubscriptionItem).where(SubscriptionItem.subscription_id == subscription.id)
    return paginate(call, query, SubscriptionItem, url="/v1/subscription_items",
                    object_name="subscription_item",
                    serialize_many=lambda rows: serialize_many(call.session, rows))


@endpoint("GET", "/subscription_items/<item_id>", returns="subscription_item", tag=TAG,
          summary="Retrieve a subscription item")
def retrieve_subscription_item(call: ApiCall, item_id: str) -> dict:
    """One subscription item."""
    item = call.session.get(SubscriptionItem, item_id)
    if item is None:
        raise not_found("subscription_item", item_id)
    return serialize(call.session, item)
