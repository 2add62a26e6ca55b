"""The whole no-code setup, the seed document's path, from an empty database to a customer who
signs in and sees the merchant's branding: every step through the real pages, the passcode
through a real SMTP server."""

from __future__ import annotations

import io
import re
from urllib.parse import urlsplit

import pytest
from bs4 import BeautifulSoup
from PIL import Image
from sqlalchemy import func, select

from portal.admin.models import StaffUser
from portal.catalog.models import Price, Product
from portal.events import AuditEvent
from tests.image_files import image_bytes

PASSWORD = "a long staff password"


@pytest.fixture
def app_config(smtp_config):
    return {**smtp_config, "PUBLIC_URL": "https://billing.acme.example"}




def _soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def _form_values(form) -> dict:
    """What a browser would send for ``form`` as it stands (defaults, checked boxes, selected
    options), so the test changes only the fields a merchant would touch."""
    values: dict[str, list[str]] = {}
    for field in form.select("input[name], select[name], textarea[name]"):
        name = field["name"]
        if field.name == "select":
            chosen = field.select("option[selected]") or field.select("option")[:1]
            values.setdefault(name, []).extend(o.get("value", o.text) for o in chosen
                                               if not field.has_attr("multiple") or o.has_attr(
                                                   "selected"))
        elif field.name == "textarea":
            values.setdefault(name, []).append(field.text)
        elif field.get("type") in ("checkbox", "radio"):
            if field.has_attr("checked"):
                values.setdefault(name, []).append(field.get("value", "on"))
        elif field.get("type") not in ("submit", "button", "file"):
            values.setdefault(name, []).append(field.get("value", ""))
    return values


def _path(location: str) -> str:
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def test_a_merchant_sets_up_the_portal_from_nothing_and_a_customer_signs_in_to_it(
        app, client, session, smtp_server, drain_outbox):
    # An empty database: no staff, no products, no customers.
    assert session.scalar(select(func.count()).select_from(StaffUser)) == 0

    # The first staff account, made on the server; the password is asked for.
    made = app.test_cli_runner().invoke(args=["create-admin", "owner@acme.example"],
                                        input=f"{PASSWORD}\n{PASSWORD}\n")
    assert made.exit_code == 0, made.output

    # The dashboard needs that sign-in.
    assert client.get("/admin/").status_code == 303
    signed_in = client.post("/admin/sign-in", data={"email": "owner@acme.example",
                                                     "password": PASSWORD})
    assert signed_in.status_code == 303
    assert client.get("/admin/").status_code == 200

    # 1-8 of the seed: a product with a description, an image, a tax code, a statement
    # descriptor and a unit label; then its price.
    created = client.post("/admin/products/new", content_type="multipart/form-data", data={
        "name": "Team plan", "description": "Everything a team of five needs.",
        "image": (io.BytesIO(image_bytes(size=(1200, 800), color=(30, 90, 200))), "team.png"),
        "tax_code": "txcd_10103001", "statement_descriptor": "ACME TEAM",
        "unit_label": "seat"})
    assert created.status_code == 303, created.get_data(as_text=True)
    product = session.scalars(select(Product)).one()
    assert product.image and product.unit_label == "seat"
    priced = client.post(f"/admin/products/{product.id}/prices", data={
        "amount": "15.00", "currency": "usd", "billing": "recurring", "interval_count": "1",
        "interval": "month"})
    assert priced.status_code == 303, priced.get_data(as_text=True)
    price = session.scalars(select(Price)).one()
    assert (price.unit_amount, price.currency, price.recurring_interval) == (1500, "usd", "month")

    # Configure the portal: the business headline and the links customers see.
    page = _soup(client.get("/admin/portal/"))
    form = next(f for f in page.select("form[method=post]")
                if f.get("action", "").rstrip("/") == "/admin/portal")
    values = _form_values(form)
    values["headline"] = ["Acme Cloud: manage your team's billing"]
    values["terms_of_service_url"] = ["https://acme.example/terms"]
    values["privacy_policy_url"] = ["https://acme.example/privacy"]
    saved = client.post("/admin/portal/", data=values)
    assert saved.status_code == 303, _soup(saved).select(".error-summary")

    # Customise the branding: name, colours, font and a square icon.
    branded = client.post("/admin/branding/", data={
        "business_name": "Acme Cloud", "brand_color": "#AA3300", "accent_color": "#0b6e4f",
        "support_email": "support@acme.example", "support_phone": "+1 415 555 0100",
        "font": "humanist"})
    assert branded.status_code == 303, _soup(branded).select(".error-summary")
    iconned = client.post("/admin/branding/icon", content_type="multipart/form-data",
                          data={"icon-image": (io.BytesIO(image_bytes(size=(256, 256), color=(170, 51, 0))),
                                               "icon.png")})
    assert iconned.status_code == 303, _soup(iconned).select(".error-summary")

    # Activate the login link, and see its live URL.
    assert client.post("/admin/portal/login-link/activate").status_code == 303
    live = _soup(client.get("/admin/portal/"))
    assert any(i.get("value", "").startswith("https://billing.acme.example/p/login/")
               for i in live.select("input[readonly]"))

    # A customer, and their prefilled login URL to copy.
    email = "grace+team@example.com"
    made_customer = client.post("/admin/customers/new", data={"email": email,
                                                              "name": "Grace Hopper"})
    assert made_customer.status_code == 303, _soup(made_customer).select(".error-summary")
    customer_page = _soup(client.get(_path(made_customer.headers["Location"])))
    urls = [i["value"] for i in customer_page.select("input[readonly]")
            if "prefilled_email=" in i.get("value", "")]
    assert len(urls) == 1
    prefilled = urls[0]
    assert re.fullmatch(r"https://billing\.acme\.example/p/login/[\w-]+"
                        r"\?prefilled_email=grace%2Bteam@example\.com", prefilled), prefilled
    assert customer_page.select_one(f"button[data-copy='{customer_page.select_one('input[readonly][value*=prefilled_email]')['id']}']")

    # Start them on the Team plan for three seats, paid by an emailed invoice.
    start = next(f for f in customer_page.select("form[method=post]")
                 if f.get("action", "").endswith("/subscriptions"))
    values = _form_values(start)
    values.update({"price": [price.id], "quantity": ["3"], "collection_method": ["send_invoice"],
                   "days_until_due": ["14"]})
    started = client.post(start["action"], data=values)
    assert started.status_code == 303, _soup(started).select(".error-summary")

    # Every step is in the audit log, naming the staff member.
    staff = session.scalars(select(StaffUser)).one()
    done = set(session.scalars(select(AuditEvent.type)
                               .where(AuditEvent.actor == f"staff:{staff.id}")))
    assert {"product.created", "price.created", "billing_portal.configuration.updated",
            "branding.updated", "login_link.activated", "customer.created",
            "customer.subscription.created"} <= done

    # The customer, in a browser of their own, opens the URL the merchant sent.
    customer_browser = app.test_client()
    login_path = _path(prefilled)
    login_page = _soup(customer_browser.get(login_path))
    assert login_page.select_one("input[name=email]")["value"] == email
    asked = customer_browser.post(urlsplit(prefilled).path, data={"email": email})
    assert asked.status_code == 303
    drain_outbox()
    message = smtp_server.messages[-1]
    assert message["To"] == email
    assert "Acme Cloud" in message["Subject"]
    text = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    code = re.search(r"^\s*(\d{6})\s*$", text.get_payload(decode=True).decode(),
                     re.MULTILINE).group(1)
    entered = customer_browser.post(_path(asked.headers["Location"]), data={"code": code})
    assert entered.status_code == 303
    overview = customer_browser.get("/p/")
    assert overview.status_code == 200
    home = _soup(overview)

    # ...and sees the new branding and the configured portal.
    assert home.title.text.endswith("– Acme Cloud")
    assert home.select_one(".site-header .brand").text.strip() == "Acme Cloud"
    assert home.select_one(".site-header .brand img")["src"].startswith("/branding/icon")
    style = home.select_one("head style").text
    assert "--brand:#aa3300" in style and "--font:" in style
    assert "Acme Cloud: manage your team's billing" in home.text
    footer_links = {a["href"] for a in home.select(".site-footer a")}
    assert {"https://acme.example/terms", "https://acme.example/privacy"} <= footer_links
    # Their plan, in the merchant's words: the product's description and its unit label.
    plans = _soup(customer_browser.get("/p/subscriptions"))
    assert "3 seats" in plans.text
    link = next(a["href"] for a in plans.select("main a[href^='/p/subscriptions/sub_']"))
    plan = _soup(customer_browser.get(link)).select_one("main").text
    assert "Team plan" in plan and "($15.00 per seat)" in plan
    assert "Everything a team of five needs." in plan
    # The icon the merchant uploaded is what the header shows, re-encoded and square.
    icon = customer_browser.get(home.select_one(".site-header .brand img")["src"])
    assert icon.status_code == 200
    assert Image.open(io.BytesIO(icon.data)).size == (256, 256)
