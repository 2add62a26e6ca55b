"""Subscriptions in a real Chromium: with JavaScript (htmx swaps the panel in place, focus and
announcements follow) and without it (plain forms and pages).

The live server and browser fixtures are tests/browser's, made available in
tests/subscriptions/conftest.py.
"""

from __future__ import annotations

import pytest

from portal.subscriptions.models import Subscription


@pytest.fixture
def offers(configure, coupon, catalog):
    return configure(retention_coupon_id=coupon.id, retention_pause_max_months=3,
                     retention_downgrade_price_id=catalog["starter_month"].id)


def fresh(session, subscription):
    session.expire_all()
    return session.get(Subscription, subscription.id)


def open_subscription(page, live_server, sign_in_browser, customer, subscription):
    sign_in_browser(page, customer)
    page.goto(f"/p/subscriptions/{subscription.id}")
    page.wait_for_function("() => window.htmx !== undefined")
    page.evaluate("window.__samePage = 'yes'")


def test_with_javascript_a_customer_cancels_with_a_reason_past_the_retention_offers(
        page, live_server, sign_in_browser, signed_in_customer, jenny_pro, offers, session):
    open_subscription(page, live_server, sign_in_browser, signed_in_customer, jenny_pro)

    page.get_by_role("link", name="Cancel subscription").click()
    page.get_by_role("heading", name="Before you cancel your Pro subscription").wait_for()
    assert page.url.endswith(f"/p/subscriptions/{jenny_pro.id}/cancel")
    assert page.evaluate("document.activeElement.id") == "panel-heading"
    assert page.get_by_text("would be $14.50 instead of $29.00").count() == 1

    page.get_by_role("link", name="No thanks, continue to cancel").click()
    page.get_by_role("heading", name="Cancel your Pro subscription?").wait_for()
    assert page.title().startswith("Cancel your Pro subscription")
    page.get_by_label("Too expensive").check()
    page.get_by_label("Anything else you would like to tell us? (optional)").fill(
        "Lovely product,\nbut too dear for the two of us")
    page.get_by_role("button", name="Cancel subscription").click()

    page.get_by_text("Your subscription has been cancelled. It ends on").first.wait_for()
    assert page.evaluate("window.__samePage") == "yes"
    assert page.evaluate("document.activeElement.getAttribute('role')") == "status"
    assert "has been cancelled" in page.locator("#announcements").inner_text()
    assert page.url.endswith(f"/p/subscriptions/{jenny_pro.id}")
    page.get_by_role("button", name="Renew subscription").wait_for()
    cancelled = fresh(session, jenny_pro)
    assert cancelled.cancel_at_period_end
    assert (cancelled.cancellation_feedback, cancelled.cancellation_comment) == (
        "too_expensive", "Lovely product, but too dear for the two of us")

    page.get_by_role("button", name="Renew subscription").click()
    page.get_by_text("Your subscription has been renewed.").first.wait_for()
    assert not fresh(session, jenny_pro).cancel_at_period_end


def test_with_javascript_a_customer_takes_the_pause_instead_of_cancelling(
        page, live_server, sign_in_browser, signed_in_customer, jenny_pro, offers, session):
    open_subscription(page, live_server, sign_in_browser, signed_in_customer, jenny_pro)
    page.get_by_role("link", name="Cancel subscription").click()
    page.get_by_label("2 months").check()
    page.get_by_role("button", name="Pause payments").click()
    page.get_by_text("Thank you for staying. Your payments are paused until").first.wait_for()
    assert page.evaluate("window.__samePage") == "yes"
    assert fresh(session, jenny_pro).pause_collection_resumes_at is not None
    assert not fresh(session, jenny_pro).cancel_at_period_end


def test_with_javascript_a_customer_switches_plan_after_the_preview(
        page, live_server, sign_in_browser, signed_in_customer, jenny_pro, allow_updates,
        catalog, session):
    allow_updates()
    open_subscription(page, live_server, sign_in_browser, signed_in_customer, jenny_pro)

    page.get_by_role("link", name="Change plan").click()
    page.get_by_role("heading", name="Change your plan").wait_for()
    page.get_by_label("Team: $15.00 per seat per month").check()
    page.get_by_label("Quantity").fill("１")
    page.get_by_role("button", name="Review the change").click()
    page.get_by_role("link", name="Enter the quantity using the digits 0 to 9").wait_for()
    assert page.title().startswith("Error: Change your plan")
    assert page.evaluate("document.activeElement.className") == "error-summary"

    page.get_by_label("Quantity").fill("3")
    page.get_by_role("button", name="Review the change").click()
    page.get_by_role("heading", name="Check your new plan").wait_for()
    assert "/change/preview?" in page.url
    assert page.get_by_text("Team × 3 seats · $45.00 per month").count() == 1
    previewed = page.locator(".invoice-lines__total td").last.inner_text()

    page.get_by_role("button", name="Confirm the change").click()
    page.get_by_text("Your plan is now Team × 3 seats.").first.wait_for()
    assert page.evaluate("window.__samePage") == "yes"
    assert page.url.endswith(f"/p/subscriptions/{jenny_pro.id}")
    assert page.locator(".next-invoice .invoice-lines__total td").inner_text() == previewed
    changed = fresh(session, jenny_pro)
    assert (changed.items[0].price_id, changed.items[0].quantity) == (catalog["team_month"].id, 3)


def test_without_javascript_cancelling_and_switching_are_plain_forms(
        page_without_js, live_server, sign_in_browser, signed_in_customer, jenny_pro, offers,
        allow_updates, catalog, session):
    allow_updates()
    page = sign_in_browser(page_without_js, signed_in_customer)
    page.goto(f"/p/subscriptions/{jenny_pro.id}")

    page.get_by_role("link", name="Change plan").click()
    page.get_by_label("Starter: $9.00 per month").check()
    page.get_by_role("button", name="Review the change").click()
    page.get_by_role("heading", name="Check your new plan").wait_for()
    page.get_by_role("button", name="Confirm the change").click()
    page.get_by_text("Your plan changes to Starter on").wait_for()
    assert page.url == f"{live_server.url}/p/subscriptions/{jenny_pro.id}"
    page.get_by_role("button", name="Cancel the scheduled change").click()
    page.get_by_text("The scheduled change has been cancelled.").wait_for()

    page.get_by_role("link", name="Cancel subscription").click()
    page.get_by_role("link", name="No thanks, continue to cancel").click()
    page.get_by_label("No longer using it").check()
    page.get_by_role("button", name="Cancel subscription").click()
    page.get_by_text("Your subscription has been cancelled. It ends on").wait_for()
    assert page.url == f"{live_server.url}/p/subscriptions/{jenny_pro.id}"
    assert fresh(session, jenny_pro).cancellation_feedback == "unused"
