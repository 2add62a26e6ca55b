"""Signing in with the merchant's login link and an emailed one-time passcode."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    render_template,
    request,
    url_for,
)
from flask import session as cookie_session
from flask_babel import gettext as _
from flask_babel import ngettext

from portal.customers.auth import sign_in
from portal.customers.auth import sign_out as end_sign_in
from portal.customers.models import normalize_email
from portal.dbtypes import utcnow
from portal.extensions import db
from portal.login import limits, operations
from portal.login.forms import CodeForm, EmailForm, ResendForm, usable_prefilled_email
from portal.login.operations import Outcome, PasscodePolicy
from portal.rendering import render_page, see_other, wants_fragment
from portal.request_context import branding_for_request

bp = Blueprint("login", __name__, url_prefix="/p")

# The only login state in the cookie: which link, and the id of the passcode row. Never the
# code, never its HMAC; the row holds the HMAC and the attempt count.
LOGIN_STATE = "login"


@bp.route("/login/<link_id>", methods=["GET", "POST"])
def enter_email(link_id: str):
    """Ask for the customer's email address and send a passcode to it."""
    link = _active_link_or_404(link_id)
    if request.method in ("GET", "HEAD"):
        prefilled = usable_prefilled_email(request.args.get("prefilled_email"))
        if prefilled is None:
            # Back from "Use a different email": start from what they typed last time.
            passcode = _current_passcode(link)
            prefilled = passcode.email_normalized if passcode else None
        form = EmailForm(formdata=None, data={"email": prefilled})
        return _email_step(link, form)

    form = EmailForm()
    if not form.validate():
        return _email_step(link, form, status=422)
    email = form.email.data
    breach = limits.hit(*limits.passcode_email_checks(normalize_email(email)))
    if breach:
        form.form_errors.append(_("You have asked for too many codes. Wait %(minutes)s, then "
                                  "try again.", minutes=_minutes(breach.minutes)))
        return _email_step(link, form, status=429, retry_after=breach.retry_after_seconds)

    previous = (cookie_session.get(LOGIN_STATE) or {}).get("passcode")
    passcode = _send_passcode(link, email, replaces=previous)
    if wants_fragment():
        response = _code_step(link, passcode, CodeForm(formdata=None))
        response.headers["HX-Push-Url"] = url_for("login.enter_code", link_id=link.id)
        return response
    return see_other(url_for("login.enter_code", link_id=link.id))


@bp.route("/login/<link_id>/code", methods=["GET", "POST"])
def enter_code(link_id: str):
    """Check the emailed passcode and sign the customer in."""
    link = _active_link_or_404(link_id)
    passcode = _current_passcode(link)
    if passcode is None:
        return _start_again(link)
    if request.method in ("GET", "HEAD"):
        return _code_step(link, passcode, CodeForm(formdata=None))

    form = CodeForm()
    if not form.validate():
        return _code_step(link, passcode, form, status=422)
    breach = limits.hit(("LOGIN_CODE_CHECK_LIMIT_PER_IP", limits.client_ip()))
    if breach:
        form.form_errors.append(_("Too many codes were tried from your network. Wait "
                                  "%(minutes)s, then try again.", minutes=_minutes(breach.minutes)))
        return _code_step(link, passcode, form, status=429, retry_after=breach.retry_after_seconds)

    now = utcnow()
    result = operations.check_passcode(db.session, passcode_id=passcode.id, code=form.code.data,
                                       now=now, policy=_policy(), ip_address=limits.client_ip())
    db.session.commit()
    if result.outcome is Outcome.SIGNED_IN:
        sign_in(result.customer, now=now, via="login_link", configuration_id=link.configuration_id)
        destination = url_for("customers.overview")
        if wants_fragment():
            # htmx ignores headers on 3xx answers; HX-Redirect makes it load the page in full.
            response = make_response("", 200)
            response.headers["HX-Redirect"] = destination
            return response
        return see_other(destination)
    if result.outcome is Outcome.GONE:
        cookie_session.pop(LOGIN_STATE, None)
        return _start_again(link)
    messages = {
        Outcome.WRONG: ngettext(
            "The code is not right. Check the email and try again (%(attempts_left)s try left)",
            "The code is not right. Check the email and try again (%(attempts_left)s tries left)",
            result.attempts_left, attempts_left=result.attempts_left),
        Outcome.LOCKED: _("That code was entered wrongly too many times. Send a new code below"),
        Outcome.EXPIRED: _("That code has expired. Send a new code below"),
    }
    form.code.errors = [messages[result.outcome]]
    return _code_step(link, passcode, form, status=422)


@bp.post("/login/<link_id>/resend-code")
def resend_code(link_id: str):
    """Send a new passcode to the address the customer entered; the old one stops working."""
    link = _active_link_or_404(link_id)
    passcode = _current_passcode(link)
    if passcode is None or not ResendForm().validate():
        return _start_again(link)
    breach = limits.hit(*limits.passcode_email_checks(passcode.email_normalized))
    if breach:
        form = CodeForm(formdata=None)
        form.form_errors.append(_("You have asked for too many codes. Wait %(minutes)s, then use "
                                  "the code you already have or try again.",
                                  minutes=_minutes(breach.minutes)))
        return _code_step(link, passcode, form, status=429, retry_after=breach.retry_after_seconds)
    passcode = _send_passcode(link, passcode.email_normalized, replaces=passcode.id)
    message = _("We sent a new code to %(email_normalized)s. Codes sent before no longer work.",
                email_normalized=passcode.email_normalized)
    if wants_fragment():
        return _code_step(link, passcode, CodeForm(formdata=None), notice_message=message)
    flash(message, "success")
    return see_other(url_for("login.enter_code", link_id=link.id))


@bp.get("/signed-out")
def signed_out():
    """Tell a signed-out visitor how to sign in again."""
    return render_page("login/signed_out.html")


@bp.post("/sign-out")
def sign_out():
    """End the session on the server and in the browser."""
    end_sign_in(now=utcnow())
    return see_other(url_for("login.signed_out"))


# ---- helpers --------------------------------------------------------------------------------

def _policy() -> PasscodePolicy:
    return PasscodePolicy.from_config(current_app.config)


def _active_link_or_404(link_id: str):
    link = operations.active_login_link(db.session, link_id)
    if link is None:
        # A plain page, so a customer with an old link knows it is the link, not them.
        abort(make_response(render_template("login/link_not_active.html"), 404))
    return link


def _current_passcode(link):
    """The passcode this browser is working with on this link, if it can still be used."""
    state = cookie_session.get(LOGIN_STATE) or {}
    if state.get("link") != link.id:
        return None
    return operations.live_passcode(db.session, state.get("passcode"), now=utcnow())


def _send_passcode(link, email: str, *, replaces: str | None):
    """Issue a passcode and queue its email in one transaction; known and unknown addresses
    take the same path, and the worker sends it after the answer."""
    now, policy = utcnow(), _policy()
    issued = operations.issue_passcode(db.session, email=email, now=now, policy=policy,
                                       ip_address=limits.client_ip(), replaces=replaces)
    operations.queue_passcode_email(db.session, issued, typed_email=email,
                                    business_name=branding_for_request().business_name,
                                    valid_for=_minutes(policy.ttl_seconds // 60), now=now)
    db.session.commit()
    cookie_session[LOGIN_STATE] = {"link": link.id, "passcode": issued.passcode.id}
    return issued.passcode


def _start_again(link):
    """No usable passcode: back to the email step."""
    if wants_fragment():
        response = _email_step(link, EmailForm(formdata=None),
                               notice_message=_("Enter your email address to get a new code."))
        response.headers["HX-Push-Url"] = url_for("login.enter_email", link_id=link.id)
        return response
    flash(_("Enter your email address to get a new code."), "info")
    return see_other(url_for("login.enter_email", link_id=link.id))


def _email_step(link, form, *, status=200, retry_after=None, notice_message=None):
    response = render_page("login/email.html", "login/_email_step.html", status=status,
                           link=link, form=form, notice_message=notice_message,
                           swapped=wants_fragment())
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _code_step(link, passcode, form, *, status=200, retry_after=None, notice_message=None):
    response = render_page("login/code.html", "login/_code_step.html", status=status,
                           link=link, passcode=passcode, form=form, resend_form=ResendForm(),
                           valid_for=_minutes(_policy().ttl_seconds // 60),
                           notice_message=notice_message, swapped=wants_fragment())
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _minutes(count: int) -> str:
    count = max(int(count), 1)
    return ngettext("%(count)s minute", "%(count)s minutes", count, count=count)
