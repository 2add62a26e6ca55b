"""Forms for billing information. Address forms are built per country, so each country gets
its own fields, labels and checks from portal.customers.addresses."""

from __future__ import annotations

import re
from functools import lru_cache

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, SelectField, StringField
from wtforms.validators import (
    AnyOf,
    DataRequired,
    InputRequired,
    Length,
    Optional,
    ValidationError,
)

from portal.customers import addresses
from portal.customers.tax_ids import InvalidTaxId, normalize_tax_id, tax_id_type_choices
from portal.forms import BaseForm, ascii_digits_only, email_field
from portal.translation import current_locale

try:
    from wtforms.fields.choices import SelectChoice
except ImportError:  # WTForms before 3.3 takes (value, label) tuples
    def SelectChoice(value, label):  # noqa: N802
        return (value, label)


def _choices(pairs) -> list:
    """(value, label) pairs as the options WTForms wants."""
    return [SelectChoice(value, label) for value, label in pairs]

_PHONE_CHARACTERS = re.compile(r"\+?[0-9 ()\-]+")


def _phone_number(form, field):
    """Loose on purpose: numbers are written many ways, and the merchant only needs to call."""
    if not field.data:
        return
    if not _PHONE_CHARACTERS.fullmatch(field.data):
        raise ValidationError(_l("Enter a phone number using only numbers, spaces, brackets, "
                                 "hyphens and a + at the start"))
    digits = sum(ch.isdigit() for ch in field.data)
    if not 7 <= digits <= 20:
        raise ValidationError(_l("Enter a phone number with between 7 and 20 digits, "
                                 "like 01632 960 001 or +44 808 157 0192"))


def _single_spaces(value):
    return " ".join(value.split()) if isinstance(value, str) else value


def phone_field(label: str = _l("Phone number")):
    return StringField(label, filters=[_single_spaces], validators=[
        Optional(),
        Length(max=40, message=_l("%(label)s must be 40 characters or fewer", label=label)),
        _phone_number,
    ])


def _text(label: str, *, required: str | None = None, max_length: int = 200):
    """A text field; ``required`` is the message for it left empty ("Enter the first line of
    the address"), and without it the field is optional."""
    shown = label if required else _l("%(label)s (optional)", label=label)
    # DataRequired, not InputRequired: it sees the value after stripping, so "   " is empty.
    validators = [DataRequired(message=required)] if required else [Optional()]
    validators.append(Length(max=max_length,
                             message=_l("%(label)s must be %(max_length)s characters or fewer",
                                        label=label, max_length=max_length)))
    return StringField(shown, validators=validators)


class NameForm(BaseForm):
    name = _text(_l("Name"), required=_l("Enter your name or your business's name"),
                 max_length=256)


class EmailForm(BaseForm):
    email = email_field(_l("Email address"))


class PhoneForm(BaseForm):
    phone = phone_field()


COUNTRY_PROMPT = ("", _l("Select a country or region"))


@lru_cache(maxsize=16)
def _country_options(locale: str) -> list:
    """The countries named in ``locale`` (Babel's names), sorted as that language reads them."""
    return _choices([COUNTRY_PROMPT, *addresses.countries(locale)])


class AddressForm(BaseForm):
    """The fields every address has; address_form_class() adds the country's own."""

    # The country the fields on screen were made for. When the posted country differs, the
    # form is shown again with that country's fields instead of being saved.
    shown_country = HiddenField()
    country = SelectField(_l("Country or region"), validate_choice=False, validators=[
        InputRequired(message=_l("Select the country or region")),
        AnyOf([code for code, _ in addresses.countries()],
              message=_l("Select the country or region from the list")),
    ])
    line1 = _text(_l("Address line 1"), required=_l("Enter the first line of the address"))
    line2 = _text(_l("Address line 2"))

    address_format: addresses.AddressFormat = addresses.GENERIC_FORMAT
    # The order fields appear on screen; the country's own fields are added to the class last.
    SCREEN_ORDER = ("name", "phone", "country", "line1", "line2", "city", "state", "postal_code")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.country.choices = _country_options(current_locale())

    @property
    def error_list(self) -> list[tuple[str, str]]:
        """The error summary in the order the fields are shown."""
        fields = [self[name] for name in self.SCREEN_ORDER if name in self]
        return [(field.id, field.errors[0]) for field in fields if field.errors]

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        postal_code = getattr(self, "postal_code", None)
        if postal_code is not None and not postal_code.errors:
            postal_code.data = addresses.normalize_postal_code(self.address_format.country,
                                                               postal_code.data)
            state = getattr(self, "state", None)
            problem = addresses.postal_code_problem(
                self.address_format, postal_code.data,
                state.data if state is not None and not state.errors else None)
            if problem:
                postal_code.errors = [*postal_code.errors, problem]
                valid = False
        return valid

    def address_values(self) -> dict[str, str | None]:
        """line1, line2, city, state, postal_code and country as saved: the fields this
        country does not use are emptied."""
        def value(name):
            field = getattr(self, name, None)
            return (field.data or None) if field is not None else None

        return {name: value(name) for name in
                ("line1", "line2", "city", "state", "postal_code", "country")}


class ShippingAddressForm(AddressForm):
    name = _text(_l("Name of the person receiving deliveries"),
                 required=_l("Enter the name of the person receiving deliveries"), max_length=256)
    phone = phone_field(_l("Phone number for deliveries (optional)"))


@lru_cache(maxsize=600)
def address_form_class(country: str | None, base: type[AddressForm] = AddressForm):
    """A form class with ``country``'s address fields, labels and checks."""
    fmt = addresses.address_format(country)
    attrs: dict = {"address_format": fmt}
    if fmt.city_shown:
        attrs["city"] = _text(fmt.city_label, max_length=100, required=_l(
            "Enter the %(city_noun)s", city_noun=fmt.city_noun) if fmt.city_required else None)
    if fmt.state_shown:
        if fmt.state_choices:
            label = fmt.state_label if fmt.state_required \
                else _l("%(state_label)s (optional)", state_label=fmt.state_label)
            first = InputRequired(message=_l("Select the %(state_noun)s",
                                             state_noun=fmt.state_noun)) \
                if fmt.state_required else Optional()
            not_listed = _l("Select the %(state_noun)s from the list", state_noun=fmt.state_noun)
            prompt = _l("Select a %(state_noun)s", state_noun=fmt.state_noun)
            attrs["state"] = SelectField(
                label, choices=_choices([("", prompt), *fmt.state_choices]),
                validate_choice=False,
                validators=[first, AnyOf([code for code, _ in fmt.state_choices],
                                         message=not_listed)])
        else:
            attrs["state"] = _text(fmt.state_label, max_length=100, required=_l(
                "Enter the %(state_noun)s", state_noun=fmt.state_noun)
                if fmt.state_required else None)
    if fmt.postal_code_shown:
        label = fmt.postal_code_label if fmt.postal_code_required \
            else _l("%(postal_code_label)s (optional)", postal_code_label=fmt.postal_code_label)
        # Whether it is required and real is checked in AddressForm.validate, with the state.
        attrs["postal_code"] = StringField(label, validators=[
            Optional(),
            ascii_digits_only(_l("the %(postal_code_noun)s",
                                 postal_code_noun=fmt.postal_code_noun)),
            Length(max=20, message=_l("%(postal_code_label)s must be 20 characters or fewer",
                                      postal_code_label=fmt.postal_code_label))])
    return type(f"{base.__name__}_{country or 'any'}", (base,), attrs)


def address_form(country: str | None, *, base: type[AddressForm] = AddressForm, **kwargs):
    """An address form with ``country``'s fields, marked as made for that country."""
    form = address_form_class(country if addresses.is_country(country) else None, base)(**kwargs)
    form.shown_country.data = country or ""
    return form


class TaxIdForm(BaseForm):
    type = SelectField(_l("Type"), validate_choice=False, validators=[
        InputRequired(message=_l("Select the type of tax ID")),
        AnyOf([code for code, _ in tax_id_type_choices()],
              message=_l("Select the type of tax ID from the list")),
    ])
    value = _text(_l("Number"), required=_l("Enter the tax ID number"), max_length=64)
    _ascii_digits = staticmethod(ascii_digits_only(_l("the tax ID number")))

    normalized: tuple[str, str | None] | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.type.choices = _choices([("", _l("Select a type")), *tax_id_type_choices()])

    def validate_value(self, field):
        if self.type.errors or not field.data:
            return
        self._ascii_digits(self, field)
        try:
            self.normalized = normalize_tax_id(self.type.data, field.data)
        except InvalidTaxId as exc:
            raise ValidationError(exc.message) from exc
