"""Small helpers for translated texts in Python code (Flask-Babel does the translating).

``N_("...")`` marks a text the portal stores in the database in English (a failed payment's
message) for the catalogue (pybabel's default keywords include ``N_``) and returns it
unchanged, so what is stored never depends on the language of the request that wrote it.
``shown(text)`` translates such a stored text when it is one of the portal's own; a text from
elsewhere (a processor's message) has no translation and is shown as stored.
``current_locale()`` is the locale being written in, for Babel's number and date formats.
"""

from __future__ import annotations

from flask import has_app_context
from flask_babel import get_locale, gettext


def N_(text: str) -> str:  # noqa: N802 (the name gettext tools look for)
    """Mark ``text`` for translation without translating it."""
    return text


def shown(text: str | None) -> str | None:
    """A stored English text in the language of the page or email being written."""
    return gettext(text) if text else text


def current_locale() -> str:
    """The locale pages and emails are being written in (Flask-Babel's, so force_locale
    counts), or English outside the app."""
    if not has_app_context():
        return "en"
    try:
        return str(get_locale() or "en")
    except RuntimeError:  # no request to choose a locale from, and none forced
        return "en"
