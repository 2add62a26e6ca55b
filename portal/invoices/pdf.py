"""Invoice and receipt PDFs, drawn in pure Python with fpdf2 (no system package).

fpdf2's built-in fonts only know Latin-1, so "€", "Ł" or a Greek name would not print. DejaVu Sans
is bundled in fonts/ (see its README) and embedded as a subset. A character even DejaVu lacks (a
Chinese name, say) is decomposed where possible and otherwise printed as "?", never dropped
silently and never an error.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.core import UnknownLocaleError
from babel.dates import format_date
from fpdf import FPDF
from fpdf.enums import Align, TableBordersLayout, XPos, YPos
from fpdf.fonts import FontFace

from portal import branding as branding_rules
from portal.invoices.operations import (
    card_label,
    display_status,
    receipt_number,
    status_label,
    succeeded_payments,
    tax_breakdown,
)
from portal.money import format_money

FONT_DIR = Path(__file__).resolve().parent / "fonts"
FAMILY = "DejaVuSans"
DEFAULT_BRAND = branding_rules.rgb(branding_rules.DEFAULT_BRAND)
TEXT = (27, 31, 36)
MUTED = (77, 85, 96)
ALERT = (176, 0, 32)
LOGO_HEIGHT = 12  # mm


@dataclass(frozen=True)
class Formatting:
    """How the customer reads amounts and dates: the page's locale and timezone."""

    locale: str = "en"
    timezone: str = "UTC"

    def money(self, amount: int, currency: str) -> str:
        return format_money(int(amount or 0), currency, self.locale)

    def date(self, value: datetime | None) -> str:
        if value is None:
            return ""
        try:
            zone = ZoneInfo(self.timezone)
        except (KeyError, ValueError):
            zone = ZoneInfo("UTC")
        try:
            return format_date(value.astimezone(zone).date(), "medium", locale=self.locale)
        except (UnknownLocaleError, ValueError):
            return format_date(value.astimezone(zone).date(), "medium", locale="en")

    def country(self, code: str | None) -> str:
        if not code:
            return ""
        try:
            return Locale.parse(self.locale).territories.get(code.upper(), code.upper())
        except (UnknownLocaleError, ValueError):
            return code.upper()


def brand_rgb(value: str | None) -> tuple[int, int, int]:
    """The merchant's brand colour as RGB; anything but #rgb or #rrggbb gets the default."""
    return branding_rules.rgb(branding_rules.safe_hex(value, branding_rules.DEFAULT_BRAND))


def _logo_path(branding) -> Path | None:
    """The stored logo file, when there is one and the app (its instance folder) is at hand."""
    from flask import current_app, has_app_context

    from portal.images import is_stored_name

    if not has_app_context() or not is_stored_name(getattr(branding, "logo", None)):
        return None
    path = Path(current_app.instance_path) / "uploads" / branding.logo
    return path if path.is_file() else None


def _printable(ch: str, cmap: dict) -> str:
    if ch in "\n\r\t" or ord(ch) in cmap:
        return ch
    kept = "".join(c for c in unicodedata.normalize("NFKD", ch)
                   if ord(c) in cmap and not unicodedata.combining(c))
    return kept or "?"


class _Document(FPDF):
    def __init__(self, branding, fmt: Formatting, title: str):
        super().__init__(format="A4", unit="mm")
        self.branding = branding
        self.fmt = fmt
        # The same choices as the pages' (portal.branding): a pale brand colour keeps its bars,
        # the table heading on it takes the text colour that reaches 4.5:1, and the title,
        # written in the brand colour on white, turns to the body text colour.
        look = branding_rules.look_of(branding)
        self.brand = branding_rules.rgb(look.brand)
        self.on_brand = branding_rules.rgb(look.on_brand.colour)
        self.brand_text = self.brand if look.brand_on_white >= branding_rules.TEXT_CONTRAST \
            else TEXT
        self.add_font(FAMILY, "", str(FONT_DIR / "DejaVuSans.ttf"))
        self.add_font(FAMILY, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
        self.set_margins(18, 18, 18)
        self.set_auto_page_break(True, margin=22)
        self.set_title(title)
        self.set_author(branding.business_name or "")
        self.set_creator("Billing portal")
        self.set_lang(fmt.locale.replace("_", "-"))
        self.add_page()

    def normalize_text(self, text: str) -> str:
        cmap = getattr(self.current_font, "cmap", None)
        if cmap:
            text = "".join(_printable(ch, cmap) for ch in text)
        return super().normalize_text(text)

    def footer(self) -> None:
        self.set_y(-14)
        self.font(8, color=MUTED)
        contact = " · ".join(filter(None, [self.branding.business_name,
                                           self.branding.support_email,
                                           self.branding.support_phone]))
        self.cell(self.epw - 30, 5, contact)
        self.cell(30, 5, f"Page {self.page_no()} of {{nb}}", align=Align.R)

    # -- drawing helpers ---------------------------------------------------------------------

    def font(self, size: float, bold: bool = False, color=TEXT) -> None:
        self.set_font(FAMILY, "B" if bold else "", size)
        self.set_text_color(*color)

    def line_of(self, text: str, size: float = 10, bold: bool = False, color=TEXT,
                height: float = 5.5, width: float = 0, align=Align.L) -> None:
        self.font(size, bold, color)
        self.multi_cell(width, height, text, align=align, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def letterhead(self, title: str) -> None:
        """Brand bar, the merchant's name, address and contact; the document's title."""
        self.set_fill_color(*self.brand)
        self.rect(0, 0, self.w, 5, style="F")
        self.set_fill_color(255, 255, 255)  # tables take the fill in force as their background
        top = 14
        self.set_xy(self.l_margin, top)
        logo = _logo_path(self.branding)
        if logo is not None:
            try:
                self.image(str(logo), x=self.l_margin, y=top, h=LOGO_HEIGHT)
                self.set_xy(self.l_margin, top + LOGO_HEIGHT + 3)
            except Exception:  # noqa: BLE001 (a logo it cannot draw must not stop the invoice)
                self.set_xy(self.l_margin, top)
        self.font(16, bold=True)
        self.multi_cell(110, 7, self.branding.business_name or "", new_x=XPos.LMARGIN,
                        new_y=YPos.NEXT)
        details = [line.strip() for line in (self.branding.address or "").splitlines()
                   if line.strip()]
        details += [value for value in (self.branding.support_email,
                                        self.branding.support_phone) if value]
        if details:
            self.font(9, color=MUTED)
            self.multi_cell(110, 4.6, "\n".join(details), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        bottom = self.get_y()
        self.set_xy(self.w - self.r_margin - 70, top)
        self.font(20, bold=True, color=self.brand_text)
        self.cell(70, 9, title, align=Align.R)
        self.set_y(max(bottom, top + 12) + 6)

    def pairs(self, x: float, y: float, width: float, rows: list[tuple[str, str]],
              label_width: float = 34) -> float:
        """Label and value rows from (x, y); returns the y below them."""
        self.set_xy(x, y)
        for label, value in rows:
            self.set_x(x)
            self.font(9, color=MUTED)
            self.cell(label_width, 5.5, label)
            self.font(9.5, bold=label in ("Status", "Amount paid"))
            self.multi_cell(width - label_width, 5.5, value, new_x=XPos.LEFT, new_y=YPos.NEXT)
        return self.get_y()

    def block(self, x: float, y: float, width: float, heading: str, lines: list[str]) -> float:
        self.set_xy(x, y)
        self.font(9, color=MUTED)
        self.cell(width, 5.5, heading, new_x=XPos.LEFT, new_y=YPos.NEXT)
        self.font(9.5)
        self.multi_cell(width, 5, "\n".join(lines) or "—", new_x=XPos.LEFT, new_y=YPos.NEXT)
        return self.get_y()

    def stamp(self, text: str, color) -> None:
        """A large, faint diagonal word across the page (VOID, DRAFT) that no one can miss."""
        with self.local_context(fill_opacity=0.18, text_color=color):
            with self.rotation(30, x=self.w / 2, y=self.h / 2):
                self.set_font(FAMILY, "B", 110)
                self.set_text_color(*color)
                self.set_xy(0, self.h / 2 - 20)
                self.cell(self.w, 40, text, align=Align.C)

    def line_items(self, invoice) -> None:
        fmt, currency = self.fmt, invoice.currency
        heading = FontFace(emphasis="BOLD", color=self.on_brand, fill_color=self.brand)
        self.font(9.5)
        with self.table(col_widths=(94, 16, 32, 32), width=self.epw,
                        text_align=(Align.L, Align.R, Align.R, Align.R),
                        borders_layout=TableBordersLayout.HORIZONTAL_LINES,
                        headings_style=heading, line_height=5.2, padding=1.6,
                        first_row_as_headings=True) as table:
            row = table.row()
            for text in ("Description", "Qty", "Unit price", "Amount"):
                row.cell(text)
            for line in invoice.lines:
                description = line.description
                product = line.price.product if line.price is not None else None
                if product is not None and product.description and not line.proration:
                    description += f"\n{product.description}"  # what the merchant says it is
                if line.discount_amount:
                    description += f"\nDiscount −{fmt.money(line.discount_amount, currency)}"
                row = table.row()
                row.cell(description)
                row.cell(str(line.quantity))
                row.cell(fmt.money(line.unit_amount, currency))
                row.cell(fmt.money(line.amount, currency))
        self.ln(3)

    def totals(self, rows: list[tuple[str, str, bool]]) -> None:
        """Right-hand column of label/amount rows; bold rows are drawn with a rule above."""
        x, width = self.w - self.r_margin - 84, 84
        for label, amount, strong in rows:
            if self.get_y() > self.h - 40:
                self.add_page()
            if strong:
                self.set_draw_color(*MUTED)
                self.line(x, self.get_y(), x + width, self.get_y())
            self.set_x(x)
            self.font(10, bold=strong)
            self.cell(50, 6.5, label)
            self.cell(34, 6.5, amount, align=Align.R, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _bill_to(invoice, fmt: Formatting) -> list[str]:
    """The customer as the invoice recorded them, falling back to their record today."""
    snapshot = invoice.customer_snapshot or {}
    customer = invoice.customer
    name = snapshot.get("name") if "name" in snapshot else customer.name
    email = snapshot.get("email") if "email" in snapshot else customer.email
    if "address" in snapshot:
        address = snapshot.get("address") or {}
    else:
        address = {"line1": customer.address_line1, "line2": customer.address_line2,
                   "city": customer.address_city, "state": customer.address_state,
                   "postal_code": customer.address_postal_code,
                   "country": customer.address_country}
    if "tax_ids" in snapshot:
        tax_ids = snapshot.get("tax_ids") or []
    else:
        tax_ids = [{"type": t.type, "value": t.value} for t in customer.tax_ids]
    lines = [name, email, address.get("line1"), address.get("line2")]
    city = " ".join(filter(None, [address.get("city") and
                                  (address["city"] + ("," if address.get("state") else "")),
                                  address.get("state"), address.get("postal_code")]))
    lines += [city, fmt.country(address.get("country"))]
    for tax_id in tax_ids:
        kind = (tax_id.get("type") or "").replace("_", " ").upper()
        lines.append(f"{kind} {tax_id.get('value')}".strip())
    return [str(line) for line in lines if line]


def _money_rows(invoice, fmt: Formatting) -> list[tuple[str, str, bool]]:
    currency = invoice.currency
    rows = [("Subtotal", fmt.money(invoice.subtotal, currency), False)]
    if invoice.total_discount:
        rows.append(("Discount", "−" + fmt.money(invoice.total_discount, currency), False))
    for label, amount in tax_breakdown(invoice):
        rows.append((label, fmt.money(amount, currency), False))
    rows.append(("Total", fmt.money(invoice.total, currency), True))
    return rows


def _status_sentence(invoice, fmt: Formatting, now: datetime) -> tuple[str, tuple]:
    money = fmt.money(invoice.amount_remaining, invoice.currency)
    status = display_status(invoice, now)
    if invoice.status == "draft":
        return "DRAFT — not yet issued. This is not a request for payment.", MUTED
    if status == "paid":
        return f"Paid {fmt.money(invoice.amount_paid, invoice.currency)} on {fmt.date(invoice.paid_at)}", TEXT
    if status == "void":
        when = f" on {fmt.date(invoice.voided_at)}" if invoice.voided_at else ""
        return f"VOID — this invoice was voided{when}. Nothing is owed.", ALERT
    if status == "uncollectible":
        return f"Uncollectible — {money} was not paid.", ALERT
    if status == "past_due":
        return f"Past due — {money} was due {fmt.date(invoice.due_date)}", ALERT
    if invoice.due_date:
        return f"{money} due {fmt.date(invoice.due_date)}", TEXT
    return f"{money} due", TEXT


def invoice_pdf(invoice, branding, *, now: datetime, fmt: Formatting | None = None) -> bytes:
    """The invoice as a PDF: branding, number, dates, bill-to, lines, totals and status."""
    fmt = fmt or Formatting()
    number = invoice.number or "Draft"
    pdf = _Document(branding, fmt, f"Invoice {number}")
    pdf.set_subject(f"Invoice {number} from {branding.business_name}")
    pdf.letterhead("Invoice" if invoice.status != "draft" else "Draft invoice")

    top = pdf.get_y()
    meta = [("Invoice number", invoice.number or "Not yet numbered"),
            ("Date of issue", fmt.date(invoice.finalized_at or invoice.created))]
    if invoice.due_date and invoice.status in ("open", "draft"):
        meta.append(("Date due", fmt.date(invoice.due_date)))
    if invoice.period_start and invoice.period_end:
        meta.append(("Period", f"{fmt.date(invoice.period_start)} – {fmt.date(invoice.period_end)}"))
    meta.append(("Status", status_label(display_status(invoice, now))))
    right = pdf.pairs(pdf.w - pdf.r_margin - 84, top, 84, meta, label_width=30)
    left = pdf.block(pdf.l_margin, top, 84, "Bill to", _bill_to(invoice, fmt))
    pdf.set_y(max(left, right) + 6)

    sentence, color = _status_sentence(invoice, fmt, now)
    pdf.line_of(sentence, size=13, bold=True, color=color, height=7)
    if invoice.description:
        pdf.line_of(invoice.description, size=9.5, color=MUTED)
    pdf.ln(3)

    pdf.line_items(invoice)
    rows = _money_rows(invoice, fmt)
    if invoice.status not in ("draft", "void"):
        rows.append(("Amount paid", fmt.money(invoice.amount_paid, invoice.currency), False))
        rows.append(("Amount remaining", fmt.money(invoice.amount_remaining, invoice.currency),
                     True))
    pdf.totals(rows)

    if invoice.status == "void":
        pdf.stamp("VOID", ALERT)
    elif invoice.status == "draft":
        pdf.stamp("DRAFT", MUTED)
    return bytes(pdf.output())


def receipt_pdf(invoice, branding, *, fmt: Formatting | None = None) -> bytes:
    """The receipt for a paid invoice: amount and date paid, the card, the receipt number."""
    fmt = fmt or Formatting()
    payments = succeeded_payments(invoice)
    pdf = _Document(branding, fmt, f"Receipt {receipt_number(invoice)}")
    pdf.set_subject(f"Receipt for invoice {invoice.number} from {branding.business_name}")
    pdf.letterhead("Receipt")

    top = pdf.get_y()
    methods = list(dict.fromkeys(card_label(p.payment_method) for p in payments))
    meta = [("Receipt number", receipt_number(invoice)),
            ("Invoice number", invoice.number or ""),
            ("Date paid", fmt.date(invoice.paid_at)),
            ("Payment method", ", ".join(methods) if methods else "No payment needed"),
            ("Amount paid", fmt.money(invoice.amount_paid, invoice.currency))]
    right = pdf.pairs(pdf.w - pdf.r_margin - 84, top, 84, meta, label_width=32)
    left = pdf.block(pdf.l_margin, top, 84, "Billed to", _bill_to(invoice, fmt))
    pdf.set_y(max(left, right) + 6)

    pdf.line_of(f"{fmt.money(invoice.amount_paid, invoice.currency)} paid on "
                f"{fmt.date(invoice.paid_at)}", size=13, bold=True, height=7)
    pdf.ln(3)
    pdf.line_items(invoice)
    rows = _money_rows(invoice, fmt)
    rows.append(("Amount paid", fmt.money(invoice.amount_paid, invoice.currency), True))
    pdf.totals(rows)

    if payments:
        pdf.ln(4)
        pdf.line_of("Payments", size=11, bold=True)
        for payment in payments:
            pdf.line_of(f"{fmt.date(payment.completed_at or payment.created)} · "
                        f"{card_label(payment.payment_method)} · "
                        f"{fmt.money(payment.amount, payment.currency)}", size=9.5)
    contacts = " or ".join(v for v in (branding.support_email, branding.support_phone) if v)
    if contacts:
        pdf.ln(4)
        pdf.line_of(f"Questions about this receipt? Contact {contacts}.", size=9, color=MUTED)
    return bytes(pdf.output())
