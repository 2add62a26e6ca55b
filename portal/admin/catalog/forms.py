"""The product catalog's forms: a product's details (with its image) and a new price.

Each field's rule is the operation's own (portal/catalog/operations.py ``clean_*``), so the
dashboard and the API refuse the same things with the same words.
"""

from __future__ import annotations

import re
from functools import cache

from babel.core import get_global
from babel.numbers import get_currency_name, get_territory_currencies
from flask_wtf.file import FileField
from wtforms import RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import StopValidation

from portal.catalog import operations as ops
from portal.catalog import tax_codes
from portal.catalog.models import INTERVALS
from portal.catalog.pricing import AmountRefused, parse_amount
from portal.forms import BaseForm, is_ascii_digits, usable_text

try:
    from wtforms.fields.choices import SelectChoice
except ImportError:  # WTForms before 3.3 takes (value, label) tuples
    def SelectChoice(value, label):  # noqa: N802
        return (value, label)

_CONTROL_BUT_LINE_BREAKS = re.compile(r"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# The currencies merchants of this kind use most, first in the list (after their own).
COMMON_CURRENCIES = ("usd", "eur", "gbp", "cad", "aud", "jpy", "chf", "sek", "nok", "dkk",
                     "nzd", "sgd", "hkd", "inr", "brl", "mxn", "pln")
INTERVAL_LABELS = {"day": "days", "week": "weeks", "month": "months", "year": "years"}
BILLING = (("recurring", "Recurring"), ("one_time", "One-time"))


def _label(field) -> str:
    return field.label.text.removesuffix(" (optional)")


def usable_multiline_text(form, field):
    """usable_text for a text box: line breaks are part of a description's paragraphs; every
    other control character is still refused."""
    values = list(field.raw_data or [])
    if any(not isinstance(value, str) for value in values):
        field.data = None
        raise StopValidation(f"{_label(field)} must be typed in as text")
    text = field.data if isinstance(field.data, str) else ""
    if _CONTROL_BUT_LINE_BREAKS.search(text):
        raise StopValidation(f"{_label(field)} must not contain control characters such as tabs")
    if "\ufffd" in text:
        raise StopValidation(f"{_label(field)} has a character that could not be read: type it "
                             "again")


def refused_file(form, field):
    """Only a file may come in a file field (a typed value is a forged form)."""
    data = field.data
    if data is not None and not hasattr(data, "stream"):
        field.data = None
        raise StopValidation(f"Choose the {_label(field).lower()} file to upload")


def rule(clean):
    """A validator from an operation's rule: the cleaned value replaces what was typed, a
    refusal is the field's message."""

    def check(form, field):
        try:
            field.data = clean(field.data)
        except ops.CatalogRefused as refused:
            raise StopValidation(refused.message) from None

    return check


class CatalogForm(BaseForm):
    """BaseForm, with a file field and a text box getting their own first check instead of
    the one-line text check every other field gets."""

    class Meta(BaseForm.Meta):
        def bind_field(self, form, unbound_field, options):
            field = super().bind_field(form, unbound_field, options)
            if isinstance(field, FileField):
                field.validators = [refused_file if v is usable_text else v
                                    for v in field.validators]
            elif isinstance(field, TextAreaField):
                field.validators = [usable_multiline_text if v is usable_text else v
                                    for v in field.validators]
            return field


def _options(pairs) -> list:
    """(value, label) pairs as the options WTForms wants."""
    return [SelectChoice(value, label) for value, label in pairs]


def tax_code_choices(current: str | None = None) -> list[tuple[str, str]]:
    """"No tax code", then the list; a code the product has from elsewhere stays choosable."""
    choices = [("", "No tax code")] + [(code.id, code.label) for code in tax_codes.TAX_CODES]
    if current and not tax_codes.is_known(current):
        choices.append((current, f"{current} (set outside the dashboard)"))
    return choices


class ProductForm(CatalogForm):
    name = StringField("Name", validators=[rule(ops.clean_name)])
    description = TextAreaField("Description (optional)",
                                validators=[rule(ops.clean_description)])
    image = FileField("Image (optional)")
    tax_code = SelectField("Tax code (optional)", validate_choice=False)
    statement_descriptor = StringField("Statement descriptor (optional)",
                                       validators=[rule(ops.clean_statement_descriptor)])
    unit_label = StringField("Unit label (optional)", validators=[rule(ops.clean_unit_label)])

    def __init__(self, *args, current_tax_code: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.current_tax_code = current_tax_code
        self.tax_code.choices = _options(tax_code_choices(current_tax_code))

    def validate_tax_code(self, field):
        try:
            field.data = ops.clean_tax_code(field.data, current=self.current_tax_code)
        except ops.CatalogRefused as refused:
            raise StopValidation(refused.message) from None

    @property
    def uploaded(self):
        """The chosen image file, or None when none was chosen."""
        data = self.image.data
        return data if data is not None and getattr(data, "filename", "") else None

    @property
    def details(self) -> dict:
        """The typed values as update_product / create_product take them."""
        return {"name": self.name.data, "description": self.description.data,
                "tax_code": self.tax_code.data, "statement_descriptor": self.statement_descriptor.data,
                "unit_label": self.unit_label.data}


@cache
def _current_currencies() -> tuple[str, ...]:
    """Every ISO 4217 currency some country uses today (not the historical ones Babel also
    knows, such as DEM), lower case as prices store them."""
    codes = set()
    for territory in get_global("territory_currencies"):
        codes.update(get_territory_currencies(territory, tender=True))
    return tuple(sorted(code.lower() for code in codes))


def currency_choices(used: list[str] | tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """The merchant's own currencies first, then the common ones, then every other."""
    order = list(dict.fromkeys([*(c.lower() for c in used), *COMMON_CURRENCIES,
                                *_current_currencies()]))
    return [(code, f"{code.upper()} – {get_currency_name(code.upper(), locale='en')}")
            for code in order]


class PriceForm(CatalogForm):
    amount = StringField("Price")
    currency = SelectField("Currency", validate_choice=False)
    billing = RadioField("Billing", choices=_options(BILLING), default="recurring",
                         validate_choice=False)
    interval_count = StringField("Every", default="1")
    interval = SelectField("Period", choices=_options((i, INTERVAL_LABELS[i]) for i in INTERVALS),
                           default="month", validate_choice=False)
    nickname = StringField("Nickname (optional)", validators=[rule(ops.clean_nickname)])

    def __init__(self, *args, currencies=(), **kwargs):
        super().__init__(*args, **kwargs)
        pairs = currency_choices(currencies)
        self.currency_codes = frozenset(code for code, _ in pairs)
        self.currency.choices = _options(pairs)
        self.unit_amount: int | None = None

    def validate_currency(self, field):
        if field.data not in self.currency_codes:
            raise StopValidation("Choose a currency from the list")

    def validate_billing(self, field):
        if field.data not in ("recurring", "one_time"):
            raise StopValidation("Choose recurring or one-time")

    def validate_interval(self, field):
        if self.billing.data == "recurring" and field.data not in INTERVALS:
            raise StopValidation("Choose days, weeks, months or years")

    def validate_interval_count(self, field):
        if self.billing.data != "recurring":
            return
        if not is_ascii_digits(field.data) or len(field.data) > 4:
            raise StopValidation("Enter how often the price repeats, as a whole number like 1 "
                                 "or 3")
        if self.interval.data in INTERVALS:
            try:
                ops.check_recurring(self.interval.data, int(field.data))
            except ops.CatalogRefused as refused:
                raise StopValidation(refused.message) from None

    def validate_amount(self, field):
        # After the currency: the number of decimals allowed depends on it.
        currency = self.currency.data if self.currency.data in self.currency_codes else "usd"
        try:
            self.unit_amount = parse_amount(field.data, currency)
        except AmountRefused as refused:
            raise StopValidation(str(refused)) from None

    @property
    def recurring(self) -> tuple[str | None, int]:
        if self.billing.data != "recurring":
            return None, 1
        return self.interval.data, int(self.interval_count.data)
