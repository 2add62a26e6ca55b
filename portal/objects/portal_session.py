"""Stripe's ``billing_portal.session`` from portal.portal_settings.models.PortalSession.

The URL is known only when the session is made (only the token's digest is stored): the
create call's answer passes it (``serialize_portal_session(..., url=created.url)``). Everywhere
else, the webhook event ``billing_portal.session.created`` and ``/v1/events`` included,
``url`` is null: a URL that signs a customer in must not sit in the events table or travel to
an endpoint, and it cannot be rebuilt from the digest.
"""

from __future__ import annotations

from portal.objects import schemas
from portal.objects.common import livemode, ts
from portal.objects.registry import serializer
from portal.portal_settings.models import PortalSession

OBJECT = "billing_portal.session"


@serializer(PortalSession, OBJECT)
def _serialize(session, record: PortalSession, ctx) -> dict:
    return serialize_portal_session(session, record)


def serialize_portal_session(session, record: PortalSession, *, url: str | None = None) -> dict:
    """The session as Stripe's API answers it; ``url`` only when the caller has it (the
    create call)."""
    return {
        "id": record.id,
        "object": OBJECT,
        "after_expiration": None,
        "configuration": record.configuration_id,
        "created": ts(record.created),
        "customer": record.customer_id,
        "customer_account": None,
        "flow": record.flow,
        "livemode": livemode(),
        "locale": record.locale,
        "on_behalf_of": None,
        "return_url": record.return_url,
        "url": url,
    }


_N_STRING = schemas.nullable(schemas.STRING)
_SUBSCRIPTION_ID = schemas._t("string", pattern="^sub_")
_FLOW = schemas.obj(
    "The deep-link flow the customer goes through (Stripe's session.flow).",
    after_completion=schemas.obj(
        hosted_confirmation=schemas.nullable(schemas.obj(custom_message=_N_STRING)),
        redirect=schemas.nullable(schemas.obj(return_url=schemas.STRING)),
        type=schemas.enum("hosted_confirmation", "portal_homepage", "redirect")),
    customer_update=schemas.ALWAYS_NULL,
    subscription_cancel=schemas.nullable(schemas.obj(
        retention=schemas.nullable(schemas.obj(
            coupon_offer=schemas.obj(coupon=schemas.STRING),
            type=schemas.const("coupon_offer"))),
        subscription=_SUBSCRIPTION_ID)),
    subscription_pause=schemas.ALWAYS_NULL,
    subscription_update=schemas.nullable(schemas.obj(subscription=_SUBSCRIPTION_ID)),
    subscription_update_confirm=schemas.nullable(schemas.obj(
        discounts=schemas.nullable(schemas.array(schemas.obj(
            coupon=_N_STRING, promotion_code=schemas.ALWAYS_NULL))),
        items=schemas.array(schemas.obj(id=schemas.STRING, price=_N_STRING,
                                        quantity=schemas.nullable(schemas.INTEGER))),
        subscription=_SUBSCRIPTION_ID)),
    type=schemas.enum("payment_method_update", "subscription_cancel", "subscription_update",
                      "subscription_update_confirm"),
)
SCHEMA = schemas.register(OBJECT, schemas.obj(
    "A link that signs one customer into the portal (Stripe's billing_portal.session object).",
    id=schemas._t("string", pattern="^bps_"), object=schemas.const(OBJECT),
    after_expiration=schemas.ALWAYS_NULL, configuration=schemas.STRING,
    created=schemas.TIMESTAMP, customer=schemas.STRING, customer_account=schemas.ALWAYS_NULL,
    flow=schemas.nullable(_FLOW), livemode=schemas.BOOLEAN,
    locale=_N_STRING, on_behalf_of=schemas.ALWAYS_NULL, return_url=_N_STRING,
    url=schemas.nullable(schemas._t("string", pattern="^https?://")),
))
