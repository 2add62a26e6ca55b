"""Who is signed in to the dashboard. Staff sign-ins are kept apart from customers' entirely.

A staff member's browser carries its own cookie, ``portal_admin``, scoped to ``/admin`` and
holding a random token whose digest names a ``StaffSession`` row. The customer portal never
reads it (``/p/`` requests do not even carry it), and the customer's cookie session never makes
anyone staff: an admin page asks only ``current_staff()``.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from flask import Blueprint, Flask, current_app, redirect, request, url_for
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal import dbtypes
from portal.admin.models import StaffSession, StaffUser
from portal.extensions import db

COOKIE_NAME = "portal_admin"
COOKIE_PATH = "/admin"
_ENVIRON_KEY = "portal.staff"
_COOKIE_CHANGE = "portal.staff_cookie"  # a new token to set, or "" to delete the cookie
TOUCH_INTERVAL = timedelta(minutes=1)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _seconds(name: str) -> timedelta:
    value = current_app.config[name]
    return value if isinstance(value, timedelta) else timedelta(seconds=int(value))


def current_staff() -> StaffUser | None:
    """The staff member this request's ``portal_admin`` cookie belongs to, loaded once."""
    if _ENVIRON_KEY in request.environ:
        return request.environ[_ENVIRON_KEY][1]
    record = staff = None
    token = request.cookies.get(COOKIE_NAME)
    if token and len(token) < 200:
        now = dbtypes.utcnow()
        row = db.session.execute(
            select(StaffSession, StaffUser)
            .join(StaffUser, StaffUser.id == StaffSession.staff_id)
            .where(StaffSession.id == _digest(token), StaffSession.ended_at.is_(None),
                   StaffUser.active.is_(True))
        ).first()
        if row is not None:
            record, staff = row
            if (now - record.last_seen > _seconds("ADMIN_SESSION_IDLE_SECONDS")
                    or now - record.created > _seconds("ADMIN_SESSION_ABSOLUTE_SECONDS")):
                record = staff = None
            elif now - record.last_seen > TOUCH_INTERVAL:
                db.session.execute(update(StaffSession).where(StaffSession.id == record.id)
                                   .values(last_seen=now))
                db.session.commit()
    request.environ[_ENVIRON_KEY] = (record, staff)
    return staff


def sign_in_staff(staff: StaffUser, *, now: datetime, ip_address: str | None) -> None:
    """Open a staff session for this browser; the cookie is set on the response."""
    previous = request.cookies.get(COOKIE_NAME)
    if previous:
        db.session.execute(update(StaffSession).where(StaffSession.id == _digest(previous))
                           .values(ended_at=now))
    token = secrets.token_urlsafe(32)
    record = StaffSession(id=_digest(token), staff_id=staff.id, created=now, last_seen=now,
                          ip_address=ip_address)
    db.session.add(record)
    request.environ[_ENVIRON_KEY] = (record, staff)
    request.environ[_COOKIE_CHANGE] = token


def sign_out_staff(*, now: datetime) -> None:
    """End this browser's staff session on the server, so a copied cookie is worthless."""
    token = request.cookies.get(COOKIE_NAME)
    if token:
        db.session.execute(update(StaffSession).where(StaffSession.id == _digest(token))
                           .values(ended_at=now))
    request.environ[_ENVIRON_KEY] = (None, None)
    request.environ[_COOKIE_CHANGE] = ""


def end_all_sessions(session: Session, staff: StaffUser, *, now: datetime) -> None:
    """End every open session of ``staff`` (a changed password, a removed account)."""
    session.execute(update(StaffSession)
                    .where(StaffSession.staff_id == staff.id, StaffSession.ended_at.is_(None))
                    .values(ended_at=now))


def _apply_cookie_change(response):
    change = request.environ.get(_COOKIE_CHANGE)
    if change is None:
        return response
    if change == "":
        response.delete_cookie(COOKIE_NAME, path=COOKIE_PATH)
        return response
    config = current_app.config
    response.set_cookie(
        COOKIE_NAME, change, path=COOKIE_PATH, httponly=True, samesite="Strict",
        secure=bool(config["SESSION_COOKIE_SECURE"]) or request.is_secure,
        max_age=int(_seconds("ADMIN_SESSION_ABSOLUTE_SECONDS").total_seconds()),
    )
    return response


def init_app(app: Flask) -> None:
    app.after_request(_apply_cookie_change)
    # A callable, so only dashboard pages (which ask) pay for the lookup.
    app.context_processor(lambda: {"current_staff": current_staff})



def admin_blueprint(name: str, import_name: str, url_prefix: str) -> Blueprint:
    """A dashboard blueprint: every view in it needs signed-in staff (no view can forget)."""
    bp = Blueprint(name, import_name, url_prefix=url_prefix)

    @bp.before_request
    def require_staff():
        if current_staff() is None:
            return redirect(url_for("admin.sign_in", next=request.full_path.rstrip("?")),
                            code=303)
        return None

    return bp
