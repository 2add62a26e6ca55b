"""/v1/payment_methods: a customer's cards, listed, retrieved and detached.

Cards are added by customers themselves in the portal (the merchant sends them there with a
portal session whose flow is ``payment_method_update``): the portal never takes card numbers
from a merchant's server, so creating and attaching payment methods here is refused with that
reason. Detaching follows Stripe, not the portal's rule for customers: the merchant may detach
a customer's last card even while a subscription is charged with it (the subscription is then
left without a card, and its next charge fails into the usual dunning).
"""

from __future__ import annotations

from sqlalchemy import select

from portal.api.errors import ApiError, not_found
from portal.api.lists import paginate
from portal.api.params import LIST_PARAMS, Id, Refused, String
from portal.api.resources.customers import find_customer
from portal.api.routing import ApiCall, endpoint
from portal.customers.models import Customer
from portal.objects import serialize, serialize_many
from portal.payments import operations as ops
from portal.payments.gateway import get_gateway
from portal.payments.models import PaymentMethod

OBJECT = "payment_method"
TAG = "Payment methods"
CARDS_IN_PORTAL = ("Cards are added by customers themselves, in the portal: this API never "
                   "takes card numbers. Create a billing portal session (POST "
                   "/v1/billing_portal/sessions) with flow_data[type]=payment_method_update "
                   "and send the customer to its url.")

_TYPE = String(max_length=40, description="Only card payment methods exist here.")
LIST_FOR_CUSTOMER = {**LIST_PARAMS, "type": _TYPE}
LIST = {**LIST_PARAMS, "customer": Id(required=True), "type": _TYPE}


# Whatever a client sends to create or attach a card is refused with the reason (never as an
# "unknown parameter"); no value is echoed back.
_NO_CARDS = {name: Refused(reason=CARDS_IN_PORTAL) for name in (
    "type", "card", "customer", "payment_method", "billing_details", "metadata",
    "allow_redisplay", "radar_options", "us_bank_account", "sepa_debit")}


def _cards(call: ApiCall, customer: Customer, url: str) -> dict:
    query = select(PaymentMethod).where(PaymentMethod.customer_id == customer.id,
                                        PaymentMethod.detached_at.is_(None))
    if "type" in call:
        query = query.where(PaymentMethod.type == call["type"])
    return paginate(call, query, PaymentMethod, url=url, object_name=OBJECT,
                    serialize_many=lambda rows: serialize_many(call.session, rows))


def _find(call: ApiCall, payment_method_id: str) -> PaymentMethod:
    method = call.session.get(PaymentMethod, payment_method_id)
    if method is None:
        raise not_found("PaymentMethod", payment_method_id)
    return method


@endpoint("GET", "/payment_methods", params=LIST, returns=f"list:{OBJECT}",
          summary="List a customer's payment methods", tag=TAG)
def list_payment_methods(call: ApiCall) -> dict:
    """The customer's attached cards, newest first."""
    customer = find_customer(call, call["customer"], param="customer")
    return _cards(call, customer, "/v1/payment_methods")


@endpoint("GET", "/customers/<customer_id>/payment_methods", params=LIST_FOR_CUSTOMER,
          returns=f"list:{OBJECT}", summary="List a customer's payment methods", tag=TAG)
def list_customer_payment_methods(call: ApiCall, customer_id: str) -> dict:
    """The customer's attached cards, newest first."""
    customer = find_customer(call, customer_id)
    return _cards(call, customer, f"/v1/customers/{customer.id}/payment_methods")


@endpoint("GET", "/payment_methods/<payment_method_id>", returns=OBJECT,
          summary="Retrieve a payment method", tag=TAG)
def retrieve_payment_method(call: ApiCall, payment_method_id: str) -> dict:
    """One card; a detached one has ``customer: null``."""
    return serialize(call.session, _find(call, payment_method_id))


@endpoint("POST", "/payment_methods/<payment_method_id>/detach", returns=OBJECT,
          summary="Detach a payment method", tag=TAG)
def detach_payment_method(call: ApiCall, payment_method_id: str) -> dict:
    """Take the card off its customer (for good: it cannot be attached again). A default card
    is replaced by the customer's newest working card, and live subscriptions paid with it
    move to that card."""
    method = _find(call, payment_method_id)
    customer = call.session.get(Customer, method.customer_id) if method.customer_id else None
    if customer is None or method.detached_at is not None:
        raise ApiError(400, "The payment method you provided is not attached to a customer so "
                       "detachment is impossible.", code="payment_method_unexpected_state")
    try:
        ops.detach_payment_method(call.session, customer, method, now=call.now,
                                  actor=call.actor, gateway=get_gateway(),
                                  keep_last_card=False)
    except ops.PaymentMethodRefused as refusal:
        raise ApiError(400, str(refusal.message),
                       code="payment_method_unexpected_state") from None
    return serialize(call.session, method)


@endpoint("POST", "/payment_methods", params=_NO_CARDS, returns=OBJECT,
          summary="Create a payment method (refused: cards are added in the portal)", tag=TAG)
def create_payment_method(call: ApiCall) -> dict:
    """Refused: see CARDS_IN_PORTAL."""
    raise ApiError(400, CARDS_IN_PORTAL, code="parameter_unknown")


@endpoint("POST", "/payment_methods/<payment_method_id>/attach", params=_NO_CARDS,
          returns=OBJECT, summary="Attach a payment method (refused: cards are added in the "
          "portal)", tag=TAG)
def attach_payment_method(call: ApiCall, payment_method_id: str) -> dict:
    """Refused: see CARDS_IN_PORTAL."""
    raise ApiError(400, CARDS_IN_PORTAL, code="parameter_unknown")
