"""The Branding page's forms: the name, colours, support contacts and font; the icon; the logo."""

from __future__ import annotations

from flask_wtf.file import FileField
from wtforms import EmailField, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional, StopValidation

from portal.branding import FONT_STACKS, parse_hex
from portal.customers.forms import phone_field
from portal.forms import BaseForm, text_field

try:
    from wtforms.fields.choices import SelectChoice
except ImportError:  # WTForms before 3.3 takes (value, label) tuples
    def SelectChoice(value, label):  # noqa: N802
        return (value, label)


def _hex_colour(noun: str):
    """A validator: #rgb or #rrggbb, stored normalised (#rrggbb, lower case)."""

    def check(form, field):
        colour = parse_hex(field.data)
        if colour is None:
            raise StopValidation(f"Enter the {noun} as # and 6 hex digits, like #1f4fd1")
        field.data = colour

    return check


def _colour_field(label: str, noun: str):
    return StringField(label, validators=[
        DataRequired(message=f"Enter the {noun}, like #1f4fd1"),
        # Longer than any colour, so an overlong paste gets the format message, not a length one.
        Length(max=20, message=f"Enter the {noun} as # and 6 hex digits, like #1f4fd1"),
        _hex_colour(noun),
    ])


class BrandingForm(BaseForm):
    business_name = text_field("Business name", required="Enter your business name",
                               max_length=100)
    brand_color = _colour_field("Brand colour", "brand colour")
    accent_color = _colour_field("Accent colour", "accent colour")
    support_email = EmailField("Support email address (optional)", validators=[
        Optional(),
        Length(max=320, message="Support email address must be 320 characters or fewer"),
        Email(message="Enter the support email address in the correct format, like "
                      "support@example.com", check_deliverability=False),
    ])
    # The customer's phone field: what the portal accepts from customers, it accepts here.
    support_phone = phone_field("Support phone number")
    font = SelectField("Font", validate_choice=False,
                       choices=[SelectChoice(key, label)
                                for key, (label, _) in FONT_STACKS.items()])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # After binding: phone_field names its own length message from the label it is given.
        self.support_phone.label.text = "Support phone number (optional)"

    def validate_font(self, field):
        if field.data not in FONT_STACKS:
            raise StopValidation("Select a font from the list")

    def changes(self) -> dict:
        """The values to save, as portal_settings.operations.update_branding takes them."""
        return {name: self[name].data or None
                for name in ("business_name", "brand_color", "accent_color", "support_email",
                             "support_phone", "font")}


class ImageForm(BaseForm):
    """One image (the icon or the logo); the view checks its content with portal.images."""

    class Meta:
        def bind_field(self, form, unbound_field, options):
            # BaseForm refuses any value that is not text before a field's own checks; an
            # upload is a file by nature, so its field is bound without that check (the other
            # fields, the CSRF token among them, keep it).
            if issubclass(unbound_field.field_class, FileField):
                return unbound_field.bind(form=form, **options)
            return super().bind_field(form, unbound_field, options)

    image = FileField("Image")

    def __init__(self, kind: str, *args, **kwargs):
        super().__init__(*args, prefix=kind, **kwargs)
        self.kind = kind
        self.image.label.text = "Upload an icon" if kind == "icon" else "Upload a logo"

    def validate_image(self, field):
        upload = field.data
        if upload is None or not getattr(upload, "filename", None):
            raise StopValidation(f"Select the {self.kind} file to upload")
