"""Customer pages for payment methods: list, add, make default, remove."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, request, url_for
from flask_babel import gettext as _

from portal.customers.auth import current_customer, customer_required, feature_required
from portal.dbtypes import utcnow
from portal.events import customer_actor
from portal.extensions import db, limiter
from portal.payments.forms import AddCardForm
from portal.payments.gateway import CardError, get_gateway
from portal.payments.operations import (
    PaymentMethodRefused,
    attach_card,
    attached_payment_methods,
    can_remove,
    detach_payment_method,
    find_payment_method,
    next_default_after_removal,
    removal_refusals,
    set_default_payment_method,
)
from portal.portal_settings.session_views import flow_completed
from portal.rendering import render_page, see_other, wants_fragment

bp = Blueprint("payments", __name__, url_prefix="/p/payment-methods")

payment_methods_enabled = feature_required(lambda c: c.payment_method_update_enabled)

LIST_PAGE = ("payments/payment_methods.html", "payments/_payment_methods.html")
ADD_PAGE = ("payments/add_payment_method.html", "payments/_add_payment_method.html")
REMOVE_PAGE = ("payments/confirm_remove.html", "payments/_confirm_remove.html")


def _add_card_limit() -> str:
    # Card-testing fraud tries many numbers through one form; a customer adds a few cards a year.
    return current_app.config.get("PAYMENT_METHOD_ADD_RATE_LIMIT", "20 per hour")


def _limit_key() -> str:
    customer = current_customer()
    return f"add-card:{customer.id}" if customer else f"add-card:{request.remote_addr}"


def _lookup(customer, payment_method_id: str):
    method = find_payment_method(db.session, customer, payment_method_id)
    if method is None:
        abort(404)
    return method


def _render_list(customer, *, status=200, message=None, error=None):
    now = utcnow()
    methods = attached_payment_methods(db.session, customer)
    return render_page(
        *LIST_PAGE, status=status, customer=customer, methods=methods, now=now,
        refusals=removal_refusals(db.session, customer, methods, now),
        message=message, error=error, swapped=wants_fragment(),
    )


@bp.get("")
@customer_required
@payment_methods_enabled
def payment_methods(customer):
    """The customer's saved cards, with actions to make one default or remove one."""
    return _render_list(customer)


@bp.route("/new", methods=["GET", "POST"])
@customer_required
@payment_methods_enabled
@limiter.limit(_add_card_limit, key_func=_limit_key, methods=["POST"])
def add_payment_method(customer):
    """Add a card: validate it, have the gateway tokenize it, save only the token and summary."""
    now = utcnow()
    # The box starts ticked for a first card (more exactly: while there is no default).
    starts_ticked = customer.default_payment_method_id is None
    form = AddCardForm(now=now,
                       data={"make_default": starts_ticked} if request.method in ("GET", "HEAD") else None)
    if form.validate_on_submit():
        card_details = form.card_details()
        form.forget_secrets()
        try:
            attached = attach_card(db.session, customer, card_details, form.make_default.data,
                                   now=now, actor=customer_actor(customer.id), gateway=get_gateway(),
                                   ip_address=request.remote_addr)
        except CardError as error:
            db.session.rollback()
            target = {"number": form.number, "expiry": form.expiry, "cvc": form.cvc}.get(error.field)
            (target.errors if target is not None else form.form_errors).append(error.message)
        else:
            db.session.commit()
            method = attached.payment_method
            default = customer.default_payment_method_id == method.id
            if attached.already_saved:
                message = _("%(label)s was already saved. It is your default payment method.",
                            label=method.label) if default \
                    else _("%(label)s was already saved.", label=method.label)
            else:
                message = _("%(label)s has been added. It is your default payment method.",
                            label=method.label) if default \
                    else _("%(label)s has been added.", label=method.label)
            # A portal session's payment_method_update flow ends here.
            finished = flow_completed(("payment_method_update",), message)
            if finished is not None:
                return finished
            if not wants_fragment():
                flash(message, "success")
                return see_other(url_for("payments.payment_methods"))
            response = _render_list(customer, message=message)
            response.headers["HX-Push-Url"] = url_for("payments.payment_methods")
            return response
    form.forget_secrets()
    status = 422 if form.errors else 200
    return render_page(*ADD_PAGE, status=status, customer=customer, form=form,
                       swapped=wants_fragment())


@bp.post("/<payment_method_id>/make-default")
@customer_required
@payment_methods_enabled
def make_default_payment_method(customer, payment_method_id):
    """Make one of the customer's cards the default for them and their automatic payments."""
    method = _lookup(customer, payment_method_id)
    now = utcnow()
    try:
        changed = set_default_payment_method(db.session, customer, method, now=now,
                                             actor=customer_actor(customer.id),
                                             ip_address=request.remote_addr)
    except PaymentMethodRefused as refused:
        db.session.rollback()
        return _render_list(customer, status=409, error=refused.message)
    db.session.commit()
    message = (_("%(label)s is now your default payment method.", label=method.label)
               if changed
               else _("%(label)s is already your default payment method.", label=method.label))
    return _done(customer, message)


@bp.get("/<payment_method_id>/remove")
@customer_required
@payment_methods_enabled
def confirm_remove_payment_method(customer, payment_method_id):
    """Ask 'are you sure' before removing a card (a page, or in place of the card with htmx)."""
    method = _lookup(customer, payment_method_id)
    return _render_confirm(customer, method)


@bp.post("/<payment_method_id>/remove")
@customer_required
@payment_methods_enabled
def remove_payment_method(customer, payment_method_id):
    """Remove a card, unless it is the last one paying for a subscription."""
    method = _lookup(customer, payment_method_id)
    now = utcnow()
    try:
        new_default = detach_payment_method(db.session, customer, method, now=now,
                                            actor=customer_actor(customer.id), gateway=get_gateway(),
                                            ip_address=request.remote_addr)
    except PaymentMethodRefused as refused:
        db.session.rollback()
        # htmx posts from the confirmation shown in the list; without JS it is its own page.
        if wants_fragment():
            return _render_list(customer, status=409, error=refused.message)
        return _render_confirm(customer, method, status=409)
    db.session.commit()
    if new_default is None:
        message = _("%(label)s has been removed.", label=method.label)
    else:
        message = _("%(label)s has been removed. %(new_default)s is now your default payment "
                    "method.", label=method.label, new_default=new_default.label)
    return _done(customer, message)


def _render_confirm(customer, method, *, status=200):
    now = utcnow()
    return render_page(
        *REMOVE_PAGE, status=status, customer=customer, method=method, now=now,
        refusal=can_remove(db.session, customer, method, now).reason,
        next_default=next_default_after_removal(db.session, customer, method, now),
        in_place=wants_fragment(),
    )


def _done(customer, message: str):
    """After a change: post-redirect-get without JavaScript, the fresh list for htmx."""
    if wants_fragment():
        return _render_list(customer, message=message)
    flash(message, "success")
    return see_other(url_for("payments.payment_methods"))
