"""The merchant's uploaded branding images, public to every visitor."""

from flask import Blueprint, abort, current_app, send_from_directory

from portal.extensions import db
from portal.images import is_stored_name
from portal.portal_settings.operations import get_branding

# Outside /p/: the icon and logo are the same for everyone and hold no customer data, so they
# may be cached (a day) while every /p/ answer is no-store. Pages link them with ?v=<stored
# name>, so a new image gets a new URL; this answers with the current one whatever ?v= says.
bp = Blueprint("branding", __name__, url_prefix="/branding")


@bp.get("/<any(icon, logo):kind>")
def branding_image(kind: str):
    """Serve the merchant's uploaded icon or logo from the instance folder."""
    filename = getattr(get_branding(db.session), kind)
    # Only a name portal.images.store_image could have made: never a path, a dot file, or a
    # type we did not re-encode (an SVG could carry script).
    if not is_stored_name(filename):
        abort(404)
    return send_from_directory(f"{current_app.instance_path}/uploads", filename, max_age=86400)
