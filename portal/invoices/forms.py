"""The form that pays an invoice."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, RadioField
from wtforms.validators import InputRequired, ValidationError

from portal.forms import BaseForm
from portal.invoices.operations import card_label, is_form_key, new_form_key


class CardChoiceField(RadioField):
    """A saved card by id; an id that is not one of the customer's own cards is refused with the
    same words as a made-up one."""

    def pre_validate(self, form):
        if not self.raw_data:
            return  # InputRequired says what to do
        if self.data not in {value for value, _label in self.choices or []}:
            raise ValidationError(_l("Choose one of your saved cards"))


class PayInvoiceForm(BaseForm):
    payment_method = CardChoiceField(
        _l("Pay with"), choices=[],
        validators=[InputRequired(message=_l("Choose a card to pay with"))],
    )
    # Made when the form is drawn: the same form sent twice carries the same key, and the
    # second send is answered with the first one's result instead of a second charge.
    idempotency_key = HiddenField()

    def use_methods(self, methods, default_id: str | None) -> None:
        """Offer the customer's saved cards, the default one chosen unless another was sent."""
        self.payment_method.choices = [(m.id, card_label(m)) for m in methods]
        if not self.payment_method.data and methods:
            ids = [m.id for m in methods]
            self.payment_method.data = default_id if default_id in ids else ids[0]

    def fresh_key(self) -> None:
        """A new key for the next attempt, so a retry after a decline can charge again."""
        self.idempotency_key.data = new_form_key()

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        if not is_form_key(self.idempotency_key.data):
            # A form-wide message: the summary cannot link to a hidden field.
            self.form_errors.append(_l("This form has expired. Check the details and pay again."))
            valid = False
        return valid
