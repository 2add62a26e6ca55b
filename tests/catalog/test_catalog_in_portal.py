"""What customers see of the catalog: a product's unit label ("per seat") on subscription
pages and invoices, its description, its image (served cached, only while a product has it)."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from pypdf import PdfReader

from portal.admin.operations import staff_actor
from portal.billing import invoicing
from portal.catalog import operations as ops
from tests.catalog import fixtures
from tests.image_files import image_bytes

make_product = fixtures.make_product


def text_of(element) -> str:
    return " ".join(element.get_text(" ").split()) if element is not None else ""


@pytest.fixture
def team(make_product):
    return make_product("Team", unit_label="seat", prices=((1000, "usd", "month"),),
                        description="For whole companies.\nEvery seat gets the Pro features.")


@pytest.fixture
def team_subscription(signed_in_customer, make_subscription, team):
    return make_subscription(signed_in_customer, price=team.prices[0], quantity=3)


def summary(page) -> dict[str, str]:
    return {text_of(row.dt): text_of(row.dd) for row in page.select(".summary-list > div")}


def test_the_subscription_page_says_per_seat(client_request, team_subscription):
    page = client_request.get("subscriptions.subscription_detail",
                              subscription_id=team_subscription.id)
    assert summary(page)["Plan"] == "Team × 3 seats · $30.00 per month ($10.00 per seat)"
    first_line = text_of(page.select_one(".next-invoice tbody td"))
    assert first_line.startswith("Team: 3 seats × $10.00 per seat (")


def test_a_product_without_a_unit_label_reads_as_before(client_request, signed_in_customer,
                                                        make_subscription, make_product):
    pro = make_product("Pro", prices=((2900, "usd", "month"),))
    subscription = make_subscription(signed_in_customer, price=pro.prices[0])
    page = client_request.get("subscriptions.subscription_detail", subscription_id=subscription.id)
    assert summary(page)["Plan"] == "Pro · $29.00 per month"
    assert "per seat" not in text_of(page.main)
    assert page.select_one(".product-intro") is None


def test_the_subscription_page_shows_the_products_description_in_paragraphs(
        client_request, team_subscription):
    page = client_request.get("subscriptions.subscription_detail",
                              subscription_id=team_subscription.id)
    paragraphs = [text_of(p) for p in page.select(".product-intro p")]
    assert paragraphs == ["For whole companies.", "Every seat gets the Pro features."]


def test_the_subscription_page_shows_the_product_image_small_and_lazily(
        client_request, team_subscription, team, session, now, staff, app, client):
    ops.set_product_image(session, team, image_bytes("PNG", (1200, 600)), now=now,
                          actor=staff_actor(staff), instance_path=app.instance_path)
    session.commit()
    page = client_request.get("subscriptions.subscription_detail",
                              subscription_id=team_subscription.id)
    img = page.select_one(".product-intro img")
    # Decorative: the product's name is the page's heading, right above it.
    assert img["alt"] == ""
    assert (img["width"], img["height"]) == ("96", "48")
    assert img["loading"] == "lazy"
    assert img["src"] == f"/product-images/{team.image}"
    served = client.get(img["src"])
    assert served.status_code == 200 and served.mimetype == "image/png"
    assert served.headers["Cache-Control"] == "public, max-age=86400"


def test_an_image_url_set_elsewhere_is_never_loaded_by_the_portal(
        client_request, team_subscription, team, session):
    team.image = "https://tracker.example/pixel.png"
    session.commit()
    page = client_request.get("subscriptions.subscription_detail",
                              subscription_id=team_subscription.id)
    assert page.select_one(".product-intro img") is None
    assert "tracker.example" not in str(page)


def test_the_change_page_lists_prices_per_seat(client_request, team_subscription, team,
                                               session):
    from portal.portal_settings.operations import default_configuration

    configuration = default_configuration(session)
    configuration.subscription_update_enabled = True
    configuration.subscription_update_default_allowed_updates = ["quantity"]
    configuration.subscription_update_products = [
        {"product": team.id, "prices": [team.prices[0].id],
         "adjustable_quantity": {"enabled": True, "minimum": 1, "maximum": 20}}]
    session.commit()
    page = client_request.get("subscriptions.change_plan", subscription_id=team_subscription.id)
    assert [text_of(label) for label in page.select("fieldset label")] == [
        "Team: $10.00 per seat per month Current plan"]


@pytest.mark.parametrize(("quantity", "expected"), [
    (3, "Team: 3 seats × $10.00 per seat (Dec 1, 2026 – Jan 1, 2027)"),
    (1, "Team: 1 seat × $10.00 per seat (Dec 1, 2026 – Jan 1, 2027)"),
])
def test_invoice_lines_name_the_units(team, quantity, expected):
    start, end = datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    assert invoicing.describe_period_line(quantity, team.prices[0], start, end) == expected


def test_invoice_lines_of_products_without_a_unit_label_are_unchanged(make_product):
    pro = make_product("Pro", prices=((2900, "usd", "month"),))
    start, end = datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    assert invoicing.describe_period_line(2, pro.prices[0], start, end) == (
        "2 × Pro (Dec 1, 2026 – Jan 1, 2027)")


@pytest.fixture
def team_invoice(signed_in_customer, team, team_subscription, make_invoice, session):
    invoice = make_invoice(signed_in_customer, amount=3000, subscription=team_subscription,
                           description="Team: 3 seats × $10.00 per seat (Dec 1, 2026 – Jan 1, 2027)")
    line = invoice.lines[0]
    line.price_id, line.quantity, line.unit_amount = team.prices[0].id, 3, 1000
    session.commit()
    return invoice


def test_the_invoice_page_shows_the_units_and_the_products_description(client_request,
                                                                       team_invoice):
    page = client_request.get("invoices.invoice_detail", invoice_id=team_invoice.id)
    cell = text_of(page.select_one(".invoice-lines tbody td"))
    assert cell == ("Team: 3 seats × $10.00 per seat (Dec 1, 2026 – Jan 1, 2027) For whole "
                    "companies. Every seat gets the Pro features.")


def test_the_invoice_pdf_shows_the_units_and_the_products_description(client_request,
                                                                      team_invoice):
    response = client_request.get_response("invoices.invoice_pdf", invoice_id=team_invoice.id)
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(response.data)).pages)
    assert "3 seats × $10.00 per seat" in text
    assert "For whole companies." in text


# ---- the image view ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", [
    "product-640x480-0123456789abcdef.png",  # a fine name, but no product has it
    "branding-0123456789abcdef.png",
    "..%2Fconfig.py",
    ".hidden.png",
    "product-640x480-0123456789abcdef.gif",
])
def test_only_images_a_product_has_are_served(client, team, name, app):
    from portal.images import uploads_dir

    (uploads_dir(app.instance_path) / "product-640x480-0123456789abcdef.png").write_bytes(
        image_bytes("PNG"))
    assert client.get(f"/product-images/{name}").status_code == 404


def test_an_archived_products_image_is_still_served_to_anyone_without_a_cookie(
        client, team, session, now, staff, app):
    ops.set_product_image(session, team, image_bytes("WEBP"), now=now, actor=staff_actor(staff),
                          instance_path=app.instance_path)
    ops.archive_product(session, team, now=now, actor=staff_actor(staff))
    session.commit()
    served = client.get(f"/product-images/{team.image}")
    assert served.status_code == 200 and served.mimetype == "image/webp"
    assert "Set-Cookie" not in served.headers


def test_a_product_image_asked_for_again_is_not_sent_again(client, team, session, now, staff,
                                                           app):
    ops.set_product_image(session, team, image_bytes("PNG"), now=now, actor=staff_actor(staff),
                          instance_path=app.instance_path)
    session.commit()
    url = f"/product-images/{team.image}"
    etag = client.get(url).headers["ETag"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.get_data() == b""
