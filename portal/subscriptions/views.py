"""Customer pages for subscriptions: the list, one subscription, cancelling (with the retention
offers first), renewing, and switching price or quantity with a preview.

Thin: each view reads its form, calls one operation (portal/subscriptions/operations.py) and
answers with render_page, the full page or the fragment htmx swaps into #subscription-panel.
After a change: 303 to the subscription without JavaScript, the fresh fragment with a notice
with htmx.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, request, url_for
from flask_babel import format_date, get_locale, ngettext
from flask_babel import gettext as _

from portal.billing import invoicing
from portal.catalog import pricing
from portal.customers.auth import configuration_for_request, customer_required, feature_required
from portal.dbtypes import utcnow
from portal.events import customer_actor
from portal.extensions import db
from portal.money import format_money
from portal.payments.gateway import get_gateway
from portal.portal_settings import session_views as flows
from portal.rendering import render_page, see_other, wants_fragment
from portal.subscriptions import operations as ops
from portal.subscriptions.forms import (
    CancelForm,
    ChangePlanForm,
    RetentionForm,
    VersionForm,
    whole_number,
)

bp = Blueprint("subscriptions", __name__, url_prefix="/p/subscriptions")

cancel_enabled = feature_required(lambda c: c.subscription_cancel_enabled)

LIST_PAGE = "subscriptions/list.html"
DETAIL_PAGE = ("subscriptions/subscription.html", "subscriptions/_subscription.html")
OFFERS_PAGE = ("subscriptions/cancel_offers.html", "subscriptions/_cancel_offers.html")
CONFIRM_CANCEL_PAGE = ("subscriptions/cancel.html", "subscriptions/_cancel.html")
CHANGE_PAGE = ("subscriptions/change.html", "subscriptions/_change.html")
PREVIEW_PAGE = ("subscriptions/change_preview.html", "subscriptions/_change_preview.html")


# ---- words for templates ---------------------------------------------------------------------

def _money(amount: int, currency: str) -> str:
    return format_money(int(amount), currency, str(get_locale() or "en"))


def interval_text(price) -> str:
    """"month", or "3 months"."""
    count, interval = price.recurring_interval_count, price.recurring_interval
    return pricing.interval_length_text(count, interval)


def price_text(price, quantity: int = 1) -> str:
    """What the plan costs each period: "$29.00 per month", "$45.00 every 3 months"."""
    amount = _money(price.unit_amount * quantity, price.currency)
    if not price.recurring_interval:
        return amount
    return _("%(price)s %(interval)s", price=amount, interval=pricing.interval_text(price))


def plan_name(price, quantity: int = 1) -> str:
    """"Pro", or "Team × 4 seats" when the quantity matters."""
    label = price.product.unit_label
    if quantity == 1 and not label:
        return price.product.name
    if not label:
        return _("%(name)s × %(quantity)s", name=price.product.name, quantity=quantity)
    # The unit label is the merchant's word ("seat"), counted as they wrote it.
    unit = f"{label}{'s' if quantity != 1 else ''}"
    return _("%(name)s × %(quantity)s %(unit)s", name=price.product.name, quantity=quantity,
             unit=unit)


def coupon_text(coupon, ends=None) -> str:
    """"50% off until Mar 1, 2027", "$5.00 off your next invoice", "20% off"."""
    months = coupon.duration_in_months or 0
    until = format_date(ends) if ends else None
    if coupon.percent_off is not None:
        percent = format(coupon.percent_off.normalize(), "f")
        if coupon.duration == "once":
            return _("%(percent)s%% off your next invoice", percent=percent)
        if coupon.duration == "repeating" and until:
            return ngettext("%(percent)s%% off for %(months)s month, until %(until)s",
                            "%(percent)s%% off for %(months)s months, until %(until)s", months,
                            percent=percent, months=months, until=until)
        if coupon.duration == "repeating":
            return ngettext("%(percent)s%% off for %(months)s month",
                            "%(percent)s%% off for %(months)s months", months,
                            percent=percent, months=months)
        return _("%(percent)s%% off", percent=percent)
    amount = _money(coupon.amount_off, coupon.currency)
    if coupon.duration == "once":
        return _("%(amount)s off your next invoice", amount=amount)
    if coupon.duration == "repeating" and until:
        return ngettext("%(amount)s off for %(months)s month, until %(until)s",
                        "%(amount)s off for %(months)s months, until %(until)s", months,
                        amount=amount, months=months, until=until)
    if coupon.duration == "repeating":
        return ngettext("%(amount)s off for %(months)s month",
                        "%(amount)s off for %(months)s months", months,
                        amount=amount, months=months)
    return _("%(amount)s off", amount=amount)


def subscription_name(subscription) -> str:
    """What a subscription is called: its (first) product's name."""
    items = subscription.items
    return items[0].price.product.name if items else _("Subscription")


@bp.context_processor
def subscription_helpers():
    """Words for prices, plans, coupons and reasons, for the subscription templates."""
    return {"price_text": price_text, "plan_name": plan_name, "coupon_text": coupon_text,
            "interval_text": interval_text, "subscription_name": subscription_name,
            "reason_labels": ops.CANCELLATION_REASON_LABELS}


# ---- lookups and answers ---------------------------------------------------------------------

def _own(customer, subscription_id: str):
    subscription = ops.find_subscription(db.session, customer, subscription_id)
    if subscription is None:
        abort(404)
    return subscription


def _detail_context(customer, subscription, now):
    configuration = configuration_for_request()
    # update_options first: its price query also loads a scheduled change's price, which the
    # upcoming invoice and the "Changes to ..." notice then read without a query of their own.
    options = ops.update_options(db.session, subscription, now=now, configuration=configuration)
    scheduled = ops.scheduled_price(db.session, subscription)
    return {
        "customer": customer, "subscription": subscription, "now": now,
        "upcoming": invoicing.upcoming_invoice(db.session, subscription, now),
        "options": options, "scheduled": scheduled,
        "scheduled_quantity": (subscription.pending_update or {}).get("quantity"),
        "scheduled_on": ops.scheduled_change_date(subscription),
        "cancel_refusal": ops.cancel_refusal(subscription, now, configuration),
        "can_renew": ops.can_renew(subscription, now),
        "coupon": ops.discount_in_force(subscription, now),
        "paused": ops.is_paused(subscription, now),
    }


def _render_detail(customer, subscription, *, status=200, message=None, kind="success",
                   error=None):
    now = utcnow()
    return render_page(*DETAIL_PAGE, status=status, message=message, kind=kind, error=error,
                       **_detail_context(customer, subscription, now))


def _done(customer, subscription, message: str, kind: str = "success"):
    """After a change: 303 to the subscription for a plain post; for htmx its fresh fragment,
    with the notice, and the address bar moved back to the subscription."""
    if not wants_fragment():
        flash(message, kind)
        return see_other(url_for("subscriptions.subscription_detail",
                                 subscription_id=subscription.id))
    db.session.expire_all()
    fresh = _own(customer, subscription.id)
    response = _render_detail(customer, fresh, message=message, kind=kind)
    response.headers["HX-Push-Url"] = url_for("subscriptions.subscription_detail",
                                              subscription_id=subscription.id)
    return response


def _refused_on_detail(customer, subscription, refused: ops.SubscriptionRefused):
    """A change that was not made (a stale page, a rule): the subscription as it is now, with
    the reason, and 409. Never half a change: the caller has rolled back."""
    db.session.rollback()
    fresh = _own(customer, subscription.id)
    response = _render_detail(customer, fresh, status=409, error=refused.message)
    if wants_fragment():
        response.headers["HX-Push-Url"] = url_for("subscriptions.subscription_detail",
                                                  subscription_id=subscription.id)
    return response


# ---- the list and one subscription ------------------------------------------------------------

@bp.get("")
@customer_required
def subscription_list(customer):
    """The customer's subscriptions, each with its plan, status and next invoice."""
    now = utcnow()
    subscriptions = ops.customer_subscriptions(db.session, customer)
    return render_page(LIST_PAGE, customer=customer, subscriptions=subscriptions, now=now,
                       upcoming=ops.upcoming_invoices(db.session, customer, subscriptions, now))


@bp.get("/<subscription_id>")
@customer_required
def subscription_detail(customer, subscription_id):
    """One subscription: plan, status, next invoice, and what the customer may do with it."""
    return _render_detail(customer, _own(customer, subscription_id))


# ---- cancelling, with the retention offers first ----------------------------------------------

def _cancel_configuration(subscription_id: str):
    """The configuration cancelling uses: a portal session's subscription_cancel flow may
    bring its own retention coupon offer."""
    return flows.cancel_configuration(subscription_id)


def _offers_page(customer, subscription, offers, *, form=None, status=200):
    return render_page(*OFFERS_PAGE, status=status, customer=customer,
                       subscription=subscription, offers=offers, form=form,
                       upcoming=invoicing.upcoming_invoice(db.session, subscription, utcnow()))


def _confirm_page(customer, subscription, form=None, *, status=200):
    configuration = _cancel_configuration(subscription.id)
    now = utcnow()
    if form is None:
        form = CancelForm(formdata=None, data={"version": str(subscription.version)})
    form.use_reasons(ops.cancellation_options(configuration))
    return render_page(*CONFIRM_CANCEL_PAGE, status=status, customer=customer,
                       subscription=subscription, form=form, now=now,
                       cancel=ops.plan_cancel(db.session, subscription, now=now,
                                              configuration=configuration))


@bp.get("/<subscription_id>/cancel")
@customer_required
@cancel_enabled
def cancel_offers(customer, subscription_id):
    """The first step of cancelling: the merchant's retention offers, or straight to the
    confirmation when there are none."""
    subscription = _own(customer, subscription_id)
    now = utcnow()
    configuration = _cancel_configuration(subscription.id)
    refusal = ops.cancel_refusal(subscription, now, configuration)
    if refusal:
        return _render_detail(customer, subscription, error=refusal)
    offers = ops.retention_offers(db.session, subscription, now=now, configuration=configuration)
    if not offers:
        return _confirm_page(customer, subscription)
    return _offers_page(customer, subscription, offers)


@bp.get("/<subscription_id>/cancel/confirm")
@customer_required
@cancel_enabled
def confirm_cancel(customer, subscription_id):
    """"Are you sure?": when the subscription ends, and the optional reason survey."""
    subscription = _own(customer, subscription_id)
    refusal = ops.cancel_refusal(subscription, utcnow(), configuration_for_request())
    if refusal:
        return _render_detail(customer, subscription, error=refusal)
    return _confirm_page(customer, subscription)


@bp.post("/<subscription_id>/cancel")
@customer_required
@cancel_enabled
def cancel_subscription(customer, subscription_id):
    """Cancel, as the configuration says (now or at the period end), keeping the reason."""
    subscription = _own(customer, subscription_id)
    configuration = _cancel_configuration(subscription.id)
    form = CancelForm()
    form.use_reasons(ops.cancellation_options(configuration))
    if not form.validate():
        return _confirm_page(customer, subscription, form, status=422)
    try:
        cancel = ops.cancel_subscription(
            db.session, subscription, expected_version=form.version_number, now=utcnow(),
            actor=customer_actor(customer.id), configuration=configuration,
            feedback=form.feedback, comment=form.comment.data)
    except ops.SubscriptionRefused as refused:
        if refused.field:
            db.session.rollback()
            getattr(form, refused.field).errors.append(refused.message)
            return _confirm_page(customer, subscription, form, status=422)
        return _refused_on_detail(customer, subscription, refused)
    db.session.commit()
    if cancel.mode == "immediately" and cancel.credit_amount:
        message = _("Your subscription has been cancelled. %(money)s for the unused time has "
                    "been added to your account balance.",
                    money=_money(cancel.credit_amount, subscription.currency))
    elif cancel.mode == "immediately":
        message = _("Your subscription has been cancelled.")
    else:
        message = _("Your subscription has been cancelled. It ends on %(format_date)s, and you "
                    "can renew it until then.", format_date=format_date(cancel.ends_at))
    finished = flows.flow_completed(("subscription_cancel",), message,
                                    subscription_id=subscription.id)
    if finished is not None:
        return finished
    return _done(customer, subscription, message)


@bp.post("/<subscription_id>/retention-offer")
@customer_required
@cancel_enabled
def accept_offer(customer, subscription_id):
    """Take a retention offer instead of cancelling: the discount, a pause or the cheaper plan."""
    subscription = _own(customer, subscription_id)
    configuration = _cancel_configuration(subscription.id)
    now = utcnow()
    form = RetentionForm()
    if not form.validate():
        offers = ops.retention_offers(db.session, subscription, now=now,
                                      configuration=configuration)
        if not form.form_errors and offers:
            return _offers_page(customer, subscription, offers, form=form, status=422)
        return _refused_on_detail(customer, subscription, ops.SubscriptionRefused(
            (form.form_errors or [_("This offer is not available.")])[0]))
    try:
        accepted = ops.accept_retention_offer(
            db.session, subscription, form.offer.data, months=form.months_number,
            expected_version=form.version_number, now=now, actor=customer_actor(customer.id),
            configuration=configuration, gateway=get_gateway())
    except ops.SubscriptionRefused as refused:
        db.session.rollback()
        if refused.field == "months":
            form.months.errors.append(refused.message)
            offers = ops.retention_offers(db.session, subscription, now=now,
                                          configuration=configuration)
            return _offers_page(customer, subscription, offers, form=form, status=422)
        return _refused_on_detail(customer, subscription, refused)
    db.session.commit()
    message, kind = _offer_message(accepted, subscription)
    finished = flows.flow_completed(("subscription_cancel",), message, kind,
                                    subscription_id=subscription.id)
    if finished is not None:
        return finished
    return _done(customer, subscription, message, kind)


def _offer_message(accepted: ops.AcceptedOffer, subscription) -> tuple[str, str]:
    thanks = _("Thank you for staying.")
    if accepted.offer == "coupon":
        return _("Thank you for staying. %(coupon_text)s applies from your next invoice.",
                 coupon_text=coupon_text(accepted.coupon, accepted.discount_end)), "success"
    if accepted.offer == "pause":
        return _("Thank you for staying. Your payments are paused until %(format_date)s. You "
                 "keep your subscription meanwhile.",
                 format_date=format_date(accepted.resumes_at)), "success"
    return _change_message(accepted.change, thanks=thanks)


@bp.post("/<subscription_id>/renew")
@customer_required
def renew_subscription(customer, subscription_id):
    """Keep a subscription that was set to end, up to the moment it ends."""
    subscription = _own(customer, subscription_id)
    form = VersionForm()
    if not form.validate():
        return _refused_on_detail(customer, subscription,
                                  ops.SubscriptionRefused(form.form_errors[0]))
    try:
        ops.renew_subscription(db.session, subscription, expected_version=form.version_number,
                               now=utcnow(), actor=customer_actor(customer.id),
                               configuration=configuration_for_request())
    except ops.SubscriptionRefused as refused:
        return _refused_on_detail(customer, subscription, refused)
    db.session.commit()
    return _done(customer, subscription, _(
        "Your subscription has been renewed. It continues on %(format_date)s.",
        format_date=format_date(subscription.current_period_end)))


# ---- switching price or quantity --------------------------------------------------------------

def _change_form(subscription, options, formdata=None, **kwargs) -> ChangePlanForm:
    item = subscription.items[0]
    shown = any(options.quantity_range(price) for price in options.prices)
    data = None if formdata is not None else {
        "price": item.price_id, "quantity": str(item.quantity), "version": str(subscription.version)}
    form = ChangePlanForm(formdata=formdata, data=data, quantity_shown=shown, **kwargs)
    form.price.choices = [(p.id, plan_name(p)) for p in options.prices]
    return form


def _quantity_hint(options) -> str:
    ranges = dict.fromkeys(_("%(name)s: %(minimum)s to %(maximum)s", name=price.product.name,
                             minimum=r.minimum, maximum=r.maximum)
                           for price in options.prices
                           if (r := options.quantity_range(price)) is not None)
    return _("How many you need (%(ranges)s).", ranges="; ".join(ranges)) if ranges else ""


def _change_page(customer, subscription, form=None, *, status=200, error=None, chosen=None):
    now = utcnow()
    options = ops.update_options(db.session, subscription, now=now,
                                 configuration=configuration_for_request())
    if form is None and options.allowed:
        form = _change_form(subscription, options, meta={"csrf": False})
        # "Choose again" from a preview comes back with the choice it had.
        if chosen and chosen.get("price") in {p.id for p in options.prices}:
            form.price.data = chosen["price"]
        if chosen and form.quantity_shown and whole_number(chosen.get("quantity")):
            form.quantity.data = chosen["quantity"]
    return render_page(*CHANGE_PAGE, status=status, customer=customer, subscription=subscription,
                       options=options, form=form if options.allowed else None, error=error,
                       quantity_hint=_quantity_hint(options))


@bp.get("/<subscription_id>/change")
@customer_required
def change_plan(customer, subscription_id):
    """Choose another price or quantity; or read plainly why this plan cannot change."""
    return _change_page(customer, _own(customer, subscription_id),
                        chosen={"price": request.args.get("price", type=str),
                                "quantity": request.args.get("quantity", type=str)})


@bp.get("/<subscription_id>/change/preview")
@customer_required
def preview_change(customer, subscription_id):
    """What the chosen change costs today and on the next invoice, before it is confirmed."""
    subscription = _own(customer, subscription_id)
    now = utcnow()
    configuration = configuration_for_request()
    options = ops.update_options(db.session, subscription, now=now, configuration=configuration)
    if not options.allowed:
        return _change_page(customer, subscription)
    # A portal session's subscription_update_confirm flow names the change (and a discount).
    confirming = flows.confirm_flow_change(subscription)
    formdata, coupon = confirming if confirming else (request.args, None)
    # A GET form (it changes nothing), so no CSRF token; the confirm form that follows has one.
    form = _change_form(subscription, options, formdata=formdata, meta={"csrf": False})
    if not form.validate():
        return _change_page(customer, subscription, form, status=422)
    if form.version_number != subscription.version:
        return _change_page(customer, subscription, status=409, error=ops.STALE_MESSAGE)
    try:
        plan = ops.plan_change(db.session, subscription, price_id=form.price.data,
                               quantity=form.quantity_number, now=now,
                               configuration=configuration, coupon=coupon)
    except ops.SubscriptionRefused as refused:
        if refused.field:
            getattr(form, refused.field).errors.append(refused.message)
            return _change_page(customer, subscription, form, status=422)
        return _change_page(customer, subscription, status=409, error=refused.message)
    confirm = ChangePlanForm(formdata=None, quantity_shown=form.quantity_shown, data={
        "price": plan.price.id, "quantity": str(plan.quantity),
        "version": str(subscription.version),
        "proration_date": str(int(plan.proration_date.timestamp()))})
    return render_page(*PREVIEW_PAGE, customer=customer, subscription=subscription, plan=plan,
                       form=confirm, choose_again=form, discount=coupon,
                       card=ops.payment_card(db.session, subscription, now), now=now)


@bp.post("/<subscription_id>/change")
@customer_required
def confirm_change(customer, subscription_id):
    """Apply the previewed change: now, or at the period end for a downgrade that waits."""
    subscription = _own(customer, subscription_id)
    now = utcnow()
    configuration = configuration_for_request()
    options = ops.update_options(db.session, subscription, now=now, configuration=configuration)
    if not options.allowed:
        return _refused_on_detail(customer, subscription, ops.SubscriptionRefused(options.reason))
    confirming = flows.confirm_flow_change(subscription)
    formdata, coupon = confirming if confirming else (request.form, None)
    form = _change_form(subscription, options, formdata=formdata)
    if not form.validate():
        if form.form_errors and not (form.price.errors or form.quantity.errors):
            return _refused_on_detail(customer, subscription,
                                      ops.SubscriptionRefused(form.form_errors[0]))
        return _change_page(customer, subscription, form, status=422)
    try:
        result = ops.change_subscription(
            db.session, subscription, price_id=form.price.data, quantity=form.quantity_number,
            expected_version=form.version_number, now=now, actor=customer_actor(customer.id),
            configuration=configuration, gateway=get_gateway(),
            proration_date=form.previewed_at, coupon=coupon)
    except ops.SubscriptionRefused as refused:
        db.session.rollback()
        if refused.field:
            getattr(form, refused.field).errors.append(refused.message)
            return _change_page(customer, _own(customer, subscription_id), form, status=422)
        return _refused_on_detail(customer, subscription, refused)
    db.session.commit()
    message, kind = _change_message(result)
    finished = flows.flow_completed(("subscription_update", "subscription_update_confirm"),
                                    message, kind, subscription_id=subscription.id)
    if finished is not None:
        return finished
    return _done(customer, subscription, message, kind)


def _change_message(result: ops.ChangeResult, thanks: str = "") -> tuple[str, str]:
    plan = result.plan
    new_plan = plan_name(plan.price, plan.quantity)
    if plan.timing == "period_end":
        return _sentences(thanks, _(
            "Your plan changes to %(new_plan)s on %(format_date)s. Until then nothing changes.",
            new_plan=new_plan, format_date=format_date(plan.effective_at))), "success"
    message = _sentences(thanks, _("Your plan is now %(new_plan)s.", new_plan=new_plan))
    if result.decline_message is not None:
        invoice = result.invoice
        return _sentences(message, _(
            "But the payment of %(money)s for it failed: %(decline_message)s Pay invoice "
            "%(number)s to keep your subscription in good standing.",
            money=_money(invoice.amount_due, invoice.currency),
            decline_message=result.decline_message, number=invoice.number)), "warning"
    if result.charged:
        return _sentences(message, _("%(money)s has been charged to your card.",
                                     money=_money(result.charged, result.invoice.currency)
                                     )), "success"
    if result.payment is not None and result.payment.status == "processing":
        return _sentences(message, _("We are still confirming the payment with your card "
                                     "issuer; do not pay again.")), "info"
    if plan.carries_prorations:
        return _sentences(message, _("The difference for this period is on your next "
                                     "invoice.")), "success"
    return message, "success"


def _sentences(*sentences: str) -> str:
    """Whole sentences, each translated on its own, one after another."""
    return " ".join(sentence for sentence in sentences if sentence)


@bp.post("/<subscription_id>/scheduled-change/cancel")
@customer_required
def cancel_scheduled_change(customer, subscription_id):
    """Drop a change that was waiting for the period end."""
    subscription = _own(customer, subscription_id)
    form = VersionForm()
    if not form.validate():
        return _refused_on_detail(customer, subscription,
                                  ops.SubscriptionRefused(form.form_errors[0]))
    try:
        ops.cancel_scheduled_change(db.session, subscription,
                                    expected_version=form.version_number, now=utcnow(),
                                    actor=customer_actor(customer.id),
                                    configuration=configuration_for_request())
    except ops.SubscriptionRefused as refused:
        return _refused_on_detail(customer, subscription, refused)
    db.session.commit()
    return _done(customer, subscription, _(
        "The scheduled change has been cancelled. You stay on %(plan_name)s.",
        plan_name=plan_name(subscription.items[0].price, subscription.items[0].quantity)))
