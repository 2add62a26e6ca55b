"""Dashboard views: Developers. Secret API keys are made here (shown once) and revoked.

A new key's secret is shown in the answer to the POST that made it, never put in a flash
message (those travel in a cookie) nor in a URL, and the page is not stored (`/admin` is
no-store): reload it and the secret is gone.
"""

from __future__ import annotations

from flask import abort, current_app, flash, url_for

from portal.admin.auth import admin_blueprint, current_staff
from portal.admin.developers.forms import NewKeyForm, RevokeKeyForm
from portal.admin.operations import staff_actor
from portal.dbtypes import utcnow
from portal.extensions import db
from portal.integration import operations
from portal.rendering import render_page, see_other

bp = admin_blueprint("admin_developers", __name__, url_prefix="/admin/developers")

PAGE = "admin/developers/api_keys.html"


def _page(form=None, *, status=200, new_key=None):
    return render_page(PAGE, None, status=status, form=form or NewKeyForm(formdata=None),
                       keys=operations.list_keys(db.session), new_key=new_key,
                       revoke_form=RevokeKeyForm(formdata=None), section="developers",
                       api_base=current_app.config["PUBLIC_URL"].rstrip("/"),
                       has_webhooks="admin_webhooks.endpoint_list" in current_app.view_functions)


@bp.get("/api-keys")
def api_keys():
    """The API keys: who has one, when each was last used, and a form to make one."""
    return _page()


@bp.post("/api-keys")
def create_api_key():
    """Make a key and show its secret this once."""
    form = NewKeyForm()
    if not form.validate():
        return _page(form, status=422)
    try:
        new = operations.create_key(db.session, name=form.name.data, now=utcnow(),
                                    actor=staff_actor(current_staff()))
    except operations.ApiKeyRefused as refusal:
        form.name.errors.append(str(refusal))
        return _page(form, status=422)
    db.session.commit()
    return _page(new_key=new)


@bp.post("/api-keys/<key_id>/revoke")
def revoke_api_key(key_id: str):
    """Revoke a key at once."""
    form = RevokeKeyForm()
    key = operations.find_key(db.session, key_id)
    if key is None:
        abort(404)
    if not form.validate():
        abort(400)
    if operations.revoke_key(db.session, key, now=utcnow(), actor=staff_actor(current_staff())):
        db.session.commit()
        flash(f"Revoked the key {key.name} ({key.redacted}). Requests with it are refused "
              "from now on.", "success")
    else:
        flash(f"The key {key.name} was revoked already.", "success")
    return see_other(url_for(".api_keys"))
