"""The dashboard home and the audit log in a real Chromium: at 360 px with the text at 200%
nothing scrolls sideways (JavaScript off, as the charts need none), the filters work as a
plain GET form without JavaScript, and with htmx only the log is swapped and the URL follows."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest

from portal.dbtypes import utcnow
from tests.browser.test_small_screens_browser import fits_sideways, text_at_200_percent
from tests.reporting.helpers import add_event, add_payment

LONG_EMAIL = "accounts-payable.department.north-west-region@example-holdings.com"


@pytest.fixture
def staff_browser(app, session, live_server, staff):
    """Give a page the dashboard cookie a staff sign-in sets."""
    from portal.admin import auth
    from portal.admin.models import StaffSession

    def do(page):
        token = secrets.token_urlsafe(32)
        session.add(StaffSession(id=auth._digest(token), staff_id=staff.id, created=utcnow(),
                                 last_seen=utcnow()))
        session.commit()
        page.context.add_cookies([{"name": auth.COOKIE_NAME, "value": token,
                                   "url": live_server.url + auth.COOKIE_PATH}])
        return page

    return do


@pytest.fixture
def busy_business(session, make_customer, make_price, make_subscription):
    start = utcnow() - timedelta(days=200)
    customer = make_customer(email=LONG_EMAIL, name="Accounts Payable")
    make_subscription(customer, make_price(name="Enterprise", unit_amount=1_234_500),
                      quantity=25, created=start)
    make_subscription(customer, make_price(name="Yen plan", unit_amount=9_800_000,
                                           currency="jpy"), created=start)
    for days in range(0, 200, 20):
        add_payment(session, customer, 30_862_500, created=start + timedelta(days=days))
        add_payment(session, customer, 1_234_500, status="failed",
                    created=start + timedelta(days=days, hours=1))
    for n in range(8):
        add_event(session, "customer.subscription.updated", created=utcnow() - timedelta(hours=n),
                  actor=f"customer:{customer.id}", customer_id=customer.id,
                  object_id="sub_" + "x" * 30, ip_address="2001:db8:85a3::8a2e:370:7334",
                  data={"action": "plan_changed", "previous_price": "price_" + "y" * 30})
    add_event(session, "login.signed_in", created=utcnow() - timedelta(days=1),
              actor=f"customer:{customer.id}", customer_id=customer.id)
    return customer


@pytest.mark.parametrize("path", ["/admin/", "/admin/audit-log",
                                  "/admin/audit-log?from_date=soon"])
def test_at_360px_with_text_at_200_percent_the_dashboard_fits_without_javascript(
        browser, live_server, staff_browser, busy_business, path):
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False,
                                  viewport={"width": 360, "height": 740})
    try:
        page = staff_browser(context.new_page())
        page.goto(path)
        assert page.locator("main h1").count() == 1
        text_at_200_percent(page)
        fits_sideways(page)
    finally:
        context.close()


def test_the_filters_work_as_a_plain_form_without_javascript(browser, live_server,
                                                             staff_browser, busy_business):
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    try:
        page = staff_browser(context.new_page())
        page.goto("/admin/audit-log")
        assert page.locator(".audit-table tbody tr").count() == 9
        page.select_option("#event_type", "login.signed_in")
        page.click("button:has-text('Show events')")
        page.wait_for_url("**/admin/audit-log?*event_type=login.signed_in*")
        assert page.locator(".audit-table tbody tr").count() == 1
    finally:
        context.close()


def test_with_htmx_only_the_log_is_swapped_and_the_address_follows(browser, live_server,
                                                                   staff_browser,
                                                                   busy_business):
    context = browser.new_context(base_url=live_server.url)
    try:
        page = staff_browser(context.new_page())
        page.goto("/admin/audit-log")
        page.evaluate("document.querySelector('h1').dataset.kept = 'yes'")
        page.select_option("#event_type", "login.signed_in")
        page.click("button:has-text('Show events')")
        page.wait_for_url("**/admin/audit-log?*event_type=login.signed_in*")
        page.locator(".audit-table tbody tr").first.wait_for()
        assert page.locator(".audit-table tbody tr").count() == 1
        assert page.evaluate("document.querySelector('h1').dataset.kept") == "yes"
        assert page.title().startswith("Audit log")
        page.fill("#from_date", "")
        page.evaluate("document.querySelector('#from_date').type = 'text'")
        page.fill("#from_date", "soon")
        page.click("button:has-text('Show events')")
        page.locator(".error-summary").wait_for()
        assert page.title().startswith("Error: Audit log")
        assert page.evaluate("document.activeElement.className") == "error-summary"
        assert page.evaluate("document.querySelector('h1').dataset.kept") == "yes"
    finally:
        context.close()

