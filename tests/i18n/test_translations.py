"""The shipped catalogues: every text a customer can meet is translated into every shipped
language, placeholders intact, and the committed .mo files are the .po files compiled (the
portal reads the .mo files, so a fresh install needs no build step)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

from portal.i18n import DEFAULT, LANGUAGES
from portal.i18n_cli import KEYWORDS, ROOT, TEMPLATE, TRANSLATIONS

SHIPPED = [language.code for language in LANGUAGES if language.code != DEFAULT]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|%[sd]")


def _ids(message) -> tuple[str, ...]:
    return message.id if isinstance(message.id, tuple) else (message.id,)


def _messages(catalogue) -> dict:
    def key(value):
        return tuple(value) if isinstance(value, list | tuple) else value

    return {key(message.id): key(message.string) for message in catalogue if message.id}


def _catalogue(locale: str):
    path = TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"
    assert path.exists(), f"{locale} has no catalogue: run flask --app portal translations update"
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def _extracted_ids() -> set[str]:
    with (ROOT / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2)}
    for keyword in KEYWORDS:
        name, _, spec = keyword.partition(":")
        keywords[name] = tuple(int(n) for n in spec.split(",")) if spec else None
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=keywords):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_the_template_catalogue_holds_every_text_the_code_and_templates_use():
    with TEMPLATE.open("rb") as handle:
        template = read_po(handle)
    listed = {_ids(message)[0] for message in template if message.id}
    missing = sorted(_extracted_ids() - listed)
    assert missing == [], ("texts not in portal/translations/messages.pot (run flask --app portal "
                           f"translations update): {missing[:20]}")


@pytest.mark.parametrize("locale", SHIPPED)
def test_every_text_is_translated_in_each_shipped_language(locale):
    with TEMPLATE.open("rb") as handle:
        template = read_po(handle)
    catalogue = _catalogue(locale)
    problems = []
    for entry in template:
        if not entry.id:
            continue
        message = catalogue.get(entry.id)
        if message is None:
            problems.append(f"missing: {_ids(entry)[0]!r}")
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            problems.append(f"{'fuzzy' if message.fuzzy else 'untranslated'}: {_ids(entry)[0]!r}")
            continue
        wanted = sorted(PLACEHOLDER.findall(_ids(entry)[-1]))
        for translated in strings:
            if sorted(PLACEHOLDER.findall(translated)) != wanted and len(strings) == 1:
                problems.append(f"placeholders differ: {_ids(entry)[0]!r} -> {translated!r}")
    assert problems == [], f"{locale}: {len(problems)} problems, first ones: {problems[:15]}"


@pytest.mark.parametrize("locale", SHIPPED)
def test_each_catalogue_compiles_and_its_committed_mo_file_is_up_to_date(locale):
    catalogue = _catalogue(locale)
    errors = [f"{message.id!r}: {error}" for message, errs in catalogue.check() for error in errs]
    assert errors == []
    compiled = io.BytesIO()
    write_mo(compiled, catalogue)
    committed = Path(TRANSLATIONS / locale / "LC_MESSAGES" / "messages.mo")
    assert committed.exists(), f"run flask --app portal translations compile ({locale})"
    with committed.open("rb") as handle:
        shipped = _messages(read_mo(handle))
    compiled.seek(0)
    fresh = _messages(read_mo(compiled))
    assert shipped == fresh, f"{locale}: messages.mo is stale; run flask --app portal translations compile"
