"""A broken override stops the app at start with its file and line; one that fails while
rendering gives an error page that is never blank, and a log line naming the file and line."""

from __future__ import annotations

import logging

import pytest
from bs4 import BeautifulSoup

from portal import create_app
from portal.designer.overrides import TemplateOverrideError
from tests.conftest import base_config

PRODUCTION = {"ENV": "production", "PUBLIC_URL": "https://billing.example.com",
              "MAIL_BACKEND": "smtp", "RATELIMIT_SINGLE_PROCESS": True}


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("components/notice.html",
     "{% macro notice(message) %}\n<div>\n{% if %}</div>\n{% endmacro %}\n",
     "instance/templates/components/notice.html, line 3: Expected an expression"),
    ("layout.html", "<p>\n{{ amount|monye }}\n", "instance/templates/layout.html, line 2: "
                                                 "No filter named 'monye'"),
    ("layout.html", '{% extends "layout.html" %}\n',
     'instance/templates/layout.html, line 1: extends "layout.html", which is this file itself; '
     'to build on the portal\'s own template write "original/layout.html"'),
    ("customers/overview.html", "{# a note #}\n{% extends \"portal_pages.html\" %}\n",
     'instance/templates/customers/overview.html, line 2: extends "portal_pages.html", '
     "which is not a template"),
    ("texts.html", '{% set texts = ["Page not found"] %}',
     "instance/templates/texts.html: texts must be a dictionary"),
])
def test_a_broken_override_stops_the_app_with_its_file_and_line(
        app, write_override, database_uri, name, text, expected):
    write_override(name, text)
    with pytest.raises(TemplateOverrideError) as error:
        create_app(base_config(database_uri))
    message = str(error.value)
    assert expected in message
    assert "\n" not in message


def test_production_refuses_to_start_with_a_broken_override(app, write_override, database_uri):
    write_override("login/signed_out.html", "{% block content %}\n{% endblok %}\n")
    with pytest.raises(TemplateOverrideError,
                       match=r"instance/templates/login/signed_out\.html, line 2"):
        create_app(base_config(database_uri, **PRODUCTION))


def test_every_broken_override_is_named(app, write_override, database_uri):
    write_override("layout.html", "{% if %}")
    write_override("emails/login_code.txt", "{{ code ")
    with pytest.raises(TemplateOverrideError) as error:
        create_app(base_config(database_uri))
    assert "1 more broken: instance/templates/layout.html" in str(error.value)


def test_files_that_are_not_templates_are_left_alone(app, write_override, database_uri):
    write_override("notes.md", "{% if %}")
    write_override(".layout.html.swp", "{% if %}")
    create_app(base_config(database_uri))


def test_a_block_the_original_does_not_have_is_warned_about(app, write_override, database_uri,
                                                            caplog):
    write_override("portal_page.html", """
        {% extends "original/portal_page.html" %}
        {% block fotter %}Acme Cloud Ltd{% endblock %}
    """)
    with caplog.at_level(logging.WARNING, logger="portal.designer"):
        create_app(base_config(database_uri))
    assert ('instance/templates/portal_page.html: block "fotter" is not a block of '
            "original/portal_page.html") in caplog.text


def test_a_layout_replaced_without_the_blocks_pages_fill_is_warned_about(
        app, write_override, database_uri, caplog):
    write_override("layout.html", "<html><body>{% block content %}{% endblock %}</body></html>")
    with caplog.at_level(logging.WARNING, logger="portal.designer"):
        create_app(base_config(database_uri))
    assert "instance/templates/layout.html replaces layout.html without the block(s)" in \
        caplog.text
    assert "nav" in caplog.text


# ---- at render time -----------------------------------------------------------------------------

RENDER_ERROR = """
    {% extends "layout.html" %}
    {% block title %}You are signed out{% endblock %}
    {% block content %}
    <h1>You are signed out</h1>
    {{ goodbye_banner() }}
    {% endblock %}
"""


@pytest.fixture
def app_config():
    # Unhandled errors reach the 500 page, as in production (TESTING would raise them here).
    return {"PROPAGATE_EXCEPTIONS": False}


def test_a_render_time_error_gives_a_branded_error_page_and_logs_the_file_and_line(
        client, acme, write_override, caplog):
    write_override("login/signed_out.html", RENDER_ERROR)
    with caplog.at_level(logging.ERROR):
        response = client.get("/p/signed-out")
    assert response.status_code == 500
    page = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    assert page.h1.text == "Sorry, something went wrong"
    assert "Acme Cloud" in page.title.text
    assert ("template error in instance/templates/login/signed_out.html, line 5: "
            "UndefinedError: 'goodbye_banner' is undefined") in caplog.text
    # Development: the designer sees where, on the page itself.
    assert "instance/templates/login/signed_out.html, line 5" in page.select_one("main").text


def test_a_broken_layout_still_gives_a_page_that_is_not_blank(client, acme, write_override,
                                                              caplog):
    write_override("layout.html", """
        {% extends "original/layout.html" %}
        {% block head %}{{ branding.business_name|upper(3) }}{% endblock %}
    """)
    with caplog.at_level(logging.ERROR):
        response = client.get("/p/signed-out")
    assert response.status_code == 500
    page = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    assert page.h1.text == "Sorry, something went wrong"  # the static page, as the layout fails
    assert "Try again in a few minutes." in page.main.text
    assert "instance/templates/layout.html, line 2" in page.main.text
    assert "template error in instance/templates/layout.html, line 2" in caplog.text


def test_an_override_edited_into_a_syntax_error_while_running_is_named_on_the_page(
        client, acme, write_override, app, caplog):
    app.jinja_env.auto_reload = True  # as under flask run --debug
    path = write_override("login/signed_out.html", RENDER_ERROR.replace("{{ goodbye_banner() }}",
                                                                        ""))
    assert client.get("/p/signed-out").status_code == 200
    path.write_text("{% extends 'layout.html' %}\n{% block content %}\n{% if %}\n{% endblock %}")
    with caplog.at_level(logging.ERROR):
        response = client.get("/p/signed-out")
    assert response.status_code == 500
    assert "instance/templates/login/signed_out.html, line 3" in response.get_data(as_text=True)
    assert "template error in instance/templates/login/signed_out.html, line 3" in caplog.text


@pytest.fixture
def production_client(app, write_override, database_uri, session, acme):
    write_override("login/signed_out.html", RENDER_ERROR)
    # Compiles, so production starts; the error comes only when the page is rendered.
    production = create_app(base_config(database_uri, PROPAGATE_EXCEPTIONS=False, **PRODUCTION))
    return production.test_client()


def test_production_logs_the_file_and_line_but_never_shows_them(production_client, caplog):
    with caplog.at_level(logging.ERROR):
        response = production_client.get("/p/signed-out",
                                         base_url="https://billing.example.com")
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    page = BeautifulSoup(body, "html.parser")
    assert page.h1.text == "Sorry, something went wrong"
    assert "Acme Cloud" in page.title.text
    assert "signed_out.html" not in body and "goodbye_banner" not in body
    assert "template error in instance/templates/login/signed_out.html, line 5" in caplog.text
