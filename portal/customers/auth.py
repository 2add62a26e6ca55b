"""Who is signed in. Every customer view gets its customer from here, and only from here."""

from __future__ import annotations

import secrets
from datetime import datetime
from functools import wraps

from flask import (
    abort,
    current_app,
    g,
    has_request_context,
    make_response,
    redirect,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface

from portal.customers.models import Customer, SignInSession
from portal.extensions import db
from portal.i18n import SESSION_LOCALE
from portal.rendering import wants_fragment

# Loading who is signed in lives in portal.request_context (once per request, shared with the
# portal settings); these names stay here because every view imports them from here.
from portal.request_context import (  # noqa: F401  (re-exported)
    SESSION_KEY,
    configuration_for_request,
    current_customer,
    current_sign_in,
    set_sign_in,
)
from portal.request_context import record_id as _record_id

# Blueprints whose answers are the same for everyone and may be cached by shared caches.
PUBLIC_CACHED_BLUEPRINTS = frozenset({"branding", "catalog"})
# Probes and the metrics scrape (portal/ops/health.py) carry no session either.
COOKIELESS_BLUEPRINTS = PUBLIC_CACHED_BLUEPRINTS | {"ops"}


class PortalSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, marked Secure whenever the request came over HTTPS.

    Decided per request from ``request.is_secure`` (which ProxyFix corrects behind a proxy), so
    one deployment serves https with Secure cookies and a plain-http development server still
    works. SESSION_COOKIE_SECURE = True forces it on everywhere.
    """

    def get_cookie_secure(self, app) -> bool:
        if app.config["SESSION_COOKIE_SECURE"]:
            return True
        return has_request_context() and request.is_secure

    def should_set_cookie(self, app, session) -> bool:
        # Public, cached answers (the branding and product images, cached a day) must never
        # carry a customer's refreshed session cookie: a shared cache would hand it to others.
        if has_request_context() and request.blueprint in COOKIELESS_BLUEPRINTS:
            return False
        return super().should_set_cookie(app, session)

    def get_cookie_httponly(self, app) -> bool:
        return True  # the session cookie is never for scripts

    def get_cookie_samesite(self, app) -> str:
        # Lax unless the operator chose Strict; never None, which would send it cross-site.
        return "Strict" if app.config["SESSION_COOKIE_SAMESITE"] == "Strict" else "Lax"


def open_sign_in_session(customer_id: str, *, now: datetime, via: str = "login_link",
                         configuration_id: str | None = None,
                         portal_session_id: str | None = None) -> tuple[SignInSession, str]:
    """Add a sign-in row and return it with the token the cookie carries (never stored)."""
    token = secrets.token_urlsafe(32)
    record = SignInSession(
        id=_record_id(token),
        customer_id=customer_id,
        via=via,
        configuration_id=configuration_id,
        portal_session_id=portal_session_id,
        created=now,
        last_seen=now,
    )
    db.session.add(record)
    return record, token


def sign_in(customer: Customer, *, now: datetime, via: str = "login_link",
            configuration_id: str | None = None, portal_session_id: str | None = None) -> None:
    """Start a new signed-in session; the old cookie's contents are dropped (rotation)."""
    previous = current_sign_in()
    if previous is not None:
        previous.ended_at = now  # signing in again replaces the browser's earlier session
    _clear_keeping_language()
    _forget_csrf_token()  # Flask-WTF's cached token belonged to the cleared session
    record, token = open_sign_in_session(customer.id, now=now, via=via,
                                         configuration_id=configuration_id,
                                         portal_session_id=portal_session_id)
    db.session.commit()
    session[SESSION_KEY] = token
    session.permanent = True
    set_sign_in(record, customer)


def sign_out(*, now: datetime) -> None:
    """End the server-side session so the cookie is worthless even if replayed."""
    record = current_sign_in()
    if record is not None:
        record.ended_at = now
        db.session.commit()
    _clear_keeping_language()
    _forget_csrf_token()
    set_sign_in(None)


def _clear_keeping_language() -> None:
    """Empty the cookie session but for the language the visitor chose in the footer."""
    locale = session.get(SESSION_LOCALE)
    session.clear()
    if locale:
        session[SESSION_LOCALE] = locale


def _forget_csrf_token() -> None:
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)


def email_change_allowed(configuration=None) -> bool:
    """Whether the signed-in customer may change their email address here.

    Never through a login-link session: the email is what proved who they are. Otherwise the
    portal configuration decides (``customer_update.allowed_updates`` contains "email").
    """
    record = current_sign_in()
    if record is None or record.via == "login_link":
        return False
    if configuration is None:
        configuration = configuration_for_request()
    return configuration.allows_update("email")


def customer_required(view):
    """Send signed-out visitors to sign in; give the view ``customer`` as a keyword."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        customer = current_customer()
        if customer is None:
            if session.get(SESSION_KEY):
                session.clear()  # ended or idle: drop the dead id
            destination = url_for("login.signed_out", next=request.path)
            if wants_fragment():
                # htmx follows a 303 itself and would put the signed-out page inside the
                # section that asked; HX-Redirect loads it as the whole page instead.
                response = make_response("", 200)
                response.headers["HX-Redirect"] = destination
            else:
                response = redirect(destination, code=303)
            response.vary.add("HX-Request")  # the answer depends on it, as a page's does
            return response
        g.customer = customer
        return view(*args, customer=customer, **kwargs)

    return wrapped


def feature_required(is_enabled):
    """404 unless ``is_enabled(configuration)`` is true: switched-off features do not exist."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not is_enabled(configuration_for_request()):
                abort(404)
            return view(*args, **kwargs)

        return wrapped

    return decorator
