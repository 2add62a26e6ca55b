"""Customer pages: the overview and billing information."""

from flask import Blueprint, abort, current_app, send_from_directory

from portal.customers.auth import customer_required
from portal.extensions import db
from portal.portal_settings.operations import get_branding
from portal.rendering import render_page

bp = Blueprint("customers", __name__, url_prefix="/p")


@bp.get("/")
@customer_required
def overview(customer):
    """The signed-in customer's home: subscriptions, payment method, details, latest invoices."""
    return render_page("customers/overview.html", customer=customer)


@bp.get("/billing-information")
@customer_required
def billing_information(customer):
    """The customer's name, addresses, phone and tax IDs."""
    return render_page("customers/overview.html", customer=customer)


@bp.get("/branding/<any(icon, logo):kind>")
def branding_image(kind: str):
    """Serve the merchant's uploaded icon or logo from the instance folder."""
    filename = getattr(get_branding(db.session), kind)
    if not filename or "/" in filename or filename.startswith("."):
        abort(404)
    return send_from_directory(f"{current_app.instance_path}/uploads", filename, max_age=86400)
