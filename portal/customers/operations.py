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
    previous = {}  # Stripe's previous_attributes for the webhook (its plain fields)
    for name, value in changes.items():
        value = value if value not in ("", None) else None
        if name == "email":
            if value != customer.email:
                previous[name] = customer.email
                customer.set_email(value)
                changed.append(name)
        elif getattr(customer, name) != value:
            if name in ("name", "phone"):
                previous[name] = getattr(customer, name)
            setattr(customer, name, value)
            changed.append(name)
    if changed:
        raise_event(session, "customer.updated", now=now, actor=actor, customer_id=customer.id,
                    object_id=customer.id,
                    data={"changed": changed, "previous_attributes": previous})
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
                    metadata: dict | None = None, now: datetime, actor: str) -> Customer:
    """Make a customer and raise customer.created; raises CustomerRefused for a value that
    cannot be stored. A second customer with an address already in use is allowed, as
    Stripe allows it: the login link then signs in as the most recently created customer with
    that address and an active subscription (the dashboard warns before making one)."""
    email = checked_email(email)
    values = {"name": _text_value("name", name), "phone": _text_value("phone", phone),
              "description": _text_value("description", description)}
    if metadata is not None and not isinstance(metadata, dict):
        raise CustomerRefused("Metadata must be a set of keys and values", field="metadata")
    sharing = len(customers_with_email(session, email)) if email else 0
    customer = Customer(created=now, preferred_locales=[], metadata_=dict(metadata or {}),
                        balance=0, deleted=False, **values)
    customer.set_email(email)
    session.add(customer)
    session.flush()
    raise_event(session, "customer.created", now=now, actor=actor, customer_id=customer.id,
                object_id=customer.id,
                data={"email": email, "name": values["name"], "phone": values["phone"],
                      "customers_with_this_email": sharing + 1 if email else 0})
    return customer
