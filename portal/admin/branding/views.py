"""Dashboard views: Branding (a placeholder until the area is built)."""

from __future__ import annotations

from flask import render_template

from portal.admin.auth import admin_blueprint

bp = admin_blueprint("admin_branding", __name__, url_prefix="/admin/branding")


@bp.get("/")
def branding():
    """Branding."""
    return render_template("admin/placeholder.html", title="Branding", section="branding")
