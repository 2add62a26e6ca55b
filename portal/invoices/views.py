"""Customer pages for invoices."""

from flask import Blueprint

from portal.customers.auth import customer_required
from portal.rendering import render_page

bp = Blueprint("invoices", __name__, url_prefix="/p")


@bp.get("/invoices")
@customer_required
def invoice_history(customer):
    """The customer's invoices, newest first."""
    return render_page("customers/overview.html", customer=customer)
