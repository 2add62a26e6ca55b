"""The login forms: the email step, the code step, and the button-only resend form."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l
from wtforms import StringField
from wtforms.validators import DataRequired, Regexp

from portal.forms import BaseForm, email_field
from portal.login.operations import CODE_DIGITS


def _digits_only(value):
    """People paste codes as "123 456" or "123-456"; keep the digits they meant."""
    return value.replace(" ", "").replace("-", "") if isinstance(value, str) else value


class EmailForm(BaseForm):
    email = email_field(_l("Email address"))


class CodeForm(BaseForm):
    code = StringField(
        _l("Code from the email"),
        filters=[_digits_only],
        validators=[
            # DataRequired looks after the filters, so a field of spaces counts as empty.
            DataRequired(message=_l("Enter the code from the email")),
            # [0-9], not \d: other scripts' digits are not what the email holds.
            Regexp(rf"^[0-9]{{{CODE_DIGITS}}}$",
                   message=_l("Enter the %(code_digits)s-digit code from the email",
                              code_digits=CODE_DIGITS)),
        ],
    )


class ResendForm(BaseForm):
    """No fields: the CSRF token is all the resend button posts."""


def usable_prefilled_email(value: str | None) -> str | None:
    """The ?prefilled_email value if it is a well-formed address, else None (simply unused)."""
    value = (value or "").strip()
    if not value or len(value) > 320:
        return None
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return None
    return value
