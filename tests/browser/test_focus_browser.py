"""Where focus goes after htmx swaps a part of a page, in a real Chromium. Before, the control
that was used disappeared with the swapped part and focus fell to <body>: a keyboard user
started again from the top (19 Tabs to the first field after "Change billing address") and a
screen reader said nothing. Also: the live region says every success, and the tab's title says
"Error: " while a swapped form has errors. (Without JavaScript, that every save lands on its
flashed message is checked at each step of test_journeys_browser.py.)"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.customers.models import Customer
from portal.dbtypes import utcnow
from portal.demo import JENNY, seed_demo
from portal.invoices.models import Invoice
from portal.portal_settings.operations import default_configuration

ACTIVE = """() => { const e = document.activeElement;
  return {tag: e.tagName.toLowerCase(), id: e.id, text: e.innerText.trim(),
          cls: e.className, name: e.getAttribute('name')}; }"""


@pytest.fixture
def demo(session):
    link = seed_demo(session, now=utcnow())
    default_configuration(session).customer_update_allowed = [
        "address", "email", "name", "phone", "shipping", "tax_id"]
    session.commit()
    return link


@pytest.fixture
def jenny(demo, session):
    return session.scalars(select(Customer).where(Customer.email == JENNY)
                           .order_by(Customer.created.desc())).first()


@pytest.fixture
def sign_in_by_portal_session(sign_in_browser):
    """Like ``sign_in_browser``, but as a merchant-made portal session, where the email address
    can be changed (a code sent to it would lock it)."""
    return lambda page, customer: sign_in_browser(page, customer, via="portal_session")


@pytest.fixture
def billing_page(page, sign_in_by_portal_session, jenny):
    sign_in_by_portal_session(page, jenny)
    page.goto("/p/billing-information")
    page.wait_for_function("() => window.htmx !== undefined")
    return page


def focused(page) -> dict:
    return page.evaluate(ACTIVE)


def wait_for_focus_in(page, selector: str) -> dict:
    """Wait until focus is inside ``selector`` (htmx focuses after the swap settles)."""
    page.wait_for_function(
        "s => document.activeElement && document.activeElement !== document.body"
        " && document.activeElement.closest(s) !== null", arg=selector)
    return focused(page)


# section id, the link that opens its form, its first field, what to type for a valid save,
# the button, the success message, the heading
SECTIONS = [
    ("name-section", "Change name", "name", {}, "Save name", "Your name has been updated",
     "Name"),
    ("email-section", "Change email address", "email", {"email": "jenny.r@example.com"},
     "Save email address", "Your email address has been updated", "Email address"),
    ("phone-section", "Change phone number", "phone", {}, "Save phone number",
     "Your phone number has been updated", "Phone number"),
    ("address-section", "Change billing address", "address-country", {},
     "Save billing address", "Your billing address has been updated", "Billing address"),
    ("shipping-section", "Add a shipping address", "shipping-name",
     {"shipping-name": "Jenny Rosen", "shipping-line1": "1 Main Street",
      "shipping-city": "Portland", "shipping-postal_code": "97201"},
     "Save shipping address", "Your shipping address has been updated", "Shipping address"),
]
INVALID = {"name-section": ("name", ""), "email-section": ("email", "not an email"),
           "phone-section": ("phone", "12"), "address-section": ("address-line1", ""),
           "shipping-section": ("shipping-name", "")}


def open_form(page, section_id, link):
    section = page.locator(f"#{section_id}")
    section.get_by_role("link", name=link).click()
    section.locator("form").wait_for()
    return section


@pytest.mark.parametrize(("section_id", "link", "first", "values", "button", "message", "heading"),
                         SECTIONS, ids=[s[0] for s in SECTIONS])
def test_change_focuses_the_first_field_and_save_focuses_the_notice_and_announces_it(
        billing_page, section_id, link, first, values, button, message, heading):
    page = billing_page
    section = open_form(page, section_id, link)
    assert wait_for_focus_in(page, f"#{section_id}")["id"] == first
    if section_id == "shipping-section":
        section.get_by_label("State").select_option("OR")
    for field_id, value in values.items():
        page.locator(f"#{field_id}").fill(value)
    section.get_by_role("button", name=button).click()
    section.get_by_text(message).wait_for()
    now = wait_for_focus_in(page, f"#{section_id}")
    assert (now["text"], now["cls"]) == (message, "notice notice--success")
    assert page.locator("#announcements").inner_text() == message
    assert page.locator("#announcements").get_attribute("aria-live") == "polite"


@pytest.mark.parametrize(("section_id", "link", "first", "values", "button", "message", "heading"),
                         SECTIONS, ids=[s[0] for s in SECTIONS])
def test_cancel_focuses_the_section_heading(billing_page, section_id, link, first, values,
                                            button, message, heading):
    page = billing_page
    section = open_form(page, section_id, link)
    wait_for_focus_in(page, f"#{section_id}")
    section.get_by_role("link", name="Cancel").click()
    section.get_by_role("link", name=re.compile(r"^(Change|Add)")).wait_for()
    now = wait_for_focus_in(page, f"#{section_id}")
    assert (now["tag"], now["text"]) == ("h2", heading)


@pytest.mark.parametrize(("section_id", "link", "first", "values", "button", "message", "heading"),
                         SECTIONS, ids=[s[0] for s in SECTIONS])
def test_an_invalid_save_focuses_the_error_summary_and_the_title_says_error(
        billing_page, section_id, link, first, values, button, message, heading):
    page = billing_page
    section = open_form(page, section_id, link)
    field_id, bad = INVALID[section_id]
    page.locator(f"#{field_id}").fill(bad)
    section.get_by_role("button", name=button).click()
    section.locator(".error-summary").wait_for()
    assert wait_for_focus_in(page, ".error-summary")["cls"] == "error-summary"
    assert page.title().startswith("Error: Billing information")
    assert page.locator("#announcements").inner_text() == ""

    section.get_by_role("link", name="Cancel").click()
    section.get_by_role("link", name=re.compile(r"^(Change|Add)")).wait_for()
    assert not page.title().startswith("Error: ")


def test_adding_and_removing_a_tax_id_focuses_the_notice(billing_page):
    page = billing_page
    tax_ids = page.locator("#tax-ids-section")
    tax_ids.get_by_label("Type").select_option("eu_vat")
    tax_ids.get_by_label("Number").fill("DE136695976")
    tax_ids.get_by_role("button", name="Add tax ID").click()
    tax_ids.get_by_text("Tax ID DE136695976 has been added").wait_for()
    assert wait_for_focus_in(page, "#tax-ids-section")["text"] == "Tax ID DE136695976 has been added"
    assert page.locator("#announcements").inner_text() == "Tax ID DE136695976 has been added"

    tax_ids.get_by_role("button", name="Remove DE136695976").click()
    tax_ids.get_by_text("Tax ID DE136695976 has been removed").wait_for()
    assert wait_for_focus_in(page, "#tax-ids-section")["text"] == "Tax ID DE136695976 has been removed"
    assert page.locator("#announcements").inner_text() == "Tax ID DE136695976 has been removed"


def test_use_a_different_email_focuses_the_email_field(page, live_server, demo):
    page.goto(f"/p/login/{demo.id}?prefilled_email={JENNY}")
    page.wait_for_function("() => window.htmx !== undefined")
    page.get_by_role("button", name="Send me a code").click()
    page.get_by_role("heading", name="Check your email").wait_for()
    page.get_by_role("link", name="Use a different email").click()
    page.get_by_role("heading", name=re.compile("^Sign in to")).wait_for()
    assert wait_for_focus_in(page, "#login-step")["name"] == "email"


def test_no_keep_it_gives_focus_back_to_the_cards_remove_button(page, sign_in_browser, jenny,
                                                                make_payment_method):
    make_payment_method(jenny, number="5555555555554444", default=False)  # one it may remove
    sign_in_browser(page, jenny)
    page.goto("/p/payment-methods")
    page.wait_for_function("() => window.htmx !== undefined")
    remove = page.locator("li.payment-method button.button--warning").first
    label = remove.inner_text()
    remove.click()
    page.get_by_role("link", name="No, keep it").click()
    page.locator(".confirm-remove").wait_for(state="detached")
    now = wait_for_focus_in(page, "li.payment-method")
    assert (now["tag"], now["text"]) == ("button", label)


def test_a_successful_pay_focuses_the_notice_and_a_declined_one_says_error_in_the_title(
        page, sign_in_browser, jenny, session, make_payment_method):
    invoice = session.scalars(select(Invoice).where(Invoice.customer_id == jenny.id,
                                                    Invoice.status == "open")).one()
    make_payment_method(jenny, number="4000000000000002", default=False)  # always declined
    sign_in_browser(page, jenny)
    page.goto(f"/p/invoices/{invoice.id}")
    page.wait_for_function("() => window.htmx !== undefined")
    page.get_by_label(re.compile("Visa ending in 0002")).check()
    page.get_by_role("button", name=re.compile("^Pay ")).click()
    page.locator("#invoice-payment .error-summary").wait_for()
    assert wait_for_focus_in(page, "#invoice-payment")["cls"] == "error-summary"
    assert page.title().startswith(f"Error: Invoice {invoice.number}")

    page.get_by_label(re.compile("Visa ending in 4242")).check()
    page.get_by_role("button", name=re.compile("^Pay ")).click()
    page.locator("#invoice-payment").get_by_text(re.compile("^Payment of .* received")).wait_for()
    now = wait_for_focus_in(page, "#invoice-payment")
    assert now["text"].startswith("Payment of") and "notice" in now["cls"]
    assert page.locator("#announcements").inner_text() == now["text"]
    assert page.title().startswith(f"Invoice {invoice.number}")
