"""Signing in with the merchant's login link and an emailed one-time passcode."""

from flask import Blueprint

from portal.rendering import render_page

bp = Blueprint("login", __name__, url_prefix="/p")


@bp.get("/signed-out")
def signed_out():
    """Tell a signed-out visitor how to sign in again."""
    return render_page("login/signed_out.html")
