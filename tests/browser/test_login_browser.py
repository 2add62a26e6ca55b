"""A customer of the demo signs in end to end in a real Chromium, with and without JavaScript."""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import select

from portal.customers.models import SignInSession
from portal.dbtypes import utcnow
from portal.demo import JENNY, seed_demo
from portal.mailer import DevMail
from portal.outbox.delivery import drain


@pytest.fixture
def demo(session):
    link = seed_demo(session, now=utcnow())
    session.commit()
    return link


def emailed_code(session, to: str, count: int = 1) -> str:
    """The newest code in the development mailbox for ``to``, once ``count`` emails arrived."""
    deadline = time.monotonic() + 10
    while True:
        drain()
        session.expire_all()
        rows = session.scalars(select(DevMail).where(DevMail.recipients == to)
                               .order_by(DevMail.id)).all()
        if len(rows) >= count:
            return re.search(r"^\s*(\d{6})\s*$", rows[-1].body_text, re.MULTILINE).group(1)
        assert time.monotonic() < deadline, "the passcode email never arrived"
        time.sleep(0.05)


def test_with_javascript_jenny_signs_in_and_the_code_step_is_swapped_in_place(
        page, live_server, demo, session):
    page.goto(f"/p/login/{demo.id}?prefilled_email={JENNY}")
    email = page.get_by_label("Email address")
    assert email.input_value() == JENNY
    page.wait_for_function("() => window.htmx !== undefined")
    page.evaluate("window.__noFullNavigation = 'still here'")

    page.get_by_role("button", name="Send me a code").click()
    page.get_by_role("heading", name="Check your email").wait_for()
    assert page.evaluate("window.__noFullNavigation") == "still here"
    assert page.url.endswith(f"/p/login/{demo.id}/code")  # reload keeps the code step
    assert page.title() == "Enter your code – Acme Cloud"
    assert page.evaluate("document.activeElement.name") == "code"
    assert JENNY in page.locator("#login-step").inner_text()

    code = emailed_code(session, JENNY)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    page.get_by_label("Code from the email").fill(wrong)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("The code is not right").first.wait_for()
    assert page.evaluate("window.__noFullNavigation") == "still here"
    assert page.title() == "Error: Enter your code – Acme Cloud"

    page.get_by_label("Code from the email").fill(code)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/p/")
    page.get_by_role("heading", name="Your account").wait_for()
    assert page.evaluate("window.__noFullNavigation") is None  # HX-Redirect: a real page load

    record = session.scalars(select(SignInSession)).one()
    assert record.via == "login_link"
    cookie = next(c for c in page.context.cookies() if c["name"] == "portal_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]

    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="You are signed out").wait_for()


def test_without_javascript_jenny_signs_in_with_plain_forms(page_without_js, live_server, demo,
                                                           session):
    page = page_without_js
    page.goto(f"/p/login/{demo.id}?prefilled_email={JENNY}")
    assert page.get_by_label("Email address").input_value() == JENNY
    page.get_by_role("button", name="Send me a code").click()
    page.wait_for_url(f"{live_server.url}/p/login/{demo.id}/code")
    page.get_by_role("heading", name="Check your email").wait_for()

    page.get_by_label("Code from the email").fill(emailed_code(session, JENNY))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/p/")
    page.get_by_role("heading", name="Your account").wait_for()
    assert session.scalars(select(SignInSession)).one().via == "login_link"


def test_with_javascript_resend_and_a_different_email_stay_on_the_page(page, live_server, demo,
                                                                      session):
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
