"""Invoice and receipt PDFs in each of the portal's languages: texts through Flask-Babel,
amounts and dates through Babel for the locale handed to the builder, Japanese and Arabic
printed in fonts that have them, and Arabic laid out right to left."""

from __future__ import annotations

import io
import logging
import os
import unicodedata
from decimal import Decimal

import pytest
from babel import Locale
from babel.dates import format_date
from babel.numbers import format_currency
from flask_babel import force_locale, gettext
from fontTools.ttLib import TTFont
from fpdf.bidi import BidiParagraph
from pypdf import PdfReader

from portal.invoices import pdf
from portal.invoices.models import InvoiceLine

LOCALES = ["en", "de", "fr", "es", "it", "nl", "pt_BR", "pl", "ja", "ar"]
BIDI_MARKS = dict.fromkeys(map(ord, "\u200e\u200f\u061c"))


def flat(text: str) -> str:
    """Text as compared: every kind of space a plain one, invisible direction marks gone
    (neither survives text extraction the same way in every viewer)."""
    text = text.translate(BIDI_MARKS)
    return "".join(" " if unicodedata.category(ch) == "Zs" else ch for ch in text)


def as_drawn(text: str) -> str:
    """``text`` in the order it is drawn, left to right, which is the order pypdf reads it
    back in: the same for left-to-right text; an Arabic amount ("\u200f1,344.56\xa0€")
    comes out "€ 1,344.56". (Runs of Arabic letters pypdf turns back into reading order.)"""
    return BidiParagraph(text=text).get_reordered_string()


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def text_positions(data: bytes) -> list[tuple[str, float]]:
    """(text, x in points) of each piece of text drawn on the first page."""
    found: list[tuple[str, float]] = []

    def visit(text, cm, tm, font, size):
        if text.strip():
            found.append((text, tm[4] * cm[0] + cm[4]))

    PdfReader(io.BytesIO(data)).pages[0].extract_text(visitor_text=visit)
    return found


def need_japanese_font() -> None:
    """The Japanese font is a system package (README "PDF fonts and languages")."""
    if pdf.cjk_font_path() is not None:
        return
    reason = (f"no Japanese font: apt-get install {pdf.CJK_PACKAGE} "
              f"(looked for {', '.join(map(str, pdf.CJK_FONTS))})")
    if os.environ.get("PORTAL_REQUIRE_PDF_FONTS") == "1":
        pytest.fail(f"PORTAL_REQUIRE_PDF_FONTS=1 but {reason}")
    print(f"\nSKIPPED: {reason}")
    pytest.skip(reason)


@pytest.fixture
def font_warnings(caplog):
    """Warnings about characters no font could draw, from fpdf2 or from the builder: a test
    using this fails on any, so a name printed as "?" or as empty boxes cannot pass."""
    caplog.set_level(logging.WARNING)

    def records():
        return [r.getMessage() for r in caplog.records
                if r.levelno >= logging.WARNING and r.name.startswith(("fpdf", pdf.__name__))]

    return records


@pytest.fixture
def paid_invoice(customer, make_invoice, make_payment_method, add_payment, session, now):
    """A paid EUR invoice of three lines, large enough for grouping separators to show."""
    invoice = make_invoice(customer, status="paid", currency="eur", amount=120000,
                           description="Pro plan")
    invoice.lines.append(InvoiceLine(position=1, description="Extra seats", quantity=3,
                                     unit_amount=1500, amount=4500))
    invoice.lines.append(InvoiceLine(position=2, description="Support", quantity=1,
                                     unit_amount=9956, amount=9956))
    total = 120000 + 4500 + 9956
    invoice.subtotal = invoice.total = invoice.amount_due = invoice.amount_paid = total
    session.commit()
    add_payment(invoice, make_payment_method(customer), amount=total)
    return invoice


def build(kind: str, invoice, branding, now, locale: str) -> bytes:
    fmt = pdf.Formatting(locale=locale)
    if kind == "invoice":
        return pdf.invoice_pdf(invoice, branding, now=now, fmt=fmt)
    return pdf.receipt_pdf(invoice, branding, fmt=fmt)


def translated(locale: str, text: str) -> str:
    with force_locale(locale):
        return gettext(text)


def embedded_glyphs(data: bytes) -> dict[str, list[str]]:
    """The glyph names of each font embedded in the PDF, by font name."""
    glyphs = {}
    for font in PdfReader(io.BytesIO(data)).pages[0]["/Resources"]["/Font"].values():
        font = font.get_object()
        descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object()
        program = TTFont(io.BytesIO(descriptor["/FontFile2"].get_data()))
        glyphs[str(font["/BaseFont"])] = program.getGlyphOrder()
    return glyphs


def name_customer(invoice, session, name: str) -> None:
    invoice.customer.name = name
    invoice.customer_snapshot = {"name": name, "email": invoice.customer.email}
    session.commit()


@pytest.mark.parametrize("kind", ["invoice", "receipt"])
@pytest.mark.parametrize("locale", LOCALES)
def test_each_language_prints_its_headings_amounts_and_dates(
        paid_invoice, branding, now, font_warnings, locale, kind):
    data = build(kind, paid_invoice, branding, now, locale)
    text = flat(pdf_text(data))

    total = format_currency(Decimal("1344.56"), "EUR", locale=locale)
    assert flat(as_drawn(total)) in text, (total, text)
    assert flat(as_drawn(format_currency(Decimal("1200"), "EUR", locale=locale))) in text
    assert flat(as_drawn(format_date(now.date(), "medium", locale=locale))) in text
    # The catalogues may not translate a text yet: then gettext gives the English, and so
    # must the PDF; once they do, the PDF must show the translation.
    title, customer_heading = (("Invoice", "Bill to") if kind == "invoice"
                               else ("Receipt", "Billed to"))
    for heading in (title, customer_heading, "Description", "Total", "Amount paid"):
        assert flat(translated(locale, heading)) in text, (locale, heading)
    assert font_warnings() == []


def test_the_pdf_declares_its_language(paid_invoice, branding, now):
    reader = PdfReader(io.BytesIO(build("invoice", paid_invoice, branding, now, "pt_BR")))
    assert reader.trailer["/Root"]["/Lang"] == "pt-BR"


@pytest.mark.parametrize("locale", ["ja", "en"])
def test_a_japanese_name_prints_in_a_japanese_font(paid_invoice, session, branding, now,
                                                  font_warnings, locale):
    need_japanese_font()
    name_customer(paid_invoice, session, "山田 太郎")
    for kind in ("invoice", "receipt"):
        data = build(kind, paid_invoice, branding, now, locale)
        assert "山田 太郎" in pdf_text(data)
        fonts = embedded_glyphs(data)
        assert any("DejaVu" not in font for font in fonts), fonts  # not tofu from DejaVu
    assert font_warnings() == []


@pytest.mark.parametrize("locale", ["ar", "en"])
def test_an_arabic_name_prints_with_its_letters_joined(paid_invoice, session, branding, now,
                                                      font_warnings, locale):
    name_customer(paid_invoice, session, "محمد عبد الله")
    data = build("invoice", paid_invoice, branding, now, locale)
    assert "محمد عبد الله" in pdf_text(data)
    # Shaped text draws the letters' joining forms (Arabic Presentation Forms-B glyphs, as
    # DejaVu names them): unshaped, each letter would stand alone.
    glyphs = [g for names in embedded_glyphs(data).values() for g in names]
    joined = [g for g in glyphs if g.startswith("uniFE") and "uniFE70" <= g <= "uniFEFC"]
    assert len(joined) >= 5, glyphs
    assert font_warnings() == []


def test_an_arabic_pdf_is_mirrored_amounts_on_the_left(paid_invoice, branding, now):
    def x_of(data, wanted):
        return next(x for text, x in text_positions(data) if wanted in flat(text))

    english = build("invoice", paid_invoice, branding, now, "en")
    arabic = build("invoice", paid_invoice, branding, now, "ar")
    amount = flat(as_drawn(format_currency(Decimal("1200"), "EUR", locale="ar")))
    assert x_of(english, "Pro plan") < x_of(english, "€1,200.00")
    assert x_of(arabic, "Pro plan") > x_of(arabic, amount)
    # The title and the merchant swap sides too, and the customer's block is on the right.
    assert x_of(english, "Acme Cloud Inc.") < x_of(english, "Invoice number")
    # (The Arabic labels are translated now, so the merchant's block is placed against the
    # customer's name, which is data and stays as typed.)
    assert x_of(english, "Bill to") < x_of(english, "Invoice number")
    assert x_of(arabic, "Acme Cloud Inc.") > x_of(arabic, amount)


def test_without_a_japanese_font_the_pdf_still_prints_and_says_what_is_missing(
        paid_invoice, session, branding, now, monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(pdf, "CJK_FONTS", (tmp_path / "no-such-font.ttf",))
    name_customer(paid_invoice, session, "山田 太郎 (Taro Yamada)")
    with caplog.at_level(logging.WARNING, logger=pdf.__name__):
        text = pdf_text(build("receipt", paid_invoice, branding, now, "ja"))
    assert "?? ?? (Taro Yamada)" in text
    assert "'山' (U+5C71)" in caplog.text and pdf.CJK_PACKAGE in caplog.text


def test_the_download_is_in_the_pages_language(client_request, paid_invoice, sign_in,
                                               monkeypatch):
    from portal.invoices import views

    sign_in(paid_invoice.customer)
    monkeypatch.setattr(views, "get_locale", lambda: Locale.parse("de"))
    for endpoint in ("invoices.invoice_pdf", "invoices.receipt_pdf"):
        response = client_request.get_response(endpoint, invoice_id=paid_invoice.id)
        assert "1.344,56 €" in flat(pdf_text(response.data)), endpoint


def test_the_pdf_prints_the_translation_of_the_locale_it_is_given(paid_invoice, branding,
                                                                   now, monkeypatch):
    # A German catalogue made here: the real ones are not there yet.
    import flask_babel
    from babel.messages.catalog import Catalog
    from babel.messages.mofile import write_mo
    from babel.support import Translations

    catalog = Catalog(locale="de")
    for english, german in (("Invoice", "Rechnung"), ("Total", "Gesamtbetrag"),
                            ("Paid", "Bezahlt"), ("Page %(page_no)s of %(nb)s",
                                                  "Seite %(page_no)s von %(nb)s")):
        catalog.add(english, german)
    mo = io.BytesIO()
    write_mo(mo, catalog)
    mo.seek(0)
    german = Translations(mo, domain="messages")
    english = flask_babel.Domain.get_translations

    def get_translations(domain):
        return german if str(flask_babel.get_locale()) == "de" else english(domain)

    monkeypatch.setattr(flask_babel.Domain, "get_translations", get_translations)
    text = pdf_text(build("invoice", paid_invoice, branding, now, "de"))
    for expected in ("Rechnung", "Gesamtbetrag", "Status Bezahlt", "Seite 1 von 1"):
        assert expected in text, (expected, text)
    assert "Rechnung" not in pdf_text(build("invoice", paid_invoice, branding, now, "fr"))
