"""Customer pages: the overview and billing information."""

from functools import cache, wraps

from flask import (
    Blueprint,
    abort,
    flash,
    request,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload

from portal.catalog.models import Price
from portal.customers import addresses, operations
from portal.customers.auth import configuration_for_request, current_sign_in, customer_required
from portal.customers.forms import (
    EmailForm,
    NameForm,
    PhoneForm,
    ShippingAddressForm,
    TaxIdForm,
    address_form,
)
from portal.customers.models import TaxId
from portal.customers.tax_ids import tax_id_label
from portal.dbtypes import utcnow
from portal.events import customer_actor
from portal.extensions import db
from portal.invoices.models import Invoice
from portal.payments.models import PaymentMethod
from portal.rendering import is_safe_return_url, render_page, see_other, wants_fragment
from portal.subscriptions.models import Subscription, SubscriptionItem

bp = Blueprint("customers", __name__, url_prefix="/p")

# Each section of billing information is one fragment, swapped in place by htmx.
FRAGMENTS = {
    "name": "customers/_name.html",
    "email": "customers/_email.html",
    "phone": "customers/_phone.html",
    "address": "customers/_address.html",
    "shipping": "customers/_shipping_address.html",
    "tax_id": "customers/_tax_ids.html",
}
ADDRESS_PARTS = ("line1", "line2", "city", "state", "postal_code", "country")


# ---- helpers for every customer page -----------------------------------------------------

def return_to_merchant_url() -> str | None:
    """The safe URL of the "Return to <merchant>" link, or None to leave the link out."""
    return operations.merchant_return_url(db.session, current_sign_in(),
                                          configuration_for_request())


@bp.app_context_processor
def merchant_links():
    """Give every template return_to_merchant_url(), which portal_page.html's footer calls."""
    return {"return_to_merchant_url": return_to_merchant_url}


@bp.app_template_test("http_url")
def is_http_url(value) -> bool:
    """``{% if url is http_url %}``: merchant links are shown only when absolute http(s)."""
    return is_safe_return_url(value)


def _editable() -> frozenset[str]:
    record = current_sign_in()
    return operations.editable_sections(configuration_for_request(),
                                        record.via if record else None)


def section_required(section: str):
    """404 unless the customer may change ``section``: an edit the merchant did not allow does
    not exist, exactly like a switched-off feature."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if section not in _editable():
                abort(404)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def _display_helpers() -> dict:
    return {"address_lines": addresses.format_address, "tax_id_label": tax_id_label,
            "country_name": addresses.country_name}


# ---- overview --------------------------------------------------------------------------

@bp.get("/")
@customer_required
def overview(customer):
    """The signed-in customer's home: subscriptions, payment method, details, latest invoices."""
    configuration = configuration_for_request()
    subscriptions_query, invoices_query = _overview_statements()
    subscriptions = db.session.scalars(subscriptions_query,
                                       {"customer_id": customer.id}).unique().all()
    invoices = []
    if configuration.invoice_history_enabled:
        invoices = db.session.scalars(invoices_query, {"customer_id": customer.id}).all()
    return render_page("customers/overview.html", customer=customer,
                       subscriptions=subscriptions, invoices=invoices,
                       payment_method=_default_payment_method(customer), now=utcnow(),
                       editable=_editable(), **_display_helpers())


@cache
def _overview_statements():
    """The overview's two selects, built once per process (building them, with the loader
    options, cost more than running them)."""
    subscriptions = (
        select(Subscription)
        .where(Subscription.customer_id == bindparam("customer_id"),
               Subscription.status != "canceled")
        # One query for subscriptions, items, prices and products, not one per row.
        .options(joinedload(Subscription.items).joinedload(SubscriptionItem.price)
                 .joinedload(Price.product))
        .order_by(Subscription.created, Subscription.id)
    )
    invoices = (
        select(Invoice)
        .where(Invoice.customer_id == bindparam("customer_id"), Invoice.status != "draft")
        .order_by(Invoice.created.desc(), Invoice.id.desc())
        .limit(3)
    )
    return subscriptions, invoices


def _default_payment_method(customer) -> PaymentMethod | None:
    if not customer.default_payment_method_id:
        return None
    method = db.session.get(PaymentMethod, customer.default_payment_method_id)
    if method is None or method.customer_id != customer.id or method.detached_at is not None:
        return None
    return method


# ---- billing information ---------------------------------------------------------------

@bp.get("/billing-information")
@customer_required
def billing_information(customer):
    """The customer's name, email, phone, addresses and tax IDs, each changeable if allowed."""
    return _billing_page(customer)


def _billing_page(customer, *, editing=None, form=None, fragment=None, status=200, notice=None,
                  tax_id_form=None, refreshed_for=None, focus_notice=False):
    """The billing information page, or one section of it for htmx. ``editing`` names the
    section shown as a form; ``notice`` is (section, message) after a change."""
    configuration = configuration_for_request()
    return render_page(
        "customers/billing_information.html", FRAGMENTS.get(fragment), status=status,
        customer=customer, editing=editing, form=form, notice=notice,
        tax_id_form=tax_id_form or TaxIdForm(formdata=None, prefix="tax-id"),
        editable=_editable(), refreshed_for=refreshed_for, focus_notice=focus_notice,
        # Merchant allows email changes, but this sign-in came through a code sent to it.
        email_locked=configuration.allows_update("email") and "email" not in _editable(),
        **_display_helpers())


def _changed(customer, section: str, message: str):
    """After a successful change: the fresh section with a notice for htmx, else 303."""
    if wants_fragment():
        return _billing_page(customer, fragment=section, notice=(section, message))
    flash(message, "success")
    return see_other(url_for("customers.billing_information"))


def _save(customer, section: str, form, changes: dict | None, message: str):
    """Save ``changes``; None means the form did not validate: show it again with 422."""
    if changes is None:
        return _billing_page(customer, editing=section, form=form, fragment=section, status=422)
    operations.update_customer_details(db.session, customer, changes, now=utcnow(),
                                       actor=customer_actor(customer.id))
    db.session.commit()
    return _changed(customer, section, message)


@bp.get("/billing-information/name")
@customer_required
@section_required("name")
def edit_name(customer):
    """The form to change the customer's name."""
    form = NameForm(data={"name": customer.name})
    return _billing_page(customer, editing="name", form=form, fragment="name")


@bp.post("/billing-information/name")
@customer_required
@section_required("name")
def update_name(customer):
    """Save a new name."""
    form = NameForm()
    changes = {"name": form.name.data} if form.validate() else None
    return _save(customer, "name", form, changes, _("Your name has been updated"))


@bp.get("/billing-information/email")
@customer_required
@section_required("email")
def edit_email(customer):
    """The form to change the email address (portal sessions only, if the merchant allows)."""
    form = EmailForm(data={"email": customer.email})
    return _billing_page(customer, editing="email", form=form, fragment="email")


@bp.post("/billing-information/email")
@customer_required
@section_required("email")
def update_email(customer):
    """Save a new email address."""
    form = EmailForm()
    changes = {"email": form.email.data} if form.validate() else None
    return _save(customer, "email", form, changes, _("Your email address has been updated"))


@bp.get("/billing-information/phone")
@customer_required
@section_required("phone")
def edit_phone(customer):
    """The form to change or remove the phone number."""
    form = PhoneForm(data={"phone": customer.phone})
    return _billing_page(customer, editing="phone", form=form, fragment="phone")


@bp.post("/billing-information/phone")
@customer_required
@section_required("phone")
def update_phone(customer):
    """Save a new phone number, or remove it when left empty."""
    form = PhoneForm()
    changes = {"phone": form.phone.data} if form.validate() else None
    message = _("Your phone number has been updated") if form.phone.data \
        else _("Your phone number has been removed")
    return _save(customer, "phone", form, changes, message)


def _country_changed(prefix: str) -> bool:
    """True when the posted country is not the one the address fields were made for (or the
    country select asked for its fields): show that country's fields instead of saving."""
    posted = request.form.get(f"{prefix}-country") or ""
    shown = request.form.get(f"{prefix}-shown_country")
    return "refresh" in request.form or (shown is not None and shown != posted)


def _show_country_fields(customer, section: str, form, prefix: str):
    """The form again with the chosen country's fields, keeping what was typed; a state picked
    from the previous country's list means nothing in the new one, so it is dropped."""
    previous = request.form.get(f"{prefix}-shown_country") or None
    country = form.country.data
    state = getattr(form, "state", None)
    if state is not None and previous != country and addresses.address_format(previous).state_choices:
        state.data, state.raw_data = "", [""]
    return _billing_page(customer, editing=section, form=form, fragment=section,
                         refreshed_for=addresses.country_name(country) if country else None,
                         focus_notice=not wants_fragment())


@bp.get("/billing-information/address")
@customer_required
@section_required("address")
def edit_address(customer):
    """The form to change the billing address, with the fields of the customer's country."""
    form = address_form(customer.address_country, prefix="address", data={
        part: getattr(customer, f"address_{part}") for part in ADDRESS_PARTS})
    return _billing_page(customer, editing="address", form=form, fragment="address")


@bp.post("/billing-information/address")
@customer_required
@section_required("address")
def update_address(customer):
    """Save the billing address, or show another country's fields when the country changed."""
    form = address_form(request.form.get("address-country"), prefix="address")
    if _country_changed("address"):
        return _show_country_fields(customer, "address", form, "address")
    changes = None
    if form.validate():
        changes = {f"address_{part}": value for part, value in form.address_values().items()}
    return _save(customer, "address", form, changes, _("Your billing address has been updated"))


@bp.get("/billing-information/shipping-address")
@customer_required
@section_required("shipping")
def edit_shipping_address(customer):
    """The form to add or change the shipping address."""
    country = customer.shipping_country or customer.address_country
    data = {part: getattr(customer, f"shipping_{part}") for part in ADDRESS_PARTS}
    data.update(name=customer.shipping_name, phone=customer.shipping_phone, country=country)
    form = address_form(country, base=ShippingAddressForm, prefix="shipping", data=data)
    return _billing_page(customer, editing="shipping", form=form, fragment="shipping")


@bp.post("/billing-information/shipping-address")
@customer_required
@section_required("shipping")
def update_shipping_address(customer):
    """Save the shipping address, or show another country's fields when the country changed."""
    form = address_form(request.form.get("shipping-country"), base=ShippingAddressForm,
                        prefix="shipping")
    if _country_changed("shipping"):
        return _show_country_fields(customer, "shipping", form, "shipping")
    changes = None
    if form.validate():
        changes = {f"shipping_{part}": value for part, value in form.address_values().items()}
        changes.update(shipping_name=form.name.data, shipping_phone=form.phone.data or None)
    return _save(customer, "shipping", form, changes, _("Your shipping address has been updated"))


@bp.post("/billing-information/shipping-address/remove")
@customer_required
@section_required("shipping")
def remove_shipping_address(customer):
    """Remove the shipping address."""
    changes = dict.fromkeys(operations.SHIPPING_FIELDS)
    return _save(customer, "shipping", None, changes, _("Your shipping address has been removed"))


@bp.post("/billing-information/tax-ids")
@customer_required
@section_required("tax_id")
def add_tax_id(customer):
    """Add a tax ID after checking its format and check digits."""
    form = TaxIdForm(prefix="tax-id")
    if form.validate():
        try:
            tax_id = operations.add_tax_id(db.session, customer, form.type.data,
                                           form.value.data, now=utcnow(),
                                           actor=customer_actor(customer.id))
        except operations.TaxIdRefused as refused:
            form.value.errors = [*form.value.errors, refused.message]
        else:
            db.session.commit()
            return _changed(customer, "tax_id", _("Tax ID %(value)s has been added", value=tax_id.value))
    return _billing_page(customer, form=form, tax_id_form=form, fragment="tax_id", status=422)


@bp.post("/billing-information/tax-ids/<tax_id_id>/remove")
@customer_required
@section_required("tax_id")
def remove_tax_id(customer, tax_id_id: str):
    """Remove one of the customer's tax IDs; anyone else's answers 404."""
    tax_id = db.session.scalars(
        select(TaxId).where(TaxId.id == tax_id_id, TaxId.customer_id == customer.id)
    ).first()
    if tax_id is None:
        abort(404)
    value = tax_id.value
    operations.remove_tax_id(db.session, customer, tax_id, now=utcnow(),
                             actor=customer_actor(customer.id))
    db.session.commit()
    return _changed(customer, "tax_id", _("Tax ID %(value)s has been removed", value=value))
