"""Dashboard views: the customer portal's configuration, its login link, and a preview of the
portal as customers see it.

Thin, as every view: each reads its form, calls one operation of
``portal.portal_settings.operations`` with the staff member as the actor, commits (which also
clears this process's cached settings, so the portal obeys at once) and answers 303, or for
htmx the fresh fragment.
"""

from __future__ import annotations

from flask import abort, current_app, flash, g, render_template, request, url_for
from sqlalchemy import select

from portal.admin.auth import admin_blueprint, current_staff
from portal.admin.operations import staff_actor
from portal.admin.portal_config import preview
from portal.admin.portal_config.catalogue import load_catalogue
from portal.admin.portal_config.forms import PortalConfigurationForm, option_pairs
from portal.customers.models import Customer
from portal.dbtypes import utcnow
from portal.extensions import db
from portal.headers import csp_nonce
from portal.portal_settings import operations as settings
from portal.rendering import render_page, see_other, wants_fragment

bp = admin_blueprint("admin_portal", __name__, url_prefix="/admin/portal")

PAGE = "admin/portal_config/configuration.html"
FORM_FRAGMENT = "admin/portal_config/_configuration_form.html"
PREVIEW_PAGE = "admin/portal_config/preview.html"
INCOMPLETE = ("That save did not come from the whole settings form, so nothing was saved. The "
              "settings below are as they are now.")
# The customers a preview can be shown to, newest first (the select stays short).
PREVIEW_CUSTOMERS = 100


@bp.context_processor
def customer_page_helpers():
    """While a preview draws customer pages, give them their blueprints' template helpers."""
    return preview.customer_template_helpers() if g.get("portal_preview") else {}


def _actor() -> str:
    return staff_actor(current_staff())


def _page(form: PortalConfigurationForm | None = None, *, status: int = 200,
          confirming: str | None = None, message: str | None = None, kind: str = "success"):
    config = settings.default_configuration(db.session)
    catalogue = load_catalogue(db.session, config)
    if form is None:
        form = PortalConfigurationForm.for_configuration(config, catalogue)
    link = settings.active_login_link(db.session)
    link_url = settings.login_url(link.id, base=current_app.config["PUBLIC_URL"]) if link else None
    return render_page(PAGE, FORM_FRAGMENT, status=status, form=form, config=config,
                       catalogue=catalogue, link=link, link_url=link_url,
                       confirming=confirming, message=message, kind=kind,
                       option_pairs=option_pairs)


# ---- the configuration -----------------------------------------------------------------------

@bp.get("/")
def configuration():
    """The portal's settings, section by section, with the login link first."""
    return _page()


@bp.post("/")
def save_configuration():
    """Save every section of the configuration at once, or nothing when anything is wrong."""
    config = settings.default_configuration(db.session)
    form = PortalConfigurationForm()
    if not form.fingerprint.data:
        # Not the page's form (a cut-off or foreign body): every unticked box would read as
        # "off", so nothing of it is taken.
        return _page(status=400, kind="warning", message=INCOMPLETE)
    form.use_catalogue(load_catalogue(db.session, config))
    valid = form.validate()
    changes = form.changes()
    if not valid or changes is None:
        return _page(form, status=422)
    try:
        changed = settings.update_configuration(db.session, config, changes=changes,
                                                now=utcnow(), actor=_actor(),
                                                expected=form.fingerprint.data or None)
    except settings.StaleConfiguration as stale:
        db.session.rollback()
        return _page(status=409, message=stale.message, kind="warning")
    except settings.ConfigurationRefused as refused:
        db.session.rollback()
        form.show_refusal(refused.problems)
        return _page(form, status=422)
    db.session.commit()
    if changed:
        message, kind = "Your portal settings are saved. Customers see the changes now.", "success"
    else:
        message, kind = "Nothing changed: the settings were already as shown.", "info"
    if wants_fragment():
        return _page(message=message, kind=kind)
    flash(message, kind)
    return see_other(url_for(".configuration"))


# ---- the login link (plain posts: the page comes back whole, copy button and all) ----------

@bp.post("/login-link/activate")
def activate_login_link():
    """Activate the login link customers use to sign in with their email."""
    settings.activate_login_link(db.session, now=utcnow(), actor=_actor())
    db.session.commit()
    flash("The login link is active. Share its URL on your site or in your emails.", "success")
    return see_other(url_for(".configuration"))


@bp.get("/login-link/rotate")
def confirm_rotate_login_link():
    """Ask before replacing the login link: every copy of the old URL stops working."""
    if settings.active_login_link(db.session) is None:
        return see_other(url_for(".configuration"))
    return _page(confirming="rotate")


@bp.post("/login-link/rotate")
def rotate_login_link():
    """Replace the login link with a new URL; the old one answers 'not active' from now on."""
    settings.activate_login_link(db.session, now=utcnow(), rotate=True, actor=_actor())
    db.session.commit()
    flash("The login link has a new URL. The old one no longer works, and customers who "
          "signed in with it must sign in again.", "success")
    return see_other(url_for(".configuration"))


@bp.get("/login-link/deactivate")
def confirm_deactivate_login_link():
    """Ask before switching the login link off."""
    if settings.active_login_link(db.session) is None:
        return see_other(url_for(".configuration"))
    return _page(confirming="deactivate")


@bp.post("/login-link/deactivate")
def deactivate_login_link():
    """Switch the login link off: every URL shared answers 'not active'."""
    count = settings.deactivate_login_links(db.session, now=utcnow(), actor=_actor())
    db.session.commit()
    flash("The login link is off. Shared URLs now say the link is not active, and customers "
          "who signed in with it must sign in again." if count else
          "The login link was already off.", "success" if count else "info")
    return see_other(url_for(".configuration"))


# ---- the preview -----------------------------------------------------------------------------

def _who(customer_key: str | None) -> preview.PreviewCustomer:
    if not customer_key or customer_key == preview.SAMPLE:
        return preview.sample_customer(db.session, settings.default_configuration(db.session),
                                       utcnow())
    who = preview.real_customer(db.session, customer_key)
    if who is None:
        abort(404)
    return who


def _page_name(value: str | None) -> str:
    return value if value in preview.PAGES else "overview"


@bp.get("/preview")
def preview_portal():
    """How customers will see the portal: a chosen page, for a chosen or a sample customer."""
    who = _who(request.args.get("customer", type=str))
    page = _page_name(request.args.get("page", type=str))
    customers = db.session.scalars(
        select(Customer).where(Customer.deleted.is_(False))
        .order_by(Customer.created.desc(), Customer.id).limit(PREVIEW_CUSTOMERS)).all()
    if not who.sample and who.customer not in customers:
        customers = [who.customer, *customers]
    return render_template(PREVIEW_PAGE, who=who, page=page, pages=preview.PAGES,
                           customers=customers, sample=preview.SAMPLE)


@bp.get("/preview/frame")
def preview_frame():
    """One customer page as the chosen customer sees it, every link and button inert, for the
    preview page's frame (or on its own)."""
    who = _who(request.args.get("customer", type=str))
    page = _page_name(request.args.get("page", type=str))
    subscription_id = request.args.get("subscription", type=str)
    drawn = preview.draw(who, page, subscription_id, utcnow())
    # Rendered by Jinja with autoescaping, so the banner is safe to insert as it is.
    banner = render_template("admin/portal_config/_preview_banner.html", who=who,
                             page_label=preview.PAGES[page])
    response = current_app.response_class(preview.make_inert(drawn, who, banner),
                                          mimetype="text/html")
    # headers.py's policy, except that our own dashboard may frame this page.
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; img-src 'self' data:; style-src 'self' 'nonce-{csp_nonce()}'; "
        "script-src 'self'; frame-ancestors 'self'; form-action 'self'; base-uri 'none'")
    return response
