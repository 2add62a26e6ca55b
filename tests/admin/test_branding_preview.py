"""The live preview: typing asks for a new preview after a pause (htmx), the Preview button
does the same with JavaScript off, and neither saves anything."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import func, select

from portal.events import AuditEvent
from portal.portal_settings.operations import get_branding
from tests.admin.branding_helpers import form


def nothing_saved(session):
    session.expire_all()
    branding = get_branding(session)
    assert (branding.business_name, branding.brand_color, branding.font) == (
        "Billing portal", "#1f4fd1", "system")
    assert session.scalar(select(func.count()).select_from(AuditEvent)
                          .where(AuditEvent.type == "branding.updated")) == 0


def stylesheet_values(preview) -> dict:
    href = preview.select_one('link[rel="stylesheet"]')["href"]
    assert urlsplit(href).path == "/admin/branding/preview.css"
    return {key: values[0] for key, values in parse_qs(urlsplit(href).query).items()}


def test_the_form_asks_for_a_preview_as_the_merchant_types(client_request, signed_in_staff):
    page = client_request.get("admin_branding.branding")
    live = page.select_one("#branding-form [hx-post]")
    assert live["hx-post"] == "/admin/branding/preview"
    assert live["hx-trigger"] == "input changed delay:300ms"
    assert (live["hx-target"], live["hx-swap"]) == ("#branding-preview", "outerHTML")
    # Every field is inside it, so typing in any of them asks for a preview.
    assert {f["name"] for f in live.select("input, select")} == {
        "business_name", "brand_color", "accent_color", "support_email", "support_phone",
        "font"}
    button = page.select_one('#branding-form button[formaction="/admin/branding/preview"]')
    assert button.text == "Preview" and button["hx-post"] == "/admin/branding/preview"
    assert button["hx-target"] == "#branding-preview"
    # Saving is a plain post of the whole page.
    assert page.select_one("#branding-form")["action"] == "/admin/branding/"
    assert not page.select_one("#branding-form").has_attr("hx-post")


def test_the_htmx_preview_answers_only_the_preview_with_the_typed_branding_and_saves_nothing(
        client_request, signed_in_staff, session):
    response = client_request.post_response(
        "admin_branding.preview_branding", _htmx=True, _expected_status=200,
        _data=form(business_name="Globex", brand_color="#A30", font="monospace"))
    assert "HX-Request" in response.headers["Vary"]
    fragment = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    assert [tag.name for tag in fragment.find_all(recursive=False)] == ["section"]
    preview = fragment.section
    assert preview["id"] == "branding-preview"
    assert fragment.find("form") is None and fragment.find("html") is None
    assert preview.select_one(".branding-preview .brand").text.strip() == "Globex"
    assert stylesheet_values(preview) == {"brand": "#aa3300", "accent": "#0b6e4f",
                                          "font": "monospace"}
    results = preview.select_one(".summary-list").text
    assert "White text on #aa3300: 6.60:1, passes" in results
    assert "Monospace" in results
    assert "help@globex.example" in preview.text
    nothing_saved(session)


def test_the_preview_warns_about_a_light_brand_colour_as_it_is_typed(
        client_request, signed_in_staff, session):
    preview = client_request.post("admin_branding.preview_branding", _htmx=True,
                                  _expected_status=200, _data=form(brand_color="#ffdd00"))
    assert "Black text on #ffdd00: 14.02:1, passes" in preview.text
    assert "#ffdd00 has a contrast of 1.35:1 against white" in preview.select_one(
        ".contrast-warning").text
    assert stylesheet_values(preview)["brand"] == "#ffdd00"
    nothing_saved(session)


def test_the_preview_keeps_the_saved_value_where_the_typed_one_is_not_valid_yet(
        client_request, signed_in_staff, session):
    preview = client_request.post("admin_branding.preview_branding", _htmx=True,
                                  _expected_status=422,
                                  _data=form(brand_color="#aa33", business_name=""))
    assert preview.section["id"] == "branding-preview"
    assert stylesheet_values(preview)["brand"] == "#1f4fd1"  # the saved colour
    assert preview.select_one(".branding-preview .brand").text.strip() == "Billing portal"
    problems = preview.select_one(".notice--warning").text
    assert "Enter the brand colour as # and 6 hex digits" in problems
    assert "Enter your business name" in problems
    nothing_saved(session)


def test_without_javascript_the_preview_button_shows_the_whole_page_with_the_preview(
        client_request, signed_in_staff, session):
    page = client_request.post("admin_branding.preview_branding", _expected_status=200,
                               _data=form(brand_color="#aa3300", preview="1"))
    assert page.h1.text == "Branding"
    assert page.select_one("#brand_color")["value"] == "#aa3300"  # what was typed, kept
    assert page.select_one("#business_name")["value"] == "Globex"
    assert stylesheet_values(page.select_one("#branding-preview"))["brand"] == "#aa3300"
    # The page itself still wears the saved branding: nothing was saved.
    assert "--brand:#1f4fd1;" in page.style.text
    nothing_saved(session)


def test_without_javascript_a_bad_preview_shows_the_errors_by_their_fields(
        client_request, signed_in_staff, session):
    page = client_request.post("admin_branding.preview_branding", _expected_status=422,
                               _data=form(accent_color="green"))
    assert page.title.text.startswith("Error: ")
    assert page.select_one(".error-summary a[href='#accent_color']")
    assert page.select_one("#accent_color")["value"] == "green"
    nothing_saved(session)


@pytest.mark.parametrize("query, expected", [
    ({"brand": "#aa3300", "accent": "#0b6e4f", "font": "transitional"},
     ".branding-preview{--brand:#aa3300;--on-brand:#ffffff;--link:#aa3300;--accent:#0b6e4f;"
     "--on-accent:#ffffff;--font:Charter,Bitstream Charter,Sitka Text,Cambria,serif}"),
    ({"brand": "#fff;}body{display:none", "accent": "</style>", "font": "x;}*{"},
     ".branding-preview{--brand:#1f4fd1;--on-brand:#ffffff;--link:#1f4fd1;--accent:#0b6e4f;"
     "--on-accent:#ffffff;--font:system-ui,-apple-system,Segoe UI,Roboto,Helvetica Neue,Arial,"
     "sans-serif}"),
    ({}, None),
])
def test_the_preview_stylesheet_carries_only_validated_values(client, signed_in_staff, query,
                                                              expected):
    response = client.get("/admin/branding/preview.css", query_string=query)
    assert response.status_code == 200 and response.mimetype == "text/css"
    css = response.get_data(as_text=True)
    assert css.startswith(".branding-preview{--brand:") and css.count("}") == 1
    if expected:
        assert css == expected
