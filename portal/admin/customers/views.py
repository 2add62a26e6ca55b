"""Dashboard views: Customers. The list with its search, one customer's page (subscriptions,
invoices, cards, and the login link with their email filled in), creating a customer, and
starting a subscription for one.

Thin: reads come from ``queries``, changes from the shared operations
(portal/customers/operations.py, portal/subscriptions/operations.py) with the staff member as
the actor; answers through render_page (the list's results and the customer's page are the
fragments htmx swaps).
"""

from __future__ import annotations

from flask import abort, current_app, flash, request, url_for
from flask_babel import format_date

from portal.admin.auth import admin_blueprint, current_staff
from portal.admin.customers import queries
from portal.admin.customers.forms import NewCustomerForm, StartSubscriptionForm
from portal.admin.operations import staff_actor
from portal.billing.policy import BillingPolicy
from portal.catalog.models import Price
from portal.customers import operations as customer_ops
from portal.dbtypes import utcnow
from portal.extensions import db
from portal.forms import is_ascii_digits
from portal.ids import new_id
from portal.invoices.operations import display_status, is_expired, new_form_key, status_label
from portal.money import format_money
from portal.payments.gateway import get_gateway
from portal.portal_settings.operations import active_login_link, login_url
from portal.rendering import render_page, see_other, wants_fragment
from portal.subscriptions import operations as sub_ops
from portal.subscriptions.forms import whole_number
from portal.subscriptions.views import interval_text, plan_name, price_text

bp = admin_blueprint("admin_customers", __name__, url_prefix="/admin/customers")

LIST_PAGE = ("admin/customers/list.html", "admin/customers/_results.html")
DETAIL_PAGE = ("admin/customers/customer.html", "admin/customers/_customer.html")
NEW_PAGE = "admin/customers/new.html"
# An id typed in the address bar is at most this long (portal.ids makes 24 characters).
_ID_LENGTH = len(new_id("price"))


@bp.app_template_global()
def customer_display_name(customer) -> str:
    """How a customer is named in the dashboard: their name, else email, else id."""
    return customer.name or customer.email or customer.id


@bp.context_processor
def customer_helpers():
    """Words for prices and statuses, for the customer templates."""
    return {"price_text": price_text, "plan_name": plan_name, "interval_text": interval_text,
            "invoice_status": display_status, "status_label": status_label,
            "card_expired": is_expired}


def price_choice(price: Price) -> str:
    """How a price is offered: "Pro – $29.00 per month (USD)", with its nickname if any."""
    nickname = f" ({price.nickname})" if price.nickname else ""
    return f"{price.product.name}{nickname} – {price_text(price)} ({price.currency.upper()})"


# ---- the list ----------------------------------------------------------------------------------

@bp.get("/")
def customer_list():
    """Customers, newest first; the search finds part of an email address or name."""
    query = queries.clean_query(request.args.get("q"))
    page_arg = request.args.get("page")
    # A number too long to read is past the last page, which is shown instead.
    page = whole_number(page_arg)
    if page is None:
        page = 10 ** 12 if is_ascii_digits(page_arg) else 1
    listing = queries.customer_list_page(db.session, query=query, page=page)
    return render_page(*LIST_PAGE, listing=listing, query=query)


# ---- one customer ------------------------------------------------------------------------------

def _customer_or_404(customer_id: str):
    customer = queries.find_customer(db.session, customer_id)
    if customer is None:
        abort(404)
    return customer


def _fresh_start_form(detail: queries.CustomerDetail) -> StartSubscriptionForm:
    """A new start form: a new key, and emailed invoices chosen when there is no card."""
    card = detail.default_card
    chargeable = card is not None and not is_expired(card, utcnow())
    return StartSubscriptionForm(formdata=None, data={
        "form_key": new_form_key(), "quantity": "1",
        "collection_method": "charge_automatically" if chargeable else "send_invoice"})


def _detail_page(customer, form: StartSubscriptionForm | None = None, *, status: int = 200,
                 notice_message: str | None = None, notice_kind: str = "success"):
    detail = queries.customer_detail(db.session, customer)
    prices = queries.price_options(db.session)
    form = form or _fresh_start_form(detail)
    form.use_prices(prices, price_choice)
    link = active_login_link(db.session)
    prefilled = (login_url(link.id, customer.email, base=current_app.config["PUBLIC_URL"])
                 if link is not None and customer.email else None)
    return render_page(*DETAIL_PAGE, status=status, detail=detail, customer=customer,
                       form=form, prices=prices, login_link=link, prefilled_login_url=prefilled,
                       now=utcnow(), notice_message=notice_message, notice_kind=notice_kind)


@bp.get("/<customer_id>")
def customer_page(customer_id: str):
    """One customer: details, subscriptions, invoices, cards, their login URL, and the form
    to start a subscription."""
    return _detail_page(_customer_or_404(customer_id))


@bp.post("/<customer_id>/subscriptions")
def start_subscription(customer_id: str):
    """Start a subscription for the customer: its trial begins, or its first invoice is
    charged to their card or emailed to them."""
    customer = _customer_or_404(customer_id)
    form = StartSubscriptionForm()
    form.use_prices(queries.price_options(db.session), price_choice)
    if not form.validate():
        return _detail_page(customer, form, status=422)
    price_id = form.price.data or ""
    price = db.session.get(Price, price_id) if len(price_id) <= _ID_LENGTH else None
    if price is None:
        form.price.errors.append("Choose one of the prices listed")
        return _detail_page(customer, form, status=422)
    charge = form.collection_method.data == "charge_automatically"
    now = utcnow()
    try:
        started = sub_ops.start_subscription(
            db.session, customer, items=[(price, form.quantity_number)],
            collection_method=form.collection_method.data,
            days_until_due=None if charge else form.days_until_due_number,
            trial_period_days=form.trial_days_number, now=now,
            actor=staff_actor(current_staff()), gateway=get_gateway() if charge else None,
            policy=BillingPolicy.from_config(current_app.config),
            idempotency_key=f"dashboard:{form.form_key.data}")
    except sub_ops.SubscriptionRefused as refused:
        db.session.rollback()
        if refused.field in form._fields:
            form[refused.field].errors.append(refused.message)
        else:
            form.form_errors.append(refused.message)
        return _detail_page(_customer_or_404(customer_id), form, status=422)
    db.session.commit()
    message, kind = _started_message(started, customer)
    if wants_fragment():
        return _detail_page(customer, notice_message=message, notice_kind=kind)
    flash(message, kind)
    return see_other(url_for("admin_customers.customer_page", customer_id=customer.id))


def _started_message(started: sub_ops.StartedSubscription, customer) -> tuple[str, str]:
    """What the merchant is told a start did, and how loudly."""
    subscription, invoice = started.subscription, started.invoice
    if invoice is None:
        return (f"Subscription started. The free trial ends on "
                f"{format_date(subscription.trial_end)}, when the first invoice is made.",
                "success")
    amount = format_money(invoice.total, invoice.currency, "en")
    named = f"Invoice {invoice.number} for {amount}"
    if invoice.status == "paid":
        how = "needed no payment" if invoice.amount_due == 0 else "was paid"
        return f"Subscription started. {named} {how}.", "success"
    if invoice.collection_method == "send_invoice":
        return (f"Subscription started. {named} was emailed to {customer.email}, due on "
                f"{format_date(invoice.due_date)}.", "success")
    if started.decline_message:
        retry = (f" It will be tried again on {format_date(invoice.next_payment_attempt)}."
                 if invoice.next_payment_attempt else "")
        return (f"Subscription started, but the first payment failed: "
                f"{started.decline_message} {named} is open and the subscription is past "
                f"due.{retry}", "warning")
    return (f"Subscription started. The payment of {named} is still being processed: check "
            "this page again in a minute.", "info")


# ---- a new customer ----------------------------------------------------------------------------

@bp.get("/new")
def new_customer():
    """The form to create a customer."""
    return render_page(NEW_PAGE, form=NewCustomerForm(formdata=None), sharing=[])


@bp.post("/new")
def create_customer():
    """Create a customer and open their page; an address another customer has is allowed
    once the box saying so is ticked."""
    form = NewCustomerForm()
    sharing = []
    if form.validate():
        sharing = customer_ops.customers_with_email(db.session, form.email.data)
        if sharing and not form.create_another.data:
            form.create_another.errors.append(
                "Tick the box to create another customer with this email address, or open "
                "the customer who has it")
        else:
            try:
                customer = customer_ops.create_customer(
                    db.session, email=form.email.data, name=form.name.data,
                    phone=form.phone.data, now=utcnow(), actor=staff_actor(current_staff()))
            except customer_ops.CustomerRefused as refused:
                db.session.rollback()
                target = form[refused.field] if refused.field in form._fields else None
                (target.errors if target is not None else form.form_errors).append(
                    refused.message)
            else:
                db.session.commit()
                flash(f"{customer_display_name(customer)} has been added as a customer.",
                      "success")
                return see_other(url_for("admin_customers.customer_page",
                                         customer_id=customer.id))
    return render_page(NEW_PAGE, status=422, form=form, sharing=sharing)
