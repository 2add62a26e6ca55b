"""Reading and changing the merchant's settings: configuration, branding, login links."""

from __future__ import annotations

import copy
import hashlib
import json
import secrets
import unicodedata
from datetime import datetime
from urllib.parse import quote

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.events import raise_event
from portal.portal_settings.models import (
    ALLOWED_CUSTOMER_UPDATES,
    CANCELLATION_REASONS,
    Branding,
    LoginLink,
    PortalConfiguration,
)


def login_url(link_id: str, email: str | None = None, *, base: str) -> str:
    """The absolute login URL of a link (``base`` is PUBLIC_URL), optionally with the email
    prefilled; the email is percent-encoded whole, so ``+`` and ``&`` in it survive."""
    url = base.rstrip("/") + f"/p/login/{link_id}"
    return f"{url}?prefilled_email={quote(email, safe='@')}" if email else url


def get_branding(session: Session) -> Branding:
    """The one branding row, created with defaults the first time it is needed."""
    branding = session.get(Branding, 1)
    if branding is None:
        try:
            # A savepoint: when another request (or the login email job) made the row first,
            # the primary key refuses this copy and the caller's transaction carries on.
            with session.begin_nested():
                branding = Branding(id=1, business_name="Billing portal", brand_color="#1f4fd1",
                                    accent_color="#0b6e4f", invoice_prefix="INV")
                session.add(branding)
        except IntegrityError:
            branding = session.get(Branding, 1)
    return branding


# What a new configuration starts with: the dashboard's defaults.
_NEW_CONFIGURATION = dict(
    active=True,
    customer_update_enabled=True,
    customer_update_allowed=["address", "name", "phone", "shipping", "tax_id"],
    invoice_history_enabled=True,
    payment_method_update_enabled=True,
    subscription_cancel_enabled=True,
    subscription_cancel_mode="at_period_end",
    subscription_cancel_proration_behavior="none",
    cancellation_reason_enabled=True,
    subscription_update_enabled=False,
    login_page_enabled=False,
)


def _new_configuration(**values) -> PortalConfiguration:
    return PortalConfiguration(**copy.deepcopy(_NEW_CONFIGURATION), **values)


def default_configuration(session: Session) -> PortalConfiguration:
    """The default portal configuration, created with the dashboard's defaults if missing."""
    config = session.scalars(
        select(PortalConfiguration).where(PortalConfiguration.is_default.is_(True))
    ).first()
    if config is None:
        config = _new_configuration(is_default=True)
        session.add(config)
        session.flush()
    return config


def create_configuration(session: Session, *, changes: dict, metadata: dict | None = None,
                         login_page_enabled: bool = False, now: datetime,
                         actor: str) -> PortalConfiguration:
    """A new configuration (not the default) with the dashboard's defaults and ``changes``
    on top, checked by the rules update_configuration applies (ConfigurationRefused);
    raises ``billing_portal.configuration.created``."""
    config = _new_configuration(
        is_default=False, cancellation_reason_options=list(CANCELLATION_REASONS),
        retention_pause_max_months=0, subscription_update_default_allowed_updates=[],
        subscription_update_products=[], subscription_update_proration_behavior="none",
        schedule_at_period_end_conditions=[], trial_update_behavior="end_trial",
        created=now, updated=now, metadata_=dict(metadata or {}))
    config.login_page_enabled = login_page_enabled
    clean = _clean_changes(session, config, changes)
    for name, value in clean.items():
        setattr(config, name, copy.deepcopy(value))
    session.add(config)
    session.flush()
    raise_event(session, "billing_portal.configuration.created", now=now, actor=actor,
                object_id=config.id, data={"is_default": False})
    return config


def set_configuration_details(session: Session, config: PortalConfiguration, *,
                              active: bool | None = None, metadata: dict | None = None,
                              login_page_enabled: bool | None = None,
                              now: datetime, actor: str) -> list[str]:
    """Turn a configuration on or off (never the default: sessions fall back to it), say
    whether it offers the login page, or replace its metadata; raises ``billing_portal.configuration.updated`` when that changed
    something. Returns the names changed."""
    config = lock_configuration(session, config)
    previous: dict = {}
    if active is not None and active != config.active:
        if config.is_default and not active:
            raise ConfigurationRefused({"active": "The default configuration cannot be turned "
                                                  "off: portal sessions fall back to it"})
        previous["active"] = config.active
        config.active = active
    if login_page_enabled is not None and login_page_enabled != config.login_page_enabled:
        previous["login_page_enabled"] = config.login_page_enabled
        config.login_page_enabled = login_page_enabled
    if metadata is not None and metadata != (config.metadata_ or {}):
        previous["metadata"] = dict(config.metadata_ or {})
        config.metadata_ = dict(metadata)
    if not previous:
        return []
    config.updated = now
    raise_event(session, "billing_portal.configuration.updated", now=now, actor=actor,
                object_id=config.id, data={"changed": sorted(previous),
                                           "previous_attributes": previous})
    session.flush()
    return sorted(previous)


def active_login_link(session: Session) -> LoginLink | None:
    """The login link customers may use now, if the merchant activated one."""
    return session.scalars(
        select(LoginLink).where(LoginLink.active.is_(True)).order_by(LoginLink.created.desc())
    ).first()


def activate_login_link(session: Session, *, now: datetime, rotate: bool = False,
                        actor: str = "merchant") -> LoginLink:
    """Return the active login link, making one if none is active; ``rotate`` replaces it, so
    every URL already shared answers 'not active' and the new one is the only way in."""
    link = active_login_link(session)
    if link is not None and not rotate:
        return link
    rotated = link is not None
    ended = deactivate_login_links(session, now=now, actor=actor) if rotated else 0
    config = default_configuration(session)
    config.login_page_enabled = True
    link = LoginLink(id=secrets.token_urlsafe(18), active=True, configuration_id=config.id,
                     created=now)
    session.add(link)
    # No link id in the audit log: the id is the URL, and the log outlives the link.
    if rotated:
        raise_event(session, "login_link.rotated", now=now, actor=actor,
                    object_id=config.id, data={"sign_ins_ended": ended})
    else:
        raise_event(session, "login_link.activated", now=now, actor=actor, object_id=config.id)
    session.flush()
    return link


def deactivate_login_links(session: Session, *, now: datetime, actor: str = "merchant") -> int:
    """Kill every login link, so every copy already shared answers 'not active', and end every
    sign-in made through one: whoever the link let in must sign in again. Returns how many
    links were active."""
    from portal.customers.models import SignInSession

    links = session.scalars(select(LoginLink).where(LoginLink.active.is_(True))).all()
    for link in links:
        link.active = False
        link.deactivated_at = now
    config = default_configuration(session)
    config.login_page_enabled = False
    # Only one link is ever active, so the login-link sign-ins are its sign-ins. Sessions
    # opened by the merchant's server (via="portal_session") did not use the link and stay.
    ended = session.execute(
        update(SignInSession)
        .where(SignInSession.via == "login_link", SignInSession.ended_at.is_(None))
        .values(ended_at=now)
    ).rowcount
    raise_event(session, "login_link.deactivated", now=now, actor=actor, object_id=config.id,
                data={"sign_ins_ended": ended})
    return len(links)


# ---- branding (the dashboard's Branding page and the `flask branding` command) ---------------

BRANDING_FIELDS = ("business_name", "brand_color", "accent_color", "support_email",
                   "support_phone", "support_url", "address", "invoice_prefix", "font")
BRANDING_IMAGES = ("icon", "logo")
# Pixels on the longer side once stored: the icon shows at 32 CSS pixels (browser tabs ask for
# more), the logo at most 12rem x 3rem; both leave room for 3x screens.
BRANDING_IMAGE_MAX_SIDE = {"icon": 512, "logo": 1000}


class BrandingRefused(ValueError):
    """A branding change that cannot be saved; ``field`` names the value at fault."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _checked_branding_value(name: str, value):
    from portal import branding as rules

    if name in ("brand_color", "accent_color"):
        colour = rules.parse_hex(value)
        if colour is None:
            raise BrandingRefused("Enter the colour as # and 3 or 6 hex digits, like #1f4fd1",
                                  field=name)
        return colour
    if name == "font":
        if value not in rules.FONT_STACKS:
            raise BrandingRefused("Select a font from the list", field=name)
        return value
    if name == "business_name" and not (value or "").strip():
        raise BrandingRefused("Enter your business name", field=name)
    # Optional text: an empty value removes it.
    value = (value.strip() or None) if isinstance(value, str) else value
    limit = getattr(Branding.__table__.c[name].type, "length", None)
    if isinstance(value, str) and limit and len(value) > limit:
        raise BrandingRefused(f"{name.replace('_', ' ').capitalize()} must be {limit} "
                              "characters or fewer", field=name)
    return value


def update_branding(session: Session, *, changes: dict, now: datetime, actor: str) -> dict:
    """Apply ``changes`` (field -> new value, of BRANDING_FIELDS) to the branding and raise one
    ``branding.updated`` naming what changed, from and to. Colours are stored normalised
    (#rrggbb, lower case). Returns what changed; nothing is written when nothing did."""
    unknown = set(changes) - set(BRANDING_FIELDS)
    if unknown:
        raise BrandingRefused(f"Not a branding setting: {', '.join(sorted(unknown))}")
    branding = get_branding(session)
    changed = {}
    for name, value in changes.items():
        value = _checked_branding_value(name, value)
        if getattr(branding, name) != value:
            changed[name] = {"from": getattr(branding, name), "to": value}
            setattr(branding, name, value)
    if changed:
        branding.updated = now
        raise_event(session, "branding.updated", now=now, actor=actor,
                    data={"changed": changed})
        session.flush()
    return changed


def set_branding_image(session: Session, kind: str, name: str | None, *, now: datetime,
                       actor: str) -> str | None:
    """Make ``name`` (a file portal.images.store_image wrote, or None to remove it) the icon or
    the logo, raising ``branding.updated``. Returns the name it replaced, whose file the caller
    may delete once this is committed."""
    from portal.images import is_stored_name

    if kind not in BRANDING_IMAGES:
        raise BrandingRefused(f"Not a branding image: {kind}")
    if name is not None and not is_stored_name(name):
        raise BrandingRefused("Not a stored image name", field=kind)
    branding = get_branding(session)
    previous = getattr(branding, kind)
    if previous == name:
        return None
    setattr(branding, kind, name)
    branding.updated = now
    raise_event(session, "branding.updated", now=now, actor=actor,
                data={"changed": {kind: {"from": previous, "to": name}}})
    session.flush()
    return previous


def store_branding_image(instance_path: str, upload, kind: str) -> str:
    """Check an uploaded icon or logo by its content (JPEG, PNG or WEBP, under 2 MB, an icon
    square), re-encode it without metadata and store it under a new name, which is returned.
    ``upload`` is the bytes or a stream of them (read no further than 2 MB). Raises
    portal.images.ImageRefused with a message for the person uploading."""
    from portal.images import process_image, read_upload, store_image

    data = read_upload(upload, noun=kind)
    image = process_image(data, max_side=BRANDING_IMAGE_MAX_SIDE[kind], square=kind == "icon",
                          noun=kind)
    return store_image(instance_path, image, prefix=kind)


def discard_branding_image(instance_path: str, name: str | None) -> None:
    """Delete a replaced icon or logo file; only after the change is committed, and only a name
    store_image could have made (never a path)."""
    from portal.images import is_stored_name, uploads_dir

    if name and is_stored_name(name):
        (uploads_dir(instance_path) / name).unlink(missing_ok=True)

# ---- changing the portal configuration (billing_portal.configuration.updated) ---------------

CANCEL_MODES = ("at_period_end", "immediately")
CANCEL_PRORATION_BEHAVIORS = ("none", "create_prorations")
SUBSCRIPTION_UPDATES = ("price", "quantity", "promotion_code")
UPDATE_PRORATION_BEHAVIORS = ("none", "create_prorations", "always_invoice")
SCHEDULE_CONDITIONS = ("decreasing_item_amount", "shortening_interval")
TRIAL_UPDATE_BEHAVIORS = ("continue_trial", "end_trial")
HEADLINE_MAX_LENGTH = 60  # Stripe's business_profile.headline limit, and the column's
URL_MAX_LENGTH = 500
RETENTION_PAUSE_MAX_MONTHS = 3
# adjustable_quantity: the customer side counts fewer than one as one (a subscription for
# nothing is a cancellation), so one is the least that is saved; the most bounds a typo.
QUANTITY_MINIMUM = 1
QUANTITY_MAXIMUM = 9999
DEFAULT_QUANTITY_MAXIMUM = 99  # Stripe's maximum when none is given

_TEXT = ("headline", "terms_of_service_url", "privacy_policy_url", "default_return_url")
_URLS = ("terms_of_service_url", "privacy_policy_url", "default_return_url")
_FLAGS = ("customer_update_enabled", "invoice_history_enabled",
          "payment_method_update_enabled", "subscription_cancel_enabled",
          "cancellation_reason_enabled", "subscription_update_enabled")
# Lists of codes, each kept in its catalogue's order whatever order they were given in.
_CODE_LISTS = {
    "customer_update_allowed": ALLOWED_CUSTOMER_UPDATES,
    "cancellation_reason_options": CANCELLATION_REASONS,
    "subscription_update_default_allowed_updates": SUBSCRIPTION_UPDATES,
    "schedule_at_period_end_conditions": SCHEDULE_CONDITIONS,
}
_CHOICES = {
    "subscription_cancel_mode": CANCEL_MODES,
    "subscription_cancel_proration_behavior": CANCEL_PRORATION_BEHAVIORS,
    "subscription_update_proration_behavior": UPDATE_PRORATION_BEHAVIORS,
    "trial_update_behavior": TRIAL_UPDATE_BEHAVIORS,
}
CONFIGURATION_FIELDS = frozenset((*_TEXT, *_FLAGS, *_CODE_LISTS, *_CHOICES,
                                  "retention_coupon_id", "retention_pause_max_months",
                                  "retention_downgrade_price_id",
                                  "subscription_update_products"))


class ConfigurationRefused(ValueError):
    """Nothing was changed. ``problems`` maps what was wrong (a field name, or
    ``product:<id>``, ``product:<id>:prices``, ``product:<id>:minimum``/``maximum`` for one
    product's entry) to a message that says how to put it right."""

    def __init__(self, problems: dict[str, str]):
        super().__init__("; ".join(problems.values()))
        self.problems = problems


class StaleConfiguration(Exception):
    """The configuration changed after the form was drawn: nothing was saved, so one staff
    member's save never silently undoes another's."""

    message = ("Someone else saved changes to these settings after you opened this page, so "
               "yours were not saved. The settings below are as they are now: make your "
               "changes again.")


def configuration_fingerprint(config: PortalConfiguration) -> str:
    """A digest of every setting update_configuration changes, as the form drew them: a save
    that brings another digest was drawn from settings that have changed since."""
    values = {name: getattr(config, name) for name in sorted(CONFIGURATION_FIELDS)}
    encoded = json.dumps(values, sort_keys=True, default=str).encode()
    return hashlib.sha256(encoded).hexdigest()[:32]


def lock_configuration(session: Session, config: PortalConfiguration) -> PortalConfiguration:
    """Hold the configuration's row lock until the transaction ends and reload it, so the
    check of what was drawn and the write are one step under parallel saves."""
    if session.get_bind().dialect.name != "postgresql":
        # SQLite ignores FOR UPDATE: a no-op write takes its database lock instead (as
        # portal.locking does for customers).
        session.execute(update(PortalConfiguration).where(PortalConfiguration.id == config.id)
                        .values(active=PortalConfiguration.active,
                                updated=PortalConfiguration.updated)
                        .execution_options(synchronize_session=False))
    return session.scalars(
        select(PortalConfiguration).where(PortalConfiguration.id == config.id)
        .with_for_update().execution_options(populate_existing=True)).one()


def _is_whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _clean_text(value):
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError
    return value.strip() or None


def _clean_products(session: Session, entries, problems: dict[str, str]) -> list[dict]:
    """The products customers may switch between, checked against the catalogue: each an
    active product, with active recurring prices of that product, and a sensible quantity
    range. Saved in the shape portal.subscriptions.operations reads."""
    from portal.catalog.models import Price, Product

    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        problems["subscription_update_products"] = "Choose products from the list"
        return []
    product_ids = [e.get("product") for e in entries]
    price_ids = [p for e in entries for p in (e.get("prices") or []) if isinstance(p, str)]
    products = {p.id: p for p in session.scalars(
        select(Product).where(Product.id.in_([i for i in product_ids if isinstance(i, str)])))}
    prices = {p.id: p for p in session.scalars(
        select(Price).where(Price.id.in_(price_ids)))} if price_ids else {}
    cleaned, seen = [], set()
    for entry in entries:
        product_id = entry.get("product")
        product = products.get(product_id) if isinstance(product_id, str) else None
        key = f"product:{product_id}"
        if product is None or not product.active:
            problems[key] = "Choose products from the list: this one is not an active product"
            continue
        if product_id in seen:
            problems[key] = f"{product.name} is listed twice: list each product once"
            continue
        seen.add(product_id)
        chosen = entry.get("prices") or []
        if not isinstance(chosen, list) or not all(isinstance(p, str) for p in chosen):
            problems[f"{key}:prices"] = f"Choose prices of {product.name} from the list"
            continue
        chosen = list(dict.fromkeys(chosen))
        wrong = [p for p in chosen if p not in prices or prices[p].product_id != product_id]
        if wrong:
            problems[f"{key}:prices"] = (f"Choose prices of {product.name} from the list: "
                                         f"{', '.join(wrong)} is not one of them")
            continue
        unusable = [p for p in chosen if not prices[p].active or not prices[p].is_recurring]
        if unusable:
            problems[f"{key}:prices"] = (f"Choose active recurring prices of {product.name}: "
                                         f"{', '.join(unusable)} is not one")
            continue
        if not chosen:
            problems[f"{key}:prices"] = (f"Choose at least one price of {product.name} that "
                                         "customers can switch to")
            continue
        adjustable = entry.get("adjustable_quantity") or {}
        if not isinstance(adjustable, dict):
            adjustable = {}
        enabled = adjustable.get("enabled", False)
        minimum = adjustable.get("minimum", QUANTITY_MINIMUM)
        maximum = adjustable.get("maximum", DEFAULT_QUANTITY_MAXIMUM)
        if minimum is None:
            minimum = QUANTITY_MINIMUM
        if maximum is None:
            maximum = DEFAULT_QUANTITY_MAXIMUM
        if not isinstance(enabled, bool):
            problems[key] = f"Say whether customers may change the quantity of {product.name}"
            continue
        if not _is_whole(minimum) or not QUANTITY_MINIMUM <= minimum <= QUANTITY_MAXIMUM:
            problems[f"{key}:minimum"] = (f"Enter a minimum quantity for {product.name} from "
                                          f"{QUANTITY_MINIMUM} to {QUANTITY_MAXIMUM}")
            continue
        if not _is_whole(maximum) or not QUANTITY_MINIMUM <= maximum <= QUANTITY_MAXIMUM:
            problems[f"{key}:maximum"] = (f"Enter a maximum quantity for {product.name} from "
                                          f"{QUANTITY_MINIMUM} to {QUANTITY_MAXIMUM}")
            continue
        if minimum > maximum:
            problems[f"{key}:maximum"] = (f"Enter a maximum quantity for {product.name} that is "
                                          f"at least the minimum ({minimum})")
            continue
        cleaned.append({"product": product_id, "prices": chosen,
                        "adjustable_quantity": {"enabled": enabled, "minimum": minimum,
                                                "maximum": maximum}})
    return cleaned


def _clean_changes(session: Session, config: PortalConfiguration, changes: dict
                   ) -> dict:
    """``changes`` checked and normalised, or ConfigurationRefused naming every problem."""
    from portal.catalog.models import Coupon, Price
    from portal.rendering import is_safe_return_url

    unknown = set(changes) - CONFIGURATION_FIELDS
    if unknown:
        raise ValueError(f"not portal configuration fields: {', '.join(sorted(unknown))}")
    problems: dict[str, str] = {}
    clean: dict = {}
    for name, value in changes.items():
        if name in _TEXT:
            try:
                value = _clean_text(value)
            except TypeError:
                problems[name] = "Enter text"
                continue
            if value is not None and any(unicodedata.category(ch) == "Cc" for ch in value):
                problems[name] = "Remove the tabs, line breaks and other control characters"
                continue
            if name == "headline" and value and len(value) > HEADLINE_MAX_LENGTH:
                problems[name] = (f"Enter a headline of {HEADLINE_MAX_LENGTH} characters or "
                                  f"fewer (this one has {len(value)})")
                continue
            if name in _URLS and value is not None:
                if len(value) > URL_MAX_LENGTH:
                    problems[name] = f"Enter a URL of {URL_MAX_LENGTH} characters or fewer"
                    continue
                if not is_safe_return_url(value):
                    problems[name] = ("Enter a full web address starting with https:// or "
                                      "http://, like https://example.com/terms")
                    continue
        elif name in _FLAGS:
            if not isinstance(value, bool):
                problems[name] = "Choose yes or no"
                continue
        elif name in _CODE_LISTS:
            catalogue = _CODE_LISTS[name]
            if not isinstance(value, list | tuple) or any(v not in catalogue for v in value):
                problems[name] = "Choose from the options listed"
                continue
            value = [code for code in catalogue if code in value]
        elif name in _CHOICES:
            if value not in _CHOICES[name]:
                problems[name] = "Choose one of the options listed"
                continue
        elif name == "retention_pause_max_months":
            if not _is_whole(value) or not 0 <= value <= RETENTION_PAUSE_MAX_MONTHS:
                problems[name] = (f"Choose a pause of 0 to {RETENTION_PAUSE_MAX_MONTHS} months "
                                  "(0: no pause offered)")
                continue
        elif name == "retention_coupon_id":
            value = value or None
            coupon = session.get(Coupon, value) if isinstance(value, str) else None
            if value is not None and (coupon is None or not coupon.active):
                problems[name] = "Choose one of the active coupons listed, or no coupon"
                continue
        elif name == "retention_downgrade_price_id":
            value = value or None
            price = session.get(Price, value) if isinstance(value, str) else None
            if value is not None and (price is None or not price.active
                                      or not price.is_recurring or not price.product.active):
                problems[name] = ("Choose one of the active recurring prices listed, or no "
                                  "downgrade")
                continue
        elif name == "subscription_update_products":
            value = _clean_products(session, value, problems)
        clean[name] = value

    # Rules between fields, on the configuration as it would be after the change.
    def after(field):
        return clean[field] if field in clean else getattr(config, field)

    if (after("subscription_cancel_proration_behavior") == "create_prorations"
            and after("subscription_cancel_mode") != "immediately"
            and "subscription_cancel_mode" not in problems):
        problems.setdefault(
            "subscription_cancel_proration_behavior",
            "Credit for unused time applies only when subscriptions are cancelled "
            "immediately: choose no proration, or cancel immediately")
    if (after("cancellation_reason_enabled") and not after("cancellation_reason_options")
            and "cancellation_reason_options" not in problems):
        problems["cancellation_reason_options"] = (
            "Choose at least one reason to ask about, or stop asking for a reason")
    if after("subscription_update_enabled"):
        allowed = set(after("subscription_update_default_allowed_updates") or [])
        if (not allowed & {"price", "quantity"}
                and "subscription_update_default_allowed_updates" not in problems):
            problems["subscription_update_default_allowed_updates"] = (
                "Choose what customers may change: the price, the quantity, or both")
        if (not after("subscription_update_products")
                and not any(k.startswith("product:") for k in problems)
                and "subscription_update_products" not in problems):
            problems["subscription_update_products"] = (
                "Choose at least one product customers can switch between, or turn "
                "subscription updates off")
    if problems:
        raise ConfigurationRefused(problems)
    return clean


def update_configuration(session: Session, config: PortalConfiguration, *, changes: dict,
                         now: datetime, actor: str, expected: str | None = None) -> list[str]:
    """Change the portal configuration (the columns named in ``changes``) after checking every
    rule, all or nothing; raise ``billing_portal.configuration.updated`` with the previous
    values of what changed. Returns the names of the fields that changed (none: no event).
    ``expected``: the ``configuration_fingerprint`` the form was drawn with; StaleConfiguration
    when the settings have changed since."""
    config = lock_configuration(session, config)
    if expected and expected != configuration_fingerprint(config):
        raise StaleConfiguration()
    clean = _clean_changes(session, config, changes)
    previous = {}
    for name, value in clean.items():
        current = getattr(config, name)
        if current != value:
            previous[name] = copy.deepcopy(current)
            # A new object, never the old list edited in place: JSON columns are compared by
            # identity, and the customer side must see the whole new value.
            setattr(config, name, copy.deepcopy(value))
    if not previous:
        return []
    config.updated = now
    raise_event(session, "billing_portal.configuration.updated", now=now, actor=actor,
                object_id=config.id, data={"changed": sorted(previous),
                                           "previous_attributes": previous})
    session.flush()
    return sorted(previous)
