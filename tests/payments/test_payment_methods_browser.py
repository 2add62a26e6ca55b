"""Payment methods in a real Chromium: with htmx swapping parts in place, and with JS off.

The live server and browser fixtures are tests/browser's, made available in tests/payments/conftest.py.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from portal.payments.models import PaymentMethod
from tests.payments.cards import mm_yy


@pytest.fixture
def signed_in(sign_in_browser, signed_in_customer):
    """Sign the test's customer in on a browser page."""
    return lambda browser_page, live: sign_in_browser(browser_page, signed_in_customer)


@pytest.fixture
def two_cards(signed_in_customer, make_payment_method, make_subscription, now):
    visa = make_payment_method(signed_in_customer, created=now - timedelta(days=60))
    mastercard = make_payment_method(signed_in_customer, number="5555555555554444",
                                     default=False, created=now - timedelta(days=30))
    make_subscription(signed_in_customer, default_payment_method_id=visa.id)
    return visa, mastercard


def cards_listed(page):
    return page.locator("#payment-methods li.payment-method strong").all_inner_texts()


def test_with_javascript_every_action_swaps_in_place(page, live_server, signed_in, two_cards,
                                                     session, signed_in_customer, now):
    visa, mastercard = two_cards
    signed_in(page, live_server)
    page.goto("/p/payment-methods")
    page.wait_for_function("() => window.htmx !== undefined")
    page.evaluate("window.__samePage = 'yes'")

    page.get_by_role("button", name="Make default Mastercard ending in 4444").click()
    page.get_by_text("Mastercard ending in 4444 is now your default payment method.").first.wait_for()  # and #announcements
    assert cards_listed(page) == ["Mastercard ending in 4444", "Visa ending in 4242"]
    assert page.evaluate("document.activeElement.getAttribute('role')") == "status"

    page.get_by_role("button", name="Remove Visa ending in 4242", exact=True).click()
    page.get_by_role("heading", name="Remove Visa ending in 4242?").wait_for()
    assert page.evaluate("document.activeElement.tagName") == "H2"
    assert page.url.endswith("/p/payment-methods")
    page.get_by_role("link", name="No, keep it").click()
    page.get_by_role("button", name="Remove Visa ending in 4242", exact=True).wait_for()

    page.get_by_role("button", name="Remove Visa ending in 4242", exact=True).click()
    page.get_by_role("button", name="Yes, remove Visa ending in 4242").click()
    page.get_by_text("Visa ending in 4242 has been removed.").first.wait_for()  # and #announcements
    assert cards_listed(page) == ["Mastercard ending in 4444"]
    # The last card pays the subscription now: the page says so instead of offering Remove.
    page.get_by_text("Add another card before removing this one").wait_for()
    assert page.get_by_role("button", name="Remove Mastercard ending in 4444", exact=True).count() == 0

    page.get_by_role("link", name="Add a card").click()  # a plain link: a new page
    page.get_by_label("Name on card").fill("Jenny Rosen")
    page.get_by_label("Card number").fill("4000 0000 0000 0127")
    page.get_by_label("Expiry date").fill(mm_yy(now, 24))
    page.get_by_label("Security code").fill("314")
    page.evaluate("window.__samePage = 'yes'")
    page.get_by_role("button", name="Add card").click()
    page.get_by_text("The security code is incorrect").first.wait_for()
    assert page.evaluate("window.__samePage") == "yes"
    assert page.title().startswith("Error: Add a card")
    assert page.get_by_label("Card number").input_value() == ""
    assert page.get_by_label("Name on card").input_value() == "Jenny Rosen"

    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Security code").fill("314")
    page.get_by_label("Make this my default payment method").check()
    page.get_by_role("button", name="Add card").click()
    page.get_by_text("Visa ending in 4242 has been added. It is your default payment method.").first.wait_for()  # and #announcements
    assert page.evaluate("window.__samePage") == "yes"
    assert page.url == f"{live_server.url}/p/payment-methods"
    assert page.title().startswith("Payment methods")
    assert cards_listed(page) == ["Visa ending in 4242", "Mastercard ending in 4444"]
    session.expire_all()
    assert session.get(PaymentMethod, mastercard.id).customer_id == signed_in_customer.id


def test_without_javascript_every_action_is_a_plain_form(page_without_js, live_server,
                                                         signed_in, two_cards, session,
                                                         signed_in_customer, now):
    page = signed_in(page_without_js, live_server)
    visa, mastercard = two_cards
    page.goto("/p/payment-methods")

    page.get_by_role("button", name="Make default Mastercard ending in 4444").click()
    page.get_by_text("Mastercard ending in 4444 is now your default payment method.").wait_for()
    assert page.url == f"{live_server.url}/p/payment-methods"

    page.get_by_role("button", name="Remove Visa ending in 4242", exact=True).click()
    page.get_by_role("heading", name="Remove Visa ending in 4242?").wait_for()
    assert urlsplit(page.url).path == f"/p/payment-methods/{visa.id}/remove"
    page.get_by_role("button", name="Yes, remove Visa ending in 4242").click()
    page.get_by_text("Visa ending in 4242 has been removed.").wait_for()
    assert page.url == f"{live_server.url}/p/payment-methods"

    page.get_by_role("link", name="Add a card").click()
    page.get_by_label("Name on card").fill("Jenny Rosen")
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry date").fill("13/30")
    page.get_by_label("Security code").fill("314")
    page.get_by_role("button", name="Add card").click()
    page.get_by_role("link", name="Enter a real expiry month, from 01 to 12").wait_for()
    assert page.title().startswith("Error: Add a card")
    assert page.get_by_label("Card number").input_value() == ""

    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry date").fill(mm_yy(now, 24))
    page.get_by_label("Security code").fill("314")
    page.get_by_role("button", name="Add card").click()
    page.get_by_text("Visa ending in 4242 has been added.").wait_for()
    assert page.url == f"{live_server.url}/p/payment-methods"
    session.expire_all()
    assert len(session.scalars(select(PaymentMethod).where(
        PaymentMethod.customer_id == signed_in_customer.id)).all()) == 2
