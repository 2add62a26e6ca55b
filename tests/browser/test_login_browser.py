"""The login page's side paths in a real Chromium: resending the code and using a different
email stay on the page, and an inactive link says so. (Signing in end to end, with JavaScript
and without, on a phone and a desktop, is a journey in test_journeys_browser.py.)"""

from __future__ import annotations

import pytest

from portal.dbtypes import utcnow
from portal.demo import seed_demo


@pytest.fixture
def demo(session):
    link = seed_demo(session, now=utcnow())
    session.commit()
    return link


def test_with_javascript_resend_and_a_different_email_stay_on_the_page(page, live_server, demo,
                                                                      session, emailed_code):
    page.goto(f"/p/login/{demo.id}")
    page.wait_for_function("() => window.htmx !== undefined")
    page.evaluate("window.__noFullNavigation = 'still here'")
    page.get_by_label("Email address").fill("ana.silva@example.com")
    page.get_by_role("button", name="Send me a code").click()
    page.get_by_role("heading", name="Check your email").wait_for()

    page.get_by_role("button", name="Resend code").click()
    page.get_by_text("We sent a new code to ana.silva@example.com").first.wait_for()  # and #announcements
    emailed_code(session, "ana.silva@example.com", count=2)

    page.get_by_role("link", name="Use a different email").click()
    page.get_by_role("heading", name="Sign in to Acme Cloud").wait_for()
    assert page.get_by_label("Email address").input_value() == "ana.silva@example.com"
    assert page.evaluate("window.__noFullNavigation") == "still here"


def test_an_inactive_link_shows_a_plain_page(page, live_server):
    response = page.goto("/p/login/no-such-link")
    assert response.status == 404
    page.get_by_role("heading", name="This login link is not active").wait_for()
