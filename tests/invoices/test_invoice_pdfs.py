"""Invoice and receipt PDFs: branded, readable back as text, in any currency and any name."""

from __future__ import annotations

import io
import time
from datetime import timedelta

import pytest
from pypdf import PdfReader

from portal.invoices import pdf
from portal.invoices.models import Invoice


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def download(client_request, endpoint, invoice, expected_status=200):
    return client_request.get_response(endpoint, invoice_id=invoice.id,
                                       _expected_status=expected_status)


@pytest.fixture
def acme_invoice(signed_in_customer, make_invoice, session, branding, now):
    invoice = make_invoice(signed_in_customer, amount=2900, created=now - timedelta(days=2),
                           description="Pro plan")
    invoice.number = "ACME-0007"
    session.commit()
    return invoice


def test_the_invoice_pdf_downloads_with_its_number_as_the_file_name(client_request,
                                                                    acme_invoice):
    response = download(client_request, "invoices.invoice_pdf", acme_invoice)
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == "attachment; filename=ACME-0007.pdf"
    assert response.data.startswith(b"%PDF-")
    assert len(response.data) < 60_000  # fonts are embedded as subsets


def test_the_invoice_pdf_carries_branding_number_dates_customer_lines_and_totals(
        client_request, acme_invoice, now):
    text = pdf_text(download(client_request, "invoices.invoice_pdf", acme_invoice).data)
    for expected in ("Acme Cloud", "500 Market Street", "support@acme.example", "Invoice",
                     "ACME-0007", "Bill to", "Jenny Rosen", "jenny.rosen@example.com",
                     "Pro plan", "$29.00", "Subtotal", "Total", "Amount remaining",
                     "$29.00 due", "Status", "Open"):
        assert expected in text, expected
    issued = now - timedelta(days=2)
    assert f"{issued:%b} {issued.day}, {issued.year}" in text


def test_the_invoice_pdf_draws_the_merchants_brand_colour(acme_invoice, branding, now):
    reader = PdfReader(io.BytesIO(pdf.invoice_pdf(acme_invoice, branding, now=now)))
    drawing = reader.pages[0].get_contents().get_data()
    # #3b2fc9 as fill colour operands: the bar at the top and the table heading row
    assert drawing.count(b"0.2314 0.1843 0.7882 rg") >= 2
    assert pdf.brand_rgb("#3b2fc9") == (59, 47, 201)


@pytest.mark.parametrize("value, expected", [
    ("#fff", (255, 255, 255)), ("#0B6E4F", (11, 110, 79)), ("red", pdf.DEFAULT_BRAND),
    ("", pdf.DEFAULT_BRAND), (None, pdf.DEFAULT_BRAND), ("#12345", pdf.DEFAULT_BRAND),
])
def test_only_hex_brand_colours_are_used(value, expected):
    assert pdf.brand_rgb(value) == expected


@pytest.mark.parametrize("currency, amount, shown", [
    ("eur", 123456, "€1,234.56"), ("jpy", 120000, "¥120,000"), ("usd", 5, "$0.05"),
])
def test_every_currency_sign_and_a_name_beyond_latin_1_print(
        client_request, signed_in_customer, make_invoice, session, branding, currency, amount,
        shown):
    signed_in_customer.name = "Zoë Łukasiewicz"
    session.commit()
    invoice = make_invoice(signed_in_customer, currency=currency, amount=amount,
                           description="Ünïcödé plan — Ωμέγα tier")
    branding.business_name = "Łódź Cloud Sp. z o.o."
    session.commit()
    text = pdf_text(download(client_request, "invoices.invoice_pdf", invoice).data)
    for expected in ("Zoë Łukasiewicz", shown, "Łódź Cloud", "Ωμέγα"):
        assert expected in text, (expected, text)


def test_characters_no_font_has_print_as_question_marks_with_a_warning_not_a_crash(
        client_request, signed_in_customer, make_invoice, session, branding, caplog):
    # Hangul is in neither DejaVu Sans nor the Japanese font.
    signed_in_customer.name = "김민준 (Minjun Kim)"
    session.commit()
    invoice = make_invoice(signed_in_customer)
    with caplog.at_level("WARNING", logger="portal.invoices.pdf"):
        text = pdf_text(download(client_request, "invoices.invoice_pdf", invoice).data)
    assert "??? (Minjun Kim)" in text
    assert "'김' (U+AE40)" in caplog.text


def test_the_bill_to_comes_from_the_invoice_snapshot_and_falls_back_to_the_customer(
        client_request, signed_in_customer, make_invoice, session, branding):
    signed_in_customer.name = "Jenny Rosen-Smith"  # renamed after the invoice was finalized
    signed_in_customer.address_line1 = "27 Fredrick Ave"
    signed_in_customer.address_city, signed_in_customer.address_state = "Brothers", "OR"
    signed_in_customer.address_postal_code, signed_in_customer.address_country = "97712", "US"
    session.commit()
    invoice = make_invoice(signed_in_customer)
    invoice.customer_snapshot = {"name": "Jenny Rosen", "email": "jenny.rosen@example.com"}
    session.commit()
    text = pdf_text(download(client_request, "invoices.invoice_pdf", invoice).data)
    assert "Jenny Rosen\n" in text and "Rosen-Smith" not in text
    # No address in the snapshot: the customer's own is printed.
    for expected in ("27 Fredrick Ave", "Brothers, OR 97712", "United States"):
        assert expected in text


def test_tax_ids_and_discounts_are_printed(client_request, signed_in_customer, make_invoice,
                                           session, branding):
    invoice = make_invoice(signed_in_customer, currency="eur", amount=10000, discount=1000,
                           tax=2070)
    invoice.customer_snapshot = dict(invoice.customer_snapshot,
                                     tax_ids=[{"type": "eu_vat", "value": "PT123456789"}])
    session.commit()
    text = pdf_text(download(client_request, "invoices.invoice_pdf", invoice).data)
    for expected in ("EU VAT PT123456789", "Discount", "−€10.00", "Tax", "€20.70", "€110.70"):
        assert expected in text, expected


def test_a_void_invoice_pdf_is_marked_void_and_owes_nothing(
        client_request, signed_in_customer, make_invoice, session, branding, now):
    invoice = make_invoice(signed_in_customer, status="void", voided_at=now)
    text = pdf_text(download(client_request, "invoices.invoice_pdf", invoice).data)
    assert "VOID — this invoice was voided on" in text and "Nothing is owed." in text
    assert "Status Void" in text.replace(":", "")
    assert "Amount remaining" not in text


def test_a_past_due_invoice_pdf_says_so(client_request, signed_in_customer, make_invoice,
                                        branding, now):
    invoice = make_invoice(signed_in_customer, created=now - timedelta(days=30),
                           due_date=now - timedelta(days=3))
    text = pdf_text(download(client_request, "invoices.invoice_pdf", invoice).data)
    assert "Past due — $29.00 was due" in text


def test_a_draft_invoice_pdf_is_marked_draft_and_not_a_request_for_payment(
        signed_in_customer, make_invoice, branding, now):
    # Drafts never reach customers (their URLs answer 404); the merchant side may print them.
    invoice = make_invoice(signed_in_customer, status="draft")
    text = pdf_text(pdf.invoice_pdf(invoice, branding, now=now))
    assert "Draft invoice" in text and "Not yet numbered" in text
    assert "This is not a request for payment." in text


def test_a_long_invoice_flows_onto_more_pages_with_page_numbers(
        signed_in_customer, make_invoice, session, branding, now):
    from portal.invoices.models import InvoiceLine

    invoice = make_invoice(signed_in_customer)
    for i in range(60):
        invoice.lines.append(InvoiceLine(position=i + 1, description=f"Usage line {i + 1}",
                                         quantity=1, unit_amount=100, amount=100))
    session.commit()
    reader = PdfReader(io.BytesIO(pdf.invoice_pdf(invoice, branding, now=now)))
    assert len(reader.pages) >= 2
    assert "Page 2 of" in reader.pages[1].extract_text()
    assert "Usage line 60" in pdf_text(pdf.invoice_pdf(invoice, branding, now=now))


def test_the_receipt_of_a_paid_invoice_has_amount_date_card_and_receipt_number(
        client_request, session, acme_invoice, make_payment_method, add_payment, now):
    method = make_payment_method(acme_invoice.customer)
    invoice = session.get(Invoice, acme_invoice.id)
    invoice.status, invoice.amount_paid, invoice.paid_at = "paid", 2900, now
    session.commit()
    add_payment(invoice, method)
    response = download(client_request, "invoices.receipt_pdf", invoice)
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=ACME-0007-receipt.pdf")
    text = pdf_text(response.data)
    for expected in ("Acme Cloud", "Receipt", "ACME-0007-R", "ACME-0007", "Visa ending in 4242",
                     "$29.00 paid on", f"{now:%b} {now.day}, {now.year}", "Amount paid",
                     "support@acme.example"):
        assert expected in text, expected


@pytest.mark.parametrize("status", ["open", "void", "uncollectible"])
def test_only_a_paid_invoice_has_a_receipt(client_request, signed_in_customer, make_invoice,
                                           status):
    invoice = make_invoice(signed_in_customer, status=status)
    download(client_request, "invoices.receipt_pdf", invoice, expected_status=404)


def test_the_pdf_file_name_never_carries_unsafe_characters(client_request, acme_invoice,
                                                           session):
    acme_invoice.number = 'AC"ME/../7'
    session.commit()
    response = download(client_request, "invoices.invoice_pdf", acme_invoice)
    assert response.headers["Content-Disposition"] == "attachment; filename=AC-ME-..-7.pdf"


@pytest.mark.parametrize("colour, white_text", [
    ("#3b2fc9", True), ("#1f4fd1", True), ("#000", True), ("#ffdd00", False), ("#9ad", False),
])
def test_text_on_a_pale_brand_colour_turns_dark_to_stay_readable(branding, colour, white_text):
    branding.brand_color = colour
    document = pdf._Document(branding, pdf.Formatting(), "Test")
    assert (document.on_brand == (255, 255, 255)) is white_text
    assert document.brand_text == (document.brand if white_text else pdf.TEXT)


# ---- asked for again: 304 while the document says the same thing ------------------------------

def test_an_unchanged_invoice_pdf_asked_for_again_is_not_sent_again(client, acme_invoice):
    url = f"/p/invoices/{acme_invoice.id}/invoice.pdf"
    first = client.get(url)
    etag = first.headers["ETag"]
    assert etag.startswith('W/"')
    time.sleep(1.1)  # a new creation date inside the PDF: still the same document
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.get_data() == b""
    assert again.headers["Cache-Control"] == "no-store, private"  # customer data, as before


def test_an_invoice_pdf_that_changed_is_sent_again_with_a_new_etag(client, acme_invoice, session,
                                                                   now):
    url = f"/p/invoices/{acme_invoice.id}/invoice.pdf"
    etag = client.get(url).headers["ETag"]
    invoice = session.get(Invoice, acme_invoice.id)
    invoice.status, invoice.amount_paid, invoice.paid_at = "paid", 2900, now
    session.commit()
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 200
    assert again.headers["ETag"] != etag
    assert "Paid $29.00" in pdf_text(again.data)


def test_a_receipt_asked_for_again_is_not_sent_again(client, session, acme_invoice,
                                                     make_payment_method, add_payment, now):
    method = make_payment_method(acme_invoice.customer)
    invoice = session.get(Invoice, acme_invoice.id)
    invoice.status, invoice.amount_paid, invoice.paid_at = "paid", 2900, now
    session.commit()
    add_payment(invoice, method)
    url = f"/p/invoices/{invoice.id}/receipt.pdf"
    etag = client.get(url).headers["ETag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
