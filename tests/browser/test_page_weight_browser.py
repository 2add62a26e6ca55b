"""What a visit costs on a slow phone, measured in a real Chromium: every byte on the wire
(response headers and encoded bodies, from Playwright's request.sizes()) of every customer page,
with an empty cache and with a warm one, and of the htmx actions that swap part of a page.

Budgets (issue 10): a first visit, everything included (page, stylesheet, htmx, icon), at most
40 KB, its HTML document alone at most 14 KB; a later visit with a warm cache at most 8 KB; an
htmx action's response at most 4 KB. No web fonts, nothing from another origin, and nothing that
blocks rendering but the one stylesheet. Requests the browser makes for itself (the icon) are
not reported by Playwright, so the server's side counts them too (``served_paths``).
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from portal.dbtypes import utcnow
from portal.demo import JENNY, seed_demo

KB = 1024
FIRST_VISIT_BUDGET = 40 * KB
DOCUMENT_BUDGET = 14 * KB
WARM_VISIT_BUDGET = 8 * KB
HTMX_ACTION_BUDGET = 4 * KB
LOGIN_FIRST_VISIT_BUDGET = 20 * KB  # the login page is what every customer meets first

# Every GET page under /p/ that takes no arguments (test_every_customer_page_is_measured keeps
# this list in step with the app), then the pages that need the demo's ids or a login link.
PAGES_WITHOUT_ARGUMENTS = [
    "/p/",
    "/p/billing-information",
    "/p/billing-information/address",
    "/p/billing-information/email",
    "/p/billing-information/name",
    "/p/billing-information/phone",
    "/p/billing-information/shipping-address",
    "/p/invoices",
    "/p/payment-methods",
    "/p/payment-methods/new",
    "/p/session/done",
    "/p/signed-out",
    "/p/subscriptions",
]
PAGES = [*PAGES_WITHOUT_ARGUMENTS, "/p/invoices/<open invoice>", "/p/subscriptions/<active>",
         "/p/login/<link>", "/p/login/<link>/code"]


class Traffic(list):
    """Every finished request of a page, with the bytes it took on the wire, and the requests
    still under way."""

    def __init__(self):
        super().__init__()
        self.pending: set = set()

    def settled(self) -> bool:
        return not self.pending


def record_traffic(page) -> Traffic:
    """Record ``page``'s requests from now on."""
    traffic = Traffic()

    def finished(request):
        traffic.pending.discard(request)
        sizes = request.sizes()
        response = request.response()
        traffic.append({"url": request.url, "type": request.resource_type,
                        "status": response.status if response else None,
                        "encoding": response.headers.get("content-encoding") if response else None,
                        "bytes": sizes["responseHeadersSize"] + sizes["responseBodySize"]})

    page.on("request", lambda request: traffic.pending.add(request))
    page.on("requestfinished", finished)
    page.on("requestfailed", lambda request: traffic.pending.discard(request))
    return traffic


# What Werkzeug's server adds to the headers the app gives (status line, Server, Date,
# Connection), for answers only the server sees. Measured: 94-100 bytes on this server.
SERVER_HEADER_BYTES = 100


def served_paths(app) -> list[dict]:
    """Every answer the server gives, those for requests the browser makes for itself (the
    icon) included, which Playwright does not report: status, path and bytes sent."""
    served: list[dict] = []
    inner = app.wsgi_app

    def recording(environ, start_response):
        entry = {"status": None, "path": environ["PATH_INFO"], "bytes": SERVER_HEADER_BYTES}

        def start(status, headers, exc_info=None):
            entry["status"] = status.split()[0]
            entry["bytes"] += sum(len(name) + len(value) + 4 for name, value in headers)
            return start_response(status, headers, exc_info)

        body = inner(environ, start)
        try:
            for chunk in body:
                entry["bytes"] += len(chunk)
                yield chunk
        finally:
            if hasattr(body, "close"):
                body.close()
            served.append(entry)

    app.wsgi_app = recording
    return served


def _seed(session) -> dict:
    """The Acme Cloud demo with every part of the billing details open to change, and Jenny's
    open invoice and active subscription."""
    from portal.customers.models import Customer
    from portal.invoices.models import Invoice
    from portal.portal_settings.models import ALLOWED_CUSTOMER_UPDATES
    from portal.portal_settings.operations import default_configuration
    from portal.subscriptions.models import Subscription

    link = seed_demo(session, now=utcnow())
    configuration = default_configuration(session)
    configuration.customer_update_enabled = True
    configuration.customer_update_allowed = list(ALLOWED_CUSTOMER_UPDATES)
    session.commit()
    jenny = session.scalars(select(Customer).where(Customer.email == JENNY)
                            .order_by(Customer.created.desc())).first()
    invoice = session.scalars(select(Invoice).where(Invoice.customer_id == jenny.id,
                                                    Invoice.status == "open")).one()
    subscription = session.scalars(select(Subscription).where(
        Subscription.customer_id == jenny.id, Subscription.status == "active")).one()
    return {"link": link.id, "jenny": jenny, "invoice": invoice.id,
            "subscription": subscription.id}


@pytest.fixture
def demo(app, session):
    """The demo for one test, and the server's record of what it answered."""
    return {**_seed(session), "served": served_paths(app)}


@pytest.fixture(scope="module")
def weighed(browser, database_uri, _schema, tmp_path_factory):
    """One app, seeded once and served for every page's visits (the pages only read), so the
    module's many visits do not each pay for a fresh database: the same as ``app``,
    ``live_server`` and ``sign_in_browser`` in tests/browser/conftest.py, made once."""
    import os
    import threading

    from werkzeug.serving import make_server

    from portal import create_app
    from portal.customers.auth import SESSION_KEY, open_sign_in_session
    from portal.extensions import db
    from tests.conftest import _empty_tables, base_config

    previous = os.environ.get("PORTAL_INSTANCE_PATH")
    os.environ["PORTAL_INSTANCE_PATH"] = str(tmp_path_factory.mktemp("weighed-instance"))
    application = create_app(base_config(database_uri, WORKER_MODE="external"))
    with application.app_context():
        world = _seed(db.session)
        _, token = open_sign_in_session(world["jenny"].id, now=utcnow(), via="portal_session")
        db.session.commit()
        cookie = application.session_interface.get_signing_serializer(application).dumps(
            {SESSION_KEY: token, "_permanent": True})
        world["cookie"] = {"name": application.config["SESSION_COOKIE_NAME"], "value": cookie}
        world["done_cookie"] = {**world["cookie"], "value": _finished_flow_cookie(
            application, db.session, world["jenny"].id)}
        world["served"] = served_paths(application)
        db.session.remove()
    server = make_server("127.0.0.1", 0, application, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="weighed-server", daemon=True)
    thread.start()
    world["url"] = f"http://127.0.0.1:{server.server_port}"
    try:
        yield world
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with application.app_context():
            db.session.remove()
            _empty_tables()
            db.engine.dispose()
        if previous is None:
            os.environ.pop("PORTAL_INSTANCE_PATH", None)
        else:
            os.environ["PORTAL_INSTANCE_PATH"] = previous


def _finished_flow_cookie(application, db_session, customer_id: str) -> str:
    """A sign-in through a portal session whose flow is finished with a hosted confirmation:
    the one sign-in /p/session/done answers."""
    from portal.customers.auth import SESSION_KEY, open_sign_in_session
    from portal.portal_settings.sessions import create_portal_session

    now = utcnow()
    created = create_portal_session(
        db_session, customer=customer_id, return_url="https://acme.example/account", now=now,
        actor="api", base_url="http://127.0.0.1", flow_data={
            "type": "payment_method_update", "after_completion": {
                "type": "hosted_confirmation",
                "hosted_confirmation": {"custom_message": "Thank you, see you soon."}}})
    created.portal_session.used_at = created.portal_session.flow_completed_at = now
    _, token = open_sign_in_session(customer_id, now=now, via="portal_session",
                                    portal_session_id=created.portal_session.id)
    db_session.commit()
    return application.session_interface.get_signing_serializer(application).dumps(
        {SESSION_KEY: token, "_permanent": True})


def path_of(label: str, demo) -> str:
    return (label.replace("<open invoice>", demo["invoice"])
            .replace("<active>", demo["subscription"]).replace("<link>", demo["link"]))


def settle(page, traffic: Traffic, served: list[dict], *, first: bool) -> None:
    """Wait until the page and all it loads are in: on a first visit the icon too, which
    Chromium asks for after the load event; on a later one, until the network has been quiet
    for half a second, so a request the cache should have saved would be seen."""
    page.wait_for_load_state("load")
    page.wait_for_function("() => window.htmx !== undefined")
    deadline = time.monotonic() + 5
    while first and not any(entry["path"].startswith("/static/favicon.") for entry in served):
        assert time.monotonic() < deadline, f"the browser never asked for the icon: {served}"
        page.wait_for_timeout(20)
    if not first:
        page.wait_for_load_state("networkidle")
    while not traffic.settled():
        assert time.monotonic() < deadline, f"requests never finished: {traffic.pending}"
        page.wait_for_timeout(20)


def report(title: str, traffic: list[dict], served: list[dict], base: str) -> None:
    print(f"\n{title}: {wire_bytes(traffic, served, base)} bytes on the wire")
    for entry in traffic:
        print(f"  {entry['status']} {entry['encoding'] or 'identity':>8} {entry['bytes']:>6}  "
              f"{entry['url'].removeprefix(base)}")
    print(f"  served: {[(entry['status'], entry['path'], entry['bytes']) for entry in served]}")


def wire_bytes(traffic: list[dict], served: list[dict], base: str) -> int:
    """What the browser reported, plus what the server sent for requests it did not report."""
    reported = {entry["url"].removeprefix(base).split("?")[0] for entry in traffic}
    unreported = [entry for entry in served if entry["path"] not in reported]
    return (sum(entry["bytes"] for entry in traffic)
            + sum(entry["bytes"] for entry in unreported))


def open_page(browser, weighed, label):
    """A fresh context (empty cache), signed in as Jenny (not via the login link, so the email
    page is open too) unless the page is a sign-in step, with the login's email step done for
    the code page by a request outside the browser, so its cache stays empty."""
    context = browser.new_context(base_url=weighed["url"])
    context.set_default_timeout(10_000)
    page = context.new_page()
    if label.endswith("/code"):
        answer = context.request.post(f"/p/login/{weighed['link']}", form={"email": JENNY},
                                      max_redirects=0)
        assert answer.status == 303, answer.status
    elif label == "/p/session/done":
        context.add_cookies([{**weighed["done_cookie"], "url": weighed["url"]}])
    elif not label.startswith("/p/login/") and label != "/p/signed-out":
        context.add_cookies([{**weighed["cookie"], "url": weighed["url"]}])
    return context, page


@pytest.mark.parametrize("label", PAGES)
def test_a_first_visit_and_a_warm_visit_of_each_page_stay_within_budget(browser, weighed,
                                                                         label):
    served, base = weighed["served"], weighed["url"]
    path = path_of(label, weighed)
    context, page = open_page(browser, weighed, label)
    try:
        traffic = record_traffic(page)
        requests = []
        page.on("request", lambda request: requests.append(request))
        served.clear()
        answer = page.goto(path)
        settle(page, traffic, served, first=True)
        report(f"first visit to {label}", traffic, served, base)

        assert answer.status == 200
        assert [e for e in served if e["status"] != "200"] == []
        assert "/favicon.ico" not in [entry["path"] for entry in served]
        # Nothing from anywhere else, and no font of any kind.
        assert [r.url for r in requests if not r.url.startswith(base)] == []
        assert [r.url for r in requests if r.resource_type == "font"] == []
        assert page.evaluate("document.fonts.size") == 0
        # Only the stylesheet holds the first paint: the script is deferred.
        blocking = page.evaluate("""() => performance.getEntriesByType('resource')
            .filter(e => e.renderBlockingStatus === 'blocking').map(e => e.name)""")
        assert [url.removeprefix(base).split(".")[0] for url in blocking] == ["/static/portal"]
        document = next(e for e in traffic if e["url"] == f"{base}{path}")
        assert document["encoding"] in ("br", "gzip")
        assert document["bytes"] <= DOCUMENT_BUDGET
        assert wire_bytes(traffic, served, base) <= FIRST_VISIT_BUDGET

        # A later visit: the stylesheet, htmx and the icon come from the cache, unasked.
        traffic.clear()
        served.clear()
        answer = page.goto(path) if not label.endswith("/code") else page.reload()
        settle(page, traffic, served, first=False)
        report(f"warm visit to {label}", traffic, served, base)
        assert answer.status == 200
        assert [entry["path"] for entry in served] == [path]
        assert wire_bytes(traffic, served, base) <= WARM_VISIT_BUDGET
    finally:
        context.close()


def test_every_customer_page_is_measured(app):
    pages = sorted({rule.rule for rule in app.url_map.iter_rules()
                    if rule.rule.startswith("/p/") and not rule.arguments
                    and "GET" in (rule.methods or ())})
    assert pages == sorted(PAGES_WITHOUT_ARGUMENTS)


def test_a_first_visit_to_the_login_page_is_at_most_20_kb_on_the_wire(page, live_server, demo):
    served = demo["served"]
    traffic = record_traffic(page)
    page.goto(f"/p/login/{demo['link']}", wait_until="load")
    settle(page, traffic, served, first=True)
    total = wire_bytes(traffic, served, live_server.url)
    report("first visit to the login page", traffic, served, live_server.url)
    assert [entry for entry in served if entry["status"] != "200"] == []
    assert total <= LOGIN_FIRST_VISIT_BUDGET


# ---- htmx actions: only the part that changed comes back --------------------------------------

def htmx_action(page, served, live_server, act, done) -> int:
    """Bytes on the wire of what ``act`` asks for, once ``done`` shows its result; exactly one
    request, and an htmx one."""
    traffic = record_traffic(page)
    requests = []
    page.on("request", lambda request: requests.append(request))
    served.clear()
    act()
    done()
    deadline = time.monotonic() + 5
    while not traffic.settled():
        assert time.monotonic() < deadline, f"requests never finished: {traffic.pending}"
        page.wait_for_timeout(20)
    report("htmx action", traffic, served, live_server.url)
    # Playwright may report the first visit's icon fetch late, after the server answered it
    # (settle waited for that): it is the page's, not the action's.
    requests = [r for r in requests if "/static/favicon." not in r.url]
    assert len(requests) == 1, [r.url for r in requests]
    assert requests[0].headers.get("hx-request") == "true"
    return wire_bytes(traffic, served, live_server.url)


@pytest.fixture
def signed_in(page, sign_in_browser, demo):
    sign_in_browser(page, demo["jenny"], via="portal_session")
    return page


def goto_settled(page, path, served):
    """A first visit of ``path``, the icon included, so nothing of it is left to come in."""
    traffic = record_traffic(page)
    page.goto(path)
    settle(page, traffic, served, first=True)


def test_opening_and_saving_the_name_form_each_answer_within_4_kb(signed_in, live_server, demo):
    page, served = signed_in, demo["served"]
    goto_settled(page, "/p/billing-information", served)
    section = page.locator("#name-section")
    opened = htmx_action(page, served, live_server,
                         lambda: section.get_by_role("link", name="Change name").click(),
                         lambda: section.get_by_label("Name", exact=True).wait_for())
    section.get_by_label("Name", exact=True).fill("Jenny R. Rosen")
    saved = htmx_action(page, served, live_server,
                        lambda: section.get_by_role("button", name="Save name").click(),
                        lambda: page.get_by_text("Your name has been updated").first.wait_for())
    assert opened <= HTMX_ACTION_BUDGET
    assert saved <= HTMX_ACTION_BUDGET


def test_opening_the_billing_address_form_answers_within_4_kb(signed_in, live_server, demo):
    # The biggest form: every country is an <option>.
    page, served = signed_in, demo["served"]
    goto_settled(page, "/p/billing-information", served)
    section = page.locator("#address-section")
    opened = htmx_action(page, served, live_server,
                         lambda: section.get_by_role("link", name="Change billing address").click(),
                         lambda: section.get_by_label("Country or region").wait_for())
    assert opened <= HTMX_ACTION_BUDGET


def test_paying_an_invoice_answers_within_4_kb(signed_in, live_server, demo):
    page, served = signed_in, demo["served"]
    goto_settled(page, f"/p/invoices/{demo['invoice']}", served)
    paid = htmx_action(page, served, live_server,
                       lambda: page.get_by_role("button", name="Pay").click(),
                       lambda: page.get_by_text("received. Thank you.").first.wait_for())
    assert paid <= HTMX_ACTION_BUDGET


def test_asking_for_a_sign_in_code_answers_within_4_kb(page, live_server, demo):
    served = demo["served"]
    goto_settled(page, f"/p/login/{demo['link']}?prefilled_email={JENNY}", served)
    asked = htmx_action(page, served, live_server,
                        lambda: page.get_by_role("button", name="Send me a code").click(),
                        lambda: page.get_by_role("heading", name="Check your email").wait_for())
    assert asked <= HTMX_ACTION_BUDGET


@pytest.fixture
def jenny(session):
    from portal.customers.models import Customer
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
