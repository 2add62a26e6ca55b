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
