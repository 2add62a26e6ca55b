"""Every customer journey of the demo, end to end in a real Chromium, in four settings: with
JavaScript and without, on a 360 px phone and a 1280 px desktop (the ``visit`` fixture).

Without JavaScript each step is a plain form or link: a post answers 303 and the browser gets
the page it names, with the flashed message focused. With JavaScript htmx replaces only the part
that changed: the document stays (a marker on ``window`` survives), the header is the same
element, the old region is gone, focus lands in the new one (on the message after a change) and
the live region says what happened. URLs htmx pushes come back with Back, as the whole page.
Every HTML page the server sent says ``Vary: HX-Request``. Nothing scrolls sideways.

One seeded demo per journey. Finer points live beside each feature: focus per section and on
errors (test_focus_browser.py), address countries (test_billing_browser.py), a double click on
Pay (test_invoices_browser.py), resending a code (test_login_browser.py), large text
(test_small_screens_browser.py).
"""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import select

from portal.customers.models import Customer, SignInSession, TaxId
from portal.dbtypes import utcnow
from portal.demo import JENNY, seed_demo
from portal.invoices.models import Invoice
from portal.payments.models import Payment, PaymentMethod
from portal.portal_settings.operations import default_configuration
from portal.subscriptions.models import Subscription

# Before an htmx action: a marker on the document, one on an element outside the region (the
# header) and one on the region that should be replaced.
MARK = """region => {
  window.__journey = 'same document';
  document.querySelector('.site-header').dataset.journey = 'kept';
  document.querySelector(region).dataset.journey = 'old';
}"""

# What has focus, when it is inside ``within`` (anything but <body>), else null.
FOCUSED = """within => {
  const e = document.activeElement;
  if (!e || e === document.body || (within && !e.closest(within))) return null;
  return {tag: e.tagName.toLowerCase(), id: e.id, name: e.getAttribute('name'),
          text: (e.innerText || '').trim(), cls: e.className};
}"""


@pytest.fixture
def demo(session):
    link = seed_demo(session, now=utcnow())
    default_configuration(session).customer_update_allowed = [
        "address", "email", "name", "phone", "tax_id"]
    session.commit()
    return link


@pytest.fixture
def jenny(demo, session) -> Customer:
    return session.scalars(select(Customer).where(Customer.email == JENNY)
                           .order_by(Customer.created.desc())).first()


class Journey:
    """One customer's steps on ``visit.page``, each checked as the setting says it should look."""

    def __init__(self, visit, live_server):
        self.page, self.js, self.screen = visit.page, visit.javascript, visit.screen
        self.base = live_server.url
        self.pages: list[tuple[str, str]] = []  # (url, Vary) of every HTML page a GET got
        self.restores: list[dict] = []  # request headers of htmx's history restores
        self.page.on("response", self._seen)

    def _seen(self, response) -> None:
        request = response.request
        if not response.url.startswith(self.base) or request.method != "GET":
            return
        if "hx-history-restore-request" in request.headers:
            self.restores.append(request.headers)
        if (not 300 <= response.status < 400
                and (response.headers.get("content-type") or "").startswith("text/html")):
            self.pages.append((response.url, response.headers.get("vary", "")))

    # ---- looking ------------------------------------------------------------------------

    def path(self) -> str:
        return self.page.url.removeprefix(self.base)

    def ready(self) -> None:
        """The page has loaded and, with JavaScript, htmx has processed it."""
        self.page.wait_for_load_state("load")
        if self.js:
            self.page.wait_for_function(
                "() => window.htmx !== undefined && document.readyState === 'complete'")

    def focus_in(self, within: str | None = None, timeout: float = 5.0) -> dict:
        """What has focus once it is inside ``within``: autofocus runs a frame or two after the
        swap or the load, so this polls (from Python: the page's scripts may be off)."""
        deadline = time.monotonic() + timeout
        while True:
            now = self.page.evaluate(FOCUSED, within)
            if now is not None:
                # On a phone above all: the focused message or field is on the screen.
                self.page.wait_for_function(
                    "() => { const r = document.activeElement.getBoundingClientRect();"
                    " return r.bottom > 0 && r.top < window.innerHeight; }", timeout=2000)
                return now
            assert time.monotonic() < deadline, f"focus never came inside {within}"
            time.sleep(0.05)

    def focus_matches(self, selector: str) -> bool:
        return self.page.evaluate("s => document.activeElement.matches(s)", selector)

    def fits(self) -> None:
        """Nothing scrolls sideways, on the phone as on the desktop."""
        width, inner = self.page.evaluate(
            "[document.documentElement.scrollWidth, window.innerWidth]")
        assert width <= inner, f"{self.path()} scrolls sideways on the {self.screen}"

    # ---- doing --------------------------------------------------------------------------

    def open(self, path: str) -> None:
        response = self.page.goto(path)
        assert response.status == 200, f"{path}: {response.status}"
        self.ready()
        self.fits()

    def go(self, control, url: str) -> None:
        """A plain link, the same with and without JavaScript: a new page."""
        with self.page.expect_navigation() as navigation:
            control.click()
        assert navigation.value.status == 200
        self.ready()
        assert re.fullmatch(url, self.path()), f"at {self.path()}, expected {url}"
        self.fits()

    def follow(self, control, *, region: str, focus: str | None = None,
               url: str | None = None, push: bool = True) -> None:
        """A link or a GET form that opens a step: with JavaScript only ``region`` is swapped
        (and the URL pushed when ``push``); without, it is a page of its own."""
        self.step(control, region=region, focus=focus, url=url, post=False, push=push)

    def change(self, control, *, region: str, message: str | re.Pattern, replaced: str | None = None,
               url: str | None = None) -> str:
        """A post that changes something; returns the message the customer was shown."""
        return self.step(control, region=region, message=message, replaced=replaced, url=url,
                         post=True)

    def refused(self, control, *, region: str, url: str) -> None:
        """A post with a mistake: the form again with the error summary focused, 422 without
        JavaScript (nothing saved, no redirect), swapped in place with it."""
        self.step(control, region=region, focus=".error-summary", url=url, status=422)

    def step(self, control, *, region, focus=None, message=None, replaced=None, url=None,
             post=True, push=False, status=200) -> str | None:
        page = self.page
        before = self.path()
        shown = None
        if self.js:
            page.evaluate(MARK, replaced or region)
            control.click()
            page.wait_for_function("() => !document.querySelector('[data-journey=\"old\"]')")
            now = self.focus_in(region)
            assert page.evaluate("window.__journey") == "same document", "a full page load"
            assert page.evaluate("document.querySelector('.site-header').dataset.journey") == (
                "kept"), "more than the region was replaced"
            # A full page swapped into the region would bring a second header and <main>.
            assert page.evaluate("[document.querySelectorAll('header.site-header, main').length,"
                                 f" document.querySelectorAll({region!r}).length]") == [2, 1]
            if message is not None:
                shown = now["text"]
                assert "notice" in now["cls"], f"focus is on {now}, not on the message"
                assert page.locator("#announcements").inner_text() == shown
                assert page.locator("#announcements").get_attribute("aria-live") == "polite"
            elif focus is not None:
                assert self.focus_matches(focus), f"focus is on {now}, not on {focus}"
            if not post and not push:
                assert self.path() == before
        else:
            with page.expect_navigation() as navigation:
                control.click()
            response = navigation.value
            first = response.request.redirected_from
            if post and status == 200:
                assert first is not None and first.method == "POST", "not a post and redirect"
                assert first.response().status == 303
                assert response.request.method == "GET"
            elif status != 200:
                assert first is None, "a refused post must not redirect"
            assert response.status == status
            self.ready()
            if status != 200:  # full pages focus the error summary
                self.focus_in("main")
                assert self.focus_matches(focus), f"focus is not on {focus}"
            if message is not None:
                now = self.focus_in("main")
                shown = now["text"]
                assert "notice" in now["cls"], f"focus is on {now}, not on the flashed message"
                assert page.locator("#announcements").inner_text() == ""  # role=status does it
        if message is not None:
            matched = (message.fullmatch(shown) if isinstance(message, re.Pattern)
                       else shown == message)
            assert matched, f"{shown!r} is not {message!r}"
        if url is not None:
            assert re.fullmatch(url, self.path()), f"at {self.path()}, expected {url}"
        self.fits()
        return shown

    def back_restores(self, path: str, heading: str) -> None:
        """Back returns to ``path`` with the whole page as a fresh load shows it: with htmx, a
        history-restore request answered with the full page."""
        page = self.page
        restores = len(self.restores)
        page.go_back()
        page.get_by_role("heading", name=heading, exact=True).wait_for()
        page.wait_for_load_state("load")
        assert self.path() == path
        if self.js:
            assert len(self.restores) == restores + 1
            assert self.restores[-1]["hx-history-restore-request"] == "true"
            self.ready()
        restored = (page.title(), page.locator("body").inner_text())
        page.reload()
        self.ready()
        assert (page.title(), page.locator("body").inner_text()) == restored

    def every_page_varies_on_htmx(self) -> None:
        assert self.pages, "no page was seen"
        missing = [url for url, vary in self.pages
                   if "hx-request" not in {part.strip().lower() for part in vary.split(",")}]
        assert missing == [], f"pages without Vary: HX-Request: {missing}"


@pytest.fixture
def journey(visit, live_server) -> Journey:
    return Journey(visit, live_server)


def fresh(session, model, id_):
    session.expire_all()
    return session.get(model, id_)


# ---- signing in and out -------------------------------------------------------------------

def test_jenny_signs_in_with_the_merchants_link_and_an_emailed_code_then_signs_out(
        journey, demo, session, emailed_code):
    page = journey.page
    journey.open(f"/p/login/{demo.id}?prefilled_email={JENNY}")
    assert page.get_by_label("Email address").input_value() == JENNY

    journey.step(page.get_by_role("button", name="Send me a code"), region="#login-step",
                 focus="[name=code]", url=f"/p/login/{demo.id}/code", post=True, push=True)
    page.get_by_role("heading", name="Check your email").wait_for()
    assert page.title() == "Enter your code – Acme Cloud"
    assert JENNY in page.locator("#login-step").inner_text()

    # Back to the email step and forward again, as on any site; the code still works.
    journey.back_restores(f"/p/login/{demo.id}?prefilled_email={JENNY}", "Sign in to Acme Cloud")
    assert page.get_by_label("Email address").input_value() == JENNY
    page.go_forward()
    page.get_by_role("heading", name="Check your email").wait_for()
    journey.ready()
    assert journey.path() == f"/p/login/{demo.id}/code"

    code = emailed_code(session, JENNY)
    page.get_by_label("Code from the email").fill(f"{(int(code) + 1) % 1_000_000:06d}")
    journey.refused(page.get_by_role("button", name="Sign in"), region="#login-step",
                    url=f"/p/login/{demo.id}/code")
    assert "The code is not right" in page.locator(".error-summary").inner_text()
    assert page.title() == "Error: Enter your code – Acme Cloud"

    page.get_by_label("Code from the email").fill(code)
    with page.expect_navigation():  # with htmx too: HX-Redirect loads the account in full
        page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Your account").wait_for()
    assert journey.path() == "/p/"
    assert session.scalars(select(SignInSession)).one().via == "login_link"
    cookie = next(c for c in page.context.cookies() if c["name"] == "portal_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]
    journey.fits()

    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="You are signed out").wait_for()
    assert journey.path() == "/p/signed-out"
    page.goto("/p/billing-information")  # the old cookie opens nothing
    page.get_by_role("heading", name="You are signed out").wait_for()
    journey.every_page_varies_on_htmx()


# ---- billing details ------------------------------------------------------------------------

# section, the link that opens its form, its first field, what to type, the button, the message
DETAILS = [
    ("name-section", "Change name", "#name", {"Name": "Jenny Rosen-Smith"}, "Save name",
     "Your name has been updated"),
    ("email-section", "Change email address", "#email", {"Email address": "jenny.r@example.com"},
     "Save email address", "Your email address has been updated"),
    ("phone-section", "Change phone number", "#phone", {"Phone number": "+1 415 555 0199"},
     "Save phone number", "Your phone number has been updated"),
    ("address-section", "Change billing address", "#address-country",
     {"Address line 1": "1 Main Street", "Town or city": "Bend", "ZIP code": "97701"},
     "Save billing address", "Your billing address has been updated"),
]


def test_jenny_changes_her_billing_details_and_tax_ids_until_her_sign_in_ends(
        journey, jenny, session, sign_in_browser):
    page = journey.page
    sign_in_browser(page, jenny, via="portal_session")  # a code sent to her would lock the email
    journey.open("/p/")
    journey.go(page.get_by_role("link", name="Billing information", exact=True),
               "/p/billing-information")
    for section_id, link, first, values, button, message in DETAILS:
        section = page.locator(f"#{section_id}")
        journey.follow(section.get_by_role("link", name=link),
                       region=f"#{section_id}", focus=first, push=False,
                       url="/p/billing-information" if journey.js else
                       f"/p/billing-information/[a-z-]+#{section_id}")
        for label, value in values.items():
            section.get_by_label(label, exact=True).fill(value)
        journey.change(section.get_by_role("button", name=button),
                       region=f"#{section_id}", message=message, url="/p/billing-information")

    row = fresh(session, Customer, jenny.id)
    assert (row.name, row.email, row.phone) == ("Jenny Rosen-Smith", "jenny.r@example.com",
                                                "+1 415 555 0199")
    assert (row.address_line1, row.address_city, row.address_postal_code) == (
        "1 Main Street", "Bend", "97701")
    assert "Bend, OR 97701" in page.locator("#address-section address").inner_text()

    tax_ids = page.locator("#tax-ids-section")
    tax_ids.get_by_label("Type").select_option("eu_vat")
    tax_ids.get_by_label("Number").fill("DE136695976")
    journey.change(tax_ids.get_by_role("button", name="Add tax ID"),
                   region="#tax-ids-section", message="Tax ID DE136695976 has been added",
                   url="/p/billing-information")
    assert [t.value for t in fresh(session, Customer, jenny.id).tax_ids] == ["DE136695976"]
    journey.change(tax_ids.get_by_role("button", name="Remove DE136695976"),
                   region="#tax-ids-section", message="Tax ID DE136695976 has been removed",
                   url="/p/billing-information")
    session.expire_all()
    assert session.scalars(select(TaxId).where(TaxId.customer_id == jenny.id)).all() == []
    journey.every_page_varies_on_htmx()

    # The sign-in ends elsewhere (another tab, the merchant, the 12 hours): the next click opens
    # the signed-out page as a whole page, with htmx too, never inside the section.
    session.execute(SignInSession.__table__.update().values(ended_at=utcnow()))
    session.commit()
    with page.expect_navigation():
        page.locator("#name-section").get_by_role("link", name="Change name").click()
    page.get_by_role("heading", name="You are signed out").wait_for()
    assert journey.path().startswith("/p/signed-out")
    assert page.evaluate("document.querySelectorAll('header.site-header, main').length") == 2


# ---- payment methods ----------------------------------------------------------------------

def test_jenny_adds_a_card_makes_it_her_default_and_removes_the_old_one(
        journey, jenny, session, sign_in_browser):
    page = journey.page
    sign_in_browser(page, jenny)
    journey.open("/p/")
    journey.go(page.get_by_role("link", name="Manage payment methods"),
               "/p/payment-methods")
    journey.go(page.get_by_role("link", name="Add a card"),
               "/p/payment-methods/new")
    page.get_by_label("Name on card").fill("Jenny Rosen")
    page.get_by_label("Card number").fill("5555 5555 5555 4444")
    page.get_by_label("Expiry date").fill("04/35")
    page.get_by_label("Security code").fill("123")
    page.get_by_label(re.compile("^(Postcode|ZIP|Postal code)")).fill("97712")
    journey.change(page.get_by_role("button", name="Add card"),
                   region="#payment-methods", replaced="#add-card",
                   message="Mastercard ending in 4444 has been added.", url="/p/payment-methods")
    if journey.js:  # the form's address was pushed over; Back shows the empty form in full
        journey.back_restores("/p/payment-methods/new", "Add a card")
        assert page.get_by_label("Card number").input_value() == ""
        page.go_forward()
        page.get_by_role("heading", name="Payment methods").wait_for()
        journey.ready()

    new = session.scalars(select(PaymentMethod).where(PaymentMethod.customer_id == jenny.id,
                                                      PaymentMethod.card_last4 == "4444")).one()
    journey.change(
        page.get_by_role("button", name="Make default Mastercard ending in 4444"),
        region="#payment-methods",
        message="Mastercard ending in 4444 is now your default payment method.",
        url="/p/payment-methods")
    assert fresh(session, Customer, jenny.id).default_payment_method_id == new.id

    old = session.scalars(select(PaymentMethod).where(PaymentMethod.customer_id == jenny.id,
                                                      PaymentMethod.card_last4 == "4242")).one()
    journey.follow(page.get_by_role("button", name="Remove Visa ending in 4242"),
                   region=f"#pm-{old.id}", focus="h2", push=False,
                   url="/p/payment-methods" if journey.js
                   else rf"/p/payment-methods/{old.id}/remove\??")  # a GET form
    page.get_by_role("heading", name="Remove Visa ending in 4242?").wait_for()
    journey.change(
        page.get_by_role("button", name="Yes, remove Visa ending in 4242"),
        region="#payment-methods", replaced=f"#pm-{old.id}" if journey.js else None,
        message="Visa ending in 4242 has been removed.", url="/p/payment-methods")
    assert fresh(session, PaymentMethod, old.id).detached_at is not None
    assert page.locator("li.payment-method").count() == 1
    journey.every_page_varies_on_htmx()


# ---- subscriptions ------------------------------------------------------------------------

def _jennys_subscription(session, jenny) -> Subscription:
    return session.scalars(select(Subscription).where(Subscription.customer_id == jenny.id)).one()


def _open_subscription(journey, page) -> None:
    journey.open("/p/")
    journey.go(page.get_by_role("link", name="Manage your subscription"),
               "/p/subscriptions")
    journey.go(page.get_by_role("link", name="Pro", exact=True),
               "/p/subscriptions/sub_[A-Za-z0-9_-]+")
    page.get_by_role("heading", name="Pro subscription").wait_for()


def test_jenny_cancels_through_the_offers_and_the_survey_then_renews(
        journey, jenny, session, sign_in_browser):
    page = journey.page
    sign_in_browser(page, jenny)
    subscription = _jennys_subscription(session, jenny)
    detail = f"/p/subscriptions/{subscription.id}"
    _open_subscription(journey, page)

    journey.follow(page.get_by_role("link", name="Cancel subscription"),
                   region="#subscription-panel", focus="#panel-heading", url=f"{detail}/cancel")
    page.get_by_role("heading", name="Before you cancel your Pro subscription").wait_for()
    for button in ("Accept the discount", "Pause payments", "Switch to Starter"):
        assert page.get_by_role("button", name=button).is_visible()

    journey.follow(
        page.get_by_role("link", name="No thanks, continue to cancel"),
        region="#subscription-panel", focus="#panel-heading", url=f"{detail}/cancel/confirm")
    page.get_by_role("heading", name="Cancel your Pro subscription?").wait_for()
    page.get_by_label("Too expensive").check()
    page.get_by_label(re.compile("^Anything else")).fill("Cheaper elsewhere.")
    journey.change(page.get_by_role("button", name="Cancel subscription"),
                   region="#subscription-panel",
                   message=re.compile(r"Your subscription has been cancelled\. It ends on .+, "
                                      r"and you can renew it until then\."), url=detail)
    row = fresh(session, Subscription, subscription.id)
    assert row.cancel_at_period_end
    assert (row.cancellation_feedback, row.cancellation_comment) == ("too_expensive",
                                                                     "Cheaper elsewhere.")
    assert page.get_by_text(re.compile(r"^Your subscription ends on ")).is_visible()

    journey.change(page.get_by_role("button", name="Renew subscription"),
                   region="#subscription-panel",
                   message=re.compile(r"Your subscription has been renewed\. It continues on .+\."),
                   url=detail)
    assert not fresh(session, Subscription, subscription.id).cancel_at_period_end
    assert page.get_by_role("link", name="Cancel subscription").is_visible()
    journey.every_page_varies_on_htmx()


def test_jenny_switches_to_team_then_changes_the_number_of_seats(
        journey, jenny, session, sign_in_browser):
    page = journey.page
    sign_in_browser(page, jenny)
    subscription = _jennys_subscription(session, jenny)
    detail = f"/p/subscriptions/{subscription.id}"
    _open_subscription(journey, page)

    journey.follow(page.get_by_role("link", name="Change plan"),
                   region="#subscription-panel", focus="#panel-heading", url=f"{detail}/change")
    # Back from a pushed step: the subscription again, in full, as a reload shows it.
    journey.back_restores(detail, "Pro subscription")

    for plan, seats, named in (("Team", "3", "Team × 3 seats"), (None, "5", "Team × 5 seats")):
        journey.follow(page.get_by_role("link", name="Change plan"),
                       region="#subscription-panel", focus="#panel-heading",
                       url=f"{detail}/change")
        if plan:
            page.get_by_label(re.compile(rf"^{plan}: \$15\.00 .*month")).check()
        page.get_by_label("Quantity").fill(seats)
        journey.follow(page.get_by_role("button", name="Review the change"),
                       region="#subscription-panel", focus="#panel-heading",
                       url=rf"{detail}/change/preview\?.+")
        page.get_by_role("heading", name="Check your new plan").wait_for()
        assert named in page.locator("#subscription-panel dl").inner_text()
        journey.change(page.get_by_role("button", name=re.compile("^Confirm")),
                       region="#subscription-panel",
                       message=re.compile(rf"Your plan is now {named}\..*"), url=detail)
        item = fresh(session, Subscription, subscription.id).items[0]
        assert (item.price.product.name, item.quantity) == ("Team", int(seats))
    journey.every_page_varies_on_htmx()


# ---- invoices -----------------------------------------------------------------------------

def _download(journey, link_name: str, filename: str) -> None:
    page = journey.page
    with page.expect_response(lambda r: r.url.endswith(".pdf")) as answer, \
            page.expect_download() as download:
        page.get_by_role("link", name=link_name).click()
    assert answer.value.headers["content-type"] == "application/pdf"
    assert download.value.suggested_filename == filename
    with open(download.value.path(), "rb") as pdf:
        assert pdf.read(5) == b"%PDF-"


def test_jenny_pays_her_open_invoice_and_downloads_the_invoice_and_the_receipt(
        journey, jenny, session, sign_in_browser):
    page = journey.page
    sign_in_browser(page, jenny)
    invoice = session.scalars(select(Invoice).where(Invoice.customer_id == jenny.id,
                                                    Invoice.status == "open")).one()
    journey.open("/p/")
    journey.go(page.get_by_role("link", name="Invoices", exact=True),
               "/p/invoices")
    journey.go(page.get_by_role("link", name=invoice.number),
               f"/p/invoices/{invoice.id}")
    assert page.get_by_label(re.compile("^Visa ending in 4242")).is_checked()
    journey.change(page.get_by_role("button", name="Pay $29.00"),
                   region="#invoice-payment", message="Payment of $29.00 received. Thank you.",
                   url=f"/p/invoices/{invoice.id}")
    assert page.locator("#invoice-payment .badge").first.inner_text() == "Paid"
    assert fresh(session, Invoice, invoice.id).status == "paid"
    succeeded = session.scalars(select(Payment).where(Payment.invoice_id == invoice.id,
                                                      Payment.status == "succeeded")).all()
    assert len(succeeded) == 1  # charged once (the demo's failed automatic attempt is not one)

    _download(journey, f"Download invoice {invoice.number} (PDF)", f"{invoice.number}.pdf")
    _download(journey, "Download receipt (PDF)", f"{invoice.number}-receipt.pdf")
    journey.every_page_varies_on_htmx()


# ---- a merchant's deep link ------------------------------------------------------------------

def test_jenny_follows_her_merchants_cancel_link_cancels_and_reads_their_confirmation(
        journey, jenny, session):
    from urllib.parse import urlsplit

    from portal.portal_settings.sessions import create_portal_session

    page = journey.page
    subscription = _jennys_subscription(session, jenny)
    created = create_portal_session(
        session, customer=jenny, return_url="https://acme.example/account", now=utcnow(),
        actor="api", base_url=journey.base, flow_data={
            "type": "subscription_cancel",
            "subscription_cancel": {"subscription": subscription.id},
            "after_completion": {"type": "hosted_confirmation", "hosted_confirmation": {
                "custom_message": "We are sorry to see you go."}}})
    session.commit()
    cancel = f"/p/subscriptions/{subscription.id}/cancel"

    journey.open(urlsplit(created.url).path)  # signed straight in, no code
    assert journey.path() == cancel
    page.get_by_role("heading", name="Before you cancel your Pro subscription").wait_for()
    assert page.locator(".site-nav").count() == 0  # only the flow
    assert page.get_by_role("link", name="Return to Acme Cloud").get_attribute("href") == (
        "https://acme.example/account")

    journey.follow(
        page.get_by_role("link", name="No thanks, continue to cancel"),
        region="#subscription-panel", focus="#panel-heading", url=f"{cancel}/confirm")
    page.get_by_label("Too expensive").check()
    # Finishing the flow is a whole new page (HX-Redirect with htmx, a 303 without).
    journey.go(page.get_by_role("button", name="Cancel subscription"), "/p/session/done")
    page.get_by_role("heading", name="All done").wait_for()
    notice = journey.focus_in("main")
    assert notice["text"].startswith("Your subscription has been cancelled.")
    assert page.get_by_text("We are sorry to see you go.").is_visible()
    assert page.locator(".site-nav").count() == 0
    assert fresh(session, Subscription, subscription.id).cancel_at_period_end

    # Followed again from this browser, it grants nothing new: the confirmation again.
    page.goto(urlsplit(created.url).path)
    assert journey.path() == "/p/session/done"
    journey.every_page_varies_on_htmx()
