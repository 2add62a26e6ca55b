"""Signing in with the merchant's login link and an emailed one-time passcode."""

from flask import Blueprint, url_for

from portal.customers.auth import sign_out as end_sign_in
from portal.dbtypes import utcnow
from portal.rendering import render_page, see_other

bp = Blueprint("login", __name__, url_prefix="/p")


@bp.get("/signed-out")
def signed_out():
    """Tell a signed-out visitor how to sign in again."""
    return render_page("login/signed_out.html")


@bp.post("/sign-out")
def sign_out():
    """End the session on the server and in the browser."""
    end_sign_in(now=utcnow())
    return see_other(url_for("login.signed_out"))
