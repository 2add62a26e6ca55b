"""Reading and changing the merchant's settings: configuration, branding, login links."""

from __future__ import annotations

import secrets
from datetime import datetime
from urllib.parse import quote

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.events import raise_event
from portal.portal_settings.models import Branding, LoginLink, PortalConfiguration


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


def default_configuration(session: Session) -> PortalConfiguration:
    """The default portal configuration, created with the dashboard's defaults if missing."""
    config = session.scalars(
        select(PortalConfiguration).where(PortalConfiguration.is_default.is_(True))
    ).first()
    if config is None:
        config = PortalConfiguration(
            is_default=True,
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
        session.add(config)
        session.flush()
    return config


def active_login_link(session: Session) -> LoginLink | None:
    """The login link customers may use now, if the merchant activated one."""
    return session.scalars(
        select(LoginLink).where(LoginLink.active.is_(True)).order_by(LoginLink.created.desc())
    ).first()


def activate_login_link(session: Session, *, now: datetime, rotate: bool = False) -> LoginLink:
    """Return the active login link, making one if none is active; ``rotate`` replaces it."""
    link = active_login_link(session)
    if link is not None and not rotate:
        return link
    if link is not None:
        deactivate_login_links(session, now=now)
    config = default_configuration(session)
    config.login_page_enabled = True
    link = LoginLink(id=secrets.token_urlsafe(18), active=True, configuration_id=config.id,
                     created=now)
    session.add(link)
    raise_event(session, "login_link.activated", now=now, actor="merchant", object_id=None)
    session.flush()
    return link


def deactivate_login_links(session: Session, *, now: datetime) -> int:
    """Kill every login link, so every copy already shared answers 'not active', and end every
    sign-in made through one: whoever the link let in must sign in again."""
    from portal.customers.models import SignInSession

    links = session.scalars(select(LoginLink).where(LoginLink.active.is_(True))).all()
    for link in links:
        link.active = False
        link.deactivated_at = now
    default_configuration(session).login_page_enabled = False
    # Only one link is ever active, so the login-link sign-ins are its sign-ins. Sessions
    # opened by the merchant's server (via="portal_session") did not use the link and stay.
    ended = session.execute(
        update(SignInSession)
        .where(SignInSession.via == "login_link", SignInSession.ended_at.is_(None))
        .values(ended_at=now)
    ).rowcount
    raise_event(session, "login_link.deactivated", now=now, actor="merchant",
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
