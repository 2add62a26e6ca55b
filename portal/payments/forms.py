"""The add-a-card form. The card number and security code are never rendered back into a page."""

from __future__ import annotations

import re
from datetime import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, StringField
from wtforms.validators import (
    DataRequired,
    Length,
    Optional,
    StopValidation,
    ValidationError,
)

from portal.forms import BaseForm, is_ascii_digits
from portal.payments.gateway import CardDetails, card_brand, luhn_valid

# [0-9], not \d: \d also matches other scripts' digits, which no card is printed with.
_EXPIRY = re.compile(r"([0-9]{1,2})\s*[/\-. ]\s*([0-9]{2}|[0-9]{4})|([0-9]{2})([0-9]{2})")
# A run of 12 or more digits, spaces or dashes allowed between them: what a card number looks
# like when it is typed into the wrong box.
_CARD_NUMBER_LIKE = re.compile(r"(?:\d[ -]?){12,}")


def not_a_card_number(message: str):
    """A card number typed into a box that is echoed back (or stored) is cleared and refused."""

    def check(form, field):
        if field.data and _CARD_NUMBER_LIKE.search(field.data):
            field.data = ""
            field.raw_data = [""]
            raise StopValidation(message)

    return check


class NeverEchoedField(StringField):
    """A text box that always renders empty, whatever was posted: a card number or CVC must
    not come back in the page (and so not into caches, screenshots or autofill history)."""

    def _value(self) -> str:
        return ""


def digits_of(value: str | None) -> str:
    """The card number as typed, without the spaces and dashes people type between groups."""
    return re.sub(r"[\s-]", "", value or "")


class AddCardForm(BaseForm):
    name = StringField(_l("Name on card"), validators=[
        DataRequired(message=_l("Enter the name on the card")),
        not_a_card_number(_l("Enter the name on the card here, and the card number below")),
        Length(max=100, message=_l("Name on card must be 100 characters or fewer")),
    ])
    number = NeverEchoedField(_l("Card number"))
    expiry = StringField(_l("Expiry date"))
    cvc = NeverEchoedField(_l("Security code"))
    postal_code = StringField(_l("Postcode or ZIP code (optional)"), validators=[
        Optional(),
        not_a_card_number(_l("Enter the postcode here, and the card number above")),
        Length(max=12, message=_l("Postcode must be 12 characters or fewer")),
    ])
    make_default = BooleanField(_l("Make this my default payment method"))

    def __init__(self, *args, now: datetime, **kwargs):
        super().__init__(*args, **kwargs)
        self.now = now
        self.exp_month: int | None = None
        self.exp_year: int | None = None

    def validate_number(self, field):
        number = digits_of(field.data)
        if not number:
            raise ValidationError(_("Enter the card number"))
        if not is_ascii_digits(number):
            raise ValidationError(_("Enter the card number using numbers only, like 4242 4242 4242 4242"))
        if not 12 <= len(number) <= 19:
            raise ValidationError(_("Enter the full card number: it is 12 to 19 digits long"))
        if not luhn_valid(number):
            raise ValidationError(_("Check the card number: it is not a valid card number"))

    def validate_expiry(self, field):
        value = (field.data or "").strip()
        if not value:
            raise ValidationError(_("Enter the expiry date"))
        match = _EXPIRY.fullmatch(value)
        if not match:
            raise ValidationError(_("Enter the expiry date as MM/YY, like 04/28"))
        month, year = (int(g) for g in (match.group(1, 2) if match.group(1) else match.group(3, 4)))
        if not 1 <= month <= 12:
            raise ValidationError(_("Enter a real expiry month, from 01 to 12"))
        if year < 100:
            year += 2000
        if (year, month) < (self.now.year, self.now.month):
            raise ValidationError(_("The expiry date is in the past: check the date on your card"))
        if year > self.now.year + 20:
            raise ValidationError(_("Check the expiry year: it is more than 20 years away"))
        self.exp_month, self.exp_year = month, year

    def validate_cvc(self, field):
        cvc = (field.data or "").strip()
        number = digits_of(self.number.data)
        brand = card_brand(number) if luhn_valid(number) else None
        if brand == "amex":
            lengths, message = (4,), _("Enter the 4-digit security code from the front of your card")
        elif brand:
            lengths, message = (3,), _("Enter the 3-digit security code from the back of your card")
        else:
            lengths, message = (3, 4), _("Enter the 3 or 4-digit security code from your card")
        if not cvc:
            raise ValidationError(_("Enter the security code"))
        if not is_ascii_digits(cvc) or len(cvc) not in lengths:
            raise ValidationError(message)

    def card_details(self) -> CardDetails:
        """What the gateway needs; only valid after ``validate()`` returned True."""
        return CardDetails(
            number=digits_of(self.number.data),
            exp_month=self.exp_month,
            exp_year=self.exp_year,
            cvc=self.cvc.data.strip(),
            name=self.name.data or None,
            postal_code=self.postal_code.data or None,
        )

    def forget_secrets(self) -> None:
        """Drop the number and CVC from the form once they have been used."""
        self.number.data = self.cvc.data = None
        self.number.raw_data = self.cvc.raw_data = None
