"""Billing portal sessions (Stripe's billing_portal.session): made by the merchant's server,
followed once by the customer's browser.

``create_portal_session`` checks its parameters exactly as Stripe's POST
/v1/billing_portal/sessions does and refuses with ``PortalSessionRefused`` naming the
parameter by Stripe's path (``flow_data[subscription_cancel][subscription]``), so the API
answers in Stripe's error shape. Its messages are the API's, in English like Stripe's.

The URL, ``PUBLIC_URL`` + ``/p/session/<token>``, is known only when the session is made: only
the token's SHA-256 is stored. ``redeem`` marks it used with one compare-and-set UPDATE, so
two parallel visits cannot both sign in, and refuses it 5 minutes after it was made.

No Flask request is read here: callers pass the session, ``now`` and the ``actor``.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal.customers.models import Customer
from portal.events import raise_event
from portal.portal_settings.models import PortalConfiguration, PortalSession
from portal.portal_settings.operations import URL_MAX_LENGTH, default_configuration

# Unused, the URL stops working this long after the session was made (Stripe: 5 minutes).
SESSION_URL_LIFETIME = timedelta(minutes=5)
URL_PATH = "/p/session/"

# Stripe's billing_portal.session locales (stripe-python 16.1.0), "auto" included.
STRIPE_LOCALES = (
    "auto", "bg", "cs", "da", "de", "el", "en", "en-AU", "en-CA", "en-GB", "en-IE", "en-IN",
    "en-NZ", "en-SG", "es", "es-419", "et", "fi", "fil", "fr", "fr-CA", "hr", "hu", "id", "it",
    "ja", "ko", "lt", "lv", "ms", "mt", "nb", "nl", "pl", "pt", "pt-BR", "ro", "ru", "sk", "sl",
    "sv", "th", "tr", "vi", "zh", "zh-HK", "zh-TW",
)
FLOW_TYPES = ("payment_method_update", "subscription_cancel", "subscription_update",
              "subscription_update_confirm")
AFTER_COMPLETION_TYPES = ("hosted_confirmation", "portal_homepage", "redirect")
# Stripe's session.flow carries a (null) entry for every flow type it knows.
_FLOW_ENTRIES = ("customer_update", "subscription_cancel", "subscription_pause",
                 "subscription_update", "subscription_update_confirm")
CUSTOM_MESSAGE_MAX_LENGTH = 500  # Stripe's limit for hosted_confirmation.custom_message


class PortalSessionRefused(ValueError):
    """The session was not made. ``param`` is Stripe's path of the parameter at fault
    (``return_url``, ``flow_data[type]``); ``code`` Stripe's error code where it has one
    (``resource_missing`` for an id that names nothing)."""

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


@dataclass(frozen=True)
class CreatedPortalSession:
    """A session just made, with the URL that signs its customer in (shown only now)."""

    portal_session: PortalSession
    token: str
    url: str


def token_digest(token: str) -> str:
    """What is stored for a session URL's token: its SHA-256, so a copy of the table (or a
    backup) opens no one's portal."""
    return hashlib.sha256(token.encode()).hexdigest()


def session_url(token: str, *, base: str) -> str:
    """The absolute URL of a session (``base`` is PUBLIC_URL)."""
    return base.rstrip("/") + URL_PATH + token


# ---- creating --------------------------------------------------------------------------------

def create_portal_session(session: Session, *, customer: Customer | str,
                          return_url: str | None = None, configuration: str | None = None,
                          locale: str | None = None, flow_data: dict | None = None,
                          now: datetime, actor: str, base_url: str | None = None
                          ) -> CreatedPortalSession:
    """Make a billing portal session for ``customer`` (a Customer or its id), as Stripe's POST
    /v1/billing_portal/sessions: every parameter is checked first, then the row is added with
    its ``flow`` (Stripe's session.flow, after_completion filled in) and
    ``billing_portal.session.created`` raised in the same transaction. Flushes; the caller
    commits. ``base_url`` defaults to the app's PUBLIC_URL."""
    customer = _customer(session, customer)
    config = _configuration(session, configuration)
    return_url = _return_url(return_url, config)
    locale = _locale(locale)
    flow = _flow(session, flow_data, customer=customer, config=config, now=now)

    token = secrets.token_urlsafe(32)
    record = PortalSession(customer_id=customer.id, configuration_id=config.id,
                           return_url=return_url, locale=locale, flow=flow, created=now,
                           expires_at=now + SESSION_URL_LIFETIME,
                           token_digest=token_digest(token))
    session.add(record)
    session.flush()
    # Never the token or the URL: the audit log outlives the session and is read by staff.
    raise_event(session, "billing_portal.session.created", now=now, actor=actor,
                customer_id=customer.id, object_id=record.id,
                data={"configuration": config.id, "flow": flow["type"] if flow else None,
                      "locale": locale, "return_url": return_url})
    session.flush()
    if base_url is None:
        from flask import current_app

        base_url = current_app.config["PUBLIC_URL"]
    url = session_url(token, base=base_url)
    record.created_url = url
    return CreatedPortalSession(record, token, url)


def _customer(session: Session, customer: Customer | str) -> Customer:
    if isinstance(customer, Customer):
        found = customer
    elif isinstance(customer, str) and customer:
        found = session.get(Customer, customer)
    else:
        raise PortalSessionRefused("Missing required param: customer.", param="customer")
    if found is None or found.deleted:
        raise PortalSessionRefused(f"No such customer: '{customer}'", param="customer",
                                   code="resource_missing")
    return found


def _configuration(session: Session, configuration_id: str | None) -> PortalConfiguration:
    if configuration_id in (None, ""):
        return default_configuration(session)
    config = (session.get(PortalConfiguration, configuration_id)
              if isinstance(configuration_id, str) else None)
    if config is None:
        raise PortalSessionRefused(f"No such configuration: '{configuration_id}'",
                                   param="configuration", code="resource_missing")
    if not config.active:
        raise PortalSessionRefused(
            f"The configuration '{configuration_id}' is not active. Activate it, or use "
            "another configuration.", param="configuration")
    return config


def _url(value, param: str) -> str:
    from portal.rendering import is_safe_return_url

    if not isinstance(value, str) or not is_safe_return_url(value):
        raise PortalSessionRefused(
            f"Invalid URL: {param} must be an absolute http or https URL, like "
            "https://example.com/account.", param=param, code="url_invalid")
    if len(value) > URL_MAX_LENGTH:
        raise PortalSessionRefused(f"Invalid URL: {param} must be at most {URL_MAX_LENGTH} "
                                   "characters.", param=param, code="url_invalid")
    return value


def _return_url(return_url, config: PortalConfiguration) -> str | None:
    if return_url in (None, ""):
        if config.default_return_url:
            return config.default_return_url  # kept with the session, as it was then
        raise PortalSessionRefused(
            "Missing required param: return_url. Provide one, or set a default return URL "
            "in the portal configuration.", param="return_url")
    return _url(return_url, "return_url")


def _locale(locale) -> str | None:
    if locale in (None, ""):
        return None
    if locale not in STRIPE_LOCALES:
        raise PortalSessionRefused(
            f"Invalid locale: must be one of {', '.join(STRIPE_LOCALES)}.", param="locale")
    return locale


def _hash(value, param: str, allowed: tuple[str, ...], *, required: bool = False) -> dict:
    """A nested parameter as a dict with only ``allowed`` keys."""
    if value is None or value == "":
        if required:
            raise PortalSessionRefused(f"Missing required param: {param}.", param=param)
        return {}
    if not isinstance(value, dict):
        raise PortalSessionRefused(f"Invalid object: {param} must be a hash of parameters.",
                                   param=param)
    for key in value:
        if key not in allowed:
            raise PortalSessionRefused(f"Received unknown parameter: {param}[{key}]",
                                       param=f"{param}[{key}]")
    return value


def _string(value, param: str) -> str:
    if value is None or value == "":
        raise PortalSessionRefused(f"Missing required param: {param}.", param=param)
    if not isinstance(value, str):
        raise PortalSessionRefused(f"Invalid string: {param} must be a string.", param=param)
    return value


def _whole(value, param: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,9}", value):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise PortalSessionRefused(f"Invalid integer: {param} must be a whole number.",
                                   param=param)
    return value


def _list(value, param: str) -> list:
    """A list parameter, given as a list or as form-decoded {"0": ..., "1": ...}."""
    if value is None or value == "":
        return []
    if isinstance(value, dict) and all(isinstance(k, str) and k.isdecimal() for k in value):
        value = [value[k] for k in sorted(value, key=int)]
    if not isinstance(value, list | tuple):
        raise PortalSessionRefused(f"Invalid array: {param} must be a list.", param=param)
    return list(value)


def _flow(session: Session, flow_data, *, customer: Customer, config: PortalConfiguration,
          now: datetime) -> dict | None:
    if flow_data is None or flow_data == "":
        return None
    data = _hash(flow_data, "flow_data", ("type", "after_completion", *_FLOW_ENTRIES))
    kind = data.get("type")
    if kind in (None, ""):
        raise PortalSessionRefused("Missing required param: flow_data[type].",
                                   param="flow_data[type]")
    if kind not in FLOW_TYPES:
        raise PortalSessionRefused(
            f"Invalid flow_data[type]: must be one of {', '.join(FLOW_TYPES)}.",
            param="flow_data[type]")
    for entry in _FLOW_ENTRIES:
        if entry != kind and data.get(entry) not in (None, "", {}):
            raise PortalSessionRefused(
                f"flow_data[{entry}] can only be given when flow_data[type] is {entry}.",
                param=f"flow_data[{entry}]")
    flow = {"after_completion": _after_completion(data.get("after_completion")),
            **dict.fromkeys(_FLOW_ENTRIES), "type": kind}
    if kind == "payment_method_update":
        if not config.payment_method_update_enabled:
            raise _feature_off("payment_method_update", "payment_method_update")
    elif kind == "subscription_cancel":
        flow["subscription_cancel"] = _cancel_flow(session, data.get(kind), customer=customer,
                                                   config=config, now=now)
    elif kind == "subscription_update":
        flow["subscription_update"] = _update_flow(session, data.get(kind), customer=customer,
                                                   config=config, now=now)
    else:
        flow["subscription_update_confirm"] = _confirm_flow(session, data.get(kind),
                                                            customer=customer, config=config,
                                                            now=now)
    return flow


def _feature_off(kind: str, feature: str) -> PortalSessionRefused:
    return PortalSessionRefused(
        f"The {kind} flow cannot be used because the portal configuration's "
        f"features.{feature} is disabled. Enable it, or use another configuration.",
        param="flow_data[type]")


def _after_completion(value) -> dict:
    param = "flow_data[after_completion]"
    data = _hash(value, param, ("type", "redirect", "hosted_confirmation"))
    kind = data.get("type") if data else "portal_homepage"
    if kind in (None, ""):
        raise PortalSessionRefused(f"Missing required param: {param}[type].",
                                   param=f"{param}[type]")
    if kind not in AFTER_COMPLETION_TYPES:
        raise PortalSessionRefused(
            f"Invalid {param}[type]: must be one of {', '.join(AFTER_COMPLETION_TYPES)}.",
            param=f"{param}[type]")
    for entry in ("redirect", "hosted_confirmation"):
        if entry != kind and data.get(entry) not in (None, "", {}):
            raise PortalSessionRefused(
                f"{param}[{entry}] can only be given when {param}[type] is {entry}.",
                param=f"{param}[{entry}]")
    result = {"hosted_confirmation": None, "redirect": None, "type": kind}
    if kind == "redirect":
        redirect = _hash(data.get("redirect"), f"{param}[redirect]", ("return_url",),
                         required=True)
        url = redirect.get("return_url")
        if url in (None, ""):
            raise PortalSessionRefused(f"Missing required param: {param}[redirect][return_url].",
                                       param=f"{param}[redirect][return_url]")
        result["redirect"] = {"return_url": _url(url, f"{param}[redirect][return_url]")}
    elif kind == "hosted_confirmation":
        hosted = _hash(data.get("hosted_confirmation"), f"{param}[hosted_confirmation]",
                       ("custom_message",))
        message = hosted.get("custom_message")
        where = f"{param}[hosted_confirmation][custom_message]"
        if message in (None, ""):
            message = None
        elif not isinstance(message, str):
            raise PortalSessionRefused(f"Invalid string: {where} must be a string.", param=where)
        elif len(message) > CUSTOM_MESSAGE_MAX_LENGTH:
            raise PortalSessionRefused(f"Invalid string: {where} must be at most "
                                       f"{CUSTOM_MESSAGE_MAX_LENGTH} characters.", param=where)
        result["hosted_confirmation"] = {"custom_message": message}
    return result


def _own_subscription(session: Session, value, param: str, customer: Customer):
    from portal.subscriptions.operations import find_subscription

    subscription_id = _string(value, param)
    subscription = find_subscription(session, customer, subscription_id)
    if subscription is None:
        # Another customer's subscription answers as a made-up id does.
        raise PortalSessionRefused(f"No such subscription: '{subscription_id}' for customer "
                                   f"'{customer.id}'", param=param, code="resource_missing")
    return subscription


def _cancel_flow(session: Session, value, *, customer, config, now) -> dict:
    from portal.catalog.models import Coupon
    from portal.subscriptions import operations as subscriptions

    base = "flow_data[subscription_cancel]"
    data = _hash(value, base, ("subscription", "retention"), required=True)
    if not config.subscription_cancel_enabled:
        raise _feature_off("subscription_cancel", "subscription_cancel")
    subscription = _own_subscription(session, data.get("subscription"),
                                     f"{base}[subscription]", customer)
    refusal = subscriptions.cancel_refusal(subscription, now, config)
    if refusal:
        raise PortalSessionRefused(f"The subscription '{subscription.id}' cannot be cancelled: "
                                   f"{refusal}", param=f"{base}[subscription]")
    retention = None
    if data.get("retention") not in (None, "", {}):
        where = f"{base}[retention]"
        offer = _hash(data["retention"], where, ("type", "coupon_offer"))
        if offer.get("type") in (None, ""):
            raise PortalSessionRefused(f"Missing required param: {where}[type].",
                                       param=f"{where}[type]")
        if offer["type"] != "coupon_offer":
            raise PortalSessionRefused(f"Invalid {where}[type]: must be coupon_offer.",
                                       param=f"{where}[type]")
        coupon_offer = _hash(offer.get("coupon_offer"), f"{where}[coupon_offer]", ("coupon",),
                             required=True)
        coupon_param = f"{where}[coupon_offer][coupon]"
        coupon_id = _string(coupon_offer.get("coupon"), coupon_param)
        coupon = session.get(Coupon, coupon_id)
        if coupon is None:
            raise PortalSessionRefused(f"No such coupon: '{coupon_id}'", param=coupon_param,
                                       code="resource_missing")
        _usable_coupon(coupon, subscription, coupon_param)
        retention = {"coupon_offer": {"coupon": coupon.id}, "type": "coupon_offer"}
    return {"retention": retention, "subscription": subscription.id}


def _usable_coupon(coupon, subscription, param: str) -> None:
    if not coupon.active:
        raise PortalSessionRefused(f"The coupon '{coupon.id}' is not active.", param=param)
    if coupon.amount_off is not None and coupon.currency != subscription.currency:
        raise PortalSessionRefused(
            f"The coupon '{coupon.id}' is in {coupon.currency}, but the subscription is billed "
            f"in {subscription.currency}.", param=param)


def _update_flow(session: Session, value, *, customer, config, now) -> dict:
    from portal.subscriptions import operations as subscriptions

    base = "flow_data[subscription_update]"
    data = _hash(value, base, ("subscription",), required=True)
    if not config.subscription_update_enabled:
        raise _feature_off("subscription_update", "subscription_update")
    subscription = _own_subscription(session, data.get("subscription"),
                                     f"{base}[subscription]", customer)
    options = subscriptions.update_options(session, subscription, now=now, configuration=config)
    if not options.allowed:
        raise PortalSessionRefused(f"The subscription '{subscription.id}' cannot be updated: "
                                   f"{options.reason}", param=f"{base}[subscription]")
    return {"subscription": subscription.id}


def _confirm_flow(session: Session, value, *, customer, config, now) -> dict:
    from portal.catalog.models import Coupon
    from portal.subscriptions import operations as subscriptions

    base = "flow_data[subscription_update_confirm]"
    data = _hash(value, base, ("subscription", "items", "discounts"), required=True)
    if not config.subscription_update_enabled:
        raise _feature_off("subscription_update_confirm", "subscription_update")
    subscription = _own_subscription(session, data.get("subscription"),
                                     f"{base}[subscription]", customer)
    items = _list(data.get("items"), f"{base}[items]")
    if not items:
        raise PortalSessionRefused(f"Missing required param: {base}[items].",
                                   param=f"{base}[items]")
    if len(items) > 1:
        raise PortalSessionRefused(f"Invalid array: {base}[items] can hold only one item.",
                                   param=f"{base}[items]")
    where = f"{base}[items][0]"
    item = _hash(items[0], where, ("id", "price", "quantity"), required=True)
    item_id = _string(item.get("id"), f"{where}[id]")
    if not any(own.id == item_id for own in subscription.items):
        raise PortalSessionRefused(f"No such subscription item: '{item_id}' on subscription "
                                   f"'{subscription.id}'", param=f"{where}[id]",
                                   code="resource_missing")
    price_id = item.get("price")
    price_id = None if price_id in (None, "") else _string(price_id, f"{where}[price]")
    quantity = _whole(item.get("quantity"), f"{where}[quantity]")
    if price_id is None and quantity is None:
        raise PortalSessionRefused(f"Missing required param: {where}[price] or "
                                   f"{where}[quantity].", param=f"{where}[price]")

    discounts = _list(data.get("discounts"), f"{base}[discounts]")
    if len(discounts) > 1:
        raise PortalSessionRefused(f"Invalid array: {base}[discounts] can hold only one "
                                   "discount.", param=f"{base}[discounts]")
    echoed_discounts = None
    coupon = None
    if discounts:
        discount = _hash(discounts[0], f"{base}[discounts][0]", ("coupon", "promotion_code"),
                         required=True)
        if discount.get("promotion_code") not in (None, ""):
            raise PortalSessionRefused("Promotion codes are not supported: give a coupon.",
                                       param=f"{base}[discounts][0][promotion_code]")
        coupon_param = f"{base}[discounts][0][coupon]"
        coupon_id = _string(discount.get("coupon"), coupon_param)
        coupon = session.get(Coupon, coupon_id)
        if coupon is None:
            raise PortalSessionRefused(f"No such coupon: '{coupon_id}'", param=coupon_param,
                                       code="resource_missing")
        _usable_coupon(coupon, subscription, coupon_param)
        echoed_discounts = [{"coupon": coupon.id, "promotion_code": None}]

    # The change as the customer will confirm it, checked by the portal's own rules (the
    # configuration's products, prices and quantities).
    try:
        subscriptions.plan_change(session, subscription, price_id=price_id, quantity=quantity,
                                  now=now, configuration=config, coupon=coupon)
    except subscriptions.SubscriptionRefused as refused:
        param = {"price": f"{where}[price]", "quantity": f"{where}[quantity]"}.get(
            refused.field, f"{base}[subscription]")
        raise PortalSessionRefused(f"This update cannot be confirmed: {refused.message}",
                                   param=param) from None
    return {"discounts": echoed_discounts,
            "items": [{"id": item_id, "price": price_id, "quantity": quantity}],
            "subscription": subscription.id}


# ---- following the URL -------------------------------------------------------------------

class Redeemed(Enum):
    SIGNED_IN = "signed_in"
    USED = "used"  # followed before (or by a parallel request that won)
    EXPIRED = "expired"  # not followed within SESSION_URL_LIFETIME
    UNKNOWN = "unknown"  # no session has this token


@dataclass(frozen=True)
class Redemption:
    outcome: Redeemed
    portal_session: PortalSession | None = None


_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,100}")


def find_by_token(session: Session, token: str) -> PortalSession | None:
    """The session a URL's token names, whatever its state."""
    if not _TOKEN.fullmatch(token or ""):
        return None
    return session.scalars(select(PortalSession)
                           .where(PortalSession.token_digest == token_digest(token))).first()


def redeem(session: Session, token: str, *, now: datetime) -> Redemption:
    """Use a session's URL: once, within its lifetime. The mark is one compare-and-set UPDATE
    (``used_at IS NULL``), so of two parallel visits exactly one wins; it commits with the
    sign-in the caller adds next (the caller commits)."""
    record = find_by_token(session, token)
    if record is None:
        return Redemption(Redeemed.UNKNOWN)
    if record.used_at is not None:
        return Redemption(Redeemed.USED, record)
    if now >= record.expires_at:
        return Redemption(Redeemed.EXPIRED, record)
    won = session.execute(
        update(PortalSession)
        .where(PortalSession.id == record.id, PortalSession.used_at.is_(None),
               PortalSession.expires_at > now)
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if won != 1:
        session.refresh(record)
        return Redemption(Redeemed.USED if record.used_at is not None else Redeemed.EXPIRED,
                          record)
    session.refresh(record)
    customer = session.get(Customer, record.customer_id)
    if customer is None or customer.deleted:
        return Redemption(Redeemed.UNKNOWN)
    raise_event(session, "login.signed_in", now=now, actor=f"customer:{customer.id}",
                customer_id=customer.id, object_id=record.id,
                data={"via": "portal_session", "flow": (record.flow or {}).get("type")})
    return Redemption(Redeemed.SIGNED_IN, record)


def complete_flow(session: Session, record: PortalSession, *, now: datetime) -> bool:
    """Mark the session's flow done, once (False when it already was)."""
    done = session.execute(
        update(PortalSession)
        .where(PortalSession.id == record.id, PortalSession.flow_completed_at.is_(None))
        .values(flow_completed_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if done:
        from sqlalchemy.orm.attributes import set_committed_value

        set_committed_value(record, "flow_completed_at", now)
    return bool(done)


# ---- what a flow lets the customer see -----------------------------------------------------

def flow_of(record: PortalSession | None) -> dict | None:
    """The session's flow when it has a usable one."""
    flow = record.flow if record is not None else None
    return flow if isinstance(flow, dict) and flow.get("type") in FLOW_TYPES else None


def flow_subscription_id(flow: dict) -> str | None:
    entry = flow.get(flow.get("type")) or {}
    return entry.get("subscription") if isinstance(entry, dict) else None


def after_completion(flow: dict) -> dict:
    after = flow.get("after_completion")
    if isinstance(after, dict) and after.get("type") in AFTER_COMPLETION_TYPES:
        return after
    return {"type": "portal_homepage", "redirect": None, "hosted_confirmation": None}


class FlowConfiguration:
    """The configuration in force, as a subscription_cancel flow with a retention coupon
    offer sees it: that coupon is the one offer (Stripe's flow retention replaces the
    configured ones). Read-only: every other attribute is the configuration's."""

    def __init__(self, configuration: PortalConfiguration, coupon_id: str) -> None:
        self._configuration = configuration
        self.retention_coupon_id = coupon_id
        self.retention_pause_max_months = 0
        self.retention_downgrade_price_id = None

    def __getattr__(self, name):
        return getattr(self._configuration, name)


def configuration_for_flow(configuration: PortalConfiguration, flow: dict | None,
                           subscription_id: str):
    """``configuration``, or the FlowConfiguration a cancel flow's retention offer makes."""
    if not flow or flow.get("type") != "subscription_cancel":
        return configuration
    entry = flow.get("subscription_cancel") or {}
    if entry.get("subscription") != subscription_id:
        return configuration
    coupon = ((entry.get("retention") or {}).get("coupon_offer") or {}).get("coupon")
    return FlowConfiguration(configuration, coupon) if coupon else configuration


# ---- keeping tokens out of logs ------------------------------------------------------------

_IN_URL = re.compile(r"(/p/session/)[A-Za-z0-9_-]+")


def redact_session_tokens(text: str) -> str:
    """``text`` with every session URL's token replaced by "[redacted]"."""
    return _IN_URL.sub(r"\1[redacted]", text) if URL_PATH in text else text


class RedactSessionTokens(logging.Filter):
    """Replace the token of a session URL in a log line (a server's access log, Flask's
    "Exception on /p/session/..." line) by "[redacted]"."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001  (a broken record is the logger's to report)
            return True
        if URL_PATH in message:
            record.msg, record.args = _IN_URL.sub(r"\1[redacted]", message), None
        return True


def install_log_redaction(app) -> None:
    """Keep session tokens out of the app's, Werkzeug's and gunicorn's logs."""
    redaction = RedactSessionTokens()
    for logger in (app.logger, logging.getLogger("werkzeug"),
                   logging.getLogger("gunicorn.access"), logging.getLogger("gunicorn.error")):
        if not any(isinstance(f, RedactSessionTokens) for f in logger.filters):
            logger.addFilter(redaction)
