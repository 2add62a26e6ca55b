"""Rewording the texts Python code shows customers (flash messages, validation messages,
refusals, notices, email subjects, the error pages' words) from ``templates/texts.html``.

``texts.html`` is a template like any other, so a designer overrides it in
``instance/templates/texts.html``. It sets a dictionary, text as the portal writes it on the
left, the words to show instead on the right::

    {% set texts = {
      "Your name has been updated": "Thanks, we saved your name",
      "{label} must be {max} characters or fewer": "{label}: {max} characters at most",
    } %}

A ``{name}`` on the left matches any run of text (a number, an email address, a label), and
the same ``{name}`` on the right puts it back. ``texts_fr`` (or ``texts_pt_BR``) next to
``texts`` applies only while the page is shown in that locale, and is looked at first.

The texts reach the page through the ``|text`` filter, applied in the few components that print
them (flashes, notice, field, error summary) and the places that print a refusal. The template is
read once per loaded version of it: Jinja keeps the compiled template, and the table built from
it is kept beside it until Jinja loads a changed file (auto-reload) or the process restarts.
"""

from __future__ import annotations

import logging
import re
import threading
import weakref
from dataclasses import dataclass

from flask import Flask, current_app, has_request_context
from flask_babel.speaklater import LazyString
from jinja2 import Environment, Undefined, pass_environment

TEXTS_TEMPLATE = "texts.html"
SECTION = "texts"  # the variable texts.html sets; texts_<locale> beside it for one locale
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

log = logging.getLogger("portal.designer")


class TextsError(ValueError):
    """texts.html sets something that is not a table of texts; the message says what."""


@dataclass(frozen=True)
class TextTable:
    """One section of texts.html: exact texts by a dictionary look-up, then the patterns with
    ``{placeholders}``, most specific (most fixed characters) first."""

    exact: dict[str, str]
    patterns: tuple[tuple[re.Pattern[str], str], ...]

    def reword(self, text: str) -> str | None:
        replacement = self.exact.get(text)
        if replacement is not None:
            return replacement
        for pattern, replacement in self.patterns:
            match = pattern.fullmatch(text)
            if match:
                return _fill(replacement, match.groupdict())
        return None

    def __len__(self) -> int:
        return len(self.exact) + len(self.patterns)


def _fill(replacement: str, values: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: values.get(m[1], m[0]), replacement)


def compile_table(section: str, mapping) -> TextTable:
    """The table for one ``{% set texts... = {...} %}``; TextsError says what is wrong."""
    if not isinstance(mapping, dict):
        raise TextsError(f"{section} must be a dictionary like {{\"old text\": \"new text\"}}, "
                         f"not {type(mapping).__name__}")
    exact: dict[str, str] = {}
    patterns: list[tuple[int, re.Pattern[str], str]] = []
    for original, replacement in mapping.items():
        if not isinstance(original, str) or not isinstance(replacement, str):
            raise TextsError(f"{section}: every text and its replacement must be in quotes "
                             f"({original!r}: {replacement!r})")
        names = PLACEHOLDER.findall(original)
        unknown = sorted(set(PLACEHOLDER.findall(replacement)) - set(names))
        if unknown:
            raise TextsError(f"{section}: the replacement for {original!r} uses "
                             f"{', '.join('{' + n + '}' for n in unknown)}, which the text "
                             "it replaces does not have")
        if not names:
            exact[original] = replacement
            continue
        patterns.append((len(PLACEHOLDER.sub("", original)), _pattern(original), replacement))
    patterns.sort(key=lambda item: -item[0])  # stable: equally specific ones keep their order
    return TextTable(exact, tuple((pattern, text) for _, pattern, text in patterns))


def _pattern(original: str) -> re.Pattern[str]:
    parts, seen, position = [], set(), 0
    for match in PLACEHOLDER.finditer(original):
        parts.append(re.escape(original[position:match.start()]))
        name = match[1]
        # The same name twice must be the same text twice.
        parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>.+?)")
        seen.add(name)
        position = match.end()
    parts.append(re.escape(original[position:]))
    return re.compile("".join(parts), re.DOTALL)


def read_tables(template) -> dict[str, TextTable]:
    """Every ``texts`` / ``texts_<locale>`` section the template sets, compiled."""
    exported = {name: value for name, value in vars(template.module).items()
                if name == SECTION or name.startswith(SECTION + "_")}
    return {name: compile_table(name, value) for name, value in exported.items()}


# Tables by the Template object Jinja keeps: a changed texts.html is a new Template (and the old
# one, and its entry here, go away with Jinja's cache entry).
_tables: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def tables_for(environment: Environment) -> dict[str, TextTable]:
    template = environment.get_template(TEXTS_TEMPLATE)
    tables = _tables.get(template)
    if tables is None:
        tables = read_tables(template)
        with _lock:
            _tables[template] = tables
    return tables


def _sections(locale: str | None) -> list[str]:
    names = []
    if locale:
        locale = str(locale).replace("-", "_")
        names.append(f"{SECTION}_{locale}")
        language = locale.split("_")[0]
        if language != locale:
            names.append(f"{SECTION}_{language}")
    names.append(SECTION)
    return names


def _request_locale() -> str | None:
    if not has_request_context():
        return None
    try:
        from flask_babel import get_locale

        return str(get_locale() or "") or None
    except Exception:  # noqa: BLE001 (rewording must never break a page)
        return None


def customer_text(text, *, locale: str | None = None, environment: Environment | None = None):
    """``text`` as texts.html rewords it for ``locale`` (the request's when None), or unchanged.

    Never raises: a texts.html that cannot be read is logged and the portal's words are shown
    (the start-up check has refused the broken ones it can see already)."""
    if text is None or isinstance(text, Undefined):
        return text
    if isinstance(text, LazyString):
        # A lazy text (_l) says it is markup (__html__), so Jinja would print it unescaped:
        # as a plain string it is escaped like every other Python message.
        text = str(text)
    key = str(text)
    if not key:
        return text
    try:
        tables = tables_for(environment or current_app.jinja_env)
    except Exception:  # noqa: BLE001
        log.exception("texts.html could not be read; the portal's own words are shown")
        return text
    if not tables:
        return text
    for section in _sections(locale if locale is not None else _request_locale()):
        table = tables.get(section)
        if table is not None:
            replacement = table.reword(key)
            if replacement is not None:
                return replacement
    return text


def init_app(app: Flask) -> None:
    @pass_environment
    def text_filter(environment, value):
        """``{{ message|text }}``: the customer-facing text, reworded by texts.html."""
        return customer_text(value, environment=environment)

    app.add_template_filter(text_filter, "text")
