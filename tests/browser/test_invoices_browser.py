"""Jenny pays the demo's open invoice and downloads both PDFs in a real Chromium, with
JavaScript (the payment section is swapped in place) and without (plain post, redirect, get)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.customers.models import Customer
from portal.dbtypes import utcnow
from portal.demo import JENNY, seed_demo
from portal.invoices.models import Invoice
from portal.payments.models import Payment


@pytest.fixture
def jenny(session):
    seed_demo(session, now=utcnow())
    session.commit()
    return session.scalars(select(Customer).where(Customer.email == JENNY)).first()


def open_invoice(session, customer) -> Invoice:
    return session.scalars(select(Invoice).where(Invoice.customer_id == customer.id,
                                                 Invoice.status == "open")).one()


def charges(session, invoice) -> int:
    """Succeeded payments of the invoice (the demo's failed automatic attempt is not one)."""
    session.expire_all()
    return len(session.scalars(select(Payment).where(Payment.invoice_id == invoice.id,
                                                     Payment.status == "succeeded")).all())


def download_both_pdfs(page, invoice):
    with page.expect_download() as pdf:
        page.get_by_role("link", name=f"Download invoice {invoice.number} (PDF)").click()
    assert pdf.value.suggested_filename == f"{invoice.number}.pdf"
    with page.expect_download() as receipt:
        page.get_by_role("link", name="Download receipt (PDF)").click()
    assert receipt.value.suggested_filename == f"{invoice.number}-receipt.pdf"
    with open(receipt.value.path(), "rb") as fh:
        assert fh.read(5) == b"%PDF-"


def test_with_javascript_jenny_pays_the_open_invoice_in_place_and_downloads_both_pdfs(
        sign_in_browser, app, session, page, live_server, jenny):
    invoice = open_invoice(session, jenny)
    sign_in_browser(page, jenny)
    page.goto("/p/invoices")
    page.get_by_role("link", name=invoice.number).click()
    page.wait_for_function("() => window.htmx !== undefined")
    page.evaluate("window.__noFullNavigation = 'still here'")
    assert page.get_by_label("Visa ending in 4242").is_checked()

    page.get_by_role("button", name="Pay $29.00").click()
    page.get_by_text("Payment of $29.00 received. Thank you.").first.wait_for()  # and #announcements
    assert page.evaluate("window.__noFullNavigation") == "still here"
    assert page.locator("#invoice-payment .badge").first.inner_text() == "Paid"
    assert charges(session, invoice) == 1
    download_both_pdfs(page, invoice)


def test_without_javascript_jenny_pays_with_a_plain_form_and_downloads_both_pdfs(
        sign_in_browser, app, session, page_without_js, live_server, jenny):
    page = page_without_js
    invoice = open_invoice(session, jenny)
    sign_in_browser(page, jenny)
    page.goto(f"/p/invoices/{invoice.id}")
    page.get_by_role("button", name="Pay $29.00").click()
    page.get_by_text("Payment of $29.00 received. Thank you.").wait_for()
    assert page.url.endswith(f"/p/invoices/{invoice.id}")  # post, redirect, get
    assert charges(session, invoice) == 1
    download_both_pdfs(page, invoice)


def test_with_javascript_a_double_click_on_pay_charges_once(sign_in_browser, app, session, page, live_server,
                                                            jenny):
    invoice = open_invoice(session, jenny)
    sign_in_browser(page, jenny)
    page.goto(f"/p/invoices/{invoice.id}")
    page.wait_for_function("() => window.htmx !== undefined")
    page.get_by_role("button", name="Pay $29.00").dblclick()
    page.locator("#invoice-payment .notice").first.wait_for()
    page.wait_for_timeout(300)  # let a second request, if one was sent, finish
    assert charges(session, invoice) == 1
    assert page.locator("#invoice-payment .badge").first.inner_text() == "Paid"
