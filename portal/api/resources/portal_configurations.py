"""/v1/billing_portal/configurations: what customers may do in the portal."""

from __future__ import annotations

from sqlalchemy import select

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
    merged_metadata,
)
from portal.api.routing import ApiCall, endpoint
from portal.objects import serialize, serialize_many
from portal.portal_settings import operations as ops
from portal.portal_settings.models import ALLOWED_CUSTOMER_UPDATES, PortalConfiguration

OBJECT = "billing_portal.configuration"
_URL = String(max_length=ops.URL_MAX_LENGTH, nullable=True)
_BUSINESS_PROFILE = Object(fields={
    "headline": String(max_length=ops.HEADLINE_MAX_LENGTH, nullable=True),
    "privacy_policy_url": _URL,
    "terms_of_service_url": _URL,
})
_FEATURES = Object(fields={
    "customer_update": Object(fields={
        "enabled": Boolean(),
        "allowed_updates": List(item=String(enum=ALLOWED_CUSTOMER_UPDATES), nullable=True),
    }),
    "invoice_history": Object(fields={"enabled": Boolean(required=True)}),
    "payment_method_update": Object(fields={"enabled": Boolean(required=True)}),
    "subscription_cancel": Object(fields={
        "enabled": Boolean(),
        "mode": String(enum=ops.CANCEL_MODES),
        "proration_behavior": String(enum=ops.CANCEL_PRORATION_BEHAVIORS),
        "cancellation_reason": Object(fields={
            "enabled": Boolean(required=True),
            "options": List(item=String(enum=ops.CANCELLATION_REASONS), nullable=True),
        }),
    }),
    "subscription_update": Object(fields={
        "enabled": Boolean(),
        "default_allowed_updates": List(item=String(enum=ops.SUBSCRIPTION_UPDATES),
                                        nullable=True),
        "products": List(item=Object(fields={
            "product": Id(required=True),
            "prices": List(item=Id(), required=True),
            "adjustable_quantity": Object(fields={
                "enabled": Boolean(required=True),
                "minimum": Integer(
                    minimum=ops.QUANTITY_MINIMUM, maximum=ops.QUANTITY_MAXIMUM),
                "maximum": Integer(
                    minimum=ops.QUANTITY_MINIMUM, maximum=ops.QUANTITY_MAXIMUM),
            }),
        }), nullable=True),
        "proration_behavior": String(enum=ops.UPDATE_PRORATION_BEHAVIORS),
        "schedule_at_period_end": Object(fields={
            "conditions": List(item=Object(fields={
                "type": String(enum=ops.SCHEDULE_CONDITIONS, required=True)}), nullable=True),
        }),
        "trial_update_behavior": String(enum=ops.TRIAL_UPDATE_BEHAVIORS),
    }),
})
_LOGIN_PAGE = Object(fields={"enabled": Boolean(required=True)})

CREATE = {
    "business_profile": _BUSINESS_PROFILE,
    "default_return_url": _URL,
    "features": Object(required=True, fields=_FEATURES.fields),
    "login_page": _LOGIN_PAGE,
    "metadata": Metadata(),
}
UPDATE = {
    "active": Boolean(),
    "business_profile": _BUSINESS_PROFILE,
    "default_return_url": _URL,
    "features": _FEATURES,
    "login_page": _LOGIN_PAGE,
    "metadata": Metadata(),
}
LIST = {**LIST_PARAMS, "active": Boolean(), "is_default": Boolean()}

# Stripe's parameter for each column update_configuration checks (its refusals name columns).
_PARAM_OF = {
    "headline": "business_profile[headline]",
    "privacy_policy_url": "business_profile[privacy_policy_url]",
    "terms_of_service_url": "business_profile[terms_of_service_url]",
    "default_return_url": "default_return_url",
    "customer_update_enabled": "features[customer_update][enabled]",
    "customer_update_allowed": "features[customer_update][allowed_updates]",
    "invoice_history_enabled": "features[invoice_history][enabled]",
    "payment_method_update_enabled": "features[payment_method_update][enabled]",
    "subscription_cancel_enabled": "features[subscription_cancel][enabled]",
    "subscription_cancel_mode": "features[subscription_cancel][mode]",
    "subscription_cancel_proration_behavior": "features[subscription_cancel][proration_behavior]",
    "cancellation_reason_enabled": "features[subscription_cancel][cancellation_reason][enabled]",
    "cancellation_reason_options": "features[subscription_cancel][cancellation_reason][options]",
    "subscription_update_enabled": "features[subscription_update][enabled]",
    "subscription_update_default_allowed_updates":
        "features[subscription_update][default_allowed_updates]",
    "subscription_update_products": "features[subscription_update][products]",
    "subscription_update_proration_behavior": "features[subscription_update][proration_behavior]",
    "schedule_at_period_end_conditions":
        "features[subscription_update][schedule_at_period_end][conditions]",
    "trial_update_behavior": "features[subscription_update][trial_update_behavior]",
    "active": "active",
}


def _changes(call: ApiCall) -> dict:
    """Stripe's nested parameters as the configuration's columns."""
    changes: dict = {}

    def put(column, value):
        changes[column] = None if value is UNSET else value

    profile = call.get("business_profile") or {}
    for name in ("headline", "privacy_policy_url", "terms_of_service_url"):
        if name in profile:
            put(name, profile[name])
    if "default_return_url" in call:
        put("default_return_url", call["default_return_url"])
    features = call.get("features") or {}
    update = features.get("customer_update") or {}
    if "enabled" in update:
        changes["customer_update_enabled"] = update["enabled"]
    if "allowed_updates" in update:
        changes["customer_update_allowed"] = _codes(update["allowed_updates"])
    for feature in ("invoice_history", "payment_method_update"):
        if feature in features:
            changes[f"{feature}_enabled"] = features[feature]["enabled"]
    cancel = features.get("subscription_cancel") or {}
    if "enabled" in cancel:
        changes["subscription_cancel_enabled"] = cancel["enabled"]
    if "mode" in cancel:
        changes["subscription_cancel_mode"] = cancel["mode"]
    if "proration_behavior" in cancel:
        changes["subscription_cancel_proration_behavior"] = cancel["proration_behavior"]
    reason = cancel.get("cancellation_reason") or {}
    if "enabled" in reason:
        changes["cancellation_reason_enabled"] = reason["enabled"]
    if "options" in reason:
        changes["cancellation_reason_options"] = _codes(reason["options"])
    plans = features.get("subscription_update") or {}
    if "enabled" in plans:
        changes["subscription_update_enabled"] = plans["enabled"]
    if "default_allowed_updates" in plans:
        changes["subscription_update_default_allowed_updates"] = _codes(
            plans["default_allowed_updates"])
    if "products" in plans:
        changes["subscription_update_products"] = [] if plans["products"] is UNSET else [
            {"product": entry["product"], "prices": entry["prices"],
             **({"adjustable_quantity": entry["adjustable_quantity"]}
                if "adjustable_quantity" in entry else {})}
            for entry in plans["products"]]
    if "proration_behavior" in plans:
        changes["subscription_update_proration_behavior"] = plans["proration_behavior"]
    schedule = plans.get("schedule_at_period_end") or {}
    if "conditions" in schedule:
        changes["schedule_at_period_end_conditions"] = _codes(
            [] if schedule["conditions"] is UNSET else [c["type"] for c in schedule["conditions"]])
    if "trial_update_behavior" in plans:
        changes["trial_update_behavior"] = plans["trial_update_behavior"]
    return changes


def _codes(value) -> list:
    return [] if value is UNSET else list(value)


def _refused(refusal: ops.ConfigurationRefused) -> ApiError:
    name, message = next(iter(refusal.problems.items()))
    if name.startswith("product:"):
        param = _PARAM_OF["subscription_update_products"]
    else:
        param = _PARAM_OF.get(name, name)
    return ApiError(400, str(message), code="parameter_invalid", param=param)


def _find(call: ApiCall, configuration_id: str) -> PortalConfiguration:
    config = call.session.get(PortalConfiguration, configuration_id)
    if config is None:
        raise not_found(OBJECT, configuration_id)
    return config


def _details(call: ApiCall, config: PortalConfiguration) -> None:
    """``active``, ``login_page`` and ``metadata``: what update_configuration does not take.
    The portal's login page is its one login link (managed in the dashboard); a
    configuration says whether it is offered."""
    login = call.get("login_page")
    metadata = merged_metadata(config.metadata_, call["metadata"]) if "metadata" in call else None
    if "active" in call or login or metadata is not None:
        ops.set_configuration_details(call.session, config, active=call.get("active"),
                                      metadata=metadata,
                                      login_page_enabled=login["enabled"] if login else None,
                                      now=call.now, actor=call.actor)


@endpoint("POST", "/billing_portal/configurations", params=CREATE, returns=OBJECT,
          summary="Create a portal configuration", tag="Billing portal")
def create_configuration(call: ApiCall) -> dict:
    """Create a configuration; sessions may name it instead of the default."""
    try:
        config = ops.create_configuration(
            call.session, changes=_changes(call),
            metadata=merged_metadata({}, call["metadata"]) if "metadata" in call else None,
            login_page_enabled=(call.get("login_page") or {}).get("enabled", False),
            now=call.now, actor=call.actor)
    except ops.ConfigurationRefused as refusal:
        raise _refused(refusal) from None
    return serialize(call.session, config)


@endpoint("GET", "/billing_portal/configurations/<configuration_id>", returns=OBJECT,
          summary="Retrieve a portal configuration", tag="Billing portal")
def retrieve_configuration(call: ApiCall, configuration_id: str) -> dict:
    """One configuration."""
    return serialize(call.session, _find(call, configuration_id))


@endpoint("POST", "/billing_portal/configurations/<configuration_id>", params=UPDATE,
          returns=OBJECT, summary="Update a portal configuration", tag="Billing portal")
def update_configuration(call: ApiCall, configuration_id: str) -> dict:
    """Change what customers may do; only the parameters sent change."""
    config = _find(call, configuration_id)
    try:
        changes = _changes(call)
        if changes:
            ops.update_configuration(call.session, config, changes=changes, now=call.now,
                                     actor=call.actor)
        _details(call, config)
    except ops.ConfigurationRefused as refusal:
        raise _refused(refusal) from None
    return serialize(call.session, config)


@endpoint("GET", "/billing_portal/configurations", params=LIST,
          returns=f"list:{OBJECT}", summary="List portal configurations", tag="Billing portal")
def list_configurations(call: ApiCall) -> dict:
    """Every configuration, newest first; ``active`` and ``is_default`` filter."""
    query = select(PortalConfiguration)
    if "active" in call:
        query = query.where(PortalConfiguration.active.is_(call["active"]))
    if "is_default" in call:
        query = query.where(PortalConfiguration.is_default.is_(call["is_default"]))
    return paginate(call, query, PortalConfiguration, url="/v1/billing_portal/configurations",
                    object_name=OBJECT,
                    serialize_many=lambda rows: serialize_many(call.session, rows))
