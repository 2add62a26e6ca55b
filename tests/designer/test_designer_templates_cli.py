"""flask --app portal templates list | copy | texts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import template_rendered

from portal.designer import designer_for
from portal.designer.inventory import ALWAYS_PRESENT, inventory


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def run(*args):
        return runner.invoke(args=["templates", *args])

    return run


def _row(output: str, name: str) -> list[str]:
    """The lines of the table's row for template ``name`` (a wrapped row spans several)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line[2:].startswith(name + " "))
    row = [lines[start]]
    for line in lines[start + 1:]:
        if line[:42].strip():
            break
        row.append(line)
    return row


def test_list_shows_the_blocks_and_context_of_the_layout(cli):
    result = cli("list")
    assert result.exit_code == 0, result.output
    row = " ".join(_row(result.output, "layout.html"))
    assert row.startswith("  layout.html")
    for block in ("title", "head", "nav", "content", "footer"):
        assert block in row
    for variable in ("form", "signed_in"):
        assert variable in row
    assert "layout" in row.split()[1]
    assert "Every page also has: branding" in result.output


def test_list_marks_the_templates_this_instance_overrides(cli, write_override):
    write_override("components/notice.html", "{% macro notice(message) %}{% endmacro %}")
    write_override("components/_my_banner.html", "<p>Closed on Friday</p>")
    result = cli("list", "components/*")
    assert result.exit_code == 0, result.output
    assert _row(result.output, "components/notice.html")[0].startswith("* ")
    assert _row(result.output, "components/field.html")[0].startswith("  ")
    # A file of the designer's own, overriding nothing, is listed as theirs.
    assert _row(result.output, "components/_my_banner.html")[0].split()[:3] == [
        "*", "components/_my_banner.html", "own"]
    assert "layout.html" not in result.output.split("* overridden")[0]


def test_list_as_json_describes_each_template(cli, write_override):
    write_override("layout.html", '{% extends "original/layout.html" %}')
    data = json.loads(cli("list", "--json").output)
    by_name = {entry["name"]: entry for entry in data["templates"]}
    layout = by_name["layout.html"]
    assert layout["overridden"] is True and layout["kind"] == "layout"
    assert {"title", "content", "nav", "footer"} <= set(layout["blocks"])
    assert {"branding", "csp_nonce", "static_url", "csrf_token", "url_for"} <= set(
        layout["always"])
    assert "components/live_region.html" in layout["includes"]
    assert by_name["customers/_name.html"]["kind"] == "fragment"
    assert by_name["components/field.html"]["macros"] == ["field"]
    assert by_name["emails/login_code.txt"]["pair"] == "emails/login_code.html"
    assert by_name["customers/overview.html"]["extends"] == ["portal_page.html"]
    assert "customer" in by_name["customers/overview.html"]["context"]
    assert "branding" in data["always_present"] and "money" in data["filters"]


def test_copy_copies_the_original_into_instance_templates(cli, app):
    result = cli("copy", "customers/overview.html")
    assert result.exit_code == 0, result.output
    designer = designer_for(app)
    copy = Path(app.instance_path) / "templates" / "customers" / "overview.html"
    assert copy.read_text() == (designer.package_dir / "customers" / "overview.html").read_text()
    assert str(copy) in result.output
    assert 'extends "original/customers/overview.html"' in result.output


def test_copy_of_an_email_name_copies_both_parts(cli, app):
    result = cli("copy", "emails/login_code")
    assert result.exit_code == 0, result.output
    folder = Path(app.instance_path) / "templates" / "emails"
    assert sorted(path.name for path in folder.iterdir()) == ["login_code.html",
                                                              "login_code.txt"]


def test_copy_refuses_to_overwrite_an_override_without_force(cli, write_override):
    path = write_override("layout.html", "<p>my layout</p>")
    result = cli("copy", "layout.html")
    assert result.exit_code != 0
    assert "exists already" in result.output and "--force" in result.output
    assert path.read_text() == "<p>my layout</p>"
    result = cli("copy", "layout.html", "--force")
    assert result.exit_code == 0, result.output
    assert "{% block content %}" in path.read_text()


@pytest.mark.parametrize("name", ["../x", "../config.py", "/etc/passwd", "customers/../../x",
                                  "original/layout.html", "no-such-page.html", "customers",
                                  "layout.htm"])
def test_copy_refuses_names_that_are_not_the_portals_templates(cli, app, name):
    result = cli("copy", name)
    assert result.exit_code != 0
    assert "is not one of the portal's templates" in result.output
    instance = Path(app.instance_path)
    assert not (instance / "templates").exists() or not any((instance / "templates").iterdir())
    assert not (instance.parent / "x").exists()


def test_texts_lists_the_python_texts_and_marks_the_reworded_ones(cli, write_override):
    write_override("texts.html", """
        {% set texts = {"{label} must be {max} characters or fewer": "{label}: {max} at most"} %}
    """)
    result = cli("texts")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    flash = lines.index("  Your name has been updated")
    assert "message, portal/customers/views.py:" in lines[flash + 1]
    pattern = lines.index("* {label} must be {max_length} characters or fewer")
    assert lines[pattern + 2].strip() == "shown as: {label}: {max_length} at most"
    assert "  Your sign-in code for {business_name}" in lines
    assert "  Page not found" in lines
    assert "  Enter the {code_digits}-digit code from the email" in lines


def test_every_name_listed_as_always_present_is_in_a_real_pages_context(
        app, client_request, signed_in_customer):
    contexts = []

    def record(sender, template, context, **extra):
        contexts.append((template.name, set(context)))

    with template_rendered.connected_to(record, app):
        client_request.get("customers.overview")
    name, keys = contexts[0]
    assert name == "customers/overview.html"
    assert set(ALWAYS_PRESENT) - keys - set(app.jinja_env.globals) == set()


def test_every_app_wide_context_name_is_described_as_always_present(app, signed_in_customer,
                                                                    client):
    with app.test_request_context("/p/overview"):
        names = set()
        for processor in app.template_context_processors[None]:
            names |= set(processor())
    # Flask-WTF's csrf_meta_tag is a Jinja global too, like url_for: known without describing.
    undescribed = names - set(ALWAYS_PRESENT) - {"csrf_meta_tag"}
    assert undescribed == set(), "describe them in portal/designer/inventory.py ALWAYS_PRESENT"


def test_the_inventory_reads_every_package_template(app):
    names = {info.name for info in inventory(app)}
    assert {"layout.html", "texts.html", "error.html", "components/notice.html",
            "emails/login_code.html"} <= names
    assert not any(name.startswith("original/") for name in names)
