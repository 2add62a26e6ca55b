"""Template overrides in instance/templates replace the portal's own, or extend them."""

from __future__ import annotations

from portal import create_app
from tests.conftest import base_config


def test_an_override_of_a_page_replaces_it(client_request, signed_in_customer, write_override):
    write_override("customers/overview.html", """
        {% extends "portal_page.html" %}
        {% set section = "overview" %}
        {% block title %}Welcome{% endblock %}
        {% block content %}<h1>Hello {{ customer.name }}</h1>{% endblock %}
    """)
    page = client_request.get("customers.overview")
    assert page.h1.text == "Hello Jenny Rosen"
    assert page.title.text.startswith("Welcome")
    assert page.select_one('nav a[aria-current="page"]').text == "Overview"


def test_an_override_extending_the_original_and_filling_one_block_keeps_the_rest(
        client_request, signed_in_customer, write_override, acme):
    write_override("portal_page.html", """
        {% extends "original/portal_page.html" %}
        {% block footer %}{{ super() }}<p class="company-line">Acme Cloud Ltd · 1 Main St</p>{% endblock %}
    """)
    for endpoint in ("customers.overview", "customers.billing_information",
                     "subscriptions.subscription_list"):
        page = client_request.get(endpoint)
        assert page.select_one("footer .company-line").text == "Acme Cloud Ltd · 1 Main St"
        # The original's navigation, sign-out button and content are all still there.
        assert [a.text for a in page.select("nav.site-nav a")][:3] == [
            "Overview", "Subscriptions", "Billing information"]
        assert page.select_one("header form button").text == "Sign out"
        assert page.h1 is not None


def test_a_layout_override_extending_the_original_reaches_every_page(
        client_request, signed_in_customer, write_override, login_link):
    write_override("layout.html", """
        {% extends "original/layout.html" %}
        {% block head %}<style nonce="{{ csp_nonce }}">.site-header{border-bottom:4px solid var(--accent)}</style>{% endblock %}
    """)
    signed_in = client_request.get("customers.overview")
    signed_out = client_request.get("login.enter_email", link_id=login_link.id)
    for page in (signed_in, signed_out):
        styles = [style.text for style in page.select("head style")]
        assert ".site-header{border-bottom:4px solid var(--accent)}" in styles
        # The original layout's own parts: the branding's colours, the skip link, the header.
        assert any("--brand:" in style for style in styles)
        assert page.select_one("a.skip-link")["href"] == "#main"
        assert "Acme Cloud" in page.title.text
    assert signed_in.select_one("nav.site-nav") is not None


def test_a_component_override_changes_every_page_that_uses_it(
        client_request, signed_in_customer, write_override, allow_name_changes, login_link):
    write_override("components/error_summary.html", """
        {% macro error_summary(form, title="There is a problem") -%}
        {%- if form and form.error_list %}
        <div class="error-summary" role="alert" tabindex="-1" autofocus>
          <h2>Please check this</h2>
          <ul>{% for field_id, message in form.error_list %}<li><a href="#{{ field_id }}">{{ message|text }}</a></li>{% endfor %}</ul>
        </div>
        {%- endif %}
        {%- endmacro %}
    """)
    name_page = client_request.post("customers.update_name", _data={"name": ""},
                                    _expected_status=422)
    login_page = client_request.post("login.enter_email", link_id=login_link.id,
                                     _data={"email": "not an address"}, _expected_status=422)
    for page, field_id in ((name_page, "name"), (login_page, "email")):
        summary = page.select_one(".error-summary")
        assert summary.h2.text == "Please check this"
        assert summary.select_one("a")["href"] == f"#{field_id}"


def test_a_component_override_can_wrap_the_original_macro(
        client_request, signed_in_customer, write_override, allow_name_changes):
    write_override("components/notice.html", """
        {%- from "original/components/notice.html" import notice as original_notice -%}
        {% macro notice(message, kind="success", focus=True) -%}
        <div class="notice-wrap">{{ original_notice(message, kind, focus) }}</div>
        {%- endmacro %}
    """)
    page = client_request.post("customers.update_name", _data={"name": "Jenny R."},
                               _htmx=True, _expected_status=200)
    notice = page.select_one(".notice-wrap > .notice")
    assert notice.text == "Your name has been updated"


def test_an_email_override_changes_the_email_sent(client_request, login_link, make_customer,
                                                  write_override, sent_mail):
    make_customer()
    write_override("emails/login_code.txt", """
        {{ branding.business_name }} here. Your code is:

        {{ code }}

        (It works for {{ valid_for }}.)
    """)
    client_request.post_response("login.enter_email", link_id=login_link.id,
                                 _data={"email": "jenny.rosen@example.com"})
    [mail] = sent_mail()
    assert mail.body_text.startswith("Acme Cloud here. Your code is:")
    assert "It works for 10 minutes." in mail.body_text
    # The HTML part was not overridden: still the portal's own.
    assert "It works once, for 10 minutes." in mail.body_html


def test_an_app_with_good_overrides_starts(app, write_override, database_uri):
    write_override("layout.html", '{% extends "original/layout.html" %}')
    write_override("texts.html", '{% set texts = {"Page not found": "Nothing here"} %}')
    write_override("emails/login_code.txt", "{{ code }}")
    assert create_app(base_config(database_uri)).name == "portal"


def test_under_auto_reload_a_new_override_is_used_at_once_and_a_deleted_one_stops(
        app, client, acme, write_override):
    app.jinja_env.auto_reload = True  # as under flask run --debug
    assert "You are signed out" in client.get("/p/signed-out").get_data(as_text=True)
    path = write_override("login/signed_out.html", """
        {% extends "layout.html" %}
        {% block content %}<h1>See you soon</h1>{% endblock %}
    """)
    assert "<h1>See you soon</h1>" in client.get("/p/signed-out").get_data(as_text=True)
    path.unlink()
    assert "<h1>You are signed out</h1>" in client.get("/p/signed-out").get_data(as_text=True)
