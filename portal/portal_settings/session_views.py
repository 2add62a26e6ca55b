"""Following a billing portal session's URL, and keeping a deep-link flow to itself.

``/p/session/<token>`` signs the customer in (no passcode) once, within 5 minutes of the
session being made, then sends them to the flow's page or the portal's home. A visit that
is only a prefetch (``Sec-Purpose``/``Purpose: prefetch``), a HEAD, or not a navigation
(``Sec-Fetch-Mode`` other than ``navigate``) uses nothing: the real visit still works.

While a sign-in from a session with a flow has not finished it, every other portal page
sends the customer to the flow (303, or HX-Redirect for htmx); the navigation is hidden and
the links that leave the flow lead back to the merchant (``return_url``). Once finished, the
flow's ``after_completion`` decides: ``redirect`` ends the sign-in and sends the browser to
its URL, ``hosted_confirmation`` shows /p/session/done (and only that), ``portal_homepage``
opens the whole portal to this sign-in.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, make_response, render_template, request, url_for
from flask_babel import force_locale
from werkzeug.datastructures import MultiDict

from portal.customers.auth import (
    configuration_for_request,
    current_sign_in,
    customer_required,
    sign_in,
    sign_out,
)
from portal.customers.models import Customer
from portal.customers.operations import merchant_return_url
from portal.dbtypes import utcnow
from portal.extensions import db
from portal.i18n import shipped
from portal.portal_settings import sessions as ops
from portal.rendering import is_safe_return_url, render_page, see_other, wants_fragment
from portal.request_context import current_portal_session

bp = Blueprint("portal_sessions", __name__, url_prefix="/p/session")

# The customer pages a flow closes (sign-out, the language switcher and these pages stay).
GATED_BLUEPRINTS = frozenset({"customers", "subscriptions", "payments", "invoices"})
_CANCEL_PAGES = frozenset({"subscriptions.cancel_offers", "subscriptions.confirm_cancel",
                           "subscriptions.cancel_subscription", "subscriptions.accept_offer"})
_UPDATE_PAGES = frozenset({"subscriptions.change_plan", "subscriptions.preview_change",
                           "subscriptions.confirm_change"})
_CONFIRM_PAGES = frozenset({"subscriptions.preview_change", "subscriptions.confirm_change"})


# ---- the URL -----------------------------------------------------------------------------

@bp.route("/<token>", methods=["GET", "HEAD"])
def follow(token: str):
    """Sign the customer in from the merchant's session URL, once."""
    if _not_a_visit():
        # A prefetch or a HEAD must not use the link up: decline it, so the browser asks
        # again when the customer really goes there.
        response = make_response("", 503)
        response.headers["Retry-After"] = "0"
        return _private(response)
    now = utcnow()
    record = ops.find_by_token(db.session, token)
    current = current_sign_in()
    if record is not None and current is not None and current.portal_session_id == record.id:
        # This browser followed it already (a reload): nothing new is granted.
        return _private(see_other(_landing_url(record)))
    result = ops.redeem(db.session, token, now=now)
    if result.outcome is ops.Redeemed.SIGNED_IN:
        record = result.portal_session
        customer = db.session.get(Customer, record.customer_id)
        # Commits the used mark and the sign-in together.
        sign_in(customer, now=now, via="portal_session", configuration_id=record.configuration_id,
                portal_session_id=record.id)
        return _private(see_other(_landing_url(record)))
    db.session.rollback()
    if result.outcome is ops.Redeemed.UNKNOWN:
        return _private(make_response(render_template("portal_sessions/not_found.html"), 404))
    record = result.portal_session
    template = ("portal_sessions/used.html" if result.outcome is ops.Redeemed.USED
                else "portal_sessions/expired.html")
    return_url = record.return_url or (record.configuration.default_return_url
                                       if record.configuration else None)
    locale = shipped(record.locale) if record.locale not in (None, "", "auto") else None
    page = _render_in(locale, template,
                      return_url=return_url if is_safe_return_url(return_url) else None)
    return _private(make_response(page, 410))


def _not_a_visit() -> bool:
    headers = request.headers
    purpose = (headers.get("Sec-Purpose") or headers.get("Purpose")
               or headers.get("X-Purpose") or headers.get("X-Moz") or "").lower()
    mode = headers.get("Sec-Fetch-Mode")
    return (request.method == "HEAD" or "prefetch" in purpose or "prerender" in purpose
            or (mode is not None and mode != "navigate"))


def _render_in(locale: str | None, template: str, **context) -> str:
    if locale is None:
        return render_template(template, **context)
    with force_locale(locale):
        return render_template(template, **context)


def _private(response):
    # The URL holds the token: no page reached from here may learn it from a Referer.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _landing_url(record) -> str:
    flow = ops.flow_of(record)
    if flow is None or (record.flow_completed_at is not None
                        and ops.after_completion(flow)["type"] == "portal_homepage"):
        return url_for("customers.overview")
    if record.flow_completed_at is not None:
        return url_for("portal_sessions.flow_done")
    return flow_start_url(flow)


def flow_start_url(flow: dict) -> str:
    """The page a flow opens on."""
    kind, subscription_id = flow["type"], ops.flow_subscription_id(flow)
    if kind == "payment_method_update":
        return url_for("payments.add_payment_method")
    if kind == "subscription_cancel":
        return url_for("subscriptions.cancel_offers", subscription_id=subscription_id)
    if kind == "subscription_update":
        return url_for("subscriptions.change_plan", subscription_id=subscription_id)
    return url_for("subscriptions.preview_change", subscription_id=subscription_id)


# ---- keeping a flow to itself ---------------------------------------------------------------

def _flow_state():
    """(portal session, flow) for a sign-in held to a flow, else (None, None)."""
    record = current_portal_session()
    flow = ops.flow_of(record)
    if flow is None:
        return None, None
    if (record.flow_completed_at is not None
            and ops.after_completion(flow)["type"] == "portal_homepage"):
        return None, None
    return record, flow


def _in_flow(flow: dict, endpoint: str | None, view_args: dict | None) -> bool:
    kind = flow["type"]
    if kind == "payment_method_update":
        return endpoint == "payments.add_payment_method"
    pages = {"subscription_cancel": _CANCEL_PAGES, "subscription_update": _UPDATE_PAGES,
             "subscription_update_confirm": _CONFIRM_PAGES}[kind]
    return (endpoint in pages
            and (view_args or {}).get("subscription_id") == ops.flow_subscription_id(flow))


@bp.before_app_request
def keep_to_the_flow():
    """Send a sign-in held to a flow back to it from any other portal page."""
    if request.blueprint not in GATED_BLUEPRINTS:
        return None
    record, flow = _flow_state()
    if flow is None:
        return None
    if record.flow_completed_at is None:
        if _in_flow(flow, request.endpoint, request.view_args):
            return None
        return navigate(flow_start_url(flow))
    return navigate(url_for("portal_sessions.flow_done"))


def navigate(destination: str):
    """A whole-page move: 303 for a plain request, HX-Redirect for htmx (which would swap a
    followed 303's whole page into the target)."""
    if wants_fragment():
        response = make_response("", 200)
        response.headers["HX-Redirect"] = destination
    else:
        response = see_other(destination)
    response.vary.add("HX-Request")
    return response


def in_flow() -> dict | None:
    """The flow this sign-in is held to, for templates: hide the navigation when set."""
    return _flow_state()[1]


def flow_exit_url() -> str | None:
    """Where the links that would leave a flow lead: back to the merchant. None outside one."""
    if in_flow() is None:
        return None
    return merchant_return_url(db.session, current_sign_in(), configuration_for_request())


@bp.app_context_processor
def flow_helpers():
    """``in_flow()`` and ``flow_exit_url()`` for every template (portal_page.html's nav)."""
    return {"in_flow": in_flow, "flow_exit_url": flow_exit_url}


def flow_completed(kinds: tuple[str, ...], message: str, category: str = "success", *,
                   subscription_id: str | None = None):
    """Call after a view's change has committed. When it finished the flow this sign-in is
    held to, mark it finished and answer as ``after_completion`` says (the view's own
    ``message`` flashed for the page that follows); None otherwise, and the view answers as
    it always does."""
    record, flow = _flow_state()
    if flow is None or record.flow_completed_at is not None or flow["type"] not in kinds:
        return None
    if subscription_id is not None and ops.flow_subscription_id(flow) != subscription_id:
        return None
    now = utcnow()
    ops.complete_flow(db.session, record, now=now)
    db.session.commit()
    after = ops.after_completion(flow)
    if after["type"] == "redirect":
        destination = after["redirect"]["return_url"]
        sign_out(now=now)  # the customer is sent back to the merchant: this sign-in is over
        return navigate(destination)
    flash(message, category)
    if after["type"] == "hosted_confirmation":
        return navigate(url_for("portal_sessions.flow_done"))
    return navigate(url_for("customers.overview"))


def cancel_configuration(subscription_id: str):
    """The configuration the cancel pages of ``subscription_id`` use: the one in force, with a
    subscription_cancel flow's retention coupon as the one offer."""
    record, flow = _flow_state()
    return ops.configuration_for_flow(configuration_for_request(), flow, subscription_id)


def confirm_flow_change(subscription):
    """For a subscription_update_confirm flow on ``subscription``: (the form data of the
    change it names, its coupon or None); None outside such a flow. The change comes from the
    session, never from the request, so the customer confirms exactly what the merchant
    offered."""
    from portal.catalog.models import Coupon

    record, flow = _flow_state()
    if (flow is None or flow["type"] != "subscription_update_confirm"
            or ops.flow_subscription_id(flow) != subscription.id):
        return None
    entry = flow["subscription_update_confirm"]
    item = entry["items"][0]
    current = subscription.items[0] if subscription.items else None
    price = item.get("price") or (current.price_id if current else "")
    quantity = item.get("quantity")
    if quantity is None and current is not None:
        quantity = current.quantity
    source = request.form if request.method == "POST" else request.args
    data = MultiDict({"price": price, "quantity": "" if quantity is None else str(quantity),
                      "version": source.get("version") or str(subscription.version),
                      "proration_date": source.get("proration_date") or ""})
    if request.method == "POST":
        data["csrf_token"] = request.form.get("csrf_token", "")
    coupon = None
    discounts = entry.get("discounts") or []
    if discounts and discounts[0].get("coupon"):
        coupon = db.session.get(Coupon, discounts[0]["coupon"])
    return data, coupon


# ---- after a flow: the hosted confirmation ---------------------------------------------------

@bp.get("/done")
@customer_required
def flow_done(customer):
    """The merchant's confirmation after a finished flow, with the way back to them."""
    record, flow = _flow_state()
    if flow is None or record.flow_completed_at is None:
        abort(404)
    after = ops.after_completion(flow)
    hosted = after.get("hosted_confirmation") or {}
    return render_page("portal_sessions/done.html", customer=customer,
                       custom_message=hosted.get("custom_message"),
                       return_url=flow_exit_url())
