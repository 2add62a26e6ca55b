"""The icon and the logo: uploaded through the Branding page, checked by their content like
product images (portal.images), re-encoded, served at /branding/<kind>, and removable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from PIL import Image
from sqlalchemy import select

from portal.events import AuditEvent
from portal.images import MAX_BYTES
from portal.portal_settings.operations import get_branding
from tests.admin.branding_helpers import upload
from tests.image_files import image_bytes, noisy_png


def stored_file(app, name: str) -> Path:
    return Path(app.instance_path) / "uploads" / name


def refused(response, kind: str) -> BeautifulSoup:
    assert response.status_code == 422, response.get_data(as_text=True)[:500]
    page = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    assert page.title.text.startswith("Error: ")
    return page


def test_a_square_icon_is_re_encoded_stored_and_shown_in_every_pages_header(
        app, client, client_request, signed_in_staff, session):
    response = upload(client, "icon", image_bytes(size=(800, 800)), "icon.png")
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/branding/#icon-heading"
    session.expire_all()
    name = get_branding(session).icon
    assert name.startswith("icon-") and name.endswith(".png")
    with Image.open(stored_file(app, name)) as stored:
        assert stored.size == (512, 512)
    [event] = session.scalars(select(AuditEvent).where(AuditEvent.type == "branding.updated"))
    assert event.data["changed"] == {"icon": {"from": None, "to": name}}
    assert event.actor == f"staff:{signed_in_staff.id}"

    page = client_request.get("login.signed_out")
    src = page.select_one(".site-header .brand img")["src"]
    assert src == f"/branding/icon?v={name}"  # a new image, a new URL
    assert page.select_one('link[rel="icon"]')["href"] == src
    served = client.get(src)
    assert served.status_code == 200 and served.mimetype == "image/png"
    assert served.get_data() == stored_file(app, name).read_bytes()
    assert "max-age=86400" in served.headers["Cache-Control"]


def test_a_nearly_square_icon_is_accepted(client, signed_in_staff, session):
    assert upload(client, "icon", image_bytes(size=(200, 196))).status_code == 303


@pytest.mark.parametrize("kind, data, filename, message", [
    ("icon", image_bytes(size=(300, 100)), "icon.png", "The icon must be square: this one is 300"),
    ("icon", image_bytes(fmt="GIF"), "icon.gif", "The icon must be a JPEG, PNG or WEBP file"),
    ("icon", image_bytes(fmt="GIF"), "icon.png", "The icon must be a JPEG, PNG or WEBP file"),
    ("logo", image_bytes(fmt="BMP"), "logo.jpg", "The logo must be a JPEG, PNG or WEBP file"),
    ("logo", b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
     "logo.svg", "The logo must be a JPEG, PNG or WEBP file"),
    ("logo", b"", "logo.png", "The selected logo file is empty"),
    ("logo", image_bytes()[:60], "logo.png", "The logo file is damaged or incomplete"),
])
def test_an_image_that_will_not_do_is_refused_by_its_field_and_nothing_is_stored(
        app, client, signed_in_staff, session, kind, data, filename, message):
    page = refused(upload(client, kind, data, filename), kind)
    assert page.select_one(f".error-summary a[href='#{kind}-image']").text.startswith(message)
    assert page.select_one(f"#{kind}-image-error").text.strip().removeprefix("Error:") \
        .strip().startswith(message)
    session.expire_all()
    assert getattr(get_branding(session), kind) is None
    uploads = Path(app.instance_path) / "uploads"
    assert not uploads.exists() or list(uploads.iterdir()) == []


def test_an_image_of_2_mb_or_more_is_refused(app, client, signed_in_staff, session):
    data = noisy_png((900, 900))
    assert MAX_BYTES <= len(data) < 3 * 1024 * 1024  # over the image limit, under the body's
    page = refused(upload(client, "logo", data), "logo")
    assert "The logo must be smaller than 2 MB" in page.select_one(".error-summary").text
    session.expire_all()
    assert get_branding(session).logo is None


def test_posting_no_file_asks_for_one(client, signed_in_staff, session):
    response = client.post("/admin/branding/icon", data={},
                           content_type="multipart/form-data")
    page = refused(response, "icon")
    assert "Select the icon file to upload" in page.select_one(".error-summary").text


def test_a_new_logo_replaces_the_old_file_and_the_customer_overview_shows_it(
        app, client, signed_in_staff, session, signed_in_customer, client_request):
    upload(client, "logo", image_bytes(size=(400, 100), fmt="JPEG"), "logo.jpg")
    session.expire_all()
    first = get_branding(session).logo
    upload(client, "logo", image_bytes(size=(600, 150), fmt="WEBP"), "logo.webp")
    session.expire_all()
    second = get_branding(session).logo
    assert second != first and second.endswith(".webp")
    assert not stored_file(app, first).exists()  # the replaced file is gone
    page = client_request.get("customers.overview")
    assert page.select_one("img.overview-logo")["alt"] == get_branding(session).business_name
    assert client.get("/branding/logo").mimetype == "image/webp"


def test_removing_the_icon_takes_it_off_every_page(app, client, client_request,
                                                  signed_in_staff, session):
    upload(client, "icon", image_bytes(size=(64, 64)))
    session.expire_all()
    name = get_branding(session).icon
    page = client_request.get("admin_branding.branding")
    assert page.select_one("img.branding-image--icon")["src"] == f"/branding/icon?v={name}"
    response = client_request.post_response("admin_branding.remove_image", kind="icon")
    assert response.headers["Location"] == "/admin/branding/#icon-heading"
    session.expire_all()
    assert get_branding(session).icon is None
    assert not stored_file(app, name).exists()
    assert client.get("/branding/icon").status_code == 404
    page = client_request.get("login.signed_out")
    assert page.select_one(".site-header img") is None
    icon = page.select_one('link[rel="icon"]')["href"]
    assert re.fullmatch(r"/static/favicon\.[0-9a-f]{12}\.svg", icon)  # the portal's own again


@pytest.mark.parametrize("name", ["../config.py", "/etc/passwd", ".env", "icon.svg",
                                  "icon-abc.gif", "Icon-ABC.png", "icon abc.png"])
def test_the_public_image_route_serves_only_names_the_uploader_could_have_made(
        app, client, session, name):
    uploads = Path(app.instance_path) / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    (uploads / "icon.svg").write_text("<svg/>")
    get_branding(session).icon = name
    session.commit()
    assert client.get("/branding/icon").status_code == 404
