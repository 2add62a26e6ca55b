"""The whole customer journey, walked in each shipped language without JavaScript: the login
link, the emailed code, billing details with a mistake, cards, paying an invoice and its PDF,
cancelling and renewing a subscription, changing plan, signing out. Every page answers, says
its language, and its heading is the catalogue's translation of the English one."""

from __future__ import annotations

import re

import pytest
from babel.support import Translations
from bs4 import BeautifulSoup
from sqlalchemy import select

from portal.dbtypes import utcnow
from portal.demo import JENNY, seed_demo
from portal.i18n import LANGUAGES
from portal.i18n_cli import TRANSLATIONS
from portal.mailer import DevMail

CODE_IN_EMAIL = re.compile(r"^\s*(\d{6})\s*$", re.MULTILINE)

# What each step's <h1> says in English; every other language must say the catalogue's words.
ENGLISH_HEADINGS = {
    "login": ("Sign in to %(business_name)s", {"business_name": "Acme Cloud"}),
    "code": "Check your email",
    "overview": None,  # the business's headline or the customer's name: merchant data
    "billing": "Billing information",
    "name": "Billing information",
    "payment methods": "Payment methods",
    "add a card": "Add a card",
    "invoices": "Invoices",
    "subscriptions": "Subscriptions",
    "signed out": "You are signed out",
}


def _page(response) -> BeautifulSoup:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def _main_form(page, action_part: str):
    for form in page.find("main").find_all("form"):
        if action_part in (form.get("action") or ""):
            return form
    raise AssertionError(f"no form posting to *{action_part}* on {page.title.text!r}")


def _fields(form) -> dict:
    data = {}
    for field in form.find_all(["input", "select", "textarea"]):
        name = field.get("name")
        if not name or field.get("type") in ("submit", "button"):
            continue
        if field.get("type") in ("radio", "checkbox"):
            if field.has_attr("checked"):
                data[name] = field.get("value", "on")
            continue
        if field.name == "select":
            chosen = field.find("option", selected=True) or field.find("option")
            data[name] = chosen.get("value", "") if chosen else ""
            continue
        data[name] = field.get("value", "")
    return data


class Journey:
    def __init__(self, client, locale: str, session):
        self.client, self.locale, self.session = client, locale, session
        self.tag = locale.replace("_", "-")
        self.direction = "rtl" if locale == "ar" else "ltr"
        self.headings: dict[str, str] = {}

    def get(self, url: str, step: str | None = None, status: int = 200) -> BeautifulSoup:
        response = self.client.get(url)
        assert response.status_code == status, (step, url, response.status_code)
        page = _page(response)
        html = page.find("html")
        assert (html["lang"], html["dir"]) == (self.tag, self.direction), (step, url)
        if step:
            self.headings[step] = page.find("main").h1.get_text(" ", strip=True)
        return page

    def submit(self, page, action_part: str, status: int = 303, **values):
        form = _main_form(page, action_part)
        data = dict(_fields(form), **values)
        response = self.client.post(form["action"], data=data)
        assert response.status_code == status, (action_part, response.status_code,
                                                response.get_data(as_text=True)[:500])
        return response

    def latest_email(self, drain_outbox) -> DevMail:
        drain_outbox()
        self.session.expire_all()
        return self.session.scalars(select(DevMail).order_by(DevMail.id.desc())).first()


@pytest.fixture
def demo(session):
    link = seed_demo(session, now=utcnow())
    session.commit()
    return link


@pytest.mark.parametrize("locale", [language.code for language in LANGUAGES])
def test_the_whole_journey_is_walked_in_each_shipped_language(client, session, demo,
                                                              drain_outbox, locale):
    journey = Journey(client, locale, session)
    login_url = f"/p/login/{demo.id}?prefilled_email={JENNY}"
    first = _page(client.get(login_url))
    switcher = first.find("footer").find("form")
    response = client.post(switcher["action"], data=dict(_fields(switcher), language=locale))
    assert response.status_code == 303

    page = journey.get(response.headers["Location"], "login")
    response = journey.submit(page, "/p/login/")
    page = journey.get(response.headers["Location"], "code")
    email = journey.latest_email(drain_outbox)
    code = CODE_IN_EMAIL.search(email.body_text).group(1)
    response = journey.submit(page, "/code", code=code)
    assert response.headers["Location"].endswith("/p/")

    journey.get("/p/", "overview")
    journey.get("/p/billing-information", "billing")
    page = journey.get("/p/billing-information/name", "name")
    refused = journey.submit(page, "/billing-information/name", status=422, name="")
    refused_page = _page(refused)
    assert refused_page.find(class_="error-summary") is not None
    response = journey.submit(refused_page, "/billing-information/name", name="Jenny R.")
    journey.get(response.headers["Location"])

    journey.get("/p/payment-methods", "payment methods")
    journey.get("/p/payment-methods/new", "add a card")

    page = journey.get("/p/invoices", "invoices")
    links = [a["href"] for a in page.find("main").find_all("a", href=True)
             if re.fullmatch(r"/p/invoices/in_\w+", a["href"])]
    assert links
    for href in links:
        invoice = journey.get(href)
        if invoice.find("main").find("form", action=re.compile("/pay$")):
            response = journey.submit(invoice, "/pay")
            journey.get(response.headers["Location"])
            break
    else:
        raise AssertionError("no invoice to pay")
    pdf = client.get(f"{href}/invoice.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF-")
    receipt = client.get(f"{href}/receipt.pdf")
    assert receipt.status_code == 200 and receipt.data.startswith(b"%PDF-")

    page = journey.get("/p/subscriptions", "subscriptions")
    subscription = next(a["href"] for a in page.find("main").find_all("a", href=True)
                        if re.fullmatch(r"/p/subscriptions/sub_\w+", a["href"]))
    journey.get(subscription)
    journey.get(f"{subscription}/change")
    journey.get(f"{subscription}/cancel")
    page = journey.get(f"{subscription}/cancel/confirm")
    response = journey.submit(page, "/cancel")
    page = journey.get(response.headers["Location"])
    if page.find("main").find("form", action=re.compile("/renew$")):
        response = journey.submit(page, "/renew")
        journey.get(response.headers["Location"])

    overview = journey.get("/p/")
    response = journey.client.post("/p/sign-out", data=_fields(
        next(f for f in overview.find_all("form") if f.get("action") == "/p/sign-out")))
    assert response.status_code == 303
    journey.get(response.headers["Location"], "signed out")

    translations = Translations.load(str(TRANSLATIONS), [locale])
    expected, english = {}, {}
    for step, heading in ENGLISH_HEADINGS.items():
        if heading is None:
            continue
        msgid, values = heading if isinstance(heading, tuple) else (heading, {})
        expected[step] = translations.gettext(msgid) % values
        english[step] = msgid % values
    assert {step: journey.headings[step] for step in expected} == expected
    if locale != "en":
        # The catalogue really says something else: the journey was not shown in English.
        assert sum(expected[s] != english[s] for s in expected) >= len(expected) - 1
        assert email.subject != "Your sign-in code for Acme Cloud"
