"""Once staff save the branding, every customer page, email and PDF wears it, through the one
shared layout of each (layout.html, emails/layout.html, the PDF letterhead)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from pypdf import PdfReader

from portal.outbox.operations import enqueue_email
from portal.portal_settings.operations import get_branding
from tests.admin.branding_helpers import form, upload
from tests.image_files import image_bytes


@pytest.fixture
def app_config(smtp_config):
    return smtp_config


@pytest.fixture
def saved(client_request, signed_in_staff, client):
    """The dashboard's Branding page saved with Globex's name, colours, contacts and font."""
    client_request.post("admin_branding.update_branding", _data=form())
    upload(client, "icon", image_bytes(size=(128, 128)))


CUSTOMER_PAGES = [
    ("customers.overview", {}), ("customers.billing_information", {}),
    ("payments.payment_methods", {}), ("payments.add_payment_method", {}),
    ("invoices.invoice_history", {}), ("subscriptions.subscription_list", {}),
]


def test_every_customer_pages_style_carries_the_new_branding(
        saved, client_request, signed_in_customer, make_invoice, session):
    invoice = make_invoice(signed_in_customer)
    pages = [*CUSTOMER_PAGES, ("invoices.invoice_detail", {"invoice_id": invoice.id})]
    icon = get_branding(session).icon
    for endpoint, values in pages:
        page = client_request.get(endpoint, **values)
        [style] = page.select("head style")
        css = style.text
        for expected in ("--brand:#aa3300;", "--on-brand:#ffffff;", "--link:#aa3300;",
                         "--accent:#0b6e4f;", "--font:Charter,"):
            assert expected in css, (endpoint, expected)
        assert style["nonce"]
        assert page.title.text.endswith(" – Globex"), endpoint
        brand = page.select_one(".site-header .brand")
        assert brand.text.strip() == "Globex"
        assert brand.img["src"] == f"/branding/icon?v={icon}"


def test_the_signed_out_pages_carry_it_too(saved, client_request):
    page = client_request.get("login.signed_out")
    assert "--brand:#aa3300;" in page.style.text
    assert "Globex" in page.text


def test_an_email_sent_after_saving_shows_the_business_name_colour_logo_and_contacts(
        saved, client, session, now, drain_outbox, smtp_server, app):
    upload(client, "logo", image_bytes(size=(400, 100)))
    session.expire_all()
    logo = get_branding(session).logo
    enqueue_email(session, to="jenny.rosen@example.com", subject="Your Globex invoice",
                  template="billing_invoice", now=now,
                  context={"customer_name": "Jenny", "invoice_number": "GLO-1",
                           "amount_text": "$29.00", "pay_url": "https://billing.example/p/x"})
    session.commit()
    drain_outbox()
    [message] = smtp_server.messages
    parts = {part.get_content_type(): part.get_payload(decode=True).decode()
             for part in message.walk() if part.get_content_maintype() == "text"}
    html = BeautifulSoup(parts["text/html"], "html.parser")
    assert html.title.text == "Your Globex invoice GLO-1"
    # The logo by an absolute URL from PUBLIC_URL (no request when an email is rendered).
    img = html.select_one("img")
    assert img["src"] == f"http://127.0.0.1:5000/branding/logo?v={logo}"
    assert img["alt"] == "Globex"
    button = html.select_one('a[href="https://billing.example/p/x"]')
    assert "background:#aa3300" in button["style"] and "color:#ffffff" in button["style"]
    assert "border-bottom:4px solid #aa3300" in parts["text/html"]
    assert "Charter" in html.body["style"]
    assert "help@globex.example" in html.text and "+44 20 7946 0000" in html.text
    text = parts["text/plain"]
    assert text.startswith("Globex")
    assert "Questions? Email help@globex.example or call +44 20 7946 0000." in text


def test_an_email_without_a_logo_shows_the_icon_and_the_name(saved, session, now,
                                                            drain_outbox, smtp_server):
    enqueue_email(session, to="jenny.rosen@example.com", subject="Hello", now=now,
                  template="subscription_renewed",
                  context={"customer_name": "Jenny", "product": "Pro",
                           "renews_on": "March 1, 2027"})
    session.commit()
    drain_outbox()
    [message] = smtp_server.messages
    html = next(part.get_payload(decode=True).decode() for part in message.walk()
                if part.get_content_type() == "text/html")
    page = BeautifulSoup(html, "html.parser")
    header = page.select_one("p")
    assert header.img["src"].startswith("http://127.0.0.1:5000/branding/icon?v=icon-")
    assert header.text.strip() == "Globex"
    assert "Hello Jenny," in page.text


def test_a_pale_brand_colour_gets_dark_button_text_in_emails(client_request, signed_in_staff,
                                                              session, now, drain_outbox,
                                                              smtp_server):
    client_request.post("admin_branding.update_branding", _data=form(brand_color="#ffdd00"))
    enqueue_email(session, to="jenny.rosen@example.com", subject="Invoice", now=now,
                  template="billing_invoice",
                  context={"invoice_number": "GLO-2", "amount_text": "$1.00",
                           "pay_url": "https://billing.example/p/y"})
    session.commit()
    drain_outbox()
    html = next(part.get_payload(decode=True).decode()
                for part in smtp_server.messages[0].walk()
                if part.get_content_type() == "text/html")
    button = BeautifulSoup(html, "html.parser").select_one('a[href="https://billing.example/p/y"]')
    assert "background:#ffdd00" in button["style"] and "color:#111111" in button["style"]
    assert 'style="color:#877500"' in html  # the support link, darkened to read on white


def _pdf(client_request, endpoint, invoice):
    response = client_request.get_response(endpoint, invoice_id=invoice.id)
    return PdfReader(io.BytesIO(response.data))


def test_a_pdf_made_after_saving_shows_the_business_name_colour_and_contacts(
        saved, client_request, signed_in_customer, make_invoice, now):
    invoice = make_invoice(signed_in_customer, created=now - timedelta(days=1))
    reader = _pdf(client_request, "invoices.invoice_pdf", invoice)
    text = "\n".join(page.extract_text() for page in reader.pages)
    for expected in ("Globex", "help@globex.example", "+44 20 7946 0000"):
        assert expected in text, expected
    drawing = reader.pages[0].get_contents().get_data()
    # #aa3300 as the fill colour of the bar at the top and the table's heading row.
    assert drawing.count(b"0.6667 0.2 0 rg") >= 2
    assert reader.metadata.author == "Globex"


def test_the_pdf_draws_the_logo_when_there_is_one(saved, client, client_request,
                                                  signed_in_customer, make_invoice):
    invoice = make_invoice(signed_in_customer)
    without = _pdf(client_request, "invoices.invoice_pdf", invoice)
    assert not list(without.pages[0].images)
    upload(client, "logo", image_bytes(size=(400, 100), fmt="JPEG"))
    with_logo = _pdf(client_request, "invoices.invoice_pdf", invoice)
    [image] = with_logo.pages[0].images
    assert image.image.size == (400, 100)
