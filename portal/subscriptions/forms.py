"""The forms of the subscription pages. Each carries the subscription's version as the page
showed it, so a change sent from a page that is out of date is refused instead of applied."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, RadioField, StringField, TextAreaField
from wtforms.validators import Length, Optional, StopValidation, ValidationError

from portal.forms import BaseForm, ascii_digits_only, is_ascii_digits

# Anything longer cannot be a version, a quantity or a timestamp; checked before int(), which
# refuses strings of more than 4,300 digits with an error of its own.
_MAX_DIGITS = 12
_LINE_BREAKS = re.compile(r"[\r\n\t]+")


def _one_line(value):
    """A comment is stored as one line: the line breaks people type in a text box become
    spaces (any other control character is still refused by BaseForm)."""
    return _LINE_BREAKS.sub(" ", value) if isinstance(value, str) else value


def whole_number(value: str | None) -> int | None:
    """ASCII digits as an int, or None for anything else (signs, decimals, other scripts)."""
    if not is_ascii_digits(value) or len(value) > _MAX_DIGITS:
        return None
    return int(value)


class VersionForm(BaseForm):
    """A button that changes a subscription: just the version the page was drawn with."""

    version = HiddenField()

    def validate_version(self, field):
        if whole_number(field.data) is None:
            # A hidden field the summary cannot link to: the message is for the whole form.
            raise StopValidation(_("This form is out of date. Reload the page and try again."))

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        # Hidden fields have no box to show a message by: their messages are the form's.
        for field in self:
            if isinstance(field, HiddenField) and field.errors:
                self.form_errors.extend(m for m in field.errors if m not in self.form_errors)
                field.errors = []
        return valid

    @property
    def version_number(self) -> int:
        return whole_number(self.version.data) or 0


class ReasonField(RadioField):
    """One of the reasons the merchant asks about; anything else is refused in plain words."""

    def pre_validate(self, form):
        if self.data and self.data not in {value for value, _label in self.choices or []}:
            raise ValidationError(_("Choose one of the reasons listed"))


class CancelForm(VersionForm):
    """The final cancel: the optional reason and comment the merchant asks for."""

    reason = ReasonField(_l("Why are you cancelling? (optional)"), choices=[], validate_choice=False,
                         validators=[Optional()])
    comment = TextAreaField(_l("Anything else you would like to tell us? (optional)"),
                            filters=[_one_line], validators=[
                                Optional(),
                                Length(max=500, message=_l("Your comment must be 500 characters "
                                                        "or fewer")),
                            ])

    def use_reasons(self, options: list[tuple[str, str]]) -> None:
        self.reason.choices = options

    @property
    def feedback(self) -> str | None:
        return self.reason.data or None


class RetentionForm(VersionForm):
    """One retention offer taken in one click; a pause also says how many months."""

    offer = HiddenField()
    months = StringField(_l("How long would you like to pause for?"))

    def validate_offer(self, field):
        if field.data not in ("coupon", "pause", "downgrade"):
            raise StopValidation(_("This offer is not available."))

    def validate_months(self, field):
        if self.offer.data != "pause":
            return
        if not field.data:
            raise ValidationError(_("Choose how long to pause for"))
        if whole_number(field.data) is None:
            raise ValidationError(_("Choose how long to pause for, in whole months"))

    @property
    def months_number(self) -> int | None:
        return whole_number(self.months.data)


class PriceField(RadioField):
    """One of the prices offered; anything else is refused in plain words."""

    def pre_validate(self, form):
        if self.data and self.data not in {value for value, _label in self.choices or []}:
            raise ValidationError(_("Choose one of the plans listed"))


class ChangePlanForm(VersionForm):
    """The price and quantity to switch to. Drawn with the prices the configuration allows;
    the quantity field only where the merchant lets it change."""

    price = PriceField(_l("Plan"), choices=[], validate_choice=False)
    quantity = StringField(_l("Quantity"), validators=[ascii_digits_only(_l("the quantity"))])
    # When the preview was worked out: confirming charges the amounts the customer saw.
    proration_date = HiddenField()

    def __init__(self, *args, quantity_shown: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.quantity_shown = quantity_shown

    def validate_price(self, field):
        if not field.data:
            raise ValidationError(_("Choose a plan"))

    def validate_quantity(self, field):
        if not self.quantity_shown:
            return
        value = field.data or ""
        # Left empty it may not matter (a plan billed once); plan_change asks for it if it does.
        if value and not is_ascii_digits(value):
            raise ValidationError(_("Enter the quantity as a whole number, like 3"))

    @property
    def quantity_number(self) -> int | None:
        """The quantity asked for; a number too long to read counts as more than any maximum,
        so the customer hears the maximum rather than a puzzle."""
        if not self.quantity_shown:
            return None
        value = self.quantity.data
        if is_ascii_digits(value) and len(value) > _MAX_DIGITS:
            return 10 ** _MAX_DIGITS
        return whole_number(value)

    def validate_proration_date(self, field):
        if field.data and self._timestamp(field.data) is None:
            raise StopValidation(_("This form is out of date. Reload the page and try again."))

    @staticmethod
    def _timestamp(value) -> datetime | None:
        seconds = whole_number(value)
        if seconds is None:
            return None
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None

    @property
    def previewed_at(self) -> datetime | None:
        return self._timestamp(self.proration_date.data)
