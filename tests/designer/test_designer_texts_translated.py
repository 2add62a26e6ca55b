"""A text written in Python reaches the customer translated (Flask-Babel's catalogue for the
request's locale, WTForms' own catalogue for its built-in messages), and texts.html rewords
the translated text, as shown."""

from __future__ import annotations

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from flask_babel import force_locale, get_domain
from werkzeug.datastructures import MultiDict
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice

from portal.designer.texts import customer_text
from portal.forms import BaseForm
from portal.login.forms import EmailForm

GERMAN = {
    "Email address": "E-Mail-Adresse",
    "Your card was declined.": "Ihre <b>Karte</b> wurde abgelehnt.",
    "Enter your email address": "Geben Sie Ihre E-Mail-Adresse ein",
    "%(label)s must be %(max_length)s characters or fewer":
        "%(label)s darf höchstens %(max_length)s Zeichen lang sein",
}


@pytest.fixture
def german_catalogue(tmp_path, monkeypatch):
    """A German messages.mo with a few of the portal's texts, used instead of the shipped
    catalogues for this test (and forgotten after it: Flask-Babel caches by locale)."""
    catalog = Catalog(locale="de", domain="messages")
    for english, german in GERMAN.items():
        catalog.add(english, german)
    folder = tmp_path / "translations" / "de" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with open(folder / "messages.mo", "wb") as mo:
        write_mo(mo, catalog)
    domain = get_domain()
    monkeypatch.setattr(domain, "_translation_directories", [str(tmp_path / "translations")])
    monkeypatch.setattr(domain, "cache", {})


def _posted_email_form(app, email: str, locale: str) -> tuple[str, list[str]]:
    with app.test_request_context("/p/login", method="POST"), force_locale(locale):
        form = EmailForm(formdata=MultiDict({"email": email}), meta={"csrf": False})
        form.validate()
        # Read while the locale is in force: labels and messages are lazy.
        return str(form.email.label.text), [str(error) for error in form.email.errors]


def test_a_form_label_and_message_are_shown_in_the_requests_language(app, german_catalogue):
    assert _posted_email_form(app, "", "de") == (
        "E-Mail-Adresse", ["Geben Sie Ihre E-Mail-Adresse ein"])
    assert _posted_email_form(app, "", "en") == ("Email address", ["Enter your email address"])


def test_a_translated_text_keeps_its_values(app, german_catalogue):
    from portal.forms import text_field

    class NameForm(BaseForm):
        name = text_field("Name", max_length=5)

    with app.test_request_context("/p/x", method="POST"), force_locale("de"):
        form = NameForm(formdata=MultiDict({"name": "abcdefg"}), meta={"csrf": False})
        assert not form.validate()
        assert str(form.name.errors[0]) == "Name darf höchstens 5 Zeichen lang sein"


@pytest.mark.parametrize(("locale", "shown"), [
    ("de", "Keine gültige Auswahl."),
    ("pt_BR", "Escolha inválida."),  # WTForms ships Portuguese as pt
    ("ja", "選択肢が正しくありません。"),
    ("en", "Not a valid choice."),
])
def test_wtforms_own_messages_follow_the_flask_babel_locale(app, locale, shown):
    class ChoiceForm(BaseForm):
        choice = SelectField("Choice", choices=[SelectChoice("a", "A")])

    with app.test_request_context("/p/x", method="POST"), force_locale(locale):
        form = ChoiceForm(formdata=MultiDict({"choice": "z"}), meta={"csrf": False})
        assert not form.validate()
        assert form.choice.errors == [shown]


def test_texts_html_rewords_the_translated_text_in_its_locale_section(
        app, german_catalogue, write_override):
    write_override("texts.html", """
        {% set texts = {"Enter your email address": "Type your email"} %}
        {% set texts_de = {"Geben Sie Ihre E-Mail-Adresse ein": "Bitte E-Mail eingeben"} %}
    """)
    _label, [german] = _posted_email_form(app, "", "de")
    _label, [english] = _posted_email_form(app, "", "en")
    with app.test_request_context("/p/login"):
        assert customer_text(german, locale="de") == "Bitte E-Mail eingeben"
        assert customer_text(english, locale="en") == "Type your email"


def test_a_lazy_text_printed_with_the_text_filter_is_escaped(app, german_catalogue):
    from flask import render_template_string
    from flask_babel import lazy_gettext

    with app.test_request_context("/p/x"), force_locale("de"):
        shown = render_template_string("{{ message|text }}",
                                       message=lazy_gettext("Your card was declined."))
    assert shown == "Ihre &lt;b&gt;Karte&lt;/b&gt; wurde abgelehnt."
