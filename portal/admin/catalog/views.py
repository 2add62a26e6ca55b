"""Dashboard views: Products (a placeholder until the area is built)."""

from __future__ import annotations

from flask import render_template

from portal.admin.auth import admin_blueprint

bp = admin_blueprint("admin_catalog", __name__, url_prefix="/admin/products")


@bp.get("/")
def product_list():
    """Products."""
    return render_template("admin/placeholder.html", title="Products", section="catalog")
