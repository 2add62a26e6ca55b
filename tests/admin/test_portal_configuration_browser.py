"""The configuration page in a real browser: htmx saves in place, the copy button copies the
login URL, the preview frame shows the portal (the CSP lets our own page frame it), and with
JavaScript off every form still works."""

from __future__ import annotations

import secrets

import pytest

from portal.portal_settings.operations import default_configuration
from tests.browser import conftest as browser_fixtures

# tests/browser's fixtures (a live server, the shared Chromium, pages with and without
# JavaScript), made available to this module.
browser = browser_fixtures.browser
live_server = browser_fixtures.live_server
page = browser_fixtures.page
page_without_js = browser_fixtures.page_without_js


@pytest.fixture
def as_staff(app, session, staff, live_server):
    """Give a browser page the dashboard's cookie, as /admin/sign-in would."""
    from portal.admin import auth
    from portal.admin.models import StaffSession
    from portal.dbtypes import utcnow

    def do(page):
        token = secrets.token_urlsafe(32)
        session.add(StaffSession(id=auth._digest(token), staff_id=staff.id, created=utcnow(),
                                 last_seen=utcnow()))
        session.commit()
        page.context.add_cookies([{"name": auth.COOKIE_NAME, "value": token,
                                   "url": live_server.url + auth.COOKIE_PATH}])
        return page

    return do


def csp_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text)
            if "Content Security Policy" in message.text else None)
    return errors


def test_a_save_with_htmx_swaps_the_settings_in_place(page, as_staff, session):
    as_staff(page)
    errors = csp_errors(page)
    page.goto("/admin/portal/")
    page.evaluate("window.stillTheSamePage = true")
    page.fill("#headline", "Welcome to Acme")
    page.click("text=Save changes")
    page.wait_for_selector("#portal-configuration .notice--success")
    assert page.evaluate("window.stillTheSamePage") is True
    assert page.input_value("#headline") == "Welcome to Acme"
    page.fill("#terms_of_service_url", "javascript:alert(1)")
    page.click("text=Save changes")
    page.wait_for_selector(".error-summary")
    assert page.evaluate("document.activeElement.classList.contains('error-summary')")
    assert page.title().startswith("Error: ")
    assert errors == []
    session.expire_all()
    assert default_configuration(session).headline == "Welcome to Acme"
    assert default_configuration(session).terms_of_service_url is None


def test_the_copy_button_copies_the_live_login_url(page, as_staff, live_server):
    as_staff(page)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"],
                                   origin=live_server.url)
    page.goto("/admin/portal/")
    page.click("text=Activate link")
    page.wait_for_selector("#login-link-url")
    url = page.input_value("#login-link-url")
    page.click("button[data-copy=login-link-url]")
    # A selector, not wait_for_function: the CSP (no 'unsafe-eval') refuses polled strings.
    page.wait_for_selector("#login-link-url-copied:has-text('Copied')")
    assert page.evaluate("navigator.clipboard.readText()") == url


def test_the_preview_frame_shows_the_portal(page, as_staff, session):
    config = default_configuration(session)
    config.headline = "Manage your Acme plan"
    session.commit()
    as_staff(page)
    errors = csp_errors(page)
    page.goto("/admin/portal/preview")
    frame = page.frame_locator("iframe.portal-preview-frame")
    assert frame.locator(".preview-banner").inner_text().startswith("Preview.")
    assert frame.locator(".headline").inner_text() == "Manage your Acme plan"
    assert errors == []


def test_without_javascript_a_save_and_the_login_link_still_work(page_without_js, as_staff,
                                                                 session):
    page = as_staff(page_without_js)
    page.goto("/admin/portal/")
    assert page.locator("button[data-copy]").count() == 0  # no link yet
    page.click("text=Activate link")
    assert page.locator("button[data-copy]").is_hidden()  # nothing to copy with, so hidden
    page.click("text=Rotate link")
    page.click("text=Rotate link: the old URL stops working")
    assert "new URL" in page.locator(".notice").first.inner_text()
    page.fill("#headline", "Plain forms work")
    page.click("text=Save changes")
    assert "settings are saved" in page.locator(".notice").first.inner_text()
    session.expire_all()
    assert default_configuration(session).headline == "Plain forms work"
