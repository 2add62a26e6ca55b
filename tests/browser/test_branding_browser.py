"""The Branding page in a real Chromium: the preview follows what is typed (htmx), its colours
and font really apply under the page's CSP, and with JavaScript off the Preview button does the
same. Nothing is saved until Save branding."""

from __future__ import annotations

import secrets

import pytest

from portal.admin import auth
from portal.admin.models import StaffSession
from portal.portal_settings.operations import get_branding

PRIMARY = ".branding-preview .button--primary"


@pytest.fixture
def staff_browser(session, staff, now, live_server):
    """Give a browser page the dashboard cookie a staff sign-in sets."""

    def do(browser_page):
        token = secrets.token_urlsafe(32)
        session.add(StaffSession(id=auth._digest(token), staff_id=staff.id, created=now,
                                 last_seen=now))
        session.commit()
        browser_page.context.add_cookies([{"name": auth.COOKIE_NAME, "value": token,
                                           "url": live_server.url + auth.COOKIE_PATH}])
        return browser_page

    return do


def computed(page, selector: str, prop: str) -> str:
    return page.evaluate("([s, p]) => getComputedStyle(document.querySelector(s))[p]",
                         [selector, prop])


def saved_colour(session) -> str:
    session.expire_all()
    return get_branding(session).brand_color


def test_the_preview_follows_what_is_typed_and_only_save_keeps_it(page, staff_browser,
                                                                  session):
    blocked = []
    page.on("console", lambda message: blocked.append(message.text)
            if "Content Security Policy" in message.text else None)
    staff_browser(page)
    page.goto("/admin/branding/")
    page.wait_for_function("() => window.htmx !== undefined")
    assert computed(page, PRIMARY, "backgroundColor") == "rgb(31, 79, 209)"

    page.fill("#brand_color", "#ffdd00")
    page.locator("#branding-preview", has_text="Black text on #ffdd00").wait_for()
    page.wait_for_function(
        "s => getComputedStyle(document.querySelector(s)).backgroundColor === 'rgb(255, 221, 0)'",
        arg=PRIMARY)
    assert computed(page, PRIMARY, "color") == "rgb(17, 17, 17)"  # dark text on yellow
    assert page.evaluate("document.activeElement.id") == "brand_color"  # still typing there
    assert page.locator(".contrast-warning").first.inner_text().startswith(
        "The brand colour #ffdd00 has a contrast of 1.35:1")
    page.select_option("#font", "monospace")
    page.wait_for_function(
        "() => getComputedStyle(document.querySelector('.branding-preview'))"
        ".fontFamily.includes('monospace')")
    # The page's own look has not changed: nothing was saved.
    assert computed(page, ".site-header", "borderBottomColor") == "rgb(31, 79, 209)"
    assert saved_colour(session) == "#1f4fd1"

    page.get_by_role("button", name="Save branding").click()
    page.get_by_text("Branding saved.").wait_for()
    assert computed(page, ".site-header", "borderBottomColor") == "rgb(255, 221, 0)"
    assert saved_colour(session) == "#ffdd00"
    assert blocked == []


def test_without_javascript_the_preview_button_previews_and_saves_nothing(
        page_without_js, staff_browser, session):
    page = staff_browser(page_without_js)
    page.goto("/admin/branding/")
    page.fill("#brand_color", "#aa3300")
    page.get_by_role("button", name="Preview").click()
    page.locator("#branding-preview", has_text="White text on #aa3300").wait_for()
    assert page.url.endswith("/admin/branding/preview")
    assert page.input_value("#brand_color") == "#aa3300"
    assert computed(page, PRIMARY, "backgroundColor") == "rgb(170, 51, 0)"
    assert saved_colour(session) == "#1f4fd1"
