"""The built wheel carries everything the portal needs to run: templates, static files and
migrations, and nothing from a developer's instance folder.

.ci/run goes further: it installs the wheel into a fresh virtual environment and renders the
login page from it.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory) -> set[str]:
    outdir = tmp_path_factory.mktemp("wheel")
    result = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(outdir),
                             str(ROOT)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    [wheel] = outdir.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def source_files(folder: str) -> set[str]:
    """The files under a top-level folder of the checkout, as the wheel names them."""
    base = ROOT / folder
    return {f"portal/{folder}/{path.relative_to(base).as_posix()}"
            for path in base.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts and not path.name.endswith(".pyc")}


@pytest.mark.parametrize("name", [
    "portal/__init__.py",
    "portal/templates/layout.html",
    "portal/static/portal.css",
    "portal/static/vendor/htmx-4.0.1.min.js",
    "portal/migrations/env.py",
    "portal/migrations/alembic.ini",
    "portal/migrations/script.py.mako",
])
def test_the_wheel_contains(wheel_names, name):
    assert name in wheel_names


def test_the_wheel_contains_the_migration_scripts(wheel_names):
    scripts = {n for n in wheel_names if n.startswith("portal/migrations/versions/")
               and n.endswith(".py")}
    assert scripts == {n for n in source_files("migrations")
                       if n.startswith("portal/migrations/versions/")}
    assert scripts


@pytest.mark.parametrize("folder", ["templates", "static", "migrations"])
def test_every_file_of_the_checkout_is_in_the_wheel(wheel_names, folder):
    missing = source_files(folder) - wheel_names
    assert not missing, f"left out of the wheel: {sorted(missing)}"


def test_the_wheel_carries_no_instance_data_or_tests(wheel_names):
    unwanted = [n for n in wheel_names
                if n.startswith(("instance/", "portal/instance/", "tests/"))
                or n.endswith((".db", "secret_key", ".pyc"))]
    assert unwanted == []


def test_the_installed_layout_is_found_inside_the_package(tmp_path, monkeypatch):
    # Installed from a wheel, templates/, static/ and migrations/ sit inside the package.
    import portal

    package = tmp_path / "portal"
    for folder in ("templates", "static", "migrations"):
        (package / folder).mkdir(parents=True)
    monkeypatch.setattr(portal, "PACKAGE_DIR", package)
    assert portal.resource_dir("templates") == package / "templates"
    monkeypatch.setattr(portal, "PACKAGE_DIR", ROOT / "portal")
    assert portal.resource_dir("templates") == ROOT / "templates"


# ---- every import is declared ---------------------------------------------------------------------

# Read by gunicorn only (`gunicorn -c python:portal.gunicorn_conf`), so gunicorn is there: the
# [server] extra brings it, not the portal's own dependencies.
SERVER_ONLY = {"portal/gunicorn_conf.py"}


def _top_level_imports(folder: Path) -> set[str]:
    import ast

    names = set()
    paths = [folder] if folder.is_file() else [
        path for path in folder.rglob("*.py")
        if path.relative_to(ROOT).as_posix() not in SERVER_ONLY]
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"portal", "tests", "bench"}  # the project's own


def _normal(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _installed_by(*groups: str) -> set[str]:
    """Every distribution a clean install of the project (with ``groups``) brings: the declared
    ones and, transitively, what they require (with the extras asked for)."""
    import tomllib
    from importlib.metadata import PackageNotFoundError, requires

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pending = [Requirement(r) for r in project["dependencies"]]
    for group in groups:
        pending += [Requirement(r) for r in project["optional-dependencies"][group]]
    found: dict[str, set[str]] = {}
    while pending:
        requirement = pending.pop()
        name = _normal(requirement.name)
        if name in found and requirement.extras <= found[name]:
            continue
        found.setdefault(name, set()).update(requirement.extras)
        try:
            children = [Requirement(r) for r in requires(name) or []]
        except PackageNotFoundError:
            continue
        extras = found[name] | {""}
        pending += [child for child in children
                    if child.marker is None
                    or any(child.marker.evaluate({"extra": e}) for e in extras)]
    return set(found)


def _distributions(modules: set[str]) -> dict[str, set[str]]:
    from importlib.metadata import packages_distributions

    known = packages_distributions()
    return {m: {_normal(d) for d in known.get(m, [m])} for m in modules}


@pytest.mark.parametrize(("folder", "groups"), [
    ("portal", ()), ("tests", ("test",)),
    ("bench", ("test", "bench")),  # benches: the test extras (Playwright, aiosmtpd), locust
    ("portal/gunicorn_conf.py", ("server",)),
])
def test_every_imported_package_is_installed_by_pyproject(folder, groups):
    # A clean install from pyproject.toml must bring everything the code imports.
    installed = _installed_by(*groups)
    missing = {module: dists for module, dists in
               _distributions(_top_level_imports(ROOT / folder)).items()
               if not dists & installed}
    assert missing == {}, f"add these to pyproject.toml: {missing}"
