"""Staff add and edit products in the dashboard: every rule of the product form, the image
checked by its content, archiving and deleting only what nothing uses."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.catalog.models import Product
from tests.catalog import fixtures
from tests.catalog.fixtures import upload
from tests.image_files import (
    PHP,
    SVG,
    TEXT,
    image_bytes,
    jpeg_with_gps,
    noisy_png,
    padded,
    png_claiming,
)

VALID = {"name": "Team", "description": "For whole companies.\nBilled per seat.",
         "tax_code": "txcd_10103001", "statement_descriptor": "ACME TEAM", "unit_label": "seat"}

# The shared catalog fixtures, by name.
catalog_events, make_product, uploads = (fixtures.catalog_events, fixtures.make_product,
                                         fixtures.uploads)


def text_of(element) -> str:
    return " ".join(element.get_text(" ").split()) if element is not None else ""


def error_by(page, field_id: str) -> str:
    return text_of(page.select_one(f"#{field_id}-error")).removeprefix("Error: ")


def products(session) -> list[Product]:
    session.expire_all()
    return list(session.scalars(select(Product)))


def create(client_request, _expected_status=303, **fields):
    return client_request.post("admin_catalog.create_product", _data={**VALID, **fields},
                               _expected_status=_expected_status)


# ---- the list and the new-product form ------------------------------------------------------

def test_the_list_shows_active_and_archived_products_with_their_prices(
        client_request, signed_in_staff, make_product):
    make_product("Team", unit_label="seat", prices=((1500, "usd", "month"),
                                                    (15000, "usd", "year")))
    make_product("Legacy", active=False, prices=((900, "eur", "month"),))
    page = client_request.get("admin_catalog.product_list")
    assert page.h1.text == "Products"
    active = text_of(page.select_one("[aria-labelledby=active-heading] tbody"))
    archived = text_of(page.select_one("[aria-labelledby=archived-heading] tbody"))
    assert "Team (per seat) $15.00 per seat per month $150.00 per seat per year" in active
    assert "Legacy" in archived and "€9.00 per month" in archived and "Legacy" not in active
    assert page.select_one("a[href='/admin/products/new']").text == "Add a product"


def test_the_list_says_when_there_are_no_products(client_request, signed_in_staff):
    page = client_request.get("admin_catalog.product_list")
    assert "No active products yet" in text_of(page.main)


def test_the_new_product_form_has_every_field_labelled(client_request, signed_in_staff):
    page = client_request.get("admin_catalog.new_product")
    form = page.select_one("main form")
    assert form["enctype"] == "multipart/form-data"
    for name in ("name", "description", "image", "tax_code", "statement_descriptor",
                 "unit_label"):
        control = form.select_one(f"[name={name}]")
        assert page.select_one(f"label[for={control['id']}]"), name
    options = {o["value"]: o.text for o in form.select("select[name=tax_code] option")}
    assert options["txcd_10103001"] == "Software as a service (SaaS) - business use (txcd_10103001)"
    assert options[""] == "No tax code" and 15 <= len(options) <= 26
    assert "Cloud software delivered over the internet" in text_of(page.select_one(
        ".tax-code-help"))


def test_staff_add_a_product_and_land_on_its_page(client_request, signed_in_staff, session,
                                                  catalog_events):
    response = client_request.post_response("admin_catalog.create_product", _data=VALID)
    [product] = products(session)
    assert response.headers["Location"] == f"/admin/products/{product.id}"
    assert (product.name, product.description, product.tax_code, product.statement_descriptor,
            product.unit_label) == ("Team", "For whole companies.\nBilled per seat.",
                                    "txcd_10103001", "ACME TEAM", "seat")
    page = client_request.get("admin_catalog.product_detail", product_id=product.id)
    assert "Team is in your catalog. Add a price to sell it." in text_of(page.select_one(".notice"))
    [event] = catalog_events()
    assert event.type == "product.created" and event.actor == f"staff:{signed_in_staff.id}"


# ---- each rule of the form ----------------------------------------------------------------------

BAD_FIELDS = [
    ("name", "", "Enter the product's name"),
    ("name", "   ", "Enter the product's name"),
    ("name", "x" * 251, "Name must be 250 characters or fewer"),
    ("name", "Team\tPlan", "Name must not contain control characters such as tabs or line breaks"),
    ("description", "x" * 1001, "Description must be 1,000 characters or fewer"),
    ("description", "Tab\there", "Description must not contain control characters such as tabs"),
    ("statement_descriptor", "ACME", "Statement descriptor must be at least 5 characters"),
    ("statement_descriptor", "ACME CLOUD TEAM PLAN 23",
     "Statement descriptor must be 22 characters or fewer"),
    ("statement_descriptor", "12345678",
     "Statement descriptor must include at least one letter, not only digits"),
    ("statement_descriptor", "2026 - 12",
     "Statement descriptor must include at least one letter, not only digits"),
    *[("statement_descriptor", f"ACME{ch}TEAM",
       f"Statement descriptor cannot contain {ch} (leave out < > \\ ' \" and *)")
      for ch in "<>\\'\"*"],
    *[("statement_descriptor", value, "Statement descriptor can only use Latin letters without "
       "accents (A to Z), digits, spaces and punctuation")
      for value in ("ÉCOLE DIRECTE", "АКМЕ КЛАУД", "ACME 株式会社", "ACME\u00a0TEAM", "ACME ＴＥＡＭ")],
    ("unit_label", "x" * 13, "Unit label must be 12 characters or fewer"),
    ("tax_code", "txcd_12345678", "Choose a tax code from the list"),
    ("tax_code", "<script>", "Choose a tax code from the list"),
]


@pytest.mark.parametrize(("field", "value", "message"), BAD_FIELDS,
                         ids=[f"{f}={v[:20]!r}" for f, v, _ in BAD_FIELDS])
def test_each_rule_is_shown_by_its_field_and_nothing_is_saved(
        client_request, signed_in_staff, session, catalog_events, field, value, message):
    page = create(client_request, _expected_status=422, **{field: value})
    assert error_by(page, field) == message
    assert page.select_one(".error-summary a")["href"] == f"#{field}"
    assert page.title.text.startswith("Error: ")
    assert products(session) == [] and catalog_events() == []
    # What was typed in the other fields is still there.
    assert page.select_one("#unit_label" if field != "unit_label" else "#name")["value"] in (
        "seat", "Team")
    assert page.select_one("#description").text.strip() in (VALID["description"], "x" * 1001,
                                                            "Tab\there")


@pytest.mark.parametrize(("value", "stored"), [
    ("ACME1", "ACME1"),  # 5 characters
    ("ACME CLOUD TEAM PLAN 2", "ACME CLOUD TEAM PLAN 2"),  # 22
    ("  ACME.COM  ", "ACME.COM"),
    ("ACME & CO - TEAM", "ACME & CO - TEAM"),
    ("", None),
])
def test_statement_descriptors_within_the_rules_are_saved(client_request, signed_in_staff,
                                                          session, value, stored):
    create(client_request, statement_descriptor=value)
    assert products(session)[0].statement_descriptor == stored


@pytest.mark.parametrize(("value", "stored"), [("seat", "seat"), ("  seat  ", "seat"),
                                               ("x" * 12, "x" * 12), ("", None)])
def test_unit_labels_of_up_to_12_characters_are_saved_trimmed(client_request, signed_in_staff,
                                                              session, value, stored):
    create(client_request, unit_label=value)
    assert products(session)[0].unit_label == stored


def test_no_tax_code_is_a_choice(client_request, signed_in_staff, session):
    create(client_request, tax_code="")
    assert products(session)[0].tax_code is None


# ---- the image, judged by its content ------------------------------------------------------------

@pytest.mark.parametrize(("fmt", "filename", "extension"), [
    ("JPEG", "photo.jpg", "jpg"), ("PNG", "logo.png", "png"), ("WEBP", "pic.webp", "webp"),
    ("PNG", "no-extension", "png"),
])
def test_a_jpeg_png_or_webp_image_is_stored_and_served(client_request, signed_in_staff, session,
                                                       client, fmt, filename, extension):
    create(client_request, image=upload(image_bytes(fmt, (1600, 1200)), filename))
    [product] = products(session)
    assert product.image.startswith("product-640x480-")
    assert product.image.endswith(f".{extension}")
    page = client_request.get("admin_catalog.product_detail", product_id=product.id)
    img = page.select_one("[aria-labelledby=image-heading] img")
    assert (img["width"], img["height"]) == ("160", "120")
    assert img["alt"] == "The image of Team"
    served = client.get(img["src"])
    assert served.status_code == 200 and served.mimetype == f"image/{extension.replace('jpg', 'jpeg')}"


@pytest.mark.parametrize(("what", "data", "filename", "message"), [
    ("a GIF", image_bytes("GIF"), "animation.gif", "The image must be a JPEG, PNG or WEBP file"),
    ("a BMP", image_bytes("BMP"), "picture.bmp", "The image must be a JPEG, PNG or WEBP file"),
    ("an SVG", SVG, "logo.svg", "The image must be a JPEG, PNG or WEBP file"),
    ("a text file", TEXT, "notes.txt", "The image must be a JPEG, PNG or WEBP file"),
    ("a PHP script named .png", PHP, "shell.png", "The image must be a JPEG, PNG or WEBP file"),
    ("a file of 2 MB", padded(image_bytes("PNG"), 2 * 1024 * 1024), "big.png",
     "The image must be smaller than 2 MB"),
    ("a photo over 2 MB", noisy_png((900, 900)), "photo.png", "The image must be smaller than 2 MB"),
    ("a truncated JPEG", image_bytes("JPEG", (400, 300))[:500], "cut.jpg",
     "The image file is damaged or incomplete: save it again and upload the new copy"),
    ("a decompression bomb", png_claiming(50_000, 50_000), "bomb.png",
     "The image is too large: use one under 40 megapixels"),
    ("an empty file", b"", "empty.png", "The selected image file is empty"),
])
def test_an_image_that_is_not_usable_is_refused_by_the_field_and_nothing_is_saved(
        client_request, signed_in_staff, session, uploads, catalog_events, what, data, filename,
        message):
    page = create(client_request, _expected_status=422, image=upload(data, filename))
    assert error_by(page, "image") == message
    assert products(session) == [] and catalog_events() == []
    assert list(uploads.iterdir()) == []
    assert page.select_one("#name")["value"] == "Team"
    assert page.select_one("#statement_descriptor")["value"] == "ACME TEAM"
    assert "choose the file again" in text_of(page.select_one("#image-hint"))


def test_an_uploaded_photo_loses_its_gps_position(client_request, signed_in_staff, session,
                                                  uploads):
    from tests.test_images import GPS_IFD, opened

    create(client_request, image=upload(jpeg_with_gps(), "holiday.jpg"))
    stored = (uploads / products(session)[0].image).read_bytes()
    assert not opened(stored).getexif().get_ifd(GPS_IFD)
    assert b"PhoneMaker" not in stored


def test_a_rule_broken_elsewhere_stores_no_image(client_request, signed_in_staff, session,
                                                 uploads):
    create(client_request, _expected_status=422, name="", image=upload(image_bytes("PNG")))
    assert list(uploads.iterdir()) == []


def test_a_text_value_posted_as_the_image_is_no_image(client_request, signed_in_staff, session):
    create(client_request, image="../../etc/passwd")
    assert products(session)[0].image is None


# ---- editing ------------------------------------------------------------------------------------

@pytest.fixture
def team(make_product):
    return make_product("Team", unit_label="seat", description="For whole companies.")


def edit(client_request, product, _expected_status=303, **fields):
    data = {"name": product.name, "description": product.description or "",
            "tax_code": product.tax_code or "", "unit_label": product.unit_label or "",
            "statement_descriptor": product.statement_descriptor or "", **fields}
    return client_request.post("admin_catalog.update_product", product_id=product.id,
                               _data=data, _expected_status=_expected_status)


def test_the_product_page_shows_the_form_filled_in(client_request, signed_in_staff, team):
    page = client_request.get("admin_catalog.product_detail", product_id=team.id)
    assert page.h1.text.startswith("Team") and "Active" in page.h1.text
    assert page.select_one("#name")["value"] == "Team"
    assert page.select_one("#unit_label")["value"] == "seat"
    assert page.select_one("#description").text.strip() == "For whole companies."
    assert page.select_one("#tax_code option[selected]")["value"] == ""


def test_staff_edit_a_product_and_the_change_is_logged(client_request, signed_in_staff, team,
                                                       session, catalog_events):
    edit(client_request, team, name="Teams", unit_label="user", tax_code="txcd_10103001")
    session.expire_all()
    assert (team.name, team.unit_label, team.tax_code) == ("Teams", "user", "txcd_10103001")
    page = client_request.get("admin_catalog.product_detail", product_id=team.id)
    assert text_of(page.select_one(".notice")) == "Your changes are saved."
    assert "Software as a service (SaaS) - business use" in text_of(page.select_one(
        "#tax_code option[selected]"))
    [event] = catalog_events("product.updated")
    assert event.actor == f"staff:{signed_in_staff.id}"
    assert event.data["previous_attributes"] == {"name": "Team", "unit_label": "seat",
                                                 "tax_code": None}


def test_saving_without_changes_logs_nothing(client_request, signed_in_staff, team,
                                              catalog_events):
    edit(client_request, team)
    assert catalog_events() == []


def test_an_edit_breaking_a_rule_saves_nothing_and_keeps_what_was_typed(
        client_request, signed_in_staff, team, session):
    page = edit(client_request, team, _expected_status=422, name="Teams",
                statement_descriptor="ACME*")
    assert error_by(page, "statement_descriptor").startswith("Statement descriptor cannot contain *")
    assert page.select_one("#name")["value"] == "Teams"
    assert page.h1.text.startswith("Team ")  # the heading is the product as it is
    session.expire_all()
    assert team.name == "Team"


def test_a_refused_image_leaves_the_product_and_its_image_as_they_were(
        client_request, signed_in_staff, team, session, uploads):
    edit(client_request, team, image=upload(image_bytes("PNG", (200, 100))))
    session.expire_all()
    first = team.image
    page = edit(client_request, team, _expected_status=422, name="Renamed",
                image=upload(PHP, "avatar.png"))
    assert error_by(page, "image") == "The image must be a JPEG, PNG or WEBP file"
    assert page.select_one("#name")["value"] == "Renamed"
    session.expire_all()
    assert (team.name, team.image) == ("Team", first)
    assert [p.name for p in uploads.iterdir()] == [first]


def test_a_new_image_replaces_the_old_one_whose_file_goes(client_request, signed_in_staff, team,
                                                          session, uploads, client):
    edit(client_request, team, image=upload(image_bytes("PNG", (200, 100))))
    session.expire_all()
    first = team.image
    edit(client_request, team, image=upload(image_bytes("WEBP", (100, 100)), "new.webp"))
    session.expire_all()
    assert team.image != first and team.image.startswith("product-100x100-")
    assert [p.name for p in uploads.iterdir()] == [team.image]
    assert client.get(f"/product-images/{first}").status_code == 404


def test_staff_remove_the_image(client_request, signed_in_staff, team, session, uploads,
                                catalog_events):
    edit(client_request, team, image=upload(image_bytes("PNG")))
    client_request.post("admin_catalog.remove_product_image", product_id=team.id)
    session.expire_all()
    assert team.image is None and list(uploads.iterdir()) == []
    page = client_request.get("admin_catalog.product_detail", product_id=team.id)
    assert "The image is removed." in [text_of(n) for n in page.select(".notice")]
    assert page.select_one("[aria-labelledby=image-heading] img") is None
    assert [e.data["previous_attributes"].get("image") is not None
            for e in catalog_events("product.updated")] == [False, True]


def test_a_tax_code_set_elsewhere_is_kept_when_the_product_is_edited(
        client_request, signed_in_staff, make_product, session):
    product = make_product("Books", tax_code="txcd_35010000")
    page = client_request.get("admin_catalog.product_detail", product_id=product.id)
    assert page.select_one("#tax_code option[selected]")["value"] == "txcd_35010000"
    edit(client_request, product, name="Printed books")
    session.expire_all()
    assert (product.name, product.tax_code) == ("Printed books", "txcd_35010000")


@pytest.mark.parametrize("product_id", ["prod_doesnotexist", "prod_%00", "x" * 100])
def test_an_unknown_product_is_not_found(client_request, signed_in_staff, product_id):
    client_request.get("admin_catalog.product_detail", product_id=product_id,
                       _expected_status=404)


# ---- archiving and deleting ----------------------------------------------------------------------

def test_staff_archive_and_unarchive_a_product(client_request, signed_in_staff, team, session,
                                               catalog_events):
    client_request.post("admin_catalog.archive_product", product_id=team.id)
    page = client_request.get("admin_catalog.product_detail", product_id=team.id)
    assert "Archived" in page.h1.text
    assert "Team is archived." in text_of(page.select_one(".notice"))
    assert page.select_one("form[action$=unarchive] button").text == "Unarchive product"
    client_request.post("admin_catalog.unarchive_product", product_id=team.id)
    session.expire_all()
    assert team.active is True
    assert [e.data["previous_attributes"] for e in catalog_events("product.updated")] in (
        [{"active": True}, {"active": False}], [{"active": False}, {"active": True}])


def test_an_unused_product_is_deleted_after_a_question(client_request, signed_in_staff, team,
                                                       session, catalog_events):
    page = client_request.get("admin_catalog.confirm_delete_product", product_id=team.id)
    assert "This deletes the product and its 1 price for good." in text_of(page.main)
    response = client_request.post_response("admin_catalog.delete_product", product_id=team.id)
    assert response.headers["Location"] == "/admin/products/"
    assert products(session) == []
    page = client_request.get("admin_catalog.product_list")
    assert text_of(page.select_one(".notice")) == "Team is deleted."
    assert {e.type for e in catalog_events()} == {"product.deleted", "price.deleted"}


def test_a_product_in_use_is_not_deleted_and_the_page_says_why(
        client_request, signed_in_staff, team, customer, make_subscription, session):
    make_subscription(customer, price=team.prices[0])
    page = client_request.get("admin_catalog.confirm_delete_product", product_id=team.id)
    assert ("Team cannot be deleted because its price $15.00 per month is in use: a "
            "subscription is on it.") in text_of(page.main)
    assert page.select_one("form[action$=delete]") is None
    page = client_request.post("admin_catalog.delete_product", product_id=team.id,
                               _expected_status=409)
    assert "Archive it instead" in text_of(page.select_one("[role=alert]"))
    assert len(products(session)) == 1


def test_a_file_far_over_the_limit_is_refused_with_a_page_not_an_error(
        client_request, signed_in_staff, session):
    page = create(client_request, _expected_status=413,
                  image=upload(padded(image_bytes("PNG"), 4 * 1024 * 1024), "huge.png"))
    assert page.h1.text == "That was too much to send"
    assert products(session) == []
