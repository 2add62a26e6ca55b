"""The merchant's command-line tools: branding and the login link."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from portal.portal_settings.operations import get_branding
from tests.image_files import image_bytes


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(args=list(args))


def test_branding_changes_what_every_page_shows(cli, client_request, session):
    result = cli("branding", "--business-name", "Globex", "--brand-color", "#aa3300")
    assert result.exit_code == 0, result.output
    assert "Globex" in result.output
    page = client_request.get("login.signed_out")
    assert page.title.text.endswith("Globex")
    assert page.select_one(".site-header .brand").get_text(strip=True) == "Globex"
    assert "--brand:#aa3300" in page.style.text


@pytest.mark.parametrize("color", ["red", "#12345", "#abcdefg", "#fff;background:url(x)"])
def test_branding_refuses_a_colour_that_is_not_hex(cli, session, color):
    result = cli("branding", "--brand-color", color)
    assert result.exit_code != 0
    assert "#rrggbb" in result.output
    assert get_branding(session).brand_color == "#1f4fd1"


def test_branding_icon_is_checked_re_encoded_into_the_instance_and_served(cli, app, client,
                                                                        session, tmp_path):
    icon = tmp_path / "icon.png"
    icon.write_bytes(image_bytes(size=(600, 600)))
    result = cli("branding", "--icon", str(icon))
    assert result.exit_code == 0, result.output
    stored = get_branding(session).icon
    response = client.get("/branding/icon")
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.get_data() == (Path(app.instance_path) / "uploads" / stored).read_bytes()
    with Image.open(io.BytesIO(response.get_data())) as served:
        assert served.size == (512, 512)  # scaled down to the icon's size


def test_branding_refuses_an_svg_icon(cli, session, tmp_path):
    icon = tmp_path / "icon.svg"
    icon.write_text("<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>")
    result = cli("branding", "--icon", str(icon))
    assert result.exit_code != 0
    assert "must be a JPEG, PNG or WEBP file" in result.output
    assert get_branding(session).icon is None


def test_branding_judges_an_image_by_its_content_not_its_name(cli, session, tmp_path):
    icon = tmp_path / "icon.png"
    icon.write_bytes(image_bytes(fmt="GIF"))  # a GIF, whatever the name says
    result = cli("branding", "--icon", str(icon))
    assert result.exit_code != 0
    assert "must be a JPEG, PNG or WEBP file" in result.output
    assert get_branding(session).icon is None


def test_branding_refuses_an_icon_that_is_not_square_and_saves_nothing_else(cli, session,
                                                                          tmp_path):
    icon = tmp_path / "icon.png"
    icon.write_bytes(image_bytes(size=(300, 100)))
    result = cli("branding", "--business-name", "Globex", "--icon", str(icon))
    assert result.exit_code != 0
    assert "must be square" in result.output
    session.expire_all()
    assert get_branding(session).business_name == "Billing portal"
    assert get_branding(session).icon is None


def test_branding_takes_a_logo_of_any_shape_and_a_font(cli, session, tmp_path):
    logo = tmp_path / "logo.jpg"
    logo.write_bytes(image_bytes(size=(400, 100), fmt="JPEG"))
    result = cli("branding", "--logo", str(logo), "--font", "transitional")
    assert result.exit_code == 0, result.output
    branding = get_branding(session)
    assert branding.logo.startswith("logo-") and branding.logo.endswith(".jpg")
    assert branding.font == "transitional"


def test_branding_stores_a_colour_normalised_and_warns_about_a_pale_one(cli, session):
    result = cli("branding", "--brand-color", "#FD0")
    assert result.exit_code == 0, result.output
    assert get_branding(session).brand_color == "#ffdd00"
    assert "below the 4.5:1 that WCAG AA asks of text" in result.output


def test_login_link_prints_the_same_url_until_rotated(cli):
    first = cli("login-link").output.strip()
    assert "/p/login/" in first
    assert cli("login-link").output.strip() == first
    rotated = cli("login-link", "--rotate").output.strip()
    assert rotated != first and "/p/login/" in rotated


def test_a_deactivated_login_link_no_longer_answers(cli, client):
    from urllib.parse import urlsplit

    url = cli("login-link").output.strip()
    assert client.get(urlsplit(url).path).status_code == 200
    result = cli("login-link", "--deactivate")
    assert "Deactivated 1" in result.output
    assert client.get(urlsplit(url).path).status_code == 404


def test_create_admin_asks_for_the_password_and_hashes_it_with_argon2(app, session, client):
    from portal.admin.models import StaffUser

    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-admin", "owner@acme.example"],
                           input="a long enough secret\na long enough secret\n")
    assert result.exit_code == 0, result.output
    assert "Staff account made for owner@acme.example" in result.output
    staff = session.scalars(select(StaffUser)).one()
    assert staff.password_hash.startswith("$argon2id$")
    assert "a long enough secret" not in staff.password_hash
    response = client.post("/admin/sign-in", data={"email": "owner@acme.example",
                                                   "password": "a long enough secret"})
    assert response.status_code == 303


def test_create_admin_never_takes_the_password_from_the_command_line(app, session):
    from portal.admin.models import StaffUser

    result = app.test_cli_runner().invoke(
        args=["create-admin", "owner@acme.example", "a long enough secret"])
    assert result.exit_code != 0
    assert session.scalars(select(StaffUser)).first() is None


@pytest.mark.parametrize("typed, message", [
    ("short\nshort\n", "at least 12 characters"),
    (" padded password \n padded password \n", "cannot begin or end with a space"),
])
def test_create_admin_refuses_a_weak_password(app, session, typed, message):
    result = app.test_cli_runner().invoke(args=["create-admin", "owner@acme.example"],
                                          input=typed)
    assert result.exit_code != 0
    assert message in result.output


def test_create_admin_refuses_a_second_account_for_one_email_but_resets_a_password(app, session):
    runner = app.test_cli_runner()
    typed = "a long enough secret\na long enough secret\n"
    assert runner.invoke(args=["create-admin", "owner@acme.example"], input=typed).exit_code == 0
    again = runner.invoke(args=["create-admin", "OWNER@acme.example"], input=typed)
    assert again.exit_code != 0 and "exists already" in again.output
    reset = runner.invoke(args=["create-admin", "owner@acme.example", "--reset-password"],
                          input="another long secret\nanother long secret\n")
    assert reset.exit_code == 0 and "Password changed" in reset.output


def test_create_admin_refuses_a_malformed_email(app):
    result = app.test_cli_runner().invoke(args=["create-admin", "not-an-email"], input="x\nx\n")
    assert result.exit_code != 0


@pytest.mark.parametrize("option, value, message", [
    ("--business-name", "G" * 101, "Business name must be 100 characters or fewer"),
    ("--business-name", "   ", "Enter your business name"),
    ("--support-phone", "1" * 41, "Support phone must be 40 characters or fewer"),
])
def test_branding_refuses_what_the_dashboard_would_and_saves_nothing(cli, session, option,
                                                                     value, message):
    result = cli("branding", "--brand-color", "#aa3300", option, value)
    assert result.exit_code != 0
    assert message in result.output
    assert get_branding(session).brand_color == "#1f4fd1"
