"""Designer overrides: any template can be replaced by a file at the same path under
``instance/templates/``, and an override can extend the original as ``original/<name>``.

``init_app`` puts the loader in place (early in ``create_app``, before any template is read);
``check_app`` compiles every override once everything that templates use is registered (late in
``create_app``) and refuses to start on a broken one. ``portal/designer/cli.py`` is the
``flask --app portal templates`` group; ``texts.py`` lets ``templates/texts.html`` reword the
texts that Python code shows customers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app
from jinja2 import BaseLoader, FileSystemLoader, TemplateNotFound
from jinja2.loaders import split_template_path

# `{% extends "original/layout.html" %}` always means the portal's own file, whatever the
# instance overrides, so an override of layout.html can extend the layout it replaces.
ORIGINAL_PREFIX = "original"
# The kinds of file a designer writes; anything else in the folder (notes, backups) is ignored.
TEMPLATE_SUFFIXES = (".html", ".txt")
_EXTENSION = "portal.designer"


@dataclass(frozen=True)
class Designer:
    """Where the package's templates and this instance's overrides live."""

    package_dir: Path
    override_dir: Path
    package_loader: FileSystemLoader

    def package_templates(self) -> list[str]:
        return sorted(name for name in self.package_loader.list_templates()
                      if name.endswith(TEMPLATE_SUFFIXES))

    def override_path(self, name: str) -> Path:
        """The override file for template ``name`` (which may not exist); raises
        TemplateNotFound for a name that would leave the folder."""
        return self.override_dir.joinpath(*split_template_path(name))

    def is_overridden(self, name: str) -> bool:
        return self.override_path(name).is_file()

    def label(self, filename: str | os.PathLike) -> str:
        """How a template file is named to people: ``instance/templates/x.html`` for an override,
        ``templates/x.html`` for the portal's own, the path itself otherwise."""
        path = Path(filename).resolve()
        for root, prefix in ((self.override_dir, "instance/templates"),
                             (self.package_dir, "templates")):
            try:
                return f"{prefix}/{path.relative_to(root.resolve()).as_posix()}"
            except ValueError:
                continue
        return str(filename)


class OverridableLoader(BaseLoader):
    """The instance's override first, then the package's template; ``original/NAME`` is always
    the package's. A template read from the package stays current only while no override of
    it exists, so with auto-reload on (``flask run --debug``) a newly added override is used at
    once, not only after a restart; a deleted override falls back to the original the same way."""

    def __init__(self, override_dir: Path, package_loader: FileSystemLoader) -> None:
        self.override_dir = override_dir
        self.overrides = FileSystemLoader(str(override_dir))
        self.package = package_loader

    def get_source(self, environment, template):
        prefix, slash, rest = template.partition("/")
        if slash and prefix == ORIGINAL_PREFIX:
            return self.package.get_source(environment, rest)
        try:
            return self.overrides.get_source(environment, template)
        except TemplateNotFound:
            pass
        source, filename, uptodate = self.package.get_source(environment, template)
        override = self.override_dir.joinpath(*split_template_path(template))

        def still_current() -> bool:
            return (uptodate is None or uptodate()) and not override.exists()

        return source, filename, still_current

    def list_templates(self):
        return sorted(set(self.overrides.list_templates()) | set(self.package.list_templates()))


def init_app(app: Flask) -> None:
    """Put the override loader in front of the package's templates and register ``|text``."""
    from portal.designer import texts

    package_loader = app.jinja_loader
    if not isinstance(package_loader, FileSystemLoader):  # pragma: no cover (a wiring mistake)
        raise TypeError("the designer loader wraps the package's FileSystemLoader")
    override_dir = Path(app.instance_path) / "templates"
    app.jinja_loader = OverridableLoader(override_dir, package_loader)
    app.extensions[_EXTENSION] = Designer(
        package_dir=Path(package_loader.searchpath[0]), override_dir=override_dir,
        package_loader=package_loader)
    texts.init_app(app)


def check_app(app: Flask) -> None:
    """Compile every override now: a broken one stops the app with its file and line."""
    from portal.designer.overrides import check_overrides

    check_overrides(app)


def designer_for(app: Flask | None = None) -> Designer:
    return (app or current_app).extensions[_EXTENSION]
