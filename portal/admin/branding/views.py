"""Dashboard views: Branding (name, colours, support contacts, font, icon and logo) and its
live preview.

Saving posts the whole page and redirects (303): a branding change restyles every page, this
one's header included, and the layout's <style> cannot be swapped in by htmx (its nonce is the
first response's). The preview is the part htmx swaps, as the merchant types.
"""

from __future__ import annotations

from types import SimpleNamespace

from flask import current_app, flash, make_response, request, url_for

from portal import branding as rules
from portal.admin.auth import admin_blueprint, current_staff
from portal.admin.branding.forms import BrandingForm, ImageForm
from portal.admin.operations import staff_actor
from portal.dbtypes import utcnow
from portal.extensions import db
from portal.images import ImageRefused
from portal.portal_settings import operations
from portal.rendering import render_page, see_other

bp = admin_blueprint("admin_branding", __name__, url_prefix="/admin/branding")

PAGE = "admin/branding/branding.html"
PREVIEW = "admin/branding/_preview.html"


def _form_from(branding) -> BrandingForm:
    return BrandingForm(formdata=None, data={
        "business_name": branding.business_name, "brand_color": branding.brand_color,
        "accent_color": branding.accent_color, "support_email": branding.support_email,
        "support_phone": branding.support_phone, "font": branding.font})


def _previewed(form: BrandingForm, branding) -> SimpleNamespace:
    """What the preview shows: each value as typed when it is valid, else the saved one."""
    values = {name: getattr(branding, name) for name in (
        "business_name", "brand_color", "accent_color", "support_email", "support_phone", "font",
        "icon", "logo")}
    for name, value in form.changes().items():
        if not form[name].errors:
            values[name] = value
    return SimpleNamespace(**values)


def _page(form=None, *, status=200, icon_form=None, logo_form=None, fragment=None):
    branding = operations.get_branding(db.session)
    form = form or _form_from(branding)
    shown = _previewed(form, branding)
    look = rules.look_of(shown)
    return render_page(
        PAGE, fragment, status=status, form=form, section="branding",
        icon_form=icon_form or ImageForm("icon", formdata=None),
        logo_form=logo_form or ImageForm("logo", formdata=None),
        saved=branding, preview=shown, look=look, contrast_warnings=rules.warnings(shown),
        font_label=rules.FONT_STACKS[look.font_key][0], text_contrast=rules.TEXT_CONTRAST,
        format_ratio=rules.format_ratio)


@bp.get("/")
def branding():
    """The Branding page: the form, the images, and a preview of the saved branding."""
    return _page()


@bp.post("/")
def update_branding():
    """Save the business name, colours, support contacts and font."""
    form = BrandingForm()
    if not form.validate():
        return _page(form, status=422)
    staff = current_staff()
    changed = operations.update_branding(db.session, changes=form.changes(), now=utcnow(),
                                         actor=staff_actor(staff))
    db.session.commit()
    flash("Branding saved. Customers see it on their next page, email and PDF." if changed
          else "Nothing had changed, so nothing was saved.", "success")
    for warning in rules.warnings(operations.get_branding(db.session)):
        flash(warning.message, "warning")
    return see_other(url_for(".branding"))


@bp.post("/preview")
def preview_branding():
    """Show the branding as typed, without saving anything: the preview alone for htmx, the
    whole page (the Preview button with JavaScript off)."""
    form = BrandingForm()
    return _page(form, status=200 if form.validate() else 422, fragment=PREVIEW)


@bp.get("/preview.css")
def preview_stylesheet():
    """The preview's colours and font as CSS custom properties scoped to the preview. A
    stylesheet, because the page's CSP admits no inline style a swap could bring."""
    typed = SimpleNamespace(brand_color=request.args.get("brand"),
                            accent_color=request.args.get("accent"),
                            font=request.args.get("font"))
    response = make_response(rules.css_variables(typed, selector=".branding-preview"))
    response.mimetype = "text/css"
    return response


def upload_image(kind: str):
    """Replace the icon or the logo with an uploaded image, checked by its content."""
    form = ImageForm(kind)
    name = None
    if form.validate():
        try:
            name = operations.store_branding_image(current_app.instance_path,
                                                   form.image.data.stream, kind)
        except ImageRefused as refusal:
            form.image.errors.append(str(refusal))
    if name is None:
        return _page(status=422, **{f"{kind}_form": form})
    staff = current_staff()
    replaced = operations.set_branding_image(db.session, kind, name, now=utcnow(),
                                             actor=staff_actor(staff))
    db.session.commit()
    operations.discard_branding_image(current_app.instance_path, replaced)
    flash(f"{kind.capitalize()} saved. Customers see it on their next page.", "success")
    return see_other(url_for(".branding", _anchor=f"{kind}-heading"))


def remove_image(kind: str):
    """Remove the icon or the logo."""
    staff = current_staff()
    replaced = operations.set_branding_image(db.session, kind, None, now=utcnow(),
                                             actor=staff_actor(staff))
    db.session.commit()
    operations.discard_branding_image(current_app.instance_path, replaced)
    flash(f"{kind.capitalize()} removed.", "success")
    return see_other(url_for(".branding", _anchor=f"{kind}-heading"))


# One view for each kind, at /icon and /logo: a fixed path each (not a converter), so every
# dashboard route can be reached by the access and CSRF checks that walk the URL map.
for _kind in ("icon", "logo"):
    bp.add_url_rule(f"/{_kind}", "upload_image", upload_image, methods=["POST"],
                    defaults={"kind": _kind})
    bp.add_url_rule(f"/{_kind}/remove", "remove_image", remove_image, methods=["POST"],
                    defaults={"kind": _kind})
