"""Who and what this request is about, loaded once per request.

The sign-in the cookie names, its customer and portal session come in one query; the portal
configuration in force and the branding in another, on first use. Everything is kept on the
request itself (``request.environ``), not on ``g``: ``g`` lives as long as the app context,
which tests and CLI code share between requests.

Branding and configuration change rarely but are read by every page, and their query was
nearly half of a small page's cost. With ``SETTINGS_CACHE_SECONDS`` above 0 (production) each
process keeps them that long: a change committed in this process clears its cache at once,
other processes see it when their copy expires. The cached rows are loaded in a session of their
own and are never part of a request's session, so a request's commit cannot expire them.

``portal.customers.auth`` (signing in and out, the view decorators) builds on this module, and
this module on ``portal.portal_settings.operations`` (which makes the rows when missing and
knows nothing of requests), so the two no longer import each other.
"""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import datetime, timedelta
from functools import cache

from flask import current_app, has_app_context, has_request_context, request, session
from sqlalchemy import and_, bindparam, event, or_, select, update
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm.attributes import set_committed_value

from portal import dbtypes
from portal.customers.models import Customer, SignInSession
from portal.extensions import db
from portal.portal_settings.models import Branding, LoginLink, PortalConfiguration, PortalSession
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


def current_portal_session() -> PortalSession | None:
    """The merchant's portal session this sign-in came through, or None."""
    if current_sign_in() is None:
        return None
    return _context().portal_session


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


@cache
def _sign_in_statement():
    """Built once: constructing this select cost more than running it (SQLAlchemy caches the
    compiled SQL, not the statement objects)."""
    return (select(SignInSession, Customer, PortalSession)
            .join(Customer, Customer.id == SignInSession.customer_id)
            .outerjoin(PortalSession, and_(PortalSession.id == SignInSession.portal_session_id,
                                           PortalSession.customer_id == SignInSession.customer_id))
            .where(SignInSession.id == bindparam("record_id")))


def _load_sign_in(context: RequestContext) -> None:
    token = session.get(SESSION_KEY)
    if not token or not isinstance(token, str):
        return
    row = db.session.execute(_sign_in_statement(), {"record_id": record_id(token)}).first()
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
    """The configuration in force and the branding, from this process's cache when it keeps
    one, else from the database in the request's own session."""
    record = current_sign_in()
    wanted = record.configuration_id if record is not None else None
    ttl = float(current_app.config.get("SETTINGS_CACHE_SECONDS") or 0)
    if ttl <= 0:
        context.configuration, context.branding = _read_settings(db.session, wanted)
        return
    cache = _settings_cache(current_app)
    entry = cache.entries.get(wanted)
    clock = monotonic()
    if entry is None or entry[0] <= clock:
        generation = cache.generation
        # Closing (not rolling back, which would expire them) detaches the rows loaded.
        with OrmSession(db.engine, expire_on_commit=False) as own:
            rows = _settings_rows(own, wanted)
        if rows is None:
            # A fresh install: make the missing rows in the request's session, cache nothing.
            context.configuration, context.branding = _read_settings(db.session, wanted)
            return
        entry = (clock + ttl, *rows)
        # A change committed while this was loading may not be in these rows: use them for
        # this request only.
        if generation == cache.generation:
            if len(cache.entries) >= SETTINGS_CACHE_MAX_ENTRIES:
                cache.entries.clear()
            cache.entries[wanted] = entry
    context.configuration, context.branding = entry[1], entry[2]


def _settings_rows(db_session, wanted: str | None):
    """Both rows in one query: the branding beside the default configuration and, for a
    sign-in made with a configuration of its own, that one too. None when one is missing."""
    which = PortalConfiguration.is_default.is_(True)
    if wanted:
        which = or_(which, PortalConfiguration.id == wanted)
    rows = db_session.execute(
        select(PortalConfiguration, Branding)
        .join_from(PortalConfiguration, Branding, Branding.id == 1)
        .where(which)
        .order_by(PortalConfiguration.created, PortalConfiguration.id)
    ).all()
    chosen = next((c for c, _ in rows if wanted and c.id == wanted and c.active), None)
    chosen = chosen or next((c for c, _ in rows if c.is_default), None)
    branding = rows[0][1] if rows else None
    if chosen is None or branding is None:
        return None
    return chosen, branding


def _read_settings(db_session, wanted: str | None):
    """The two rows from ``db_session``, making (and committing) what a fresh install lacks."""
    rows = _settings_rows(db_session, wanted)
    if rows is not None:
        return rows
    branding = get_branding(db_session)
    chosen = db_session.get(PortalConfiguration, wanted) if wanted else None
    if chosen is None or not chosen.active:
        chosen = default_configuration(db_session)
    db_session.commit()
    return chosen, branding


# ---- the per-process settings cache --------------------------------------------------------

_CACHE_KEY = "portal.settings_cache"
# Sign-ins name few configurations; the bound only keeps a flood of distinct ones finite.
SETTINGS_CACHE_MAX_ENTRIES = 256
_CHANGED_KEY = "portal.settings_changed"
_SETTINGS_MODELS = (Branding, PortalConfiguration, LoginLink)


def monotonic() -> float:
    """The cache's clock, a module function so tests can move it with monkeypatch."""
    return time.monotonic()


class SettingsCache:
    """Per app (tests build many apps on different databases): wanted configuration id ->
    (expires at, configuration, branding). ``generation`` counts the clears."""

    def __init__(self) -> None:
        self.entries: dict = {}
        self.generation = 0
        self.lock = threading.Lock()

    def clear(self) -> None:
        with self.lock:
            self.generation += 1
            self.entries = {}


def _settings_cache(app) -> SettingsCache:
    cache = app.extensions.get(_CACHE_KEY)
    if cache is None:
        cache = app.extensions.setdefault(_CACHE_KEY, SettingsCache())
    return cache


def clear_settings_cache(app=None) -> None:
    """Forget the cached branding and configurations, so the next request reads them."""
    app = app or current_app
    cache = app.extensions.get(_CACHE_KEY)
    if cache is not None:
        cache.clear()


@event.listens_for(OrmSession, "after_flush")
def _note_settings_change(db_session, flush_context) -> None:
    if any(isinstance(obj, _SETTINGS_MODELS)
           for obj in (*db_session.new, *db_session.dirty, *db_session.deleted)):
        db_session.info[_CHANGED_KEY] = True


@event.listens_for(OrmSession, "after_bulk_update")
@event.listens_for(OrmSession, "after_bulk_delete")
def _note_bulk_settings_change(update_context) -> None:
    if update_context.mapper.class_ in _SETTINGS_MODELS:
        update_context.session.info[_CHANGED_KEY] = True


@event.listens_for(OrmSession, "after_commit")
def _clear_after_settings_change(db_session) -> None:
    if db_session.info.pop(_CHANGED_KEY, False) and has_app_context():
        clear_settings_cache()


@event.listens_for(OrmSession, "after_soft_rollback")
def _forget_rolled_back_change(db_session, previous_transaction) -> None:
    if not db_session.in_transaction():
        db_session.info.pop(_CHANGED_KEY, None)
