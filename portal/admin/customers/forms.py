"""The forms of the dashboard's customer pages: a new customer, and a subscription to start."""

from __future__ import annotations

from wtforms import BooleanField, EmailField, HiddenField, RadioField, SelectField, StringField
from wtforms.validators import (
    DataRequired,
    Email,
    Length,
    Optional,
    StopValidation,
    ValidationError,
)

from portal.customers.forms import phone_field
from portal.customers.operations import EMAIL_FORMAT_MESSAGE
from portal.forms import BaseForm, ascii_digits_only, is_ascii_digits
from portal.invoices.operations import is_form_key
from portal.subscriptions.forms import whole_number
from portal.subscriptions.operations import MAX_DAYS_UNTIL_DUE, MAX_TRIAL_DAYS

try:
    from wtforms.fields.choices import SelectChoice
except ImportError:  # WTForms before 3.3 takes (value, label) tuples
    def SelectChoice(value, label):  # noqa: N802
        return (value, label)

COLLECTION_CHOICES = [
    ("charge_automatically", "Charge the customer's default card automatically"),
    ("send_invoice", "Email an invoice for the customer to pay"),
]
OUT_OF_DATE = "This form is out of date. Reload the page and try again."


class NewCustomerForm(BaseForm):
    # Checked as the portal's own email form checks it (portal.forms.email_field), with
    # words for the merchant rather than the customer.
    email = EmailField("Email address", validators=[
        DataRequired(message="Enter the customer's email address"),
        Length(max=320, message="Email address must be 320 characters or fewer"),
        Email(message=EMAIL_FORMAT_MESSAGE, check_deliverability=False),
    ])
    name = StringField("Name (optional)", validators=[
        Optional(), Length(max=256, message="Name must be 256 characters or fewer")])
    phone = phone_field("Phone number")
    # Shown once the address turns out to be another customer's too.
    create_another = BooleanField("Create another customer with this email address")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # phone_field names the field in its messages by this label, so "(optional)" is
        # added only to what the page shows.
        self.phone.label.text = "Phone number (optional)"


class _Choice(SelectField):
    """A select whose value is checked by the view against what exists now."""

    def pre_validate(self, form):
        pass


class _Collection(RadioField):
    def pre_validate(self, form):
        if self.data not in {value for value, _ in COLLECTION_CHOICES}:
            raise ValidationError("Choose how to collect payment")


def _whole_days(noun: str, maximum: int):
    def check(form, field):
        if not field.data:
            return
        if not is_ascii_digits(field.data):
            raise StopValidation(f"Enter {noun} as a whole number of days, like 14")
        if whole_number(field.data) is None or whole_number(field.data) > maximum:
            raise StopValidation(f"Enter {noun} of at most {maximum} days")

    return check


class StartSubscriptionForm(BaseForm):
    # One key per form drawn: sent twice (a double click, a resubmitted page) it starts one
    # subscription, charged once.
    form_key = HiddenField()
    price = _Choice("Price", validate_choice=False, validators=[
        DataRequired(message="Choose a price")])
    quantity = StringField("Quantity", default="1", validators=[
        DataRequired(message="Enter a quantity"), ascii_digits_only("the quantity")])
    collection_method = _Collection(
        "How to collect payment", default="charge_automatically", validate_choice=False,
        choices=[SelectChoice(value, label) for value, label in COLLECTION_CHOICES])
    # (value, label) pairs for the template's radios.
    collection_options = COLLECTION_CHOICES
    days_until_due = StringField("Days the customer has to pay an emailed invoice (optional)",
                                 validators=[_whole_days("the days until due",
                                                         MAX_DAYS_UNTIL_DUE)])
    trial_period_days = StringField("Free trial in days (optional)", validators=[
        _whole_days("the free trial", MAX_TRIAL_DAYS)])

    def use_prices(self, prices, describe) -> None:
        """Offer ``prices``, each labelled by ``describe(price)``."""
        self.price.choices = [SelectChoice("", "Choose a price")] + [
            SelectChoice(price.id, describe(price)) for price in prices]

    def validate_form_key(self, field):
        if not is_form_key(field.data):
            raise StopValidation(OUT_OF_DATE)

    def validate_quantity(self, field):
        if not is_ascii_digits(field.data):
            raise ValidationError("Enter the quantity as a whole number, like 3")
        if whole_number(field.data) == 0:
            raise ValidationError("Enter a quantity of at least 1")

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        # The hidden key has no box to show its message by: it is the form's.
        if self.form_key.errors:
            self.form_errors.extend(m for m in self.form_key.errors if m not in self.form_errors)
            self.form_key.errors = []
        return valid

    @property
    def quantity_number(self) -> int:
        """The quantity asked for; one too long to read counts as more than any maximum."""
        number = whole_number(self.quantity.data)
        return number if number is not None else 10 ** 12

    @property
    def days_until_due_number(self) -> int | None:
        return whole_number(self.days_until_due.data) if self.days_until_due.data else None

    @property
    def trial_days_number(self) -> int | None:
        return whole_number(self.trial_period_days.data) if self.trial_period_days.data else None
