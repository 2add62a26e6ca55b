"""Checking the instance's template overrides at start, and naming the template file and line
of an error met while rendering."""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from jinja2 import Environment, TemplateNotFound, TemplateSyntaxError, nodes

from portal.config import ConfigError
from portal.designer import (
    ORIGINAL_PREFIX,
    TEMPLATE_SUFFIXES,
    Designer,
    designer_for,
)
from portal.designer.texts import TEXTS_TEMPLATE, TextsError, read_tables

log = logging.getLogger("portal.designer")


class TemplateOverrideError(ConfigError):
    """An override in instance/templates cannot be used; the message names its file and line."""


@dataclass(frozen=True)
class TemplateLocation:
    """Where a template went wrong: ``instance/templates/layout.html``, line 3, and why."""

    label: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.label}, line {self.line}" if self.line else self.label
        return f"{where}: {self.message}"


def override_files(designer: Designer) -> list[str]:
    """Template names of the files under instance/templates (hidden files and folders, and
    files that are not .html or .txt, left out)."""
    root = designer.override_dir
    if not root.is_dir():
        return []
    names = []
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and path.name.endswith(TEMPLATE_SUFFIXES):
            names.append(relative.as_posix())
    return sorted(names)


def check_overrides(app: Flask) -> None:
    """Compile every override; refuse to start on the first broken ones, warn about the ones
    that compile but would not do what the designer meant."""
    designer = designer_for(app)
    environment = app.jinja_env
    problems: list[TemplateLocation] = []
    for name in override_files(designer):
        problem = _check_one(environment, designer, name)
        if problem is not None:
            problems.append(problem)
    if problems:
        first, rest = problems[0], problems[1:]
        more = (f" ({len(rest)} more broken: {', '.join(p.label for p in rest)})"
                if rest else "")
        raise TemplateOverrideError(f"template override {first}{more}")


def _check_one(environment: Environment, designer: Designer, name: str) -> TemplateLocation | None:
    path = designer.override_dir / name
    label = designer.label(path)
    try:
        source = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return TemplateLocation(label, None, "is not UTF-8 text; save it as UTF-8")
    try:
        tree = environment.parse(source, name, str(path))
        environment.compile(tree, name, str(path))  # unknown filters and tests fail here
    except TemplateSyntaxError as error:
        return TemplateLocation(label, error.lineno, _one_line(error.message or str(error)))
    for node in _references(tree):
        problem = _check_reference(environment, name, label, node)
        if problem is not None:
            return problem
    if name == TEXTS_TEMPLATE:
        try:
            read_tables(environment.get_template(name))
        except TextsError as error:
            return TemplateLocation(label, None, str(error))
        except Exception as error:  # noqa: BLE001 (anything else it raises is the file's)
            return location_of(error, designer) or TemplateLocation(label, None, str(error))
    _warn_about_blocks(environment, designer, name, label, tree)
    return None


_REFERENCE_WORDS = {nodes.Extends: "extends", nodes.Include: "includes",
                    nodes.Import: "imports", nodes.FromImport: "imports from"}


def _references(tree: nodes.Template):
    for node_type in _REFERENCE_WORDS:
        yield from tree.find_all(node_type)


def _check_reference(environment, name, label, node) -> TemplateLocation | None:
    """A fixed template name that is this file itself (it would extend itself for ever) or
    that does not exist."""
    target = node.template
    if not isinstance(target, nodes.Const) or not isinstance(target.value, str):
        return None  # a name worked out while rendering; the render-time error names it
    word = _REFERENCE_WORDS[type(node)]
    if target.value == name:
        return TemplateLocation(label, node.lineno, (
            f'{word} "{name}", which is this file itself; to build on the portal\'s own '
            f'template write "{ORIGINAL_PREFIX}/{name}"'))
    if isinstance(node, nodes.Include) and node.ignore_missing:
        return None
    try:
        environment.loader.get_source(environment, target.value)
    except TemplateNotFound:
        return TemplateLocation(label, node.lineno, (
            f'{word} "{target.value}", which is not a template '
            "(flask --app portal templates list shows them)"))
    return None


def _block_names(tree: nodes.Template) -> set[str]:
    return {block.name for block in tree.find_all(nodes.Block)}


def _chain_blocks(environment: Environment, name: str, seen: set[str] | None = None) -> set[str]:
    """The blocks template ``name`` and the templates it extends offer."""
    seen = seen or set()
    if name in seen:
        return set()
    seen.add(name)
    try:
        source, filename, _ = environment.loader.get_source(environment, name)
        tree = environment.parse(source, name, filename)
    except Exception:  # noqa: BLE001 (the check of that file reports it)
        return set()
    blocks = _block_names(tree)
    for extends in tree.find_all(nodes.Extends):
        if isinstance(extends.template, nodes.Const):
            blocks |= _chain_blocks(environment, extends.template.value, seen)
    return blocks


def _warn_about_blocks(environment, designer: Designer, name: str, label: str, tree) -> None:
    """Compiles, but would silently not show: a block the template it extends does not have,
    or a full replacement of a layout that drops blocks the pages fill."""
    own = _block_names(tree)
    extends = [node.template.value for node in tree.find_all(nodes.Extends)
               if isinstance(node.template, nodes.Const)]
    if extends:
        offered = _chain_blocks(environment, extends[0])
        for block in sorted(own - offered):
            log.warning('%s: block "%s" is not a block of %s, so it is not shown '
                        "(flask --app portal templates list %s shows its blocks)",
                        label, block, extends[0], extends[0].removeprefix(ORIGINAL_PREFIX + "/"))
        return
    if name not in designer.package_templates():
        log.warning("%s replaces no template of the portal; it is used only where another "
                    "template includes it by that name", label)
        return
    try:
        source, filename, _ = environment.loader.get_source(environment,
                                                            f"{ORIGINAL_PREFIX}/{name}")
        original = environment.parse(source, name, filename)
    except Exception:  # noqa: BLE001
        return
    if any(True for _ in original.find_all(nodes.Extends)):
        return  # a page replaced in full: its blocks were its own to fill
    dropped = _block_names(original) - own
    if dropped:
        log.warning("%s replaces %s without the block(s) %s, which templates extending it "
                    "fill: their content is not shown", label, name, ", ".join(sorted(dropped)))


# ---- render time ------------------------------------------------------------------------------

def location_of(error: BaseException, designer: Designer) -> TemplateLocation | None:
    """The template file and line an exception came from, or None when no template was in it.

    Jinja rewrites tracebacks so that template code appears as frames of the template file at
    its own line numbers; the innermost such frame is where the designer should look."""
    if isinstance(error, TemplateSyntaxError) and error.filename:
        return TemplateLocation(designer.label(error.filename), error.lineno,
                                _one_line(error.message or str(error)))
    roots = [designer.override_dir.resolve(), designer.package_dir.resolve()]
    found = None
    for frame in traceback.extract_tb(error.__traceback__):
        if not frame.filename.endswith(TEMPLATE_SUFFIXES):
            continue
        path = Path(frame.filename).resolve()
        if any(path.is_relative_to(root) for root in roots):
            found = frame
    if found is None:
        return None
    return TemplateLocation(designer.label(found.filename), found.lineno,
                            _one_line(f"{type(error).__name__}: {error}"))


def _one_line(text: str) -> str:
    return " ".join(str(text).split())
