"""The customer's language: which locales the portal ships, how one is chosen for a request,
and the footer's switcher.

A request's locale is, in order: the language the visitor picked in the footer (kept in the
session cookie as ``locale``, so it holds before and after signing in), the portal session's
``locale`` when the merchant created one for this sign-in, the customer's preferred locales,
the browser's ``Accept-Language``, then English. Only shipped locales are ever chosen.
"""

from __future__ import annotations

from dataclasses import dataclass

from babel import Locale
from flask import Flask, has_request_context, request, session


@dataclass(frozen=True)
class Language:
    code: str  # Babel's spelling: pt_BR, never pt-BR
    name: str  # in its own language, as the switcher shows it
    direction: str = "ltr"

    @property
    def tag(self) -> str:
        """The BCP 47 tag for <html lang>: pt-BR."""
        return self.code.replace("_", "-")


LANGUAGES: tuple[Language, ...] = (
    Language("en", "English"),
    Language("de", "Deutsch"),
    Language("fr", "Français"),
    Language("es", "Español"),
    Language("it", "Italiano"),
    Language("nl", "Nederlands"),
    Language("pt_BR", "Português (Brasil)"),
    Language("pl", "Polski"),
    Language("ja", "日本語"),
    Language("ar", "العربية", "rtl"),
)
BY_CODE = {language.code: language for language in LANGUAGES}
DEFAULT = "en"
SESSION_LOCALE = "locale"  # the switcher's choice, in the session cookie


def shipped(value: str | None) -> str | None:
    """The locale to use when ``value`` is asked for, or None when no shipped language fits.

    The region is kept when the language ships, so dates and numbers follow it (en-GB writes
    1 December, de-AT its own way) while the catalogue is the language's (gettext falls back
    from de_AT to de). Portuguese is the exception: the Brazilian catalogue is the only one, so
    pt and pt-PT become pt_BR, which is the catalogue's name.
    """
    if not value or not isinstance(value, str) or len(value) > 35:
        return None
    try:
        wanted = Locale.parse(value.strip().replace("-", "_"))
    except Exception:  # noqa: BLE001 (Babel raises UnknownLocaleError, ValueError, TypeError)
        return None
    exact = f"{wanted.language}_{wanted.territory}" if wanted.territory else wanted.language
    if exact in BY_CODE:
        return exact
    if wanted.language in BY_CODE:
        return exact
    # A language shipped only for one region (pt_BR): that region's catalogue.
    regional = [code for code in BY_CODE if code.split("_")[0] == wanted.language]
    return regional[0] if regional else None


def catalogue_of(locale) -> str:
    """The shipped catalogue a locale reads (de_AT reads de), for the switcher."""
    code = str(locale or DEFAULT)
    if code in BY_CODE:
        return code
    language = code.split("_")[0]
    if language in BY_CODE:
        return language
    return next((c for c in BY_CODE if c.split("_")[0] == language), DEFAULT)


def _accept_language() -> str | None:
    for value, _quality in request.accept_languages:
        code = shipped(value)
        if code:
            return code
    return None


def select_locale() -> str:
    """The locale of this request (the module docstring gives the order)."""
    if not has_request_context():
        return DEFAULT
    if request.blueprint and request.blueprint.startswith("admin"):
        return DEFAULT  # the dashboard's texts are English only
    chosen = shipped(session.get(SESSION_LOCALE))
    if chosen:
        return chosen
    from portal.request_context import current_customer, current_portal_session

    portal_session = current_portal_session()
    if portal_session is not None and portal_session.locale not in (None, "", "auto"):
        chosen = shipped(portal_session.locale)
        if chosen:
            return chosen
    customer = current_customer()
    for value in (customer.preferred_locales if customer else None) or []:
        chosen = shipped(value)
        if chosen:
            return chosen
    return _accept_language() or DEFAULT


def locale_for_customer(customer) -> str:
    """The locale for what is sent to ``customer`` outside a request (emails from the worker):
    their preferred locales, else English."""
    for value in getattr(customer, "preferred_locales", None) or []:
        chosen = shipped(value)
        if chosen:
            return chosen
    return DEFAULT


@dataclass(frozen=True)
class PageLanguage:
    """What the layout writes: <html lang> (the locale's own tag, en-GB) and dir."""

    tag: str
    direction: str
    code: str  # the catalogue, as the switcher names it


def language_of(locale) -> PageLanguage:
    code = catalogue_of(locale)
    return PageLanguage(tag=str(locale or DEFAULT).replace("_", "-"),
                        direction=BY_CODE[code].direction, code=code)


def init_app(app: Flask) -> None:
    """Give templates the request's language (its tag and direction) and the switcher's list."""
    from flask_babel import get_locale, refresh

    # Flask-Babel keeps the locale on g, which belongs to the app context: where one context
    # serves several requests (the test client inside `with app.app_context()`), a request
    # would get the one before's language. First thing in every request, forget it.
    app.before_request_funcs.setdefault(None, []).insert(0, refresh)
    # A global, not a context variable: macros imported without context see it too.
    app.jinja_env.globals["languages"] = LANGUAGES

    @app.context_processor
    def inject_language():
        return {"current_language": language_of(get_locale())}
