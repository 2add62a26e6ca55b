"""Who and what this request is about, loaded once per request.

The sign-in the cookie names, its customer and portal session come in one query; the portal
configuration in force and the branding in another, on first use. Everything is kept on the
request itself (``request.environ``), not on ``g``: ``g`` lives as long as the app context,
which tests and CLI code share between requests.

Branding and configuration are read from the database on every request rather than cached in
the process: a merchant's change must show at once in every server process, and one indexed
query of two one-row tables costs far less than keeping a cross-process cache honest.

``portal.customers.auth`` (signing in and out, the view decorators) builds on this module, and
this module on ``portal.portal_settings.operations`` (which makes the rows when missing and
knows nothing of requests), so the two no longer import each other.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from flask import current_app, has_request_context, request, session
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm.attributes import set_committed_value

from portal import dbtypes
from portal.customers.models import Customer, SignInSession
from portal.extensions import db
from portal.portal_settings.models import Branding, PortalConfiguration, PortalSession
from portal.portal_settings.operations import default_configuration, get_branding

# The cookie session key holding the sign-in token.
SESSION_KEY = "sid"
_ENVIRON_KEY = "portal.request_context"
# A page view refreshes last_seen at most this often, so browsing does not write on every request.
TOUCH_INTERVAL = timedelta(minutes=1)


class RequestContext:
    """What one request has loaded so far; each part is loaded the first time it is asked for."""

    __slots__ = ("db_session", "sign_in_loaded", "sign_in", "customer", "portal_session",
                 "configuration", "branding")

    def __init__(self, db_session) -> None:
        self.db_session = db_session
        self.sign_in_loaded = False
        self.sign_in: SignInSession | None = None
        self.customer: Customer | None = None
        # Held so the session's identity map (weak references) keeps it for the footer's
        # "Return to" link, which then needs no query of its own.
        self.portal_session: PortalSession | None = None
        self.configuration: PortalConfiguration | None = None
        self.branding: Branding | None = None


def record_id(token: str) -> str:
    """The row id for a cookie token: its SHA-256, so a copy of the table signs nobody in."""
    return hashlib.sha256(token.encode()).hexdigest()


def _context() -> RequestContext | None:
    if not has_request_context():
        return None
    context = request.environ.get(_ENVIRON_KEY)
    current_session = db.session()
    # Objects belong to the database session that loaded them. A copy of the request context
    # in another thread (the login email job) has a session of its own, and loads afresh.
    if context is None or context.db_session is not current_session:
        context = request.environ[_ENVIRON_KEY] = RequestContext(current_session)
    return context


def _as_timedelta(value) -> timedelta:
    """Settings given as seconds (from PORTAL_* variables) or as a timedelta."""
    return value if isinstance(value, timedelta) else timedelta(seconds=int(value))


def idle_lifetime() -> timedelta:
    """How long a signed-in customer may be idle (PERMANENT_SESSION_LIFETIME)."""
    return current_app.permanent_session_lifetime


def absolute_lifetime() -> timedelta:
    """How long a sign-in lasts however active it is (SESSION_ABSOLUTE_LIFETIME)."""
    return _as_timedelta(current_app.config.get("SESSION_ABSOLUTE_LIFETIME", 12 * 3600))


def sign_in_is_live(record: SignInSession, now: datetime) -> bool:
    """Not ended, not idle too long, and not older than the absolute lifetime."""
    return (record.ended_at is None
            and now - record.last_seen <= idle_lifetime()
            and now - record.created <= absolute_lifetime())


def current_sign_in() -> SignInSession | None:
    """The live sign-in for this request, or None when signed out, ended or expired."""
    context = _context()
    if context is None:
        return None
    if not context.sign_in_loaded:
        context.sign_in_loaded = True
        _load_sign_in(context)
    return context.sign_in


def current_customer() -> Customer | None:
    """The signed-in customer, or None (also when the customer was deleted)."""
    if current_sign_in() is None:
        return None
    customer = _context().customer
    return None if customer is None or customer.deleted else customer


def set_sign_in(record: SignInSession | None, customer: Customer | None = None) -> None:
    """Make ``record`` this request's sign-in (just signed in, or None: just signed out)."""
    context = _context()
    context.sign_in_loaded = True
    context.sign_in = record
    context.customer = customer if record is not None else None
    context.portal_session = None
    if record is not None and customer is None:
        context.customer = db.session.get(Customer, record.customer_id)
    # The configuration follows the sign-in; load it again if asked.
    context.configuration = None


def _load_sign_in(context: RequestContext) -> None:
    token = session.get(SESSION_KEY)
    if not token or not isinstance(token, str):
        return
    row = db.session.execute(
        select(SignInSession, Customer, PortalSession)
        .join(Customer, Customer.id == SignInSession.customer_id)
        .outerjoin(PortalSession, and_(PortalSession.id == SignInSession.portal_session_id,
                                       PortalSession.customer_id == SignInSession.customer_id))
        .where(SignInSession.id == record_id(token))
    ).first()
    if row is None:
        return
    record, customer, portal_session = row
    # Read through the module, so tests can move the clock with monkeypatch.
    now = dbtypes.utcnow()
    if not sign_in_is_live(record, now):
        return
    if now - record.last_seen > TOUCH_INTERVAL:
        _touch(record, now)
    context.sign_in, context.customer, context.portal_session = record, customer, portal_session


def _touch(record: SignInSession, now: datetime) -> None:
    """Move last_seen forward in a short transaction of its own.

    Committing the request's own session here would expire everything it has loaded (each
    object would be read again) and would commit whatever the view had changed so far.
    """
    with db.engine.begin() as connection:
        connection.execute(update(SignInSession).where(SignInSession.id == record.id)
                           .values(last_seen=now))
    set_committed_value(record, "last_seen", now)


# ---- configuration and branding ------------------------------------------------------------

def configuration_for_request() -> PortalConfiguration:
    """The configuration of the signed-in session when it is active, else the default."""
    context = _context()
    if context is None:
        return default_configuration(db.session)
    if context.configuration is None:
        _load_settings(context)
    return context.configuration


def branding_for_request() -> Branding:
    """The merchant's branding, read once for the request."""
    context = _context()
    if context is None:
        return get_branding(db.session)
    if context.branding is None:
        _load_settings(context)
    return context.branding


def _load_settings(context: RequestContext) -> None:
    """Both rows in one query: the branding beside the default configuration and, for a
    sign-in made with a configuration of its own, that one too."""
    record = current_sign_in()
    wanted = record.configuration_id if record is not None else None
    which = PortalConfiguration.is_default.is_(True)
    if wanted:
        which = or_(which, PortalConfiguration.id == wanted)
    rows = db.session.execute(
        select(PortalConfiguration, Branding)
        .join_from(PortalConfiguration, Branding, Branding.id == 1)
        .where(which)
        .order_by(PortalConfiguration.created, PortalConfiguration.id)
    ).all()
    chosen = next((c for c, _ in rows if wanted and c.id == wanted and c.active), None)
    chosen = chosen or next((c for c, _ in rows if c.is_default), None)
    branding = rows[0][1] if rows else None
    if chosen is None or branding is None:
        # A fresh install lacks the default configuration or the branding: make what is
        # missing, and keep it.
        branding = get_branding(db.session)
        if wanted:
            chosen = db.session.get(PortalConfiguration, wanted)
        if chosen is None or not chosen.active:
            chosen = default_configuration(db.session)
        db.session.commit()
    context.configuration, context.branding = chosen, branding
