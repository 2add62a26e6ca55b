"""axe-core finds no WCAG 2.0/2.1/2.2 A or AA violation on any customer page, in any state a
customer can reach, with JavaScript on, on a 360 px phone and on a desktop: every GET page under
/p/ (the table below is checked against app.url_map), the login steps with their errors, and
each htmx swap (a billing form opened by its link, sent with errors, sent valid; the cancel and
change-plan panels). One demo is seeded and served for the module (tests/browser/demo_server.py);
the states that save something save what was already there, or undo it, so order is free."""

from __future__ import annotations

import re

import pytest

from portal.demo import JENNY
from tests.browser.axe import assert_no_axe_violations
from tests.browser.demo_server import emailed_code, htmx_ready, module_demo

WIDTHS = {"phone": {"width": 360, "height": 740}, "desktop": {"width": 1280, "height": 800}}
# HTML pages only: the PDFs are files, with their own tests.
NOT_PAGES = {"invoices.invoice_pdf", "invoices.receipt_pdf"}


@pytest.fixture(scope="module")
def demo(database_uri, _schema, tmp_path_factory):
    with module_demo(database_uri, str(tmp_path_factory.mktemp("a11y-instance"))) as served:
        yield served


def settled(page) -> None:
    """htmx has finished: no request in flight and the swap settled."""
    page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-swapping,"
                           " .htmx-settling')")


def goto(page, path: str) -> None:
    page.goto(path)
    htmx_ready(page)


# ---- the states: each takes (page, demo) and leaves the page in the state it names ----------

def login_prefilled(page, demo):
    goto(page, f"/p/login/{demo.link.id}?prefilled_email={JENNY}")
    assert page.get_by_label("Email address").input_value() == JENNY


def login_empty_email(page, demo):
    goto(page, f"/p/login/{demo.link.id}")
    page.get_by_role("button", name="Send me a code").click()
    page.locator(".error-summary").wait_for()


def login_invalid_email(page, demo):
    goto(page, f"/p/login/{demo.link.id}")
    page.get_by_label("Email address").fill("jenny at example")
    page.get_by_role("button", name="Send me a code").click()
    page.locator(".error-summary").wait_for()


def passcode_entry(page, demo):
    login_prefilled(page, demo)
    page.get_by_role("button", name="Send me a code").click()
    page.get_by_role("heading", name="Check your email").wait_for()


def passcode_wrong(page, demo):
    passcode_entry(page, demo)
    code = emailed_code(JENNY)
    page.get_by_label("Code from the email").fill(f"{(int(code) + 1) % 1_000_000:06d}")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("The code is not right").first.wait_for()


def inactive_login_link(page, demo):
    page.goto("/p/login/no-such-link")
    page.get_by_role("heading", name="This login link is not active").wait_for()


def signed_out(page, demo):
    demo.sign_in(page.context)
    goto(page, "/p/")
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="You are signed out").wait_for()


def signed_in_page(path):
    def state(page, demo):
        demo.sign_in(page.context)
        goto(page, path.format(**demo.ids))
        page.locator("main h1").first.wait_for()
    return state


def not_found(page, demo):
    demo.sign_in(page.context)
    response = page.goto("/p/invoices/in_0000000000000000000000")
    assert response.status == 404


def not_found_signed_out(page, demo):
    response = page.goto("/p/no-such-page")
    assert response.status == 404


def add_card_errors(page, demo):
    demo.sign_in(page.context)
    goto(page, "/p/payment-methods/new")
    page.get_by_label("Card number").fill("4242")
    page.get_by_role("button", name="Add card").click()
    page.locator("#add-card .error-summary").wait_for()


def remove_card_swapped(page, demo):
    demo.sign_in(page.context)
    goto(page, "/p/payment-methods")
    page.locator(".payment-method").get_by_role("button", name=re.compile("^Remove")).first.click()
    page.get_by_role("button", name=re.compile("^(Yes, )?[Rr]emove")).first.wait_for()
    settled(page)


def subscription_panel(*clicks, wait):
    """The subscription page, then each link or button in ``clicks`` pressed in turn (htmx
    swaps the panel each time)."""
    def state(page, demo):
        demo.sign_in(page.context)
        goto(page, f"/p/subscriptions/{demo.ids['subscription']}")
        for role, name in clicks:
            page.locator("#subscription-panel").get_by_role(role, name=name).first.click()
            settled(page)
        page.locator(wait).first.wait_for()
    return state


def change_quantity_error(page, demo):
    subscription_panel(("link", "Change plan"), wait="#subscription-panel form")(page, demo)
    page.get_by_label(re.compile("^Team")).first.check()
    page.get_by_label(re.compile("Quantity|seats", re.I)).fill("0")
    page.get_by_role("button", name="Review the change").click()
    page.locator("#subscription-panel .error-summary").wait_for()


def change_preview(page, demo):
    subscription_panel(("link", "Change plan"), wait="#subscription-panel form")(page, demo)
    page.get_by_label(re.compile("^Starter")).first.check()
    page.get_by_role("button", name="Review the change").click()
    page.get_by_role("button", name=re.compile("^Confirm")).wait_for()


def portal_session_page(*, used=False, minutes_old=0, flow_data=None, finished=False,
                        status=200):
    """A merchant's portal session URL, followed: used already, expired, or (signed in) its
    flow's page, or the confirmation after a finished flow."""
    def state(page, demo):
        from datetime import timedelta
        from urllib.parse import urlsplit

        from portal.dbtypes import utcnow
        from portal.extensions import db
        from portal.portal_settings.sessions import create_portal_session

        def filled(value):
            if isinstance(value, dict):
                return {key: filled(item) for key, item in value.items()}
            return value.format(**demo.ids) if isinstance(value, str) else value

        created = create_portal_session(
            db.session, customer=demo.jenny.id, return_url="https://acme.example/account",
            flow_data=filled(flow_data) if flow_data else None, now=utcnow() - timedelta(minutes=minutes_old), actor="api",
            base_url=demo.url)
        if used:
            created.portal_session.used_at = utcnow()
        if finished:
            created.portal_session.flow_completed_at = utcnow()
        db.session.commit()
        response = page.goto(urlsplit(created.url).path)
        assert response.status == status
        htmx_ready(page)
        page.locator("main h1").first.wait_for()
    return state


def portal_session_not_working(page, demo):
    response = page.goto("/p/session/" + "x" * 43)
    assert response.status == 404
    htmx_ready(page)


HOSTED = {"type": "hosted_confirmation",
          "hosted_confirmation": {"custom_message": "Thank you, see you soon."}}


# (name, state, the endpoint of the page it ends on)
STATES = [
    ("login page from a link, email prefilled", login_prefilled, "login.enter_email"),
    ("login with an empty email", login_empty_email, "login.enter_email"),
    ("login with an invalid email", login_invalid_email, "login.enter_email"),
    ("passcode entry", passcode_entry, "login.enter_code"),
    ("passcode with a wrong code", passcode_wrong, "login.enter_code"),
    ("inactive login link", inactive_login_link, "login.enter_email"),
    ("signed out", signed_out, "login.signed_out"),
    ("overview", signed_in_page("/p/"), "customers.overview"),
    ("billing information", signed_in_page("/p/billing-information"),
     "customers.billing_information"),
    *[(f"billing {name} form page", signed_in_page(f"/p/billing-information/{path}"),
       f"customers.edit_{endpoint}")
      for name, path, endpoint in [("name", "name", "name"), ("email", "email", "email"),
                                   ("phone", "phone", "phone"), ("address", "address", "address"),
                                   ("shipping", "shipping-address", "shipping_address")]],
    ("payment methods", signed_in_page("/p/payment-methods"), "payments.payment_methods"),
    ("add card form", signed_in_page("/p/payment-methods/new"), "payments.add_payment_method"),
    ("add card form with errors", add_card_errors, "payments.add_payment_method"),
    ("remove card confirmation page", signed_in_page("/p/payment-methods/{card}/remove"),
     "payments.confirm_remove_payment_method"),
    ("remove card confirmation swapped in", remove_card_swapped, "payments.payment_methods"),
    ("invoices list", signed_in_page("/p/invoices"), "invoices.invoice_history"),
    ("open invoice with the pay step", signed_in_page("/p/invoices/{open_invoice}"),
     "invoices.invoice_detail"),
    ("paid invoice", signed_in_page("/p/invoices/{paid_invoice}"), "invoices.invoice_detail"),
    ("subscriptions list", signed_in_page("/p/subscriptions"), "subscriptions.subscription_list"),
    ("subscription page", signed_in_page("/p/subscriptions/{subscription}"),
     "subscriptions.subscription_detail"),
    ("cancel offers page", signed_in_page("/p/subscriptions/{subscription}/cancel"),
     "subscriptions.cancel_offers"),
    ("cancel confirmation page with the survey",
     signed_in_page("/p/subscriptions/{subscription}/cancel/confirm"),
     "subscriptions.confirm_cancel"),
    ("cancel offers swapped in",
     subscription_panel(("link", "Cancel subscription"), wait="#subscription-panel form"),
     "subscriptions.cancel_offers"),
    ("cancel confirmation swapped in",
     subscription_panel(("link", "Cancel subscription"),
                        ("link", "No thanks, continue to cancel"), wait="input[name=reason]"),
     "subscriptions.confirm_cancel"),
    ("switch plan page", signed_in_page("/p/subscriptions/{subscription}/change"),
     "subscriptions.change_plan"),
    ("switch plan swapped in",
     subscription_panel(("link", "Change plan"), wait="#subscription-panel form"),
     "subscriptions.change_plan"),
    ("quantity with an error", change_quantity_error, "subscriptions.preview_change"),
    ("plan change preview", change_preview, "subscriptions.preview_change"),
    ("portal session link used", portal_session_page(used=True, status=410),
     "portal_sessions.follow"),
    ("portal session link expired", portal_session_page(minutes_old=6, status=410),
     "portal_sessions.follow"),
    ("portal session link not working", portal_session_not_working, "portal_sessions.follow"),
    ("deep link to cancelling, the flow alone",
     portal_session_page(flow_data={"type": "subscription_cancel",
                                    "subscription_cancel": {"subscription": "{subscription}"}}),
     "subscriptions.cancel_offers"),
    ("confirmation after a deep-link flow",
     portal_session_page(flow_data={"type": "payment_method_update",
                                    "after_completion": HOSTED}, finished=True),
     "portal_sessions.flow_done"),
    ("404 page, signed in", not_found, "invoices.invoice_detail"),
    ("404 page, signed out", not_found_signed_out, None),
]


# section id, the link that opens its form, (field, bad value), what to fill for a valid save,
# the button that saves, the message after saving. Valid saves keep what the demo has (the
# forms open filled in), except the shipping address, which is saved the same each time.
SECTIONS = [
    ("name-section", "Change name", ("name", ""), {}, "Save name", "Your name has been updated"),
    ("email-section", "Change email address", ("email", "not an email"), {},
     "Save email address", "Your email address has been updated"),
    ("phone-section", "Change phone number", ("phone", "12"), {}, "Save phone number",
     "Your phone number has been updated"),
    ("address-section", "Change billing address", ("address-line1", ""), {},
     "Save billing address", "Your billing address has been updated"),
    ("shipping-section", re.compile("^(Add a|Change) shipping address"), ("shipping-name", ""),
     {"shipping-name": "Jenny Rosen", "shipping-line1": "1 Main Street",
      "shipping-city": "Portland", "shipping-postal_code": "97201"},
     "Save shipping address", "Your shipping address has been updated"),
]


# What the demo has, typed back in after the error, so a save changes nothing.
FILLED = {"name-section": "Jenny Rosen", "email-section": JENNY, "phone-section": "+1 415 555 0100",
          "address-section": "27 Fredrick Ave"}


@pytest.fixture
def page(browser, demo):
    """A page with JavaScript on, at desktop width, signed out, in a context of its own."""
    context = browser.new_context(base_url=demo.url, viewport=WIDTHS["desktop"])
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def check(page, state_name: str) -> None:
    """axe at each width, on the same document (reaching a state again for the second width
    would double the module's time); one failure lists what both widths found."""
    failures = []
    for width, size in WIDTHS.items():
        page.set_viewport_size(size)
        try:
            assert_no_axe_violations(page, f"{state_name}, {width} ({size['width']} px wide)")
        except AssertionError as failure:
            failures.append(str(failure))
    page.set_viewport_size(WIDTHS["desktop"])
    assert not failures, "\n\n".join(failures)


def test_the_check_fails_on_a_page_with_a_violation(page, demo):
    goto(page, f"/p/login/{demo.link.id}")
    page.evaluate("""() => { const main = document.querySelector('main');
      main.insertAdjacentHTML('beforeend', '<img src="/static/favicon.svg">');
      main.querySelector('input').removeAttribute('id');
      main.insertAdjacentHTML('beforeend', '<p id="login-step">again</p>'); }""")
    with pytest.raises(AssertionError) as failure:
        assert_no_axe_violations(page, "a broken login page")
    assert "image-alt (critical)" in str(failure.value)
    assert "label (critical)" in str(failure.value)
    assert 'duplicate-id (serious): id="login-step" is used 2 times' in str(failure.value)
    assert "a broken login page" in str(failure.value)


def test_the_states_cover_every_customer_page(demo):
    pages = {rule.endpoint for rule in demo.app.url_map.iter_rules()
             if rule.rule.startswith("/p/") and "GET" in rule.methods} - NOT_PAGES
    assert pages - {endpoint for _, _, endpoint in STATES} == set()


@pytest.mark.parametrize(("name", "state", "endpoint"), STATES, ids=[s[0] for s in STATES])
def test_no_axe_violations(page, demo, name, state, endpoint):
    state(page, demo)
    if endpoint:  # the page checked is the one the state names
        path = page.url.removeprefix(demo.url).split("?")[0]
        assert demo.app.url_map.bind("localhost").match(path)[0] == endpoint
    check(page, name)


@pytest.mark.parametrize(("section_id", "link", "bad", "values", "button", "message"), SECTIONS,
                         ids=[s[0] for s in SECTIONS])
def test_no_axe_violations_as_a_billing_form_opens_fails_and_saves(
        page, demo, section_id, link, bad, values, button, message):
    demo.sign_in(page.context)
    goto(page, "/p/billing-information")
    section = page.locator(f"#{section_id}")
    section.get_by_role("link", name=link).click()
    section.locator("form").first.wait_for()
    settled(page)
    check(page, f"{section_id}: form opened by its link")

    field_id, value = bad
    page.locator(f"#{field_id}").fill(value)
    section.get_by_role("button", name=button).click()
    section.locator(".error-summary").wait_for()
    settled(page)
    check(page, f"{section_id}: form sent with an error")

    if section_id == "shipping-section":
        section.get_by_label("State").select_option("OR")
    for field_id, value in values.items():
        page.locator(f"#{field_id}").fill(value)
    if section_id != "shipping-section":
        page.locator(f"#{bad[0]}").fill(FILLED[section_id])
    section.get_by_role("button", name=button).click()
    section.get_by_text(message).wait_for()
    settled(page)
    check(page, f"{section_id}: saved")


def test_no_axe_violations_as_a_tax_id_is_refused_added_and_removed(page, demo):
    demo.sign_in(page.context)
    goto(page, "/p/billing-information")
    section = page.locator("#tax-ids-section")
    section.get_by_label("Type").select_option("eu_vat")
    section.get_by_label("Number").fill("DE1")
    section.get_by_role("button", name="Add tax ID").click()
    section.locator(".error-summary").wait_for()
    settled(page)
    check(page, "tax IDs: sent with an error")

    section.get_by_label("Type").select_option("eu_vat")
    section.get_by_label("Number").fill("DE136695976")
    section.get_by_role("button", name="Add tax ID").click()
    section.get_by_text("DE136695976").first.wait_for()
    settled(page)
    check(page, "tax IDs: one added")

    section.get_by_role("button", name="Remove DE136695976").click()
    section.get_by_text("None").wait_for()
    settled(page)
    check(page, "tax IDs: removed")
