"""Changing a customer's billing details and tax IDs, and the rules about who may.

Shared by the portal now and the merchant dashboard and API later, so nothing here reads the
request: callers pass the session, ``now`` and the ``actor``.
"""

from __future__ import annotations

import re
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.customers.models import Customer, SignInSession, TaxId, normalize_email
from portal.customers.tax_ids import normalize_tax_id
from portal.events import raise_event
from portal.locking import lock_customer
from portal.portal_settings.models import PortalConfiguration, PortalSession
from portal.rendering import is_safe_return_url

ADDRESS_FIELDS = ("address_line1", "address_line2", "address_city", "address_state",
                  "address_postal_code", "address_country")
SHIPPING_FIELDS = ("shipping_name", "shipping_phone", "shipping_line1", "shipping_line2",
                   "shipping_city", "shipping_state", "shipping_postal_code",
                   "shipping_country")
EDITABLE_FIELDS = frozenset(("name", "email", "phone") + ADDRESS_FIELDS + SHIPPING_FIELDS)

# The sections of billing information, named as PortalConfiguration.customer_update_allowed.
SECTIONS = ("name", "email", "phone", "address", "shipping", "tax_id")

# Enough for a business registered in several places; a bound, so the list stays a list.
MAX_TAX_IDS = 10
DUPLICATE_TAX_ID = _l("You have already added this tax ID")


class TaxIdRefused(ValueError):
    """A well-formed tax ID that cannot be added; ``message`` says why."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def editable_sections(configuration: PortalConfiguration, via: str | None) -> frozenset[str]:
    """The sections a customer may change: the merchant's allowed updates, except the email
    of a customer who signed in with a code sent to it (that address is how they prove who
    they are)."""
    allowed = {section for section in SECTIONS if configuration.allows_update(section)}
    if via != "portal_session":
        allowed.discard("email")
    return frozenset(allowed)


def update_customer_details(session: Session, customer: Customer, changes: dict, *,
                            now: datetime, actor: str) -> list[str]:
    """Apply ``changes`` (field -> value, empty meaning none) and raise customer.updated
    naming the fields that really changed; returns those names."""
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise ValueError(f"not customer details: {', '.join(sorted(unknown))}")
    changed = []
    for name, value in changes.items():
        value = value if value not in ("", None) else None
        if name == "email":
            if value != customer.email:
                customer.set_email(value)
                changed.append(name)
        elif getattr(customer, name) != value:
            setattr(customer, name, value)
            changed.append(name)
    if changed:
        raise_event(session, "customer.updated", now=now, actor=actor, customer_id=customer.id,
                    object_id=customer.id, data={"changed": changed})
    session.flush()
    return changed


def add_tax_id(session: Session, customer: Customer, type: str, value: str, *,
               now: datetime, actor: str) -> TaxId:
    """Check and add a tax ID; raises InvalidTaxId for a wrong number, TaxIdRefused for a
    duplicate or one too many."""
    number, country = normalize_tax_id(type, value)
    # Locked before counting: otherwise parallel adds each count fewer than the cap, or each
    # find no copy of the same number, and all are stored.
    lock_customer(session, customer)
    existing = _tax_ids_of(session, customer.id)
    if any(t.type == type and t.value == number for t in existing):
        raise TaxIdRefused(DUPLICATE_TAX_ID)
    if len(existing) >= MAX_TAX_IDS:
        raise TaxIdRefused(_("You can add up to %(max_tax_ids)s tax IDs. Remove one you no "
                             "longer use first", max_tax_ids=MAX_TAX_IDS))
    tax_id = TaxId(customer_id=customer.id, type=type, value=number, country=country,
                   created=now)
    try:
        # A savepoint, so the unique index firing leaves the caller's transaction usable.
        with session.begin_nested():
            customer.tax_ids.append(tax_id)
            session.flush()
    except IntegrityError:
        # Added meanwhile by a writer that did not take the lock: the unique index stopped
        # this copy. (The savepoint's rollback expired the customer, so its list reloads.)
        raise TaxIdRefused(DUPLICATE_TAX_ID) from None
    raise_event(session, "customer.tax_id.created", now=now, actor=actor,
                customer_id=customer.id, object_id=tax_id.id,
                data={"type": type, "value": number, "country": country})
    return tax_id


def remove_tax_id(session: Session, customer: Customer, tax_id: TaxId, *,
                  now: datetime, actor: str) -> None:
    """Remove one of the customer's tax IDs and raise customer.tax_id.deleted; one another
    request removed first stays removed, and nothing more happens."""
    if tax_id.customer_id != customer.id:
        raise LookupError("that tax ID belongs to another customer")
    lock_customer(session, customer)
    # The lock reloaded the customer's list of tax IDs as it is now.
    if tax_id not in customer.tax_ids:
        return
    customer.tax_ids.remove(tax_id)
    raise_event(session, "customer.tax_id.deleted", now=now, actor=actor,
                customer_id=customer.id, object_id=tax_id.id,
                data={"type": tax_id.type, "value": tax_id.value, "country": tax_id.country})
    session.flush()


def _tax_ids_of(session: Session, customer_id: str) -> list[TaxId]:
    """The customer's tax IDs as stored now."""
    return list(session.scalars(select(TaxId).where(TaxId.customer_id == customer_id)))


def merchant_return_url(session: Session, sign_in: SignInSession | None,
                        configuration: PortalConfiguration) -> str | None:
    """Where "Return to <merchant>" leads: the portal session's return URL, else the
    configuration's default; only an absolute http(s) URL, never javascript: or a path."""
    candidates = []
    if sign_in is not None and sign_in.portal_session_id:
        portal_session = session.get(PortalSession, sign_in.portal_session_id)
        if portal_session is not None and portal_session.customer_id == sign_in.customer_id:
            candidates.append(portal_session.return_url)
    candidates.append(configuration.default_return_url)
    return next((url for url in candidates if is_safe_return_url(url)), None)


# ---- creating customers (the dashboard now, the API later) -----------------------------------

EMAIL_FORMAT_MESSAGE = "Enter an email address in the correct format, like name@example.com"
# As portal.forms.usable_text refuses them in every form: C0, DEL, C1 and lone surrogates.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_LIMITS = {"email": 320, "name": 256, "phone": 40, "description": 500}
_NOUNS = {"email": "Email address", "name": "Name", "phone": "Phone number",
          "description": "Description"}


class CustomerRefused(ValueError):
    """The customer was not made as asked; ``message`` says why, ``field`` which value."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


def _text_value(field: str, value) -> str | None:
    """``value`` trimmed, None when empty; refused when it is not plain text or too long."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise CustomerRefused(f"{_NOUNS[field]} must be text", field=field)
    value = value.strip()
    if not value:
        return None
    if _CONTROL.search(value):
        raise CustomerRefused(f"{_NOUNS[field]} must not contain control characters such as "
                              "tabs or line breaks", field=field)
    if len(value) > _LIMITS[field]:
        raise CustomerRefused(f"{_NOUNS[field]} must be {_LIMITS[field]} characters or fewer",
                              field=field)
    return value


def checked_email(email: str | None) -> str | None:
    """The address as it will be stored: trimmed and otherwise exactly as given, once it
    passes the check the portal's email form makes (email_validator's syntax check, no DNS
    lookup, international addresses such as jörg@example.com allowed); None when empty."""
    value = _text_value("email", email)
    if value is None:
        return None
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        raise CustomerRefused(EMAIL_FORMAT_MESSAGE, field="email") from None
    return value


def customers_with_email(session: Session, email: str | None) -> list[Customer]:
    """The customers (not deleted) whose address is ``email``, compared as the login compares
    them (trimmed, case-insensitive), newest first."""
    normalized = normalize_email(email)
    if not normalized:
        return []
    return list(session.scalars(
        select(Customer).where(Customer.email_normalized == normalized,
                               Customer.deleted.is_not(True))
        .order_by(Customer.created.desc(), Customer.id.desc())
    ).all())


def create_customer(session: Session, *, email: str | None, name: str | None = None,
                    phone: str | None = None, description: str | None = None,
                    metadata: dict | None = None, address: dict | None = None,
                    shipping: dict | None = None, preferred_locales: list | None = None,
                    default_payment_method: str | None = None, now: datetime,
                    actor: str) -> Customer:
    """Make a customer and raise customer.created; raises CustomerRefused for a value that
    cannot be stored. A second customer with an address already in use is allowed, as
    Stripe allows it: the login link then signs in as the most recently created customer with
    that address and an active subscription (the dashboard warns before making one).
    ``address`` and ``shipping`` are Stripe's (as update_customer takes them); a new customer
    has no cards, so a ``default_payment_method`` is refused as Stripe refuses it."""
    email = checked_email(email)
    values = {"name": _text_value("name", name), "phone": _text_value("phone", phone),
              "description": _text_value("description", description)}
    if metadata is not None and not isinstance(metadata, dict):
        raise CustomerRefused("Metadata must be a set of keys and values", field="metadata")
    if address is not None:
        values.update(_checked_address(address, ADDRESS_PARTS, "address"))
    if shipping is not None:
        values.update(_checked_shipping(shipping))
    locales = checked_locales(preferred_locales)
    if default_payment_method:
        raise CustomerRefused(f"The customer does not have a payment method with the ID "
                              f"{default_payment_method}. The payment method must be attached "
                              "to the customer.", field="default_payment_method")
    sharing = len(customers_with_email(session, email)) if email else 0
    customer = Customer(created=now, preferred_locales=locales, metadata_=dict(metadata or {}),
                        balance=0, deleted=False, **values)
    customer.set_email(email)
    session.add(customer)
    session.flush()
    raise_event(session, "customer.created", now=now, actor=actor, customer_id=customer.id,
                object_id=customer.id,
                data={"email": email, "name": values["name"], "phone": values["phone"],
                      "customers_with_this_email": sharing + 1 if email else 0})
    return customer


# ---- the merchant's changes (the API now, the dashboard when it edits customers) ------------

# Stripe's names for the parts of an address, and the columns that keep them.
ADDRESS_PARTS = {"line1": "address_line1", "line2": "address_line2", "city": "address_city",
                 "state": "address_state", "postal_code": "address_postal_code",
                 "country": "address_country"}
SHIPPING_ADDRESS_PARTS = {"line1": "shipping_line1", "line2": "shipping_line2",
                          "city": "shipping_city", "state": "shipping_state",
                          "postal_code": "shipping_postal_code", "country": "shipping_country"}
MAX_PREFERRED_LOCALES = 10
_LOCALE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8}){0,3}")
_KEEP = object()


def _column_limit(column: str) -> int:
    return Customer.__table__.c[column].type.length


def _address_part(column: str, value, field: str) -> str | None:
    """One part of an address: trimmed text that fits its column; the country an ISO 3166-1
    alpha-2 code (upper-cased, as Stripe keeps it)."""
    from portal.customers.addresses import is_country

    if value is None:
        return None
    if not isinstance(value, str):
        raise CustomerRefused("Address parts must be text", field=field)
    value = value.strip()
    if not value:
        return None
    if _CONTROL.search(value):
        raise CustomerRefused("Address parts must not contain control characters such as tabs "
                              "or line breaks", field=field)
    if column.endswith("_country"):
        value = value.upper()
        if not is_country(value):
            raise CustomerRefused("Country must be a two-letter ISO 3166-1 country code, such "
                                  "as US or DE", field=field)
        return value
    limit = _column_limit(column)
    if len(value) > limit:
        raise CustomerRefused(f"Address parts must be {limit} characters or fewer",
                              field=field)
    return value


def _checked_address(address: dict | None, parts: dict[str, str], prefix: str
                     ) -> dict[str, str | None]:
    """Column -> value for the parts given (None for a part given empty); every part None for
    ``address=None``, which clears it."""
    if address is None:
        return dict.fromkeys(parts.values())
    unknown = set(address) - set(parts)
    if unknown:
        raise ValueError(f"not address parts: {', '.join(sorted(unknown))}")
    return {parts[name]: _address_part(parts[name], value, f"{prefix}[{name}]")
            for name, value in address.items()}


def _checked_shipping(shipping: dict | None) -> dict[str, str | None]:
    """Stripe's shipping (name, phone, address[...]) as columns; None clears all of it."""
    if shipping is None:
        return {column: None for column in ("shipping_name", "shipping_phone",
                                            *SHIPPING_ADDRESS_PARTS.values())}
    unknown = set(shipping) - {"name", "phone", "address"}
    if unknown:
        raise ValueError(f"not shipping fields: {', '.join(sorted(unknown))}")
    columns: dict[str, str | None] = {}
    if "name" in shipping:
        columns["shipping_name"] = _shipping_text("shipping_name", shipping["name"], "name")
    if "phone" in shipping:
        columns["shipping_phone"] = _shipping_text("shipping_phone", shipping["phone"],
                                                   "phone")
    if "address" in shipping:
        columns.update(_checked_address(shipping["address"], SHIPPING_ADDRESS_PARTS,
                                        "shipping[address]"))
    return columns


def _shipping_text(column: str, value, name: str) -> str | None:
    try:
        return _text_value(name, value)
    except CustomerRefused as refused:
        raise CustomerRefused(f"Shipping {refused.message[0].lower()}{refused.message[1:]}",
                              field=f"shipping[{name}]") from None


def checked_locales(locales) -> list[str]:
    """Preferred languages as IETF tags ("en", "fr-CA"), in the customer's order, without
    repeats; at most ten. The portal shows the first one it ships (portal.i18n.shipped)."""
    if locales is None:
        return []
    if not isinstance(locales, (list, tuple)):
        raise CustomerRefused("Preferred locales must be a list", field="preferred_locales")
    if len(locales) > MAX_PREFERRED_LOCALES:
        raise CustomerRefused(f"A customer can have up to {MAX_PREFERRED_LOCALES} preferred "
                              "locales", field="preferred_locales")
    result: list[str] = []
    for value in locales:
        if not isinstance(value, str) or not _LOCALE.fullmatch(value.strip()):
            raise CustomerRefused("Preferred locales must be language tags such as en or "
                                  "fr-CA", field="preferred_locales")
        if value.strip() not in result:
            result.append(value.strip())
    return result


def _default_card(session: Session, customer: Customer, payment_method_id: str,
                  now: datetime):
    """The customer's card ``payment_method_id``, when it may become their default."""
    from portal.payments.models import PaymentMethod

    field = "default_payment_method"
    method = session.get(PaymentMethod, payment_method_id)
    if method is None or method.customer_id != customer.id:
        raise CustomerRefused(f"The customer does not have a payment method with the ID "
                              f"{payment_method_id}. The payment method must be attached to "
                              "the customer.", field=field)
    if method.is_expired(now):
        raise CustomerRefused(f"{payment_method_id} has expired, so it cannot be the default "
                              "payment method.", field=field)
    return method


def _address_of(customer: Customer, parts: dict[str, str]) -> dict | None:
    values = {name: getattr(customer, column) for name, column in parts.items()}
    return values if any(values.values()) else None


def _shipping_of(customer: Customer) -> dict | None:
    where = _address_of(customer, SHIPPING_ADDRESS_PARTS)
    if where is None and not customer.shipping_name and not customer.shipping_phone:
        return None
    return {"name": customer.shipping_name, "phone": customer.shipping_phone, "address": where}


def update_customer(session: Session, customer: Customer, *, now: datetime, actor: str,
                    email=_KEEP, name=_KEEP, phone=_KEEP, description=_KEEP, metadata=_KEEP,
                    address=_KEEP, shipping=_KEEP, preferred_locales=_KEEP,
                    default_payment_method=_KEEP) -> dict:
    """The merchant's change to a customer (the API's update; the dashboard's edit form can
    share it): only the fields given change, ``None`` (or "") clears one. ``address`` is a
    dict of Stripe's parts (line1, line2, city, state, postal_code, country), changing the
    parts given; ``shipping`` has name, phone and address[...]; ``metadata`` is the whole new
    dict (merge it first: ``portal.api.params.merged_metadata``); ``default_payment_method``
    is the id of one of the customer's cards, which also becomes the card of their live
    subscriptions that are charged automatically, as the portal's "Make default" does.

    Checked in full before anything changes (CustomerRefused naming the field); raises ONE
    customer.updated whose ``data["previous_attributes"]`` holds the previous values of what
    changed, in Stripe's shape, and returns those; nothing changed, no event."""
    if customer.deleted:
        raise CustomerRefused("This customer has been deleted.")
    columns: dict = {}
    if email is not _KEEP:
        columns["email"] = checked_email(email)
    for field, value in (("name", name), ("phone", phone), ("description", description)):
        if value is not _KEEP:
            columns[field] = _text_value(field, value)
    if address is not _KEEP:
        columns.update(_checked_address(address, ADDRESS_PARTS, "address"))
    if shipping is not _KEEP:
        columns.update(_checked_shipping(shipping))
    if preferred_locales is not _KEEP:
        columns["preferred_locales"] = checked_locales(preferred_locales)
    if metadata is not _KEEP:
        if metadata is not None and not isinstance(metadata, dict):
            raise CustomerRefused("Metadata must be a set of keys and values", field="metadata")
        columns["metadata_"] = dict(metadata or {})
    card = None
    if default_payment_method is not _KEEP and default_payment_method:
        # The card rule reads the customer's cards: under the customer's lock.
        customer = lock_customer(session, customer)
        card = _default_card(session, customer, default_payment_method, now)

    before = {"address": _address_of(customer, ADDRESS_PARTS), "shipping": _shipping_of(customer)}
    previous: dict = {}
    for column, value in columns.items():
        current = getattr(customer, column)
        if current == value:
            continue
        if column in ADDRESS_PARTS.values():
            previous["address"] = before["address"]
        elif column.startswith("shipping_"):
            previous["shipping"] = before["shipping"]
        elif column == "metadata_":
            # Stripe's previous_attributes for metadata: the old value of each key that moved.
            old = dict(current or {})
            previous["metadata"] = {key: old.get(key, "") for key in set(old) | set(value)
                                    if old.get(key) != value.get(key)}
        else:
            previous[column] = current
        if column == "email":
            customer.set_email(value)
        else:
            setattr(customer, column, value)
    if default_payment_method is not _KEEP:
        new_id = card.id if card is not None else None
        if customer.default_payment_method_id != new_id:
            previous["invoice_settings"] = {
                "default_payment_method": customer.default_payment_method_id}
            customer.default_payment_method_id = new_id
    if previous:
        raise_event(session, "customer.updated", now=now, actor=actor, customer_id=customer.id,
                    object_id=customer.id,
                    data={"changed": sorted(previous), "previous_attributes": previous})
    if card is not None:
        from portal.payments.operations import move_subscriptions_to_card

        move_subscriptions_to_card(session, customer, card, now=now, actor=actor)
    session.flush()
    return previous


def delete_customer(session: Session, customer: Customer, *, now: datetime,
                    actor: str) -> list[str]:
    """Delete a customer as Stripe does: the row stays (invoices and payments refer to it) but
    is marked deleted, so it is listed nowhere, signs in nowhere and answers as deleted; its
    live subscriptions are cancelled now (no proration, no email: the merchant asked, not the
    customer), its portal sign-ins end, and customer.deleted is raised. Returns the ids of
    the subscriptions cancelled. A customer deleted already is left as it is."""
    from portal.locking import lock_subscription
    from portal.subscriptions.models import LIVE_STATUSES, Subscription
    from portal.subscriptions.operations import cancel_subscription_now

    def live_ids() -> list[str]:
        return list(session.scalars(
            select(Subscription.id).where(Subscription.customer_id == customer.id,
                                          Subscription.status.in_(LIVE_STATUSES))
            .order_by(Subscription.created, Subscription.id)))

    # Lock order: the subscriptions, then the customer.
    locked = {subscription_id: lock_subscription(session, subscription_id)
              for subscription_id in live_ids()}
    customer = lock_customer(session, customer)
    if customer.deleted:
        return []
    customer.deleted = True
    canceled = []
    # Read again under the customer's lock: one started meanwhile is cancelled too (starting
    # one checks `deleted` under this lock, so none can start after it).
    for subscription_id in live_ids():
        subscription = locked.get(subscription_id) or session.get(Subscription, subscription_id)
        cancel_subscription_now(session, subscription, now=now, actor=actor,
                                reason="customer_deleted")
        canceled.append(subscription_id)
    ended = 0
    for sign_in in session.scalars(select(SignInSession).where(
            SignInSession.customer_id == customer.id, SignInSession.ended_at.is_(None))):
        sign_in.ended_at = now
        ended += 1
    raise_event(session, "customer.deleted", now=now, actor=actor, customer_id=customer.id,
                object_id=customer.id,
                data={"email": customer.email, "subscriptions_canceled": canceled,
                      "sign_ins_ended": ended})
    session.flush()
    return canceled
