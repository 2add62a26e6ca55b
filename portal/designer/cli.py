"""``flask --app portal templates list | copy NAME | texts``: what a designer can override."""

from __future__ import annotations

import json
import shutil
import textwrap
from fnmatch import fnmatch

import click
from flask import current_app
from flask.cli import AppGroup
from jinja2 import TemplateNotFound

from portal.designer import ORIGINAL_PREFIX, designer_for
from portal.designer.inventory import ALWAYS_PRESENT, PORTAL_FILTERS, PORTAL_TESTS, inventory
from portal.designer.texts import customer_text

templates_cli = AppGroup("templates", help="List the templates a designer can override, copy "
                                           "one into instance/templates, list Python texts.")


def _cell(values, width: int) -> list[str]:
    text = ", ".join(values) if isinstance(values, list) else (values or "")
    return textwrap.wrap(text, width, break_on_hyphens=False) or ["-"]


def _table(rows: list[list], widths: list[int]) -> str:
    lines = []
    for row in rows:
        cells = [_cell(value, width) for value, width in zip(row, widths, strict=True)]
        for index in range(max(len(cell) for cell in cells)):
            parts = [(cell[index] if index < len(cell) else "").ljust(width)
                     for cell, width in zip(cells, widths, strict=True)]
            lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


@templates_cli.command("list")
@click.argument("patterns", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_command(patterns: tuple[str, ...], as_json: bool) -> None:
    """The templates with their kind, blocks, macros and context; * marks an override.

    PATTERNS (e.g. layout.html or 'customers/*') show only the templates they match."""
    infos = [info for info in inventory(current_app)
             if not patterns or any(fnmatch(info.name, pattern) for pattern in patterns)]
    if as_json:
        click.echo(json.dumps({"templates": [info.as_dict() for info in infos],
                               "always_present": ALWAYS_PRESENT, "filters": PORTAL_FILTERS,
                               "tests": PORTAL_TESTS}, indent=2))
        return
    if not infos:
        raise click.ClickException("No template matches " + " ".join(patterns))
    rows = [["  TEMPLATE", "KIND", "EXTENDS", "BLOCKS, MACROS()", "CONTEXT FROM THE VIEW"]]
    for info in infos:
        offers = info.blocks + [f"{macro}()" for macro in info.macros]
        rows.append([("* " if info.overridden else "  ") + info.name, info.kind,
                     [e.removeprefix(ORIGINAL_PREFIX + "/") for e in info.extends],
                     offers, info.context + [f"{helper}()" for helper in info.helpers]])
    click.echo(_table(rows, [40, 9, 24, 30, 36]))
    overridden = sum(info.overridden for info in infos)
    click.echo("")
    click.echo(f"* overridden by a file in {designer_for().override_dir} ({overridden} shown)")
    click.echo("Every page also has: " + ", ".join(sorted(ALWAYS_PRESENT)))
    click.echo("Filters: " + ", ".join(sorted(PORTAL_FILTERS)) + "; --json describes them all.")
    click.echo(f'An override extends the original with {{% extends "{ORIGINAL_PREFIX}/NAME" %}}.')


@templates_cli.command("copy")
@click.argument("name")
@click.option("--force", is_flag=True, help="Replace an override that exists already.")
def copy_command(name: str, force: bool) -> None:
    """Copy the portal's template NAME into instance/templates/NAME to edit.

    An email's name without .txt or .html (emails/login_code) copies both parts."""
    designer = designer_for()
    known = set(designer.package_templates())
    names = [name] if name in known else [f"{name}{suffix}" for suffix in (".txt", ".html")
                                         if f"{name}{suffix}" in known]
    if not names:
        raise click.ClickException(
            f"{name} is not one of the portal's templates; `flask --app portal templates list` "
            "shows their names (like layout.html or customers/overview.html).")
    copied = []
    for one in names:
        try:
            target = designer.override_path(one)
            source = designer.package_dir.joinpath(*one.split("/"))
        except TemplateNotFound:  # pragma: no cover (a package name never leaves the folder)
            raise click.ClickException(f"{name} is not a template name") from None
        if target.exists() and not force:
            raise click.ClickException(
                f"{target} exists already: edit it, or give --force to replace it with the "
                "portal's original.")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        copied.append(target)
    for target in copied:
        click.echo(f"Copied {target}")
    click.echo("Edit the copy; the portal uses it in place of its own from the next start "
               "(at once under `flask run --debug`). To change only some blocks, replace its "
               f'content with {{% extends "{ORIGINAL_PREFIX}/{names[0]}" %}} and those blocks.')


@templates_cli.command("texts")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a list.")
def texts_command(as_json: bool) -> None:
    """The texts the portal's Python code shows, which texts.html can reword; * marks the
    ones this instance's texts.html rewords."""
    from portal.designer.python_texts import python_texts

    entries = python_texts()
    reworded = []
    for entry in entries:
        # A {placeholder} in the text is matched by the same pattern in texts.html.
        replacement = customer_text(entry.text, locale="")
        reworded.append(replacement if replacement != entry.text else None)
    if as_json:
        click.echo(json.dumps([dict(entry.as_dict(), reworded_as=new)
                               for entry, new in zip(entries, reworded, strict=True)], indent=2))
        return
    for entry, new in zip(entries, reworded, strict=True):
        mark = "*" if new is not None else " "
        click.echo(f"{mark} {entry.text}")
        click.echo(f"      {entry.kind}, {', '.join(entry.places)}")
        if new is not None:
            click.echo(f"      shown as: {new}")
    click.echo("")
    click.echo("Reword any of them in instance/templates/texts.html "
               "(`flask --app portal templates copy texts.html`); a {name} matches any text.")
