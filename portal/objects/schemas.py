"""JSON Schemas (OpenAPI 3.1 compatible) of exactly what the serializers in this package emit.

``SCHEMAS`` maps Stripe's ``object`` names ("customer", "billing_portal.configuration", ...)
to a schema; they point at each other with ``{"$ref": "#/components/schemas/<name>"}``, so
the API's OpenAPI document serves them as ``components.schemas`` unchanged. ``list_schema(name,
url)`` is a list object of one of them. ``standalone(name)`` is one schema with every other
it refers to, for a validator (tests/objects/ check every serializer's output with it).

Every property a serializer writes is listed and required, and no other is allowed: a field
added to a serializer must be added here, and the tests say so.
"""

from __future__ import annotations

from copy import deepcopy

REF = "#/components/schemas/"


# ---- building blocks ----------------------------------------------------------------------

def _t(kind: str, **extra) -> dict:
    return {"type": kind, **extra}


STRING = _t("string")
INTEGER = _t("integer")
BOOLEAN = _t("boolean")
NUMBER = _t("number")
TIMESTAMP = _t("integer", description="Unix timestamp (seconds)")
MONEY = _t("integer", description="Minor units of the currency")
CURRENCY = _t("string", pattern="^[a-z]{3}$", description="ISO 4217, lower case")
DECIMAL_STRING = _t("string", pattern=r"^-?[0-9]+(\.[0-9]+)?$")
METADATA = {"type": "object", "additionalProperties": {"type": "string"}}
ALWAYS_NULL = {"type": "null"}
EMPTY_LIST = {"type": "array", "maxItems": 0}


def nullable(schema: dict) -> dict:
    """``schema`` or null."""
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    result = deepcopy(schema)
    if "enum" in result:
        result["enum"] = [*result["enum"], None]
    kind = result.get("type")
    if isinstance(kind, str):
        result["type"] = [kind, "null"]
    elif isinstance(kind, list) and "null" not in kind:
        result["type"] = [*kind, "null"]
    return result


def enum(*values: str, nullable_: bool = False) -> dict:
    schema = {"type": "string", "enum": list(values)}
    return nullable(schema) if nullable_ else schema


def const(value) -> dict:
    return {"const": value}


def obj(doc: str | None = None, /, **properties) -> dict:
    """An object with exactly ``properties``, every one required; ``doc`` describes it."""
    schema = {"type": "object", "properties": properties, "required": sorted(properties),
              "additionalProperties": False}
    if doc:
        schema["description"] = doc
    return schema


def array(items: dict) -> dict:
    return {"type": "array", "items": items}


def ref(name: str) -> dict:
    return {"$ref": REF + name}


def list_schema(name: str, url_prefix: str | None = None) -> dict:
    """Stripe's list object of ``name`` objects."""
    url = _t("string", pattern="^" + url_prefix.replace(".", r"\.")) if url_prefix else STRING
    return obj(object=const("list"), data=array(ref(name)), has_more=BOOLEAN, url=url,
               total_count=INTEGER) | {"required": ["data", "has_more", "object", "url"]}


N_STRING = nullable(STRING)
N_INTEGER = nullable(INTEGER)
N_TIMESTAMP = nullable(TIMESTAMP)
N_BOOLEAN = nullable(BOOLEAN)
URL = _t("string", format="uri")
N_URL = nullable(URL)

ADDRESS = obj(city=N_STRING, country=N_STRING, line1=N_STRING, line2=N_STRING,
              postal_code=N_STRING, state=N_STRING)
SHIPPING = obj(address=nullable(ADDRESS), carrier=ALWAYS_NULL, name=N_STRING, phone=N_STRING,
               tracking_number=ALWAYS_NULL)
INTERVAL = enum("day", "week", "month", "year")
TAX_BEHAVIOR = enum("exclusive", "inclusive")
PRORATION_BEHAVIOR = enum("always_invoice", "create_prorations", "none")
CANCELLATION_REASONS = enum("customer_service", "low_quality", "missing_features", "other",
                            "switched_service", "too_complex", "too_expensive", "unused")
COLLECTION_METHOD = enum("charge_automatically", "send_invoice")
ISSUER = obj(type=const("self"))


# ---- objects ------------------------------------------------------------------------------

CUSTOMER = obj(
    "A customer (Stripe's customer object).",
    id=_t("string", pattern="^cus_"), object=const("customer"),
    address=nullable(ADDRESS), balance=MONEY, business_name=ALWAYS_NULL, created=TIMESTAMP,
    currency=nullable(CURRENCY), customer_account=ALWAYS_NULL, default_source=ALWAYS_NULL,
    delinquent=BOOLEAN, description=N_STRING, discount=ALWAYS_NULL, email=N_STRING,
    individual_name=ALWAYS_NULL, invoice_prefix=N_STRING,
    invoice_settings=obj(custom_fields=ALWAYS_NULL, default_payment_method=N_STRING,
                         footer=ALWAYS_NULL, rendering_options=ALWAYS_NULL),
    livemode=BOOLEAN, metadata=METADATA, name=N_STRING, next_invoice_sequence=ALWAYS_NULL,
    phone=N_STRING, preferred_locales=array(STRING), shipping=nullable(SHIPPING),
    tax_exempt=enum("exempt", "none", "reverse"), test_clock=ALWAYS_NULL,
)
DELETED_CUSTOMER = obj("A deleted customer.", id=_t("string", pattern="^cus_"),
                       object=const("customer"), deleted=const(True))

PAYMENT_METHOD = obj(
    "A saved card (Stripe's payment_method object; the portal keeps cards only).",
    id=_t("string", pattern="^pm_"), object=const("payment_method"),
    allow_redisplay=enum("always", "limited", "unspecified"),
    billing_details=obj(address=ADDRESS, email=ALWAYS_NULL, name=N_STRING, phone=ALWAYS_NULL,
                        tax_id=ALWAYS_NULL),
    card=obj(
        brand=STRING, checks=ALWAYS_NULL, country=N_STRING, display_brand=STRING,
        exp_month=_t("integer", minimum=1, maximum=12), exp_year=INTEGER,
        fingerprint=N_STRING, funding=enum("credit", "debit", "prepaid", "unknown"),
        generated_from=ALWAYS_NULL, last4=_t("string", pattern="^[0-9]{4}$"),
        networks=obj(available=array(STRING), preferred=ALWAYS_NULL),
        regulated_status=ALWAYS_NULL, three_d_secure_usage=ALWAYS_NULL, wallet=ALWAYS_NULL,
    ),
    created=TIMESTAMP, customer=N_STRING, customer_account=ALWAYS_NULL, livemode=BOOLEAN,
    metadata=METADATA, type=const("card"),
)

PRODUCT = obj(
    "A product (Stripe's product object).",
    id=_t("string", pattern="^prod_"), object=const("product"), active=BOOLEAN,
    created=TIMESTAMP, default_price=ALWAYS_NULL, description=N_STRING, images=array(URL),
    livemode=BOOLEAN, marketing_features=EMPTY_LIST, metadata=METADATA, name=STRING,
    package_dimensions=ALWAYS_NULL, shippable=ALWAYS_NULL, statement_descriptor=N_STRING,
    tax_code=N_STRING, type=const("service"), unit_label=N_STRING, updated=TIMESTAMP,
    url=ALWAYS_NULL,
)

RECURRING = obj(interval=INTERVAL, interval_count=_t("integer", minimum=1), meter=ALWAYS_NULL,
                trial_period_days=ALWAYS_NULL, usage_type=const("licensed"))
PRICE = obj(
    "A price (Stripe's price object).",
    id=_t("string", pattern="^price_"), object=const("price"), active=BOOLEAN,
    billing_scheme=const("per_unit"), created=TIMESTAMP, currency=CURRENCY,
    custom_unit_amount=ALWAYS_NULL, livemode=BOOLEAN, lookup_key=N_STRING, metadata=METADATA,
    nickname=N_STRING, product=_t("string", pattern="^prod_"), recurring=nullable(RECURRING),
    tax_behavior=enum("exclusive", "inclusive", "unspecified"), tiers_mode=ALWAYS_NULL,
    transform_quantity=ALWAYS_NULL, type=enum("one_time", "recurring"),
    unit_amount=_t("integer", minimum=0), unit_amount_decimal=DECIMAL_STRING,
)
PLAN = obj(
    "The legacy plan Stripe still nests beside a recurring price (same id).",
    id=_t("string", pattern="^price_"), object=const("plan"), active=BOOLEAN,
    amount=_t("integer", minimum=0), amount_decimal=DECIMAL_STRING,
    billing_scheme=const("per_unit"), created=TIMESTAMP, currency=CURRENCY, interval=INTERVAL,
    interval_count=_t("integer", minimum=1), livemode=BOOLEAN, metadata=METADATA,
    meter=ALWAYS_NULL, nickname=N_STRING, product=_t("string", pattern="^prod_"),
    tiers_mode=ALWAYS_NULL, transform_usage=ALWAYS_NULL, trial_period_days=ALWAYS_NULL,
    usage_type=const("licensed"),
)

COUPON = obj(
    "A coupon (Stripe's coupon object).",
    id=STRING, object=const("coupon"), amount_off=nullable(_t("integer", minimum=1)),
    applies_to=ALWAYS_NULL, created=TIMESTAMP, currency=nullable(CURRENCY),
    duration=enum("forever", "once", "repeating"), duration_in_months=N_INTEGER,
    livemode=BOOLEAN, max_redemptions=ALWAYS_NULL, metadata=METADATA, name=N_STRING,
    percent_off=nullable(_t("number", exclusiveMinimum=0, maximum=100)), redeem_by=ALWAYS_NULL,
    times_redeemed=_t("integer", minimum=0), valid=BOOLEAN,
)
DISCOUNT = obj(
    "The discount a subscription carries (Stripe's discount object).",
    id=_t("string", pattern="^di_"), object=const("discount"), checkout_session=ALWAYS_NULL,
    coupon=ref("coupon"), customer=STRING, customer_account=ALWAYS_NULL, end=N_TIMESTAMP,
    invoice=ALWAYS_NULL, invoice_item=ALWAYS_NULL, promotion_code=ALWAYS_NULL,
    source=obj(coupon=STRING, type=const("coupon")), start=TIMESTAMP,
    subscription=_t("string", pattern="^sub_"), subscription_item=ALWAYS_NULL,
)

SUBSCRIPTION_ITEM = obj(
    "One price of a subscription, with its quantity (Stripe's subscription_item object).",
    id=_t("string", pattern="^si_"), object=const("subscription_item"),
    billed_until=ALWAYS_NULL, billing_thresholds=ALWAYS_NULL, created=TIMESTAMP,
    current_period_end=TIMESTAMP, current_period_start=TIMESTAMP, current_trial=ALWAYS_NULL,
    discounts=EMPTY_LIST, metadata=METADATA, plan=nullable(ref("plan")), price=ref("price"),
    quantity=_t("integer", minimum=0), subscription=_t("string", pattern="^sub_"),
    tax_rates=EMPTY_LIST,
)

SUBSCRIPTION_STATUS = enum("active", "canceled", "incomplete", "incomplete_expired",
                           "past_due", "paused", "trialing", "unpaid")
SUBSCRIPTION = obj(
    "A subscription (Stripe's subscription object, with current_period_start/end kept at the "
    "top level as before 2025).",
    id=_t("string", pattern="^sub_"), object=const("subscription"),
    application=ALWAYS_NULL, application_fee_percent=ALWAYS_NULL,
    automatic_tax=obj(disabled_reason=ALWAYS_NULL, enabled=const(False), liability=ALWAYS_NULL),
    billing_cycle_anchor=TIMESTAMP, billing_cycle_anchor_config=ALWAYS_NULL,
    billing_mode=obj(flexible=ALWAYS_NULL, type=const("classic"), updated_at=ALWAYS_NULL),
    billing_thresholds=ALWAYS_NULL, cancel_at=N_TIMESTAMP, cancel_at_period_end=BOOLEAN,
    canceled_at=N_TIMESTAMP,
    cancellation_details=obj(
        comment=N_STRING, feedback=nullable(CANCELLATION_REASONS),
        reason=enum("canceled_by_retention_policy", "cancellation_requested",
                    "payment_disputed", "payment_failed", nullable_=True)),
    collection_method=COLLECTION_METHOD, created=TIMESTAMP, currency=CURRENCY,
    current_period_end=TIMESTAMP, current_period_start=TIMESTAMP,
    customer=_t("string", pattern="^cus_"), customer_account=ALWAYS_NULL,
    days_until_due=N_INTEGER, default_payment_method=N_STRING, default_source=ALWAYS_NULL,
    default_tax_rates=EMPTY_LIST, description=ALWAYS_NULL, discount=nullable(ref("discount")),
    discounts=array(_t("string", pattern="^di_")), ended_at=N_TIMESTAMP,
    invoice_settings=obj(account_tax_ids=ALWAYS_NULL, custom_fields=ALWAYS_NULL,
                         description=ALWAYS_NULL, footer=ALWAYS_NULL, issuer=ISSUER),
    items=list_schema("subscription_item", "/v1/subscription_items"),
    latest_invoice=N_STRING, livemode=BOOLEAN, metadata=METADATA,
    next_pending_invoice_item_invoice=ALWAYS_NULL, on_behalf_of=ALWAYS_NULL,
    pause_collection=nullable(obj(behavior=enum("keep_as_draft", "mark_uncollectible", "void"),
                                  resumes_at=N_TIMESTAMP)),
    payment_settings=obj(payment_method_options=ALWAYS_NULL, payment_method_types=ALWAYS_NULL,
                         save_default_payment_method=enum("off", "on_subscription")),
    pending_invoice_item_interval=ALWAYS_NULL, pending_setup_intent=ALWAYS_NULL,
    pending_update=ALWAYS_NULL, schedule=ALWAYS_NULL, start_date=TIMESTAMP,
    status=SUBSCRIPTION_STATUS, test_clock=ALWAYS_NULL, transfer_data=ALWAYS_NULL,
    trial_end=N_TIMESTAMP,
    trial_settings=obj(end_behavior=obj(
        missing_payment_method=enum("cancel", "create_invoice", "pause"))),
    trial_start=N_TIMESTAMP,
)

TAX = obj(amount=MONEY, tax_behavior=TAX_BEHAVIOR,
          tax_rate_details=nullable(obj(tax_rate=STRING)), taxability_reason=STRING,
          taxable_amount=MONEY, type=const("tax_rate_details"))
LEGACY_TAX_AMOUNT = obj(amount=MONEY, inclusive=BOOLEAN, tax_rate=N_STRING,
                        taxability_reason=ALWAYS_NULL, taxable_amount=MONEY)
DISCOUNT_AMOUNT = obj(amount=MONEY, discount=_t("string", pattern="^di_"))

LINE_ITEM = obj(
    "One line of an invoice (Stripe's line_item object, with the price, plan, proration, "
    "type and tax_amounts it carried before 2025).",
    id=STRING, object=const("line_item"), amount=MONEY, currency=CURRENCY,
    description=N_STRING, discount_amounts=array(DISCOUNT_AMOUNT), discountable=BOOLEAN,
    discounts=EMPTY_LIST, invoice=_t("string", pattern="^in_"), livemode=BOOLEAN,
    metadata=METADATA,
    parent=nullable(obj(
        invoice_item_details=ALWAYS_NULL,
        subscription_item_details=obj(invoice_item=ALWAYS_NULL, proration=BOOLEAN,
                                      proration_details=obj(credited_items=ALWAYS_NULL),
                                      subscription=N_STRING, subscription_item=STRING),
        type=const("subscription_item_details"))),
    period=obj(end=TIMESTAMP, start=TIMESTAMP), pretax_credit_amounts=EMPTY_LIST,
    pricing=obj(price_details=nullable(obj(price=STRING, product=STRING)),
                type=const("price_details"), unit_amount_decimal=DECIMAL_STRING),
    quantity=_t("integer", minimum=0), quantity_decimal=DECIMAL_STRING,
    subscription=N_STRING, subtotal=MONEY, taxes=array(TAX),
    plan=nullable(ref("plan")), price=nullable(ref("price")), proration=BOOLEAN,
    subscription_item=N_STRING, tax_amounts=array(LEGACY_TAX_AMOUNT),
    type=enum("invoiceitem", "subscription"),
)

INVOICE = obj(
    "An invoice (Stripe's invoice object, with subscription, paid, tax, subscription_details "
    "and total_tax_amounts kept at the top level as before 2025).",
    id=_t("string", pattern="^in_"), object=const("invoice"), account_country=ALWAYS_NULL,
    account_name=N_STRING, account_tax_ids=ALWAYS_NULL, amount_due=MONEY,
    amount_overpaid=const(0), amount_paid=MONEY, amount_remaining=MONEY,
    amount_shipping=const(0), application=ALWAYS_NULL, attempt_count=_t("integer", minimum=0),
    attempted=BOOLEAN, auto_advance=BOOLEAN,
    automatic_tax=obj(disabled_reason=ALWAYS_NULL, enabled=const(False), liability=ALWAYS_NULL,
                      provider=ALWAYS_NULL, status=ALWAYS_NULL),
    automatically_finalizes_at=ALWAYS_NULL,
    billing_reason=enum("automatic_pending_invoice_item_invoice", "manual", "quote_accept",
                        "subscription", "subscription_create", "subscription_cycle",
                        "subscription_threshold", "subscription_update", "upcoming",
                        nullable_=True),
    collection_method=COLLECTION_METHOD, confirmation_secret=ALWAYS_NULL, created=TIMESTAMP,
    currency=CURRENCY, custom_fields=ALWAYS_NULL, customer=_t("string", pattern="^cus_"),
    customer_account=ALWAYS_NULL, customer_address=nullable(ADDRESS), customer_email=N_STRING,
    customer_name=N_STRING, customer_phone=N_STRING, customer_shipping=nullable(SHIPPING),
    customer_tax_exempt=enum("exempt", "none", "reverse"),
    customer_tax_ids=array(obj(type=STRING, value=N_STRING)),
    default_payment_method=ALWAYS_NULL, default_source=ALWAYS_NULL,
    default_tax_rates=EMPTY_LIST, description=N_STRING,
    discounts=array(_t("string", pattern="^di_")), due_date=N_TIMESTAMP,
    effective_at=N_TIMESTAMP, ending_balance=nullable(MONEY), footer=ALWAYS_NULL,
    from_invoice=ALWAYS_NULL, hosted_invoice_url=N_URL, invoice_pdf=N_URL, issuer=ISSUER,
    last_finalization_error=ALWAYS_NULL, latest_revision=ALWAYS_NULL,
    lines=list_schema("line_item", "/v1/invoices/"), livemode=BOOLEAN, metadata=METADATA,
    next_payment_attempt=N_TIMESTAMP, number=N_STRING, on_behalf_of=ALWAYS_NULL,
    parent=nullable(obj(
        quote_details=ALWAYS_NULL,
        subscription_details=obj(metadata=METADATA, subscription=STRING,
                                 subscription_proration_date=ALWAYS_NULL),
        type=const("subscription_details"))),
    payment_settings=obj(default_mandate=ALWAYS_NULL, payment_method_options=ALWAYS_NULL,
                         payment_method_types=ALWAYS_NULL),
    period_end=TIMESTAMP, period_start=TIMESTAMP, post_payment_credit_notes_amount=const(0),
    pre_payment_credit_notes_amount=const(0), receipt_number=ALWAYS_NULL, rendering=ALWAYS_NULL,
    shipping_cost=ALWAYS_NULL, shipping_details=ALWAYS_NULL, starting_balance=MONEY,
    statement_descriptor=ALWAYS_NULL,
    status=enum("draft", "open", "paid", "uncollectible", "void"), status_details=ALWAYS_NULL,
    status_transitions=obj(finalized_at=N_TIMESTAMP, marked_uncollectible_at=N_TIMESTAMP,
                           paid_at=N_TIMESTAMP, voided_at=N_TIMESTAMP),
    subtotal=MONEY, subtotal_excluding_tax=MONEY, test_clock=ALWAYS_NULL,
    threshold_reason=ALWAYS_NULL, total=MONEY, total_discount_amounts=array(DISCOUNT_AMOUNT),
    total_excluding_tax=MONEY, total_pretax_credit_amounts=EMPTY_LIST, total_taxes=array(TAX),
    webhooks_delivered_at=ALWAYS_NULL,
    paid=BOOLEAN, subscription=N_STRING,
    subscription_details=nullable(obj(metadata=METADATA)), tax=MONEY,
    total_tax_amounts=array(LEGACY_TAX_AMOUNT),
)

PORTAL_CONFIGURATION = obj(
    "What the customer portal offers (Stripe's billing_portal.configuration object).",
    id=_t("string", pattern="^bpc_"), object=const("billing_portal.configuration"),
    active=BOOLEAN, application=ALWAYS_NULL,
    business_profile=obj(headline=N_STRING, privacy_policy_url=N_STRING,
                         terms_of_service_url=N_STRING),
    created=TIMESTAMP, default_return_url=N_STRING,
    features=obj(
        customer_update=obj(
            allowed_updates=array(enum("address", "email", "name", "phone", "shipping",
                                       "tax_id")),
            enabled=BOOLEAN),
        invoice_history=obj(enabled=BOOLEAN),
        payment_method_update=obj(enabled=BOOLEAN, payment_method_configuration=ALWAYS_NULL),
        subscription_cancel=obj(
            cancellation_reason=obj(enabled=BOOLEAN, options=array(CANCELLATION_REASONS)),
            enabled=BOOLEAN, mode=enum("at_period_end", "immediately"),
            proration_behavior=PRORATION_BEHAVIOR),
        subscription_pause=obj(enabled=const(False)),
        subscription_update=obj(
            billing_cycle_anchor=ALWAYS_NULL,
            default_allowed_updates=array(enum("price", "promotion_code", "quantity")),
            enabled=BOOLEAN,
            products=array(obj(
                adjustable_quantity=obj(enabled=BOOLEAN, maximum=N_INTEGER, minimum=INTEGER),
                prices=array(STRING), product=STRING)),
            proration_behavior=PRORATION_BEHAVIOR,
            schedule_at_period_end=obj(conditions=array(obj(
                type=enum("decreasing_item_amount", "shortening_interval")))),
            trial_update_behavior=enum("continue_trial", "end_trial")),
    ),
    is_default=BOOLEAN, livemode=BOOLEAN,
    login_page=obj(enabled=BOOLEAN, url=N_URL), metadata=METADATA, name=ALWAYS_NULL,
    updated=TIMESTAMP,
)

SCHEMAS: dict[str, dict] = {
    "customer": {"oneOf": [CUSTOMER, DELETED_CUSTOMER]},
    "payment_method": PAYMENT_METHOD,
    "product": PRODUCT,
    "price": PRICE,
    "plan": PLAN,
    "coupon": COUPON,
    "discount": DISCOUNT,
    "subscription_item": SUBSCRIPTION_ITEM,
    "subscription": SUBSCRIPTION,
    "line_item": LINE_ITEM,
    "invoice": INVOICE,
    "billing_portal.configuration": PORTAL_CONFIGURATION,
}


def register(name: str, schema: dict) -> dict:
    """Add the schema of an object another module serializes (billing_portal.session...)."""
    SCHEMAS[name] = schema
    return schema


def components() -> dict:
    """``components.schemas`` of the OpenAPI document: every schema here (a copy)."""
    return deepcopy(SCHEMAS)


def standalone(name: str) -> dict:
    """A self-contained schema of ``name`` objects (the ``$ref``s resolve inside it), for any
    JSON Schema 2020-12 validator; tests/objects/ validate every serializer's output with it."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": REF + name, "components": {"schemas": components()}}
