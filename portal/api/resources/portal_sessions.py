"""/v1/billing_portal/sessions: a link that signs one customer straight into the portal."""

from __future__ import annotations

from flask import current_app

from portal.api.errors import ApiError
from portal.api.params import Id, Integer, List, Object, String
from portal.api.routing import ApiCall, endpoint
from portal.objects.portal_session import serialize_portal_session
from portal.portal_settings import sessions as ops

OBJECT = "billing_portal.session"
_SUBSCRIPTION = Id(required=True)
_AFTER_COMPLETION = Object(fields={
    "type": String(enum=ops.AFTER_COMPLETION_TYPES, required=True),
    "redirect": Object(fields={"return_url": String(max_length=500, required=True)}),
    "hosted_confirmation": Object(fields={
        "custom_message": String(max_length=ops.CUSTOM_MESSAGE_MAX_LENGTH)}),
})
FLOW_DATA = Object(fields={
    "type": String(enum=ops.FLOW_TYPES, required=True),
    "after_completion": _AFTER_COMPLETION,
    "subscription_cancel": Object(fields={
        "subscription": _SUBSCRIPTION,
        "retention": Object(fields={
            "type": String(enum=("coupon_offer",), required=True),
            "coupon_offer": Object(fields={"coupon": Id(required=True)}, required=True),
        }),
    }),
    "subscription_update": Object(fields={"subscription": _SUBSCRIPTION}),
    "subscription_update_confirm": Object(fields={
        "subscription": _SUBSCRIPTION,
        "items": List(item=Object(fields={"id": Id(required=True), "price": Id(),
                                          "quantity": Integer(minimum=0, maximum=9999)}),
                      required=True, max_items=20),
        "discounts": List(item=Object(fields={"coupon": Id(), "promotion_code": Id()}),
                          max_items=20),
    }),
})
CREATE = {
    "customer": Id(required=True, description="The customer to sign in."),
    "return_url": String(max_length=500, description="Where the portal's back link goes; "
                         "the configuration's default_return_url when not given."),
    "configuration": Id(description="The configuration in force; the default otherwise."),
    "locale": String(enum=ops.STRIPE_LOCALES, description="The portal's language; auto (the "
                     "customer's browser) when not given."),
    "flow_data": FLOW_DATA,
}


@endpoint("POST", "/billing_portal/sessions", params=CREATE, returns=OBJECT,
          summary="Create a portal session", tag="Billing portal")
def create_session(call: ApiCall) -> dict:
    """A URL that signs the customer in once, within 5 minutes; with flow_data, a deep link
    into one flow that then does what after_completion says."""
    try:
        created = ops.create_portal_session(
            call.session, customer=call["customer"], return_url=call.get("return_url"),
            configuration=call.get("configuration"), locale=call.get("locale"),
            flow_data=call.get("flow_data"), now=call.now, actor=call.actor,
            base_url=current_app.config["PUBLIC_URL"])
    except ops.PortalSessionRefused as refusal:
        # A parameter naming nothing is a 400 on Stripe (a 404 is for the URL's own id).
        raise ApiError(400, refusal.message, code=refusal.code or "parameter_invalid",
                       param=refusal.param) from None
    return serialize_portal_session(call.session, created.portal_session, url=created.url)
