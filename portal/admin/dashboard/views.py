"""Dashboard views: Dashboard (a placeholder until the area is built)."""

from __future__ import annotations

from flask import render_template

from portal.admin.auth import admin_blueprint

bp = admin_blueprint("admin_dashboard", __name__, url_prefix="/admin")


@bp.get("/")
def home():
    """Dashboard."""
    return render_template("admin/placeholder.html", title="Dashboard", section="dashboard")
