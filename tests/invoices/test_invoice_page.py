"""One invoice's page: lines, discounts, tax, totals, payments and the PDF links."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from portal.catalog.models import TaxRate
from portal.invoices.models import InvoiceLine


def cells(row):
    return [cell.get_text(" ", strip=True) for cell in row.find_all(["th", "td"])]


def day(value) -> str:
    """A date as the page prints it in English: Nov 27, 2026."""
    return f"{value:%b} {value.day}, {value.year}"


def summary(page, scope="main"):
    return {div.dt.text: div.dd.get_text(" ", strip=True)
            for div in page.select(f"{scope} dl.summary-list > div")}


@pytest.fixture
def detailed_invoice(signed_in_customer, make_invoice, session, now):
    """Two lines, a discount and VAT: 2 × €12.50 + €10.00 − €5.00, then 23% VAT on €30.00."""
    rate = TaxRate(display_name="VAT", percentage=Decimal("23.0000"), inclusive=False,
                   active=True, created=now, metadata_={})
    session.add(rate)
    invoice = make_invoice(signed_in_customer, currency="eur", amount=3500, discount=500,
                           tax=690, description="Pro plan", created=now - timedelta(days=3),
                           due_date=now + timedelta(days=4))
    first = invoice.lines[0]
    first.description, first.quantity, first.unit_amount, first.amount = "Seats", 2, 1250, 2500
    first.discount_amount, first.tax_amount, first.tax_rate = 500, 460, rate
    invoice.lines.append(InvoiceLine(position=1, description="Support add-on", quantity=1,
                                     unit_amount=1000, amount=1000, tax_amount=230,
                                     tax_rate=rate))
    session.commit()
    return invoice


def test_the_invoice_page_shows_lines_discount_tax_and_totals(client_request, detailed_invoice,
                                                              now):
    page = client_request.get("invoices.invoice_detail", invoice_id=detailed_invoice.id)
    assert page.h1.text == f"Invoice {detailed_invoice.number}"
    table = page.select_one("table.invoice-lines")
    body = [cells(tr) for tr in table.select("tbody tr")]
    assert body == [["Seats Discount −€5.00", "2", "€12.50", "€25.00"],
                    ["Support add-on", "1", "€10.00", "€10.00"]]
    foot = [cells(tr) for tr in table.select("tfoot tr")]
    assert foot == [["Subtotal", "€35.00"], ["Discount", "−€5.00"], ["VAT (23%)", "€6.90"],
                    ["Total", "€36.90"]]
    details = summary(page)
    start = detailed_invoice.period_start
    assert details["Period"] == f"{day(start)} to {day(detailed_invoice.period_end)}"
    payment = summary(page, "#invoice-payment")
    assert payment["Status"] == "Open"
    assert payment["Due date"] == day(now + timedelta(days=4))
    assert (payment["Total"], payment["Amount paid"], payment["Amount remaining"]) == (
        "€36.90", "€0.00", "€36.90")


def test_yen_amounts_have_no_decimals(client_request, signed_in_customer, make_invoice):
    invoice = make_invoice(signed_in_customer, currency="jpy", amount=3000)
    page = client_request.get("invoices.invoice_detail", invoice_id=invoice.id)
    assert summary(page, "#invoice-payment")["Amount remaining"] == "¥3,000"


def test_payments_made_show_date_card_amount_and_why_a_failed_one_failed(
        client_request, signed_in_customer, make_invoice, make_payment_method, add_payment, now):
    visa = make_payment_method(signed_in_customer)
    invoice = make_invoice(signed_in_customer, amount=2900, status="paid")
    add_payment(invoice, visa, status="failed", failure_code="insufficient_funds",
                failure_message="Your card has insufficient funds. Try another card.",
                created=now - timedelta(hours=2))
    add_payment(invoice, visa, status="succeeded", created=now - timedelta(hours=1))
    page = client_request.get("invoices.invoice_detail", invoice_id=invoice.id)
    rows = [cells(tr) for tr in page.select("table.invoice-payments tbody tr")]
    assert [row[1:] for row in rows] == [
        ["Visa ending in 4242", "$29.00", "Failed Your card has insufficient funds. Try another card."],
        ["Visa ending in 4242", "$29.00", "Succeeded"],
    ]
    assert rows[0][0] != rows[1][0]  # each with its own date and time


def test_a_paid_invoice_links_its_pdf_and_its_receipt(client_request, signed_in_customer,
                                                      make_invoice):
    invoice = make_invoice(signed_in_customer, status="paid")
    page = client_request.get("invoices.invoice_detail", invoice_id=invoice.id)
    links = {a.text: a["href"] for a in page.select(".downloads a")}
    assert links == {
        f"Download invoice {invoice.number} (PDF)": f"/p/invoices/{invoice.id}/invoice.pdf",
        "Download receipt (PDF)": f"/p/invoices/{invoice.id}/receipt.pdf",
    }
    assert summary(page, "#invoice-payment")["Paid on"]


@pytest.mark.parametrize("status", ["open", "void", "uncollectible"])
def test_an_unpaid_invoice_links_only_its_pdf(client_request, signed_in_customer, make_invoice,
                                              status):
    invoice = make_invoice(signed_in_customer, status=status)
    page = client_request.get("invoices.invoice_detail", invoice_id=invoice.id)
    assert [a.text for a in page.select(".downloads a")] == [
        f"Download invoice {invoice.number} (PDF)"]


def test_a_void_invoice_says_nothing_is_owed(client_request, signed_in_customer, make_invoice,
                                             now):
    invoice = make_invoice(signed_in_customer, status="void", voided_at=now)
    page = client_request.get("invoices.invoice_detail", invoice_id=invoice.id)
    section = page.select_one("#invoice-payment")
    assert section.select_one(".badge").text == "Void"
    assert "This invoice was voided on" in section.text and "Nothing is owed." in section.text
    assert "Amount remaining" not in section.text


def test_the_back_link_returns_to_the_history(client_request, signed_in_customer, make_invoice):
    invoice = make_invoice(signed_in_customer)
    page = client_request.get("invoices.invoice_detail", invoice_id=invoice.id)
    assert page.find("a", string="Back to invoices")["href"] == "/p/invoices"
    assert page.select_one("nav.site-nav a[aria-current=page]").text == "Invoices"


def test_htmx_get_of_the_invoice_returns_the_payment_section_only(
        client_request, signed_in_customer, make_invoice):
    invoice = make_invoice(signed_in_customer)
    page = client_request.get("invoices.invoice_detail", invoice_id=invoice.id, _htmx=True)
    assert page.find("html") is None
    assert page.select_one("section#invoice-payment") is not None


def test_the_invoice_page_with_its_pay_form_stays_small(client_request, detailed_invoice,
                                                        make_payment_method):
    make_payment_method(detailed_invoice.customer)
    response = client_request.get_response("invoices.invoice_detail",
                                           invoice_id=detailed_invoice.id)
    assert b"<form" in response.data and len(response.data) < 8_000, len(response.data)
