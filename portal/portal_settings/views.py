"""The merchant's uploaded branding images, public to every visitor."""

from flask import Blueprint, abort, current_app, send_from_directory

from portal.extensions import db
from portal.portal_settings.operations import get_branding

# Outside /p/: the icon and logo are the same for everyone and hold no customer data, so they
# may be cached (a day) while every /p/ answer is no-store.
bp = Blueprint("branding", __name__, url_prefix="/branding")


@bp.get("/<any(icon, logo):kind>")
def branding_image(kind: str):
    """Serve the merchant's uploaded icon or logo from the instance folder."""
    filename = getattr(get_branding(db.session), kind)
    if not filename or "/" in filename or filename.startswith("."):
        abort(404)
    return send_from_directory(f"{current_app.instance_path}/uploads", filename, max_age=86400)
