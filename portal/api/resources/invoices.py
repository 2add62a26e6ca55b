"""/v1/invoices: read, pay and void invoices, and preview the upcoming one.

Paying is ``portal.invoices.operations.charge_invoice`` (the Pay button's and the engine's
path), voiding ``void_invoice``, the preview ``portal.subscriptions.operations.merchant_preview``
(the same functions the engine and a change write with). Both preview endpoints, Stripe's
``POST /v1/invoices/create_preview`` and the older ``GET /v1/invoices/upcoming``, answer from
that one computation.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select

from portal.api.errors import ApiError, not_found
from portal.api.lists import paginate
from portal.api.params import (
    LIST_PARAMS,
    Boolean,
    Id,
    Integer,
    List,
    Object,
    String,
    Timestamp,
)
from portal.api.resources.subscriptions import (
    find_subscription,
    item_change,
    missing,
    refused,
)
from portal.api.routing import ApiCall, endpoint
from portal.billing.charging import payment_method_for
from portal.customers.models import Customer
from portal.invoices import operations as ops
from portal.invoices.models import STATUSES, Invoice
from portal.objects import serialize, serialize_many
from portal.objects.invoice_preview import preview_id, serialize_invoice_preview
from portal.payments.gateway import get_gateway
from portal.payments.models import PaymentMethod
from portal.subscriptions import operations as sub_ops
from portal.subscriptions.models import COLLECTION_METHODS

OBJECT = "invoice"
TAG = "Invoices"
LIST = {
    **LIST_PARAMS,
    "customer": Id(),
    "subscription": Id(),
    "status": String(enum=STATUSES),
    "collection_method": String(enum=COLLECTION_METHODS),
}
PAY = {"payment_method": Id(description="The customer's card to charge; by default the "
                                        "subscription's, else the customer's default.")}
_ITEMS = List(item=Object(fields={"id": Id(), "price": Id(), "quantity": Integer(minimum=0),
                                  "deleted": Boolean()}), max_items=sub_ops.MAX_ITEMS)
_BEHAVIOR = String(enum=sub_ops.PRORATION_BEHAVIORS)
CREATE_PREVIEW = {
    "customer": Id(),
    "subscription": Id(),
    "subscription_details": Object(fields={
        "items": _ITEMS,
        "proration_behavior": _BEHAVIOR,
        "proration_date": Timestamp(),
    }),
}
UPCOMING = {
    "customer": Id(),
    "subscription": Id(),
    "subscription_items": _ITEMS,
    "subscription_proration_behavior": _BEHAVIOR,
    "subscription_proration_date": Timestamp(),
}
# Stripe's card error codes that are their own code; every other decline is card_declined
# with the reason as decline_code.
_OWN_CODES = ("expired_card", "incorrect_cvc", "incorrect_number", "processing_error")


def _find(call: ApiCall, invoice_id: str) -> Invoice:
    invoice = call.session.get(Invoice, invoice_id)
    if invoice is None:
        raise not_found(OBJECT, invoice_id)
    return invoice


@endpoint("GET", "/invoices/<invoice_id>", returns=OBJECT, tag=TAG, summary="Retrieve an invoice")
def retrieve_invoice(call: ApiCall, invoice_id: str) -> dict:
    """One invoice, drafts included."""
    return serialize(call.session, _find(call, invoice_id))


@endpoint("GET", "/invoices", params=LIST, returns=f"list:{OBJECT}", tag=TAG,
          summary="List invoices")
def list_invoices(call: ApiCall) -> dict:
    """Invoices newest first, by customer, subscription, status or collection method."""
    query = select(Invoice)
    for name, column in (("customer", Invoice.customer_id),
                         ("subscription", Invoice.subscription_id),
                         ("status", Invoice.status),
                         ("collection_method", Invoice.collection_method)):
        if name in call:
            query = query.where(column == call[name])
    return paginate(call, query, Invoice, url="/v1/invoices", object_name=OBJECT,
                    serialize_many=lambda rows: serialize_many(call.session, rows))


def _charge_key(call: ApiCall, invoice: Invoice) -> str:
    """The charge's idempotency key: from the request's Idempotency-Key (so a retry, even
    after the API's replay window, charges once), else a fresh one. Prefixed with the invoice,
    hashed so any key the client sends fits."""
    given = call.idempotency_key
    part = (hashlib.sha256(given.encode()).hexdigest()[:40] if given
            else secrets.token_hex(20))
    return f"api:{invoice.id}:{part}"


def _declined(payment) -> ApiError:
    code = payment.failure_code or "card_declined"
    own = code in _OWN_CODES
    extra = {} if own else {"decline_code": code}
    return ApiError(402, str(ops.decline_message(payment)),
                    code=code if own else "card_declined", type="card_error", **extra)


@endpoint("POST", "/invoices/<invoice_id>/pay", params=PAY, returns=OBJECT, tag=TAG,
          summary="Pay an invoice")
def pay_invoice(call: ApiCall, invoice_id: str) -> dict:
    """Charge what is left on an open invoice to a card of its customer, once per
    Idempotency-Key. A decline is Stripe's 402 card_error (card_declined and its
    decline_code); the invoice stays open."""
    invoice = _find(call, invoice_id)
    if "payment_method" in call:
        method = call.session.get(PaymentMethod, call["payment_method"])
        if method is None:
            raise missing("payment_method", call["payment_method"], "payment_method")
    else:
        method = payment_method_for(invoice)
        if method is None:
            raise ApiError(400, "This customer has no default payment method to charge: give "
                           "payment_method.", code="invoice_no_payment_method_types",
                           param="payment_method")
    try:
        result = ops.charge_invoice(call.session, invoice, method,
                                    key=_charge_key(call, invoice), now=call.now,
                                    actor=call.actor, gateway=get_gateway())
    except ops.PaymentRefused as refusal:
        raise _pay_refused(refusal, invoice) from None
    if result.status == "failed" and result.payment is not None:
        raise _declined(result.payment)
    if result.status == "already_paid":
        raise ApiError(400, "Invoice is already paid.", code="invoice_already_paid")
    # succeeded (or still processing: the invoice says open until the processor answers)
    return serialize(call.session, _find(call, invoice_id))


def _pay_refused(refusal: ops.PaymentRefused, invoice: Invoice) -> ApiError:
    message = str(refusal.message)
    if refusal.code == "payment_method_unknown":
        return ApiError(400, "The payment method must be attached to the invoice's customer.",
                        code="resource_missing", param="payment_method")
    if refusal.code == "expired_card":
        return ApiError(402, message, code="expired_card", type="card_error",
                        param="payment_method")
    if refusal.code == "in_progress":
        return ApiError(409, message, code="invoice_payment_in_progress")
    if refusal.code == "key_reused":
        return ApiError(400, "This Idempotency-Key already paid this invoice with another "
                        "card.", type="idempotency_error")
    return ApiError(400, f"You cannot pay an invoice whose status is {invoice.status}.",
                    code="invoice_not_open")


@endpoint("POST", "/invoices/<invoice_id>/void", returns=OBJECT, tag=TAG,
          summary="Void an invoice")
def void_invoice(call: ApiCall, invoice_id: str) -> dict:
    """Void an open invoice: nothing more is collected, the balance it used is given back."""
    invoice = _find(call, invoice_id)
    try:
        ops.void_invoice(call.session, invoice, now=call.now, actor=call.actor)
    except ops.VoidRefused as refusal:
        status = 409 if refusal.code == "in_progress" else 400
        raise ApiError(status, refusal.message, code="invoice_not_open"
                       if refusal.code == "not_open" else None) from None
    return serialize(call.session, _find(call, invoice_id))


# ---- the upcoming invoice ------------------------------------------------------------------

def _preview(call: ApiCall, *, customer_id, subscription_id, items, behavior, proration_date,
             names: dict, invoice_id) -> dict:
    """The preview both endpoints answer: the subscription's next invoice, or what a change
    of its item would invoice (``names`` are the endpoint's own parameter names)."""
    session = call.session
    customer = None
    if customer_id is not None:
        customer = session.get(Customer, customer_id)
        if customer is None or customer.deleted:
            raise missing("customer", customer_id, "customer")
    if subscription_id is not None:
        subscription = find_subscription(call, subscription_id, names["subscription"])
        if customer is not None and subscription.customer_id != customer.id:
            raise ApiError(400, f"The subscription {subscription.id} does not belong to the "
                           f"customer {customer.id}.", param=names["subscription"])
        customer = subscription.customer
    elif customer is not None:
        if items is not None:
            raise ApiError(400, f"Give {names['subscription']} to preview a change of its "
                           "items: a new subscription cannot be previewed.",
                           param=names["subscription"])
        subscription = sub_ops.next_renewing_subscription(session, customer, call.now)
        if subscription is None:
            raise _none_upcoming(customer)
    else:
        raise ApiError(400, f"Missing required param: customer (or {names['subscription']}).",
                       code="parameter_missing", param="customer")
    if proration_date is not None and items is None:
        raise ApiError(400, f"{names['proration_date']} is only used with "
                       f"{names['items']}.", param=names["proration_date"])
    if proration_date is not None and behavior == "none":
        raise ApiError(400, f"{names['proration_date']} cannot be used with "
                       f"{names['proration_behavior']}=none.", param=names["proration_date"])
    price = quantity = None
    if items is not None:
        price, quantity = item_change(call, subscription, items, names["items"])
        # Worked out at the whole second the preview names, so an update sent with that
        # proration_date charges exactly what this shows.
        proration_date = proration_date or call.now.replace(microsecond=0)
    try:
        draft, reason, _plan = sub_ops.merchant_preview(
            session, subscription, now=call.now, change=items is not None, price=price,
            quantity=quantity, proration_behavior=behavior or "create_prorations",
            proration_date=proration_date)
    except sub_ops.SubscriptionRefused as refusal:
        raise refused(refusal, {"items": names["items"], "price": f"{names['items']}[0][price]",
                                "quantity": f"{names['items']}[0][quantity]",
                                "proration_behavior": names["proration_behavior"],
                                "proration_date": names["proration_date"]}) from None
    if draft is None:
        raise _none_upcoming(customer, subscription)
    return serialize_invoice_preview(
        session, draft, subscription=subscription, customer=customer, billing_reason=reason,
        now=call.now, invoice_id=preview_id(subscription) if invoice_id else None,
        proration_date=proration_date)


def _none_upcoming(customer: Customer, subscription=None) -> ApiError:
    whom = f"subscription: {subscription.id}" if subscription else f"customer: {customer.id}"
    return ApiError(404, f"No upcoming invoices for {whom}", code="invoice_upcoming_none")


@endpoint("POST", "/invoices/create_preview", params=CREATE_PREVIEW, returns=OBJECT, tag=TAG,
          summary="Preview the upcoming invoice")
def create_preview(call: ApiCall) -> dict:
    """The invoice a subscription bills next, or the one a change of its item would make
    (``subscription_details[items]``, proration behaviour and date): nothing is written."""
    details = call.get("subscription_details") or {}
    return _preview(call, customer_id=call.get("customer"),
                    subscription_id=call.get("subscription"), items=details.get("items"),
                    behavior=details.get("proration_behavior"),
                    proration_date=details.get("proration_date"), invoice_id=True,
                    names={"subscription": "subscription",
                           "items": "subscription_details[items]",
                           "proration_behavior": "subscription_details[proration_behavior]",
                           "proration_date": "subscription_details[proration_date]"})


@endpoint("GET", "/invoices/upcoming", params=UPCOMING, returns=OBJECT, tag=TAG,
          summary="Retrieve the upcoming invoice (older API versions)")
def upcoming_invoice(call: ApiCall) -> dict:
    """The older clients' preview: the same computation as create_preview, without an id."""
    return _preview(call, customer_id=call.get("customer"),
                    subscription_id=call.get("subscription"),
                    items=call.get("subscription_items"),
                    behavior=call.get("subscription_proration_behavior"),
                    proration_date=call.get("subscription_proration_date"), invoice_id=False,
                    names={"subscription": "subscription", "items": "subscription_items",
                           "proration_behavior": "subscription_proration_behavior",
                           "proration_date": "subscription_proration_date"})
