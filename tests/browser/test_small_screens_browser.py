"""Narrow phones and large text in a real Chromium: nothing is cut off and nothing scrolls
sideways. The invoice's tables at 320 px wide; the overview, billing and subscription pages at
360 px with the text at 200% (WCAG 1.4.4 and 1.4.10), for a customer with a long email address
and a long name, the subscription pages with JavaScript off."""

from __future__ import annotations

import pytest

from portal.invoices.models import InvoiceLine
from portal.payments.models import Payment
from portal.portal_settings.operations import default_configuration, get_branding

LONG_EMAIL = "accounts-payable.department.north-west-region@example-holdings.com"
LONG_NAME = "Internationalisierungsberatungsgesellschaft Nordrhein-Westfalen mbH"

# Every element's right edge, minus the viewport's: what sticks out (positive) and what it is.
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  return [...document.querySelectorAll('main *, header *, nav *')]
    .filter(e => e.getClientRects().length && e.getBoundingClientRect().right > width + 0.5)
    .map(e => `${e.tagName.toLowerCase()}.${e.className}: ${e.textContent.trim().slice(0, 40)}`);
}"""


# axe's scrollable-region-focusable, without axe: a box that scrolls must be reachable by
# keyboard (tabindex) and named. The tables stack instead, so nothing should scroll at all.
UNREACHABLE_SCROLL_REGIONS = """() => [...document.querySelectorAll('body *')].filter(e => {
  const s = getComputedStyle(e);
  const scrolls = /(auto|scroll)/.test(s.overflowX + ' ' + s.overflowY)
    && (e.scrollWidth > e.clientWidth || e.scrollHeight > e.clientHeight);
  const named = e.getAttribute('aria-label') || e.getAttribute('aria-labelledby');
  return scrolls && !(e.tabIndex >= 0 && named);
}).map(e => `${e.tagName.toLowerCase()}.${e.className}`)"""


def text_at_200_percent(page) -> None:
    # Through the CSSOM: the portal's CSP refuses an added <style> (add_style_tag), rightly.
    page.evaluate("document.documentElement.style.fontSize = '200%'")


def fits_sideways(page) -> None:
    scroll = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    sticking_out = page.evaluate(OVERFLOW)
    assert scroll[0] <= scroll[1], f"the page scrolls sideways ({scroll}): {sticking_out[:5]}"
    assert sticking_out == []
    assert page.evaluate(UNREACHABLE_SCROLL_REGIONS) == []


def within_viewport(page, locator) -> None:
    width = page.evaluate("window.innerWidth")
    for index in range(locator.count()):
        box = locator.nth(index).bounding_box()
        text = locator.nth(index).inner_text()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, (
            f"{text!r} is cut off: {box} on a {width}px screen")


@pytest.fixture
def long_customer(make_customer, session):
    customer = make_customer(email=LONG_EMAIL, name=LONG_NAME, address_country="US",
                             address_line1="1 Very Long Avenue Name Boulevard Extension",
                             address_city="San Francisco", address_state="CA",
                             address_postal_code="94105")
    branding = get_branding(session)
    branding.business_name = "Acme Cloud Infrastructure and Hosting Services"
    default_configuration(session).customer_update_allowed = [
        "address", "email", "name", "phone", "shipping", "tax_id"]
    session.commit()
    return customer


@pytest.fixture
def invoice_with_lines_and_payments(long_customer, make_invoice, make_payment_method, session,
                                    now):
    method = make_payment_method(long_customer, number="5555555555554444")
    invoice = make_invoice(long_customer, amount=123_456_78, currency="eur",
                           description="Enterprise plan, annual, 25 seats (1 Jan 2025 – 31 Dec 2025)")
    for position, (text, quantity, unit) in enumerate(
            [("Additional storage, 500 GB blocks", 12, 4_999_00),
             ("Premium support with a named engineer", 1, 12_000_00)], start=1):
        invoice.lines.append(InvoiceLine(position=position, description=text, quantity=quantity,
                                         unit_amount=unit, amount=quantity * unit))
    for number, status in enumerate(["failed", "failed", "succeeded"]):
        session.add(Payment(idempotency_key=f"small-screen:{number}", customer_id=long_customer.id,
                            invoice_id=invoice.id, payment_method_id=method.id,
                            amount=invoice.total, currency="eur", status=status,
                            failure_code="card_declined" if status == "failed" else None,
                            failure_message="Your card was declined." if status == "failed" else None,
                            created=now, completed_at=now))
    session.commit()
    return invoice


def test_at_320px_the_invoice_tables_show_every_amount_and_status(
        sign_in_browser, browser, live_server, long_customer, invoice_with_lines_and_payments):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 320, "height": 640})
    try:
        page = sign_in_browser(context.new_page(), long_customer)
        page.goto(f"/p/invoices/{invoice_with_lines_and_payments.id}")
        fits_sideways(page)
        within_viewport(page, page.locator(".invoice-lines td.num, .invoice-lines th"))
        within_viewport(page, page.locator(".invoice-payments td"))
        assert page.locator(".invoice-payments .badge").count() == 3
    finally:
        context.close()


@pytest.mark.parametrize("path", ["/p/", "/p/billing-information", "/p/invoices"])
def test_at_360px_with_text_at_200_percent_pages_do_not_scroll_sideways(
        sign_in_browser, browser, live_server, long_customer, invoice_with_lines_and_payments,
        path):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 360, "height": 740})
    try:
        page = sign_in_browser(context.new_page(), long_customer)
        page.goto(path)
        text_at_200_percent(page)
        fits_sideways(page)
        within_viewport(page, page.locator("main td.num, main .badge"))
    finally:
        context.close()


def test_at_360px_with_text_at_200_percent_an_open_billing_form_fits(
        sign_in_browser, browser, live_server, long_customer):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 360, "height": 740})
    try:
        page = sign_in_browser(context.new_page(), long_customer)
        page.goto("/p/billing-information/address#address-section")
        text_at_200_percent(page)
        fits_sideways(page)
    finally:
        context.close()


@pytest.fixture
def long_subscription(long_customer, make_payment_method, make_price, make_subscription):
    make_payment_method(long_customer)
    price = make_price(name="Enterprise Infrastructure Monitoring and Observability Platform",
                       unit_amount=1_234_500, unit_label="seat")
    return make_subscription(long_customer, price, quantity=25)


@pytest.mark.parametrize("page_path", ["", "/{id}", "/{id}/cancel/confirm"])
def test_at_360px_with_text_at_200_percent_subscription_pages_fit_without_javascript(
        sign_in_browser, browser, live_server, long_subscription, page_path):
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False,
                                  viewport={"width": 360, "height": 740})
    try:
        page = sign_in_browser(context.new_page(), long_subscription.customer)
        page.goto("/p/subscriptions" + page_path.format(id=long_subscription.id))
        assert page.locator("main h1").count() == 1
        # The page's own scripts are off; Playwright's evaluate still reaches the CSSOM.
        text_at_200_percent(page)
        fits_sideways(page)
        within_viewport(page, page.locator("main td.num, main .badge"))
    finally:
        context.close()
