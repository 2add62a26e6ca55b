"""The base form and field factories every feature's forms are built from.

Messages are plain English and say how to fix the problem, as GOV.UK's patterns advise.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class BaseForm(FlaskForm):
    """Strips surrounding whitespace from every text field before validation."""

    class Meta:
        def bind_field(self, form, unbound_field, options):
            filters = list(unbound_field.kwargs.get("filters", []))
            if _strip not in filters:
                filters.insert(0, _strip)
            return unbound_field.bind(form=form, filters=filters, **options)

    @property
    def error_list(self) -> list[tuple[str, str]]:
        """(field id, first message) for the error summary, in field order."""
        return [(field.id, field.errors[0]) for field in self if field.errors]


def text_field(label: str, *, required: str | None = None, max_length: int = 200, **kwargs):
    """A text field; ``required`` is the message shown when it is left empty."""
    # DataRequired checks the stripped value, so "   " counts as empty.
    validators = [DataRequired(message=required)] if required else [Optional()]
    validators.append(
        Length(max=max_length, message=f"{label} must be {max_length} characters or fewer")
    )
    return StringField(label, validators=validators, **kwargs)


def email_field(label: str = "Email address", **kwargs):
    """An email field with the messages customers understand."""
    return EmailField(
        label,
        validators=[
            DataRequired(message="Enter your email address"),
            Length(max=320, message="Email address must be 320 characters or fewer"),
            Email(
                message="Enter an email address in the correct format, like name@example.com",
                check_deliverability=False,
            ),
        ],
        **kwargs,
    )
