"""Dashboard views: Customer portal (a placeholder until the area is built)."""

from __future__ import annotations

from flask import render_template

from portal.admin.auth import admin_blueprint

bp = admin_blueprint("admin_portal", __name__, url_prefix="/admin/portal")


@bp.get("/")
def configuration():
    """Customer portal."""
    return render_template("admin/placeholder.html", title="Customer portal", section="portal_config")
