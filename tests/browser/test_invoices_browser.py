"""Paying an invoice in a real Chromium: a double click charges once. (Paying and downloading
both PDFs, with JavaScript and without, on a phone and a desktop, is a journey in
test_journeys_browser.py.)"""

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
