"""The base form and field factories every feature's forms are built from.

Messages are plain English and say how to fix the problem, as GOV.UK's patterns advise.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from babel import support
from flask import current_app, has_request_context
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, StringField
from wtforms.i18n import messages_path
from wtforms.validators import DataRequired, Email, Length, Optional, StopValidation

# C0 controls and DEL (no field is a textarea, so not even tabs or line breaks inside a value),
# the C1 controls, and lone surrogates (they cannot be encoded, so they cannot be stored).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# What Werkzeug puts where the browser sent bytes that are not UTF-8.
_UNREADABLE = "\ufffd"
_ASCII_DIGITS = re.compile(r"[0-9]+")


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _short_label(field) -> str:
    """The label without its "(optional)", in English or as the locale's catalogue writes it."""
    text = str(field.label.text)
    for suffix in ("(optional)", str(_("(optional)"))):
        text = text.removesuffix(suffix).rstrip() if text.endswith(suffix) else text
    return text


def usable_text(form, field):
    """Runs first on every field: only text, with no control characters, reaches the other
    checks, the database or the gateway (PostgreSQL refuses NUL, and a NUL in a card name
    once failed only after the card was tokenized)."""
    values = list(field.raw_data or [])
    if isinstance(field, StringField) and field.data is not None:
        values.append(field.data)
    if any(not isinstance(value, str) for value in values):
        field.data = None
        raise StopValidation(_("%(short_label)s must be typed in as text",
                               short_label=_short_label(field)))
    # Checked after the filters, so a tab or line break pasted around a value is just trimmed.
    checked = field.data if isinstance(field.data, str) else "".join(values)
    if _CONTROL.search(checked):
        raise StopValidation(_("%(short_label)s must not contain control characters such as "
                               "tabs or line breaks", short_label=_short_label(field)))
    if _UNREADABLE in checked:
        raise StopValidation(_("%(short_label)s has a character that could not be read: type it "
                               "again", short_label=_short_label(field)))


def ascii_digits_only(noun: str):
    """A validator: other scripts' digits (and ², ½) pass str.isdigit() and \\d, but no postcode
    or tax number is written with them, so refuse them instead of storing them."""

    def check(form, field):
        value = field.data if isinstance(field.data, str) else ""
        if any(unicodedata.category(ch) in ("Nd", "No") and not ch.isascii() for ch in value):
            raise StopValidation(_("Enter %(noun)s using the digits 0 to 9", noun=noun))

    return check


def is_ascii_digits(value: str | None) -> bool:
    """True for "0"-"9" only: str.isdigit() is also true for "²" and full-width digits."""
    return bool(value) and _ASCII_DIGITS.fullmatch(value) is not None


class BaseForm(FlaskForm):
    """Strips surrounding whitespace from every text field before validation, and refuses
    anything but text without control characters before any other check runs."""

    class Meta:
        def bind_field(self, form, unbound_field, options):
            filters = list(unbound_field.kwargs.get("filters", []))
            if _strip not in filters:
                filters.insert(0, _strip)
            if len(unbound_field.args) > 1:
                raise TypeError(f"{form.__class__.__name__}: give a field's validators by "
                                "name (validators=[...]), so BaseForm can put its check first")
            validators = [usable_text, *(unbound_field.kwargs.get("validators") or [])]
            return unbound_field.bind(form=form, filters=filters, validators=validators,
                                      **options)

        def get_translations(self, form):
            # Flask-WTF reads WTForms' message catalogue from disk on every request that shows
            # a form; the files do not change while the process runs, so read each once.
            translations = super().get_translations(form)  # None when i18n is switched off
            if (translations is None or not has_request_context()
                    or "babel" not in current_app.extensions):
                return translations
            return _wtforms_translations(str(get_locale()))

    @property
    def error_list(self) -> list[tuple[str, str]]:
        """(field id, first message) for the error summary, in field order."""
        return [(field.id, field.errors[0]) for field in self if field.errors]


@lru_cache(maxsize=64)
def _wtforms_translations(locale: str):
    """WTForms' own messages (e.g. "Not a valid choice") in ``locale``, as Flask-WTF loads them."""
    return _TranslationsAdapter(support.Translations.load(messages_path(), [locale],
                                                          domain="wtforms"))


class _TranslationsAdapter:
    """The gettext/ngettext pair WTForms calls, as flask_wtf.i18n.Translations gives it."""

    def __init__(self, translations) -> None:
        self._translations = translations

    def gettext(self, string):
        return self._translations.ugettext(string)

    def ngettext(self, singular, plural, n):
        return self._translations.ungettext(singular, plural, n)


def text_field(label: str, *, required: str | None = None, max_length: int = 200, **kwargs):
    """A text field; ``required`` is the message shown when it is left empty."""
    # DataRequired checks the stripped value, so "   " counts as empty.
    validators = [DataRequired(message=required)] if required else [Optional()]
    validators.append(
        Length(max=max_length, message=_l("%(label)s must be %(max_length)s characters or fewer",
                                          label=label, max_length=max_length))
    )
    return StringField(label, validators=validators, **kwargs)


def email_field(label: str = _l("Email address"), **kwargs):
    """An email field with the messages customers understand."""
    return EmailField(
        label,
        validators=[
            DataRequired(message=_l("Enter your email address")),
            Length(max=320, message=_l("Email address must be 320 characters or fewer")),
            Email(
                message=_l("Enter an email address in the correct format, like name@example.com"),
                check_deliverability=False,
            ),
        ],
        **kwargs,
    )
