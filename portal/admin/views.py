"""Staff sign-in and sign-out. Each dashboard area has its own blueprint under portal/admin/."""

from __future__ import annotations

from flask import Blueprint, flash, render_template, request, url_for

from portal.admin import operations
from portal.admin.auth import current_staff, sign_in_staff, sign_out_staff
from portal.admin.forms import StaffSignInForm
from portal.customers.models import normalize_email
from portal.dbtypes import utcnow
from portal.events import raise_event
from portal.extensions import db
from portal.login import limits
from portal.rendering import is_safe_local_path, see_other

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _next_url() -> str:
    target = request.values.get("next")
    if target and is_safe_local_path(target) and target.startswith("/admin"):
        return target
    return url_for("admin_dashboard.home")


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    """Show the staff sign-in form and sign staff in with their email and password."""
    if request.method == "GET" and current_staff() is not None:
        return see_other(_next_url())
    form = StaffSignInForm()
    status = 200
    if request.method == "POST":
        status = 422
        if form.validate_on_submit():
            breach = limits.hit(
                ("ADMIN_SIGN_IN_LIMIT_PER_IP", limits.client_ip()),
                ("ADMIN_SIGN_IN_LIMIT_PER_ADDRESS_AND_IP",
                 f"{limits.address_key(normalize_email(form.email.data))}:{limits.client_ip()}"),
                ("ADMIN_SIGN_IN_LIMIT_PER_ADDRESS",
                 limits.address_key(normalize_email(form.email.data))),
            )
            now = utcnow()
            if breach is not None:
                status = 429
                form.form_errors.append(f"Too many attempts to sign in. Try again in {breach.minutes} "
                           f"minute{'s' if breach.minutes != 1 else ''}.")
            else:
                staff = operations.authenticate(db.session, form.email.data, form.password.data,
                                                now=now, ip_address=limits.client_ip())
                if staff is not None:
                    sign_in_staff(staff, now=now, ip_address=limits.client_ip())
                    db.session.commit()
                    return see_other(_next_url())
                db.session.commit()  # the failed attempt stays in the audit log
                form.form_errors.append("The email address or password is not right. Check both and try again.")
        form.password.data = ""  # never sent back to the browser
    response = render_template("admin/sign_in.html", form=form,
                               next_url=request.values.get("next", ""))
    return response, status


@bp.post("/sign-out")
def sign_out():
    """End this browser's staff session."""
    # CSRFProtect checks the token before any POST reaches a view.
    staff = current_staff()
    now = utcnow()
    if staff is not None:
        raise_event(db.session, "staff.signed_out", now=now,
                    actor=operations.staff_actor(staff), object_id=staff.id)
    sign_out_staff(now=now)
    db.session.commit()
    flash("You are signed out of the dashboard.", "success")
    return see_other(url_for("admin.sign_in"))
