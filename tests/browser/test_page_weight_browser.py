"""What a first visit costs on a slow phone, measured in a real Chromium with an empty cache:
every byte on the wire (headers and compressed bodies) for the login page and what it loads."""

from __future__ import annotations

import pytest

from portal.dbtypes import utcnow
from portal.demo import seed_demo

FIRST_VISIT_BUDGET = 20 * 1024


@pytest.fixture
def demo(session):
    link = seed_demo(session, now=utcnow())
    session.commit()
    return link


def record_traffic(page) -> list[dict]:
    """Every finished request of ``page``, with the bytes it took on the wire."""
    traffic: list[dict] = []

    def finished(request):
        sizes = request.sizes()
        response = request.response()
        traffic.append({"url": request.url, "status": response.status if response else None,
                        "encoding": response.headers.get("content-encoding") if response else None,
                        "bytes": sizes["responseHeadersSize"] + sizes["responseBodySize"]})

    page.on("requestfinished", finished)
    return traffic


def served_paths(app) -> list[tuple[str, str]]:
    """(status, path) of every request the server answers, including those the browser makes
    for itself (the icon), which Playwright does not report."""
    served: list[tuple[str, str]] = []
    inner = app.wsgi_app

    def recording(environ, start_response):
        def start(status, headers, exc_info=None):
            served.append((status.split()[0], environ["PATH_INFO"]))
            return start_response(status, headers, exc_info)
        return inner(environ, start)

    app.wsgi_app = recording
    return served


def test_a_first_visit_to_the_login_page_is_at_most_20_kb_on_the_wire(app, page, live_server,
                                                                        demo):
    served = served_paths(app)
    traffic = record_traffic(page)
    page.goto(f"/p/login/{demo.id}", wait_until="load")
    page.wait_for_function("() => window.htmx !== undefined")
    page.wait_for_timeout(1000)  # the icon is fetched after the page loaded
    total = sum(entry["bytes"] for entry in traffic)
    print(f"\nfirst visit to the login page: {total} bytes on the wire")
    for entry in traffic:
        print(f"  {entry['status']} {entry['encoding'] or 'identity':>8} {entry['bytes']:>6}  "
              f"{entry['url'].removeprefix(live_server.url)}")
    print(f"  served: {served}")
    assert [(status, path) for status, path in served if status != "200"] == []
    assert "/favicon.ico" not in [path for _, path in served]
    assert total <= FIRST_VISIT_BUDGET


@pytest.fixture
def jenny(session):
    from sqlalchemy import select

    from portal.customers.models import Customer
    from portal.demo import JENNY
    from portal.portal_settings.operations import default_configuration

    seed_demo(session, now=utcnow())
    default_configuration(session).customer_update_allowed = ["address"]
    session.commit()
    return session.scalars(select(Customer).where(Customer.email == JENNY)
                           .order_by(Customer.created.desc())).first()


def test_arrowing_through_the_countries_asks_for_the_fields_once_after_a_pause(
        sign_in_browser, page, jenny):
    sign_in_browser(page, jenny)
    page.goto("/p/billing-information")
    section = page.locator("#address-section")
    section.get_by_role("link", name="Change billing address").click()
    country = section.get_by_label("Country or region")
    country.wait_for()
    page.wait_for_timeout(300)  # the form's htmx processing has settled
    refreshes = []
    page.on("request", lambda request: refreshes.append(request.url) if request.method == "POST"
            and request.url.endswith("/p/billing-information/address") else None)

    country.focus()
    for _ in range(5):
        page.keyboard.press("ArrowDown")  # each press changes the country, as on a phone's 2G
    chosen = country.input_value()
    page.wait_for_timeout(2000)

    assert len(refreshes) == 1
    assert section.get_by_label("Country or region").input_value() == chosen
    assert page.evaluate("document.activeElement.id") == "address-country"
