"""Who is signed in. Every customer view gets its customer from here, and only from here."""

from __future__ import annotations

import secrets
from datetime import datetime
from functools import wraps

from flask import abort, current_app, g, redirect, request, session, url_for

from portal.customers.models import Customer, SignInSession
from portal.dbtypes import utcnow
from portal.extensions import db

SESSION_KEY = "sid"


def sign_in(customer: Customer, *, now: datetime, via: str = "login_link",
            configuration_id: str | None = None, portal_session_id: str | None = None) -> None:
    """Start a new signed-in session; the old cookie's contents are dropped (rotation)."""
    session.clear()
    record = SignInSession(
        id=secrets.token_urlsafe(32),
        customer_id=customer.id,
        via=via,
        configuration_id=configuration_id,
        portal_session_id=portal_session_id,
        created=now,
        last_seen=now,
    )
    db.session.add(record)
    db.session.commit()
    session[SESSION_KEY] = record.id
    session.permanent = True


def sign_out(*, now: datetime) -> None:
    """End the server-side session so the cookie is worthless even if replayed."""
    record = current_sign_in()
    if record is not None:
        record.ended_at = now
        db.session.commit()
    session.clear()


def current_sign_in() -> SignInSession | None:
    """The live sign-in for this request, or None when signed out, ended or idle too long."""
    if "sign_in" in g:
        return g.sign_in
    g.sign_in = None
    sid = session.get(SESSION_KEY)
    if not sid:
        return None
    record = db.session.get(SignInSession, sid)
    now = utcnow()
    idle = current_app.permanent_session_lifetime
    if record is None or record.ended_at is not None or now - record.last_seen > idle:
        return None
    # Touch at most once a minute so page views do not each write a row.
    if (now - record.last_seen).total_seconds() > 60:
        record.last_seen = now
        db.session.commit()
    g.sign_in = record
    return record


def current_customer() -> Customer | None:
    """The signed-in customer, or None."""
    record = current_sign_in()
    if record is None:
        return None
    return db.session.get(Customer, record.customer_id)


def customer_required(view):
    """Send signed-out visitors to sign in; give the view ``customer`` as a keyword."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        customer = current_customer()
        if customer is None:
            if session.get(SESSION_KEY):
                session.clear()  # ended or idle: drop the dead id
            return redirect(url_for("login.signed_out", next=request.path), code=303)
        g.customer = customer
        return view(*args, customer=customer, **kwargs)

    return wrapped


def feature_required(is_enabled):
    """404 unless ``is_enabled(configuration)`` is true: switched-off features do not exist."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            from portal.portal_settings.operations import configuration_for_request

            if not is_enabled(configuration_for_request()):
                abort(404)
            return view(*args, **kwargs)

        return wrapped

    return decorator
