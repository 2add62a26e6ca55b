"""Invoice and receipt PDFs, drawn in pure Python with fpdf2, in the customer's language.

fpdf2's built-in fonts only know Latin-1, so "€", "Ł" or a Greek name would not print. DejaVu Sans
is bundled in fonts/ (see its README) and embedded as a subset; it covers Latin, Greek, Cyrillic
and Arabic. Japanese (and the Chinese characters in many names) comes from IPA Gothic, a system
font (Debian's fonts-ipafont-gothic, see CJK_FONTS), loaded only when a PDF has such text. Text
is shaped with HarfBuzz (uharfbuzz), so Arabic letters join and right-to-left text runs right to
left; an Arabic PDF mirrors its layout. A character no font has is decomposed where possible and
otherwise printed as "?" with a logged warning, never dropped silently and never an error.

Texts go through Flask-Babel under the locale passed in (``Formatting.locale``), not the
request's, so code without a request (the worker) builds the same PDF.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.core import UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_decimal
from flask_babel import force_locale
from flask_babel import gettext as _
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

log = logging.getLogger(__name__)

FONT_DIR = Path(__file__).resolve().parent / "fonts"
FAMILY = "DejaVuSans"
# Japanese: IPA Gothic (IPA Font License, redistributable) is 6 MB, too big to bundle for the
# few PDFs that need it, so it is found on the system: Debian's fonts-ipafont-gothic installs
# the first path; the second is Debian's "fonts-japanese-gothic" alternative, which points at
# whichever Japanese gothic font is installed. fpdf2 embeds only the glyphs used.
CJK_FONTS = (
    Path("/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf"),
    Path("/usr/share/fonts/truetype/fonts-japanese-gothic.ttf"),
)
CJK_FAMILY = "CJKGothic"
CJK_PACKAGE = "fonts-ipafont-gothic"
DEFAULT_BRAND = branding_rules.rgb(branding_rules.DEFAULT_BRAND)
TEXT = (27, 31, 36)
MUTED = (77, 85, 96)
ALERT = (176, 0, 32)
LOGO_HEIGHT = 12  # mm


@dataclass(frozen=True)
class Formatting:
    """How the customer reads the PDF: its locale (a tag like "pt_BR" or a Babel Locale) for
    texts, amounts and dates, and its timezone."""

    locale: str = "en"
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        object.__setattr__(self, "locale", str(self.locale or "en").replace("-", "_"))

    @property
    def babel_locale(self) -> Locale:
        try:
            return Locale.parse(self.locale)
        except (UnknownLocaleError, ValueError):
            return Locale.parse("en")

    @property
    def rtl(self) -> bool:
        return self.babel_locale.character_order == "right-to-left"

    def money(self, amount: int, currency: str) -> str:
        return format_money(int(amount or 0), currency, self.locale)

    def number(self, value) -> str:
        return format_decimal(value, locale=self.babel_locale)

    def date(self, value: datetime | None) -> str:
        if value is None:
            return ""
        try:
            zone = ZoneInfo(self.timezone)
        except (KeyError, ValueError):
            zone = ZoneInfo("UTC")
        return format_date(value.astimezone(zone).date(), "medium", locale=self.babel_locale)

    def country(self, code: str | None) -> str:
        if not code:
            return ""
        return self.babel_locale.territories.get(code.upper(), code.upper())


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


def cjk_font_path() -> Path | None:
    """The first Japanese font of CJK_FONTS on this machine, or None."""
    return next((path for path in CJK_FONTS if path.is_file()), None)


@cache
def _shaping_available() -> bool:
    try:
        import uharfbuzz  # noqa: F401
    except ImportError:
        log.warning("uharfbuzz is not installed: Arabic in PDFs prints unjoined, left to right")
        return False
    return True


class _Document(FPDF):
    def __init__(self, branding, fmt: Formatting, title: str):
        super().__init__(format="A4", unit="mm")
        self.branding = branding
        self.fmt = fmt
        self.rtl = fmt.rtl
        # Where a line starts and ends: mirrored for right-to-left languages.
        self.start, self.end = (Align.R, Align.L) if self.rtl else (Align.L, Align.R)
        self.unprintable: set[str] = set()
        self._cjk_tried = False
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
        if _shaping_available():
            # Always on, not only for Arabic PDFs: an Arabic name or address can be on any
            # customer's invoice. Each paragraph takes the direction of its first letter (an
            # Arabic amount or date starts with a right-to-left mark), not the locale's: a
            # text not yet translated, an email or an invoice number then still reads left
            # to right inside the mirrored layout.
            self.set_text_shaping(True)
        self.set_margins(18, 18, 18)
        self.set_auto_page_break(True, margin=22)
        self.set_title(title)
        self.set_author(branding.business_name or "")
        self.set_creator("Billing portal")
        self.set_lang(fmt.locale.replace("_", "-"))
        self.add_page()

    # -- characters and fonts ----------------------------------------------------------------

    def normalize_text(self, text: str) -> str:
        cmap = getattr(self.current_font, "cmap", None)
        if cmap:
            text = "".join(self._printable(ch, cmap) for ch in text)
        return super().normalize_text(text)

    def _printable(self, ch: str, cmap: dict) -> str:
        if ch in "\n\r\t" or ord(ch) in cmap or self._fallback_has(ch):
            return ch
        if unicodedata.category(ch) == "Cf":
            return ""  # an invisible format mark (e.g. U+061C) that no font draws
        kept = "".join(c for c in unicodedata.normalize("NFKD", ch)
                       if ord(c) in cmap and not unicodedata.combining(c))
        if not kept:
            self.unprintable.add(ch)
        return kept or "?"

    def _fallback_has(self, ch: str) -> bool:
        """Whether the Japanese font has ``ch``, loading it the first time a character is
        missing from DejaVu: parsing 6 MB of font is wasted on the PDFs that need none."""
        if not self._cjk_tried:
            self._cjk_tried = True
            self._load_cjk_font()
        return any(ord(ch) in self.fonts[key].cmap for key in self._fallback_font_ids)

    def _load_cjk_font(self) -> None:
        for path in CJK_FONTS:
            if not path.is_file():
                continue
            try:
                self.add_font(CJK_FAMILY, "", str(path))
            except Exception as error:  # noqa: BLE001 (a font it cannot read is a missing one)
                log.warning("PDF font %s could not be read: %s", path, error)
                continue
            # One weight only: bold text falls back to the regular face.
            self.set_fallback_fonts([CJK_FAMILY], exact_match=False)
            return

    def output(self, *args, **kwargs):
        if self.unprintable:
            characters = ", ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in sorted(self.unprintable))
            hint = "" if cjk_font_path() else (
                f"; no Japanese font found, install Debian's {CJK_PACKAGE} "
                f"(looked for {', '.join(str(p) for p in CJK_FONTS)})")
            log.warning("PDF printed '?' for characters no font has: %s%s", characters, hint)
        return super().output(*args, **kwargs)

    # -- page furniture ----------------------------------------------------------------------

    def footer(self) -> None:
        self.set_y(-14)
        self.font(8, color=MUTED)
        contact = " · ".join(filter(None, [self.branding.business_name,
                                           self.branding.support_email,
                                           self.branding.support_phone]))
        page = _("Page %(page_no)s of %(nb)s", page_no=self.fmt.number(self.page_no()),
                 nb=self.str_alias_nb_pages)
        if self.rtl:
            self.cell(30, 5, page, align=Align.L)
            self.cell(self.epw - 30, 5, contact, align=Align.R)
        else:
            self.cell(self.epw - 30, 5, contact)
            self.cell(30, 5, page, align=Align.R)

    # -- drawing helpers ---------------------------------------------------------------------

    def x_at(self, x: float, width: float) -> float:
        """Where a box drawn at ``x`` (from the left) in a left-to-right PDF goes in this one."""
        return self.w - x - width if self.rtl else x

    def font(self, size: float, bold: bool = False, color=TEXT) -> None:
        self.set_font(FAMILY, "B" if bold else "", size)
        self.set_text_color(*color)

    def line_of(self, text: str, size: float = 10, bold: bool = False, color=TEXT,
                height: float = 5.5) -> None:
        self.font(size, bold, color)
        self.set_x(self.l_margin)
        self.multi_cell(0, height, text, align=self.start, new_x=XPos.LMARGIN,
                        new_y=YPos.NEXT)

    def letterhead(self, title: str) -> None:
        """Brand bar, the merchant's name, address and contact; the document's title."""
        self.set_fill_color(*self.brand)
        self.rect(0, 0, self.w, 5, style="F")
        self.set_fill_color(255, 255, 255)  # tables take the fill in force as their background
        top = 14
        left = self.x_at(self.l_margin, 110)
        self.set_xy(left, top)
        logo = _logo_path(self.branding)
        if logo is not None:
            try:
                self.image(str(logo), x=self.end if self.rtl else self.l_margin, y=top,
                           h=LOGO_HEIGHT)
                self.set_xy(left, top + LOGO_HEIGHT + 3)
            except Exception:  # noqa: BLE001 (a logo it cannot draw must not stop the invoice)
                self.set_xy(left, top)
        self.font(16, bold=True)
        self.multi_cell(110, 7, self.branding.business_name or "", align=self.start,
                        new_x=XPos.LEFT, new_y=YPos.NEXT)
        details = [line.strip() for line in (self.branding.address or "").splitlines()
                   if line.strip()]
        details += [value for value in (self.branding.support_email,
                                        self.branding.support_phone) if value]
        if details:
            self.font(9, color=MUTED)
            self.multi_cell(110, 4.6, "\n".join(details), align=self.start, new_x=XPos.LEFT,
                            new_y=YPos.NEXT)
        bottom = self.get_y()
        self.set_xy(self.x_at(self.w - self.r_margin - 70, 70), top)
        self.font(20, bold=True, color=self.brand_text)
        self.cell(70, 9, title, align=self.end)
        self.set_y(max(bottom, top + 12) + 6)

    def pairs(self, x: float, y: float, width: float, rows: list[tuple[str, str, bool]],
              label_width: float = 34) -> float:
        """(label, value, bold) rows in a box at x (left-to-right), y; returns the y below."""
        x = self.x_at(x, width)
        label_x, value_x = (x + width - label_width, x) if self.rtl else (x, x + label_width)
        self.set_y(y)
        for label, value, strong in rows:
            row = self.get_y()
            self.set_xy(label_x, row)
            self.font(9, color=MUTED)
            self.multi_cell(label_width, 5.5, label, align=self.start, new_x=XPos.LEFT,
                            new_y=YPos.NEXT)
            below = self.get_y()
            self.set_xy(value_x, row)
            self.font(9.5, bold=strong)
            self.multi_cell(width - label_width, 5.5, value, align=self.start,
                            new_x=XPos.LEFT, new_y=YPos.NEXT)
            self.set_y(max(below, self.get_y()))
        return self.get_y()

    def block(self, x: float, y: float, width: float, heading: str, lines: list[str]) -> float:
        self.set_xy(self.x_at(x, width), y)
        self.font(9, color=MUTED)
        self.cell(width, 5.5, heading, align=self.start, new_x=XPos.LEFT, new_y=YPos.NEXT)
        self.font(9.5)
        self.multi_cell(width, 5, "\n".join(lines) or "—", align=self.start, new_x=XPos.LEFT,
                        new_y=YPos.NEXT)
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
        widths, aligns = [94, 16, 32, 32], [Align.L, Align.R, Align.R, Align.R]
        headings = [_("Description"), _("Qty"), _("Unit price"), _("Amount")]
        rows = []
        for line in invoice.lines:
            description = line.description
            product = line.price.product if line.price is not None else None
            if product is not None and product.description and not line.proration:
                description += f"\n{product.description}"  # what the merchant says it is
            if line.discount_amount:
                description += "\n" + _("Discount −%(money)s",
                                        money=fmt.money(line.discount_amount, currency))
            rows.append([description, fmt.number(line.quantity),
                         fmt.money(line.unit_amount, currency), fmt.money(line.amount, currency)])
        if self.rtl:
            # Mirrored: the description on the right, the amounts on the left, each flush
            # with the edge it starts from.
            widths.reverse()
            headings.reverse()
            rows = [row[::-1] for row in rows]
            aligns = [Align.L, Align.L, Align.L, Align.R]
        self.font(9.5)
        with self.table(col_widths=widths, width=self.epw, text_align=aligns,
                        borders_layout=TableBordersLayout.HORIZONTAL_LINES,
                        headings_style=heading, line_height=5.2, padding=1.6,
                        first_row_as_headings=True) as table:
            for cells in [headings, *rows]:
                row = table.row()
                for text in cells:
                    row.cell(text)
        self.ln(3)

    def totals(self, rows: list[tuple[str, str, bool]]) -> None:
        """The end column of label/amount rows; bold rows are drawn with a rule above."""
        width = 84
        x = self.x_at(self.w - self.r_margin - width, width)
        for label, amount, strong in rows:
            if self.get_y() > self.h - 40:
                self.add_page()
            if strong:
                self.set_draw_color(*MUTED)
                self.line(x, self.get_y(), x + width, self.get_y())
            self.set_x(x)
            self.font(10, bold=strong)
            if self.rtl:
                self.cell(34, 6.5, amount, align=Align.L)
                self.cell(50, 6.5, label, align=Align.R, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            else:
                self.cell(50, 6.5, label)
                self.cell(34, 6.5, amount, align=Align.R, new_x=XPos.LMARGIN,
                          new_y=YPos.NEXT)


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
    rows = [(_("Subtotal"), fmt.money(invoice.subtotal, currency), False)]
    if invoice.total_discount:
        rows.append((_("Discount"), "−" + fmt.money(invoice.total_discount, currency), False))
    for label, amount in tax_breakdown(invoice):
        rows.append((label, fmt.money(amount, currency), False))
    rows.append((_("Total"), fmt.money(invoice.total, currency), True))
    return rows


def _status_sentence(invoice, fmt: Formatting, now: datetime) -> tuple[str, tuple]:
    money = fmt.money(invoice.amount_remaining, invoice.currency)
    status = display_status(invoice, now)
    if invoice.status == "draft":
        return _("DRAFT — not yet issued. This is not a request for payment."), MUTED
    if status == "paid":
        return _("Paid %(money)s on %(date)s",
                 money=fmt.money(invoice.amount_paid, invoice.currency),
                 date=fmt.date(invoice.paid_at)), TEXT
    if status == "void":
        if invoice.voided_at:
            return _("VOID — this invoice was voided on %(date)s. Nothing is owed.",
                     date=fmt.date(invoice.voided_at)), ALERT
        return _("VOID — this invoice was voided. Nothing is owed."), ALERT
    if status == "uncollectible":
        return _("Uncollectible — %(money)s was not paid.", money=money), ALERT
    if status == "past_due":
        return _("Past due — %(money)s was due %(date)s", money=money,
                 date=fmt.date(invoice.due_date)), ALERT
    if invoice.due_date:
        return _("%(money)s due %(date)s", money=money, date=fmt.date(invoice.due_date)), TEXT
    return _("%(money)s due", money=money), TEXT


def invoice_pdf(invoice, branding, *, now: datetime, fmt: Formatting | None = None) -> bytes:
    """The invoice as a PDF: branding, number, dates, bill-to, lines, totals and status, in
    ``fmt``'s locale (the view passes the page's; other callers the customer's)."""
    fmt = fmt or Formatting()
    with force_locale(fmt.locale):
        return _invoice_pdf(invoice, branding, now, fmt)


def _invoice_pdf(invoice, branding, now: datetime, fmt: Formatting) -> bytes:
    number = invoice.number or _("Draft")
    pdf = _Document(branding, fmt, _("Invoice %(number)s", number=number))
    pdf.set_subject(_("Invoice %(number)s from %(business_name)s", number=number,
                      business_name=branding.business_name))
    pdf.letterhead(_("Invoice") if invoice.status != "draft" else _("Draft invoice"))

    top = pdf.get_y()
    meta = [(_("Invoice number"), invoice.number or _("Not yet numbered"), False),
            (_("Date of issue"), fmt.date(invoice.finalized_at or invoice.created), False)]
    if invoice.due_date and invoice.status in ("open", "draft"):
        meta.append((_("Date due"), fmt.date(invoice.due_date), False))
    if invoice.period_start and invoice.period_end:
        meta.append((_("Period"), f"{fmt.date(invoice.period_start)} – "
                                  f"{fmt.date(invoice.period_end)}", False))
    meta.append((_("Status"), status_label(display_status(invoice, now)), True))
    right = pdf.pairs(pdf.w - pdf.r_margin - 84, top, 84, meta, label_width=30)
    left = pdf.block(pdf.l_margin, top, 84, _("Bill to"), _bill_to(invoice, fmt))
    pdf.set_y(max(left, right) + 6)

    sentence, color = _status_sentence(invoice, fmt, now)
    pdf.line_of(sentence, size=13, bold=True, color=color, height=7)
    if invoice.description:
        pdf.line_of(invoice.description, size=9.5, color=MUTED)
    pdf.ln(3)

    pdf.line_items(invoice)
    rows = _money_rows(invoice, fmt)
    if invoice.status not in ("draft", "void"):
        rows.append((_("Amount paid"), fmt.money(invoice.amount_paid, invoice.currency), False))
        rows.append((_("Amount remaining"),
                     fmt.money(invoice.amount_remaining, invoice.currency), True))
    pdf.totals(rows)

    if invoice.status == "void":
        pdf.stamp(_("VOID"), ALERT)
    elif invoice.status == "draft":
        pdf.stamp(_("DRAFT"), MUTED)
    return bytes(pdf.output())


def receipt_pdf(invoice, branding, *, fmt: Formatting | None = None) -> bytes:
    """The receipt for a paid invoice: amount and date paid, the card, the receipt number, in
    ``fmt``'s locale."""
    fmt = fmt or Formatting()
    with force_locale(fmt.locale):
        return _receipt_pdf(invoice, branding, fmt)


def _receipt_pdf(invoice, branding, fmt: Formatting) -> bytes:
    payments = succeeded_payments(invoice)
    number = receipt_number(invoice)
    pdf = _Document(branding, fmt, _("Receipt %(number)s", number=number))
    pdf.set_subject(_("Receipt for invoice %(number)s from %(business_name)s",
                      number=invoice.number, business_name=branding.business_name))
    pdf.letterhead(_("Receipt"))

    top = pdf.get_y()
    methods = list(dict.fromkeys(card_label(p.payment_method) for p in payments))
    amount_paid = fmt.money(invoice.amount_paid, invoice.currency)
    meta = [(_("Receipt number"), number, False),
            (_("Invoice number"), invoice.number or "", False),
            (_("Date paid"), fmt.date(invoice.paid_at), False),
            (_("Payment method"), ", ".join(methods) if methods else _("No payment needed"),
             False),
            (_("Amount paid"), amount_paid, True)]
    right = pdf.pairs(pdf.w - pdf.r_margin - 84, top, 84, meta, label_width=32)
    left = pdf.block(pdf.l_margin, top, 84, _("Billed to"), _bill_to(invoice, fmt))
    pdf.set_y(max(left, right) + 6)

    pdf.line_of(_("%(money)s paid on %(date)s", money=amount_paid, date=fmt.date(invoice.paid_at)),
                size=13, bold=True, height=7)
    pdf.ln(3)
    pdf.line_items(invoice)
    rows = _money_rows(invoice, fmt)
    rows.append((_("Amount paid"), amount_paid, True))
    pdf.totals(rows)

    if payments:
        pdf.ln(4)
        pdf.line_of(_("Payments"), size=11, bold=True)
        for payment in payments:
            pdf.line_of(f"{fmt.date(payment.completed_at or payment.created)} · "
                        f"{card_label(payment.payment_method)} · "
                        f"{fmt.money(payment.amount, payment.currency)}", size=9.5)
    email, phone = branding.support_email, branding.support_phone
    question = None
    if email and phone:
        question = _("Questions about this receipt? Contact %(email)s or %(phone)s.",
                     email=email, phone=phone)
    elif email or phone:
        question = _("Questions about this receipt? Contact %(contact)s.", contact=email or phone)
    if question:
        pdf.ln(4)
        pdf.line_of(question, size=9, color=MUTED)
    return bytes(pdf.output())
