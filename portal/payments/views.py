"""Customer pages for payment methods."""

from flask import Blueprint

from portal.customers.auth import customer_required
from portal.rendering import render_page

bp = Blueprint("payments", __name__, url_prefix="/p")


@bp.get("/payment-methods")
@customer_required
def payment_methods(customer):
    """The customer's saved cards."""
    return render_page("customers/overview.html", customer=customer)
