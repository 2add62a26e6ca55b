"""Dashboard views: Customers (a placeholder until the area is built)."""

from __future__ import annotations

from flask import render_template

from portal.admin.auth import admin_blueprint

bp = admin_blueprint("admin_customers", __name__, url_prefix="/admin/customers")


@bp.get("/")
def customer_list():
    """Customers."""
    return render_template("admin/placeholder.html", title="Customers", section="customers")


@bp.get("/<customer_id>")
def customer_page(customer_id: str):
    """One customer."""
    return render_template("admin/placeholder.html", title="Customer", section="customers")
