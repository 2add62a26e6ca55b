"""The Branding page's form: what it saves, and every kind of bad input it refuses."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.events import AuditEvent
from portal.portal_settings.operations import get_branding
from tests.admin.branding_helpers import form


def branding_events(session):
    return session.scalars(select(AuditEvent).where(AuditEvent.type == "branding.updated")).all()


def test_staff_see_the_form_filled_with_the_branding_in_force(client_request, signed_in_staff,
                                                              session):
    get_branding(session).business_name = "Acme Cloud"
    session.commit()
    page = client_request.get("admin_branding.branding")
    assert page.h1.text == "Branding"
    assert page.select_one("#business_name")["value"] == "Acme Cloud"
    assert page.select_one("#brand_color")["value"] == "#1f4fd1"
    assert page.select_one("#font option[selected]")["value"] == "system"
    assert page.select_one('.site-nav a[aria-current="page"]').text == "Branding"


def test_saving_stores_every_value_normalised_and_logs_who_changed_what(
        client_request, signed_in_staff, session):
    response = client_request.post_response("admin_branding.update_branding",
                                            _data=form(brand_color="#A30"))
    assert response.headers["Location"] == "/admin/branding/"
    session.expire_all()
    branding = get_branding(session)
    assert (branding.business_name, branding.brand_color, branding.accent_color,
            branding.support_email, branding.support_phone, branding.font) == (
        "Globex", "#aa3300", "#0b6e4f", "help@globex.example", "+44 20 7946 0000",
        "transitional")
    [event] = branding_events(session)
    assert event.actor == f"staff:{signed_in_staff.id}"
    assert event.data["changed"]["brand_color"] == {"from": "#1f4fd1", "to": "#aa3300"}
    assert event.data["changed"]["business_name"] == {"from": "Billing portal", "to": "Globex"}
    assert "accent_color" not in event.data["changed"]  # it did not change
    page = client_request.get("admin_branding.branding")
    assert "Branding saved" in page.select_one(".notice--success").text


def test_emptying_the_optional_contacts_removes_them(client_request, signed_in_staff, session):
    client_request.post("admin_branding.update_branding", _data=form())
    client_request.post("admin_branding.update_branding",
                        _data=form(support_email="", support_phone=""))
    session.expire_all()
    assert get_branding(session).support_email is None
    assert get_branding(session).support_phone is None


def test_saving_what_is_already_saved_changes_nothing_and_logs_nothing(
        client_request, signed_in_staff, session):
    client_request.post("admin_branding.update_branding", _data=form())
    client_request.post("admin_branding.update_branding", _data=form())
    assert len(branding_events(session)) == 1
    page = client_request.get("admin_branding.branding")
    assert "Nothing had changed" in page.text


COLOUR_FORMAT = "Enter the {} as # and 6 hex digits, like #1f4fd1"


@pytest.mark.parametrize("field, value, message", [
    ("business_name", "", "Enter your business name"),
    ("business_name", "   ", "Enter your business name"),
    ("business_name", "G" * 101, "Business name must be 100 characters or fewer"),
    ("business_name", "Glo\x00bex", "Business name must not contain control characters"),
    ("business_name", "Glo\nbex", "Business name must not contain control characters"),
    ("brand_color", "", "Enter the brand colour, like #1f4fd1"),
    ("brand_color", "red", COLOUR_FORMAT.format("brand colour")),
    ("brand_color", "#12345", COLOUR_FORMAT.format("brand colour")),
    ("brand_color", "#ggg", COLOUR_FORMAT.format("brand colour")),
    ("brand_color", "javascript:alert(1)", COLOUR_FORMAT.format("brand colour")),
    ("brand_color", "#fff;}body{", COLOUR_FORMAT.format("brand colour")),
    ("brand_color", "#１２３", COLOUR_FORMAT.format("brand colour")),
    ("brand_color", "1f4fd1", COLOUR_FORMAT.format("brand colour")),
    ("brand_color", "#" + "f" * 40, COLOUR_FORMAT.format("brand colour")),
    ("accent_color", "", "Enter the accent colour, like #1f4fd1"),
    ("accent_color", "green", COLOUR_FORMAT.format("accent colour")),
    ("accent_color", "#0b6e4f80", COLOUR_FORMAT.format("accent colour")),
    ("support_email", "help", "Enter the support email address in the correct format"),
    ("support_email", "help@", "Enter the support email address in the correct format"),
    ("support_email", "a" * 310 + "@example.com",
     "Support email address must be 320 characters or fewer"),
    ("support_phone", "call us", "Enter a phone number using only numbers, spaces"),
    ("support_phone", "+44 20 7946 0000 ext 5", "Enter a phone number using only numbers"),
    ("support_phone", "12 34", "Enter a phone number with between 7 and 20 digits"),
    ("support_phone", "1" * 41, "Support phone number must be 40 characters or fewer"),
    ("font", "comic-sans", "Select a font from the list"),
    ("font", "", "Select a font from the list"),
    ("font", "system;}*{color:red", "Select a font from the list"),
])
def test_bad_input_is_refused_by_its_field_keeping_what_was_typed_and_saving_nothing(
        client_request, signed_in_staff, session, field, value, message):
    page = client_request.post("admin_branding.update_branding", _data=form(**{field: value}),
                               _expected_status=422)
    assert page.title.text.startswith("Error: ")
    summary = page.select_one(".error-summary")
    assert summary.select_one(f'a[href="#{field}"]').text.startswith(message)
    assert page.select_one(f"#{field}-error").text.strip().removeprefix("Error:").strip() \
        .startswith(message)
    shown = page.select_one(f"#{field}")
    if shown.name == "input":
        assert shown["value"] == value.strip()  # kept as typed, to be corrected
    session.expire_all()
    assert get_branding(session).business_name == "Billing portal"
    assert branding_events(session) == []


def test_a_missing_field_is_refused_not_a_crash(client_request, signed_in_staff, session):
    page = client_request.post("admin_branding.update_branding",
                               _data={"business_name": "Globex"}, _expected_status=422)
    ids = [a["href"] for a in page.select(".error-summary a")]
    assert ids == ["#brand_color", "#accent_color", "#font"]


def test_saving_a_light_brand_colour_warns_that_it_fails_against_white(
        client_request, signed_in_staff, session):
    client_request.post("admin_branding.update_branding", _data=form(brand_color="#ffdd00"))
    page = client_request.get("admin_branding.branding")
    warning = page.select_one(".notice--warning")
    assert "The brand colour #ffdd00 has a contrast of 1.35:1 against white" in warning.text
    # The preview of the saved branding says it too, and which darker link colour is used.
    preview = page.select_one("#branding-preview")
    assert "Links use the darker #877500" in preview.select_one(".contrast-warning").text
    session.expire_all()
    assert get_branding(session).brand_color == "#ffdd00"  # a warning, not a refusal


def test_a_dark_brand_colour_brings_no_warning(client_request, signed_in_staff):
    client_request.post("admin_branding.update_branding", _data=form(brand_color="#1f4fd1"))
    page = client_request.get("admin_branding.branding")
    assert page.select(".notice--warning") == []
