"""``flask --app portal translations ...``: keeping the catalogues in portal/translations/ in
step with the texts, for developers in a source checkout (pybabel with the right options)."""

from __future__ import annotations

from pathlib import Path

import click
from babel.messages.frontend import CommandLineInterface
from flask.cli import AppGroup

from portal.i18n import DEFAULT, LANGUAGES

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = Path(__file__).resolve().parent / "translations"
TEMPLATE = TRANSLATIONS / "messages.pot"
# lazy_gettext is imported as _l; Jinja's and Python's _ / gettext / ngettext are Babel's own.
KEYWORDS = ("_l", "lazy_gettext", "lazy_ngettext:1,2")

translations_cli = AppGroup("translations", help="Extract, update and compile the catalogues.")


def pybabel(*args: str) -> None:
    CommandLineInterface().run(["pybabel", "-q", *args])


def extract() -> None:
    """Write messages.pot from the portal's Python code and templates (babel.cfg)."""
    keywords = [part for keyword in KEYWORDS for part in ("-k", keyword)]
    pybabel("extract", "-F", str(ROOT / "babel.cfg"), *keywords, "--sort-by-file",
            "--project", "billing-portal", "--copyright-holder", "the billing portal's authors",
            "-o", str(TEMPLATE), str(ROOT))


def shipped_locales() -> list[str]:
    return [language.code for language in LANGUAGES if language.code != DEFAULT]


@translations_cli.command("update")
def update_command() -> None:
    """Extract the texts, then add new ones to every catalogue (and create missing ones)."""
    extract()
    for locale in shipped_locales():
        catalogue = TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"
        if catalogue.exists():
            pybabel("update", "-i", str(TEMPLATE), "-d", str(TRANSLATIONS), "-l", locale,
                    "--ignore-obsolete")
        else:
            pybabel("init", "-i", str(TEMPLATE), "-d", str(TRANSLATIONS), "-l", locale)
    click.echo(f"Updated {len(shipped_locales())} catalogues in {TRANSLATIONS}; translate the "
               "new entries, then run: flask --app portal translations compile")


@translations_cli.command("compile")
def compile_command() -> None:
    """Compile every catalogue to the .mo files the portal reads (they are committed)."""
    pybabel("compile", "-d", str(TRANSLATIONS), "--statistics")
