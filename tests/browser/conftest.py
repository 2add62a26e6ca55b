"""Browser tests: the app served on a real port, driven by Debian's Chromium through Playwright.

Fixtures for every feature's browser tests:
- ``live_server``: the test ``app`` (same database as the rest of the run) served by Werkzeug
  on 127.0.0.1 and a free port, in a thread; ``live_server.url`` is its base URL.
- ``browser``: one headless Chromium for the whole run (never downloaded: /usr/bin/chromium),
  shared through tests/browser/chromium.py even when other conftests import these fixtures.
- ``page``: a fresh context and page with JavaScript; ``page_without_js``: one without.
- ``sign_in_browser(page, customer)``: gives a page the cookie the login flow would set
  (test_journeys_browser.py covers the flow itself).
- ``visit``: a fresh page in each of four settings, JavaScript on and off at 360 px (a phone)
  and at 1280 px (a desktop); ``visit.page``, ``visit.javascript``, ``visit.screen``.
- ``emailed_code(session, to)``: the passcode in the newest development email to ``to``.

Without Chromium or Playwright the tests are skipped with the reason printed, unless
PORTAL_REQUIRE_BROWSER=1, which turns that into a failure (for CI machines that must run them).
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass

import pytest
from werkzeug.serving import make_server

from tests.browser.chromium import BrowserUnavailable, acquire, release


def _no_browser(reason: str):
    if os.environ.get("PORTAL_REQUIRE_BROWSER") == "1":
        pytest.fail(f"PORTAL_REQUIRE_BROWSER=1 but the browser tests cannot run: {reason}")
    print(f"\nSKIPPED browser tests: {reason}")
    pytest.skip(reason)


@dataclass
class LiveServer:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@pytest.fixture
def live_server(app):
    """Serve the test app on a free port for the length of one test."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer("127.0.0.1", server.server_port)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture(scope="session")
def browser():
    """The run's headless Chromium (shared with every other conftest that imports this)."""
    try:
        chromium = acquire()
    except BrowserUnavailable as error:
        _no_browser(str(error))
    yield chromium
    release()


@pytest.fixture(scope="session")
def _playwright():
    """Kept so conftests that import it by name still load; ``browser`` does the work now."""
    return None


def _new_page(browser, **options):
    context = browser.new_context(**options)
    context.set_default_timeout(10_000)
    page = context.new_page()
    return context, page


@pytest.fixture
def page(browser, live_server):
    """A page with JavaScript on, in a context of its own (its own cookies)."""
    context, page = _new_page(browser, base_url=live_server.url)
    yield page
    context.close()


@pytest.fixture
def page_without_js(browser, live_server):
    """A page with JavaScript off: the portal must work as plain forms and links."""
    context, page = _new_page(browser, base_url=live_server.url, java_script_enabled=False)
    yield page
    context.close()


SCREENS = {
    # A small phone: Chromium honours the page's meta viewport and reports touch, as a phone does.
    "phone": {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True,
              "device_scale_factor": 2},
    "desktop": {"viewport": {"width": 1280, "height": 800}},
}


@dataclass
class Visit:
    page: object
    javascript: bool
    screen: str


@pytest.fixture(params=[(javascript, screen) for javascript in (True, False) for screen in SCREENS],
                ids=lambda p: f"{'js' if p[0] else 'no-js'}-{p[1]}")
def visit(request, browser, live_server):
    """A page in each setting a customer may have: JavaScript on or off, on a phone or a desktop."""
    javascript, screen = request.param
    context, page = _new_page(browser, base_url=live_server.url, java_script_enabled=javascript,
                              **SCREENS[screen])
    yield Visit(page, javascript, screen)
    context.close()


@pytest.fixture
def emailed_code():
    """``emailed_code(session, to, count=1)``: the newest code in the development mailbox for
    ``to``, once ``count`` emails arrived there (the outbox is drained as the worker would)."""
    from sqlalchemy import select

    from portal.mailer import DevMail
    from portal.outbox.delivery import drain

    def read(session, to: str, count: int = 1) -> str:
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

    return read


@pytest.fixture
def sign_in_browser(app, session, live_server):
    """Sign ``customer`` in on ``page`` by handing it the session cookie the login flow sets."""
    from portal.customers.auth import SESSION_KEY, open_sign_in_session
    from portal.dbtypes import utcnow

    def do(page, customer, via="login_link"):
        _, token = open_sign_in_session(customer.id, now=utcnow(), via=via)
        session.commit()
        value = app.session_interface.get_signing_serializer(app).dumps(
            {SESSION_KEY: token, "_permanent": True})
        page.context.add_cookies([{"name": app.config["SESSION_COOKIE_NAME"], "value": value,
                                   "url": live_server.url}])
        return page

    return do
