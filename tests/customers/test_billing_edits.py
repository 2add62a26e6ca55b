"""Changing each part of billing information, with and without htmx."""

from __future__ import annotations

import pytest

from tests.customers.conftest import ALL_SECTIONS


@pytest.fixture(autouse=True)
def everything_allowed(allow):
    allow(*ALL_SECTIONS)


def _form_values(form) -> dict:
    """What a browser would submit for ``form``: its inputs and selected options."""
    data = {}
    for element in form.find_all(["input", "select", "textarea"]):
        name = element.get("name")
        if not name or element.get("type") == "submit":
            continue
        if element.name == "select":
            chosen = element.find("option", selected=True) or element.find("option")
            data[name] = chosen.get("value", "") if chosen else ""
        else:
            data[name] = element.get("value", "")
    return data


# ---- name --------------------------------------------------------------------------------

def test_the_name_form_shows_the_current_name(client_request, signed_in_customer):
    page = client_request.get("customers.edit_name")
    assert page.select_one("#name")["value"] == "Jenny Rosen"
    assert page.select_one("#name-section form")["action"].endswith("/p/billing-information/name")


def test_changing_the_name_redirects_with_a_message(client_request, signed_in_customer,
                                                    customer_row):
    response = client_request.post_response("customers.update_name",
                                            _data={"name": "Jenny Rosen-Smith"})
    assert response.headers["Location"].endswith("/p/billing-information")
    assert customer_row(signed_in_customer.id)["name"] == "Jenny Rosen-Smith"
    page = client_request.get("customers.billing_information")
    assert "Your name has been updated" in page.select_one(".notice").text
    assert page.select_one("#name-section .section-value").text == "Jenny Rosen-Smith"


def test_changing_the_name_with_htmx_swaps_only_the_name_section(client_request,
                                                                 signed_in_customer):
    page = client_request.post("customers.update_name", _data={"name": "Jenny R."},
                               _htmx=True, _expected_status=200)
    section = page.select_one("section")
    assert section["id"] == "name-section"
    assert page.find("html") is None and page.find("nav") is None
    assert section.select_one(".notice").text == "Your name has been updated"
    assert section.select_one(".section-value").text == "Jenny R."


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize(("typed", "message"), [
    ("", "Enter your name or your business's name"),
    ("   ", "Enter your name or your business's name"),
    ("x" * 257, "Name must be 256 characters or fewer"),
])
def test_a_bad_name_is_refused_and_nothing_changes(client_request, signed_in_customer,
                                                   customer_row, typed, message, htmx):
    before = customer_row(signed_in_customer.id)
    page = client_request.post("customers.update_name", _data={"name": typed}, _htmx=htmx,
                               _expected_status=422)
    assert page.select_one("#name-error").text.strip() == f"Error: {message}"
    assert page.select_one(".error-summary a")["href"] == "#name"
    assert page.select_one("#name")["value"] == typed.strip()
    if not htmx:
        assert page.title.text.startswith("Error: ")
    assert customer_row(signed_in_customer.id) == before


def test_a_name_with_markup_is_shown_as_text(client_request, signed_in_customer):
    client_request.post("customers.update_name",
                        _data={"name": "<script>alert(1)</script> Ltd"})
    response = client_request.get_response("customers.billing_information")
    html = response.get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Ltd" in html
    overview = client_request.get_response("customers.overview").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in overview


# ---- phone -------------------------------------------------------------------------------

@pytest.mark.parametrize("typed", ["+44 808 157 0192", "(415) 555-0100", "01632 960001",
                                   "+1-415-555-0100", "1234567"])
def test_phone_numbers_written_the_usual_ways_are_saved(client_request, signed_in_customer,
                                                        customer_row, typed):
    client_request.post("customers.update_phone", _data={"phone": f"  {typed} "})
    assert customer_row(signed_in_customer.id)["phone"] == typed


def test_spaces_inside_a_phone_number_are_tidied(client_request, signed_in_customer,
                                                 customer_row):
    client_request.post("customers.update_phone", _data={"phone": "+44   808 157\t0192"})
    assert customer_row(signed_in_customer.id)["phone"] == "+44 808 157 0192"


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize(("typed", "message"), [
    ("call me", "Enter a phone number using only numbers, spaces, brackets, hyphens and a + at the start"),
    ("555-CALL-NOW", "Enter a phone number using only numbers, spaces, brackets, hyphens and a + at the start"),
    ("44+ 808", "Enter a phone number using only numbers, spaces, brackets, hyphens and a + at the start"),
    ("123456", "Enter a phone number with between 7 and 20 digits, like 01632 960 001 or +44 808 157 0192"),
    ("1" * 21, "Enter a phone number with between 7 and 20 digits, like 01632 960 001 or +44 808 157 0192"),
    ("1 " * 21, "Phone number must be 40 characters or fewer"),
])
def test_a_bad_phone_number_is_refused_and_kept_for_correction(
        client_request, us_customer, customer_row, typed, message, htmx):
    before = customer_row(us_customer.id)
    page = client_request.post("customers.update_phone", _data={"phone": typed}, _htmx=htmx,
                               _expected_status=422)
    assert page.select_one("#phone-error").text.strip() == f"Error: {message}"
    assert page.select_one("#phone")["value"] == " ".join(typed.split())
    assert customer_row(us_customer.id) == before


def test_an_empty_phone_number_removes_it(client_request, us_customer, customer_row):
    page = client_request.post("customers.update_phone", _data={"phone": ""}, _htmx=True,
                               _expected_status=200)
    assert page.select_one(".notice").text == "Your phone number has been removed"
    assert customer_row(us_customer.id)["phone"] is None


# ---- email -------------------------------------------------------------------------------

def test_a_portal_session_customer_changes_their_email(client_request, portal_session_customer,
                                                       customer_row):
    client_request.post("customers.update_email", _data={"email": "Jenny@New.example"})
    row = customer_row(portal_session_customer.id)
    assert row["email"] == "Jenny@New.example"
    assert row["email_normalized"] == "jenny@new.example"


def test_changing_the_email_with_htmx_shows_the_new_address(client_request,
                                                            portal_session_customer):
    page = client_request.post("customers.update_email", _data={"email": "jr@example.org"},
                               _htmx=True, _expected_status=200)
    assert page.select_one("#email-section .section-value").text == "jr@example.org"


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize(("typed", "message"), [
    ("", "Enter your email address"),
    ("jenny", "Enter an email address in the correct format, like name@example.com"),
    ("jenny@", "Enter an email address in the correct format, like name@example.com"),
    ("a@b@example.com", "Enter an email address in the correct format, like name@example.com"),
])
def test_a_bad_email_is_refused(client_request, portal_session_customer, customer_row, typed,
                                message, htmx):
    before = customer_row(portal_session_customer.id)
    page = client_request.post("customers.update_email", _data={"email": typed}, _htmx=htmx,
                               _expected_status=422)
    assert page.select_one("#email-error").text.strip() == f"Error: {message}"
    assert page.select_one("#email")["value"] == typed
    assert customer_row(portal_session_customer.id) == before


# ---- billing address ---------------------------------------------------------------------

US_ADDRESS = {"address-shown_country": "US", "address-country": "US",
              "address-line1": "1 Market St", "address-line2": "Suite 300",
              "address-city": "San Francisco", "address-state": "CA",
              "address-postal_code": "94105"}


def test_the_address_form_is_prefilled_with_the_saved_address(client_request, us_customer):
    page = client_request.get("customers.edit_address")
    assert _form_values(page.select_one("#address-section form")) | {"csrf_token": None} == {
        "address-shown_country": "US", "address-country": "US",
        "address-line1": "27 Fredrick Ave", "address-line2": "", "address-city": "Brothers",
        "address-state": "OR", "address-postal_code": "97712", "csrf_token": None}


def test_changing_the_billing_address(client_request, us_customer, customer_row):
    response = client_request.post_response("customers.update_address", _data=US_ADDRESS)
    assert response.headers["Location"].endswith("/p/billing-information")
    row = customer_row(us_customer.id)
    assert (row["address_line1"], row["address_line2"], row["address_city"],
            row["address_state"], row["address_postal_code"], row["address_country"]) == (
        "1 Market St", "Suite 300", "San Francisco", "CA", "94105", "US")
    page = client_request.get("customers.billing_information")
    assert [line for line in page.select_one("#address-section address").stripped_strings] == [
        "1 Market St", "Suite 300", "San Francisco, CA 94105", "United States"]


def test_changing_the_billing_address_with_htmx(client_request, us_customer):
    page = client_request.post("customers.update_address", _data=US_ADDRESS, _htmx=True,
                               _expected_status=200)
    assert page.select_one("section")["id"] == "address-section"
    assert page.select_one(".notice").text == "Your billing address has been updated"
    assert "San Francisco, CA 94105" in page.select_one("address").text


def test_a_bad_address_keeps_everything_typed(client_request, us_customer, customer_row):
    before = customer_row(us_customer.id)
    typed = dict(US_ADDRESS, **{"address-line1": "", "address-postal_code": "9410"})
    page = client_request.post("customers.update_address", _data=typed, _expected_status=422)
    form = page.select_one("#address-section form")
    values = _form_values(form)
    for name, value in typed.items():
        assert values[name] == value, name
    summary = [a.text for a in page.select(".error-summary a")]
    assert summary == ["Enter the first line of the address",
                       "Enter a real ZIP code, like 95014"]
    assert [a["href"] for a in page.select(".error-summary a")] == [
        "#address-line1", "#address-postal_code"]
    assert customer_row(us_customer.id) == before


def test_a_new_country_without_javascript_shows_its_fields_before_saving(
        client_request, us_customer, customer_row):
    before = customer_row(us_customer.id)
    typed = dict(US_ADDRESS, **{"address-country": "GB", "address-city": "London",
                                "address-postal_code": "sw1a 2aa"})
    page = client_request.post("customers.update_address", _data=typed, _expected_status=200)
    form = page.select_one("#address-section form")
    labels = {label["for"]: label.text for label in form.select("label")}
    assert labels["address-postal_code"] == "Postcode"
    assert labels["address-state"] == "County (optional)"
    assert form.select_one("#address-state").name == "input"  # a text field, not the US list
    notice = page.select_one("#address-section .notice")
    assert "These are the address fields for United Kingdom" in notice.text
    assert notice.has_attr("autofocus"), "the reader is taken to the form again"
    values = _form_values(form)
    assert values["address-line1"] == "1 Market St"
    assert values["address-city"] == "London"
    assert values["address-postal_code"] == "sw1a 2aa"
    assert values["address-shown_country"] == "GB"
    assert values["address-state"] == "", "Oregon, picked from the US list, means nothing here"
    assert not page.select(".error-summary")
    assert customer_row(us_customer.id) == before

    client_request.post("customers.update_address", _data=values)
    row = customer_row(us_customer.id)
    assert (row["address_country"], row["address_postal_code"], row["address_state"]) == (
        "GB", "SW1A 2AA", None)


def test_choosing_a_country_with_htmx_swaps_in_its_fields(client_request, us_customer,
                                                         customer_row):
    before = customer_row(us_customer.id)
    typed = dict(US_ADDRESS, **{"address-country": "CA", "address-shown_country": "CA",
                                "refresh": "1"})
    page = client_request.post("customers.update_address", _data=typed, _htmx=True,
                               _expected_status=200)
    assert page.select_one("section")["id"] == "address-section"
    provinces = [o.text for o in page.select("#address-state option")]
    assert provinces[0] == "Select a province" and "British Columbia" in provinces
    assert page.select_one("label[for=address-state]").text == "Province"
    assert not page.select_one(".notice").has_attr("autofocus"), "focus stays on the select"
    assert customer_row(us_customer.id) == before


def test_a_country_without_postcodes_or_states_saves_without_them(client_request, us_customer,
                                                                  customer_row):
    page = client_request.post("customers.update_address", _data={
        "address-shown_country": "US", "address-country": "DE"}, _expected_status=200)
    assert page.select_one("#address-state") is None
    client_request.post("customers.update_address", _data={
        "address-shown_country": "DE", "address-country": "DE", "address-line1": "Unter den Linden 1",
        "address-city": "Berlin", "address-postal_code": "10117", "address-state": "OR"})
    row = customer_row(us_customer.id)
    assert (row["address_state"], row["address_postal_code"]) == (None, "10117")


# ---- shipping address --------------------------------------------------------------------

SHIPPING = {"shipping-shown_country": "GB", "shipping-country": "GB",
            "shipping-name": "Jenny Rosen", "shipping-phone": "+44 808 157 0192",
            "shipping-line1": "10 Downing Street", "shipping-city": "London",
            "shipping-postal_code": "SW1A2AA"}


def test_adding_a_shipping_address(client_request, signed_in_customer, customer_row):
    client_request.post("customers.update_shipping_address", _data=SHIPPING)
    row = customer_row(signed_in_customer.id)
    assert (row["shipping_name"], row["shipping_phone"], row["shipping_line1"],
            row["shipping_city"], row["shipping_postal_code"], row["shipping_country"]) == (
        "Jenny Rosen", "+44 808 157 0192", "10 Downing Street", "London", "SW1A 2AA", "GB")


def test_adding_a_shipping_address_with_htmx(client_request, signed_in_customer):
    page = client_request.post("customers.update_shipping_address", _data=SHIPPING,
                               _htmx=True, _expected_status=200)
    assert page.select_one("section")["id"] == "shipping-section"
    assert list(page.select_one("address").stripped_strings) == [
        "Jenny Rosen", "+44 808 157 0192", "10 Downing Street", "London", "SW1A 2AA",
        "United Kingdom"]


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize(("field", "typed", "message"), [
    ("shipping-name", "", "Enter the name of the person receiving deliveries"),
    ("shipping-phone", "ring me", "Enter a phone number using only numbers, spaces, brackets, hyphens and a + at the start"),
    ("shipping-line1", "", "Enter the first line of the address"),
    ("shipping-city", "", "Enter the town or city"),
    ("shipping-postal_code", "", "Enter a postcode"),
    ("shipping-postal_code", "123 456", "Enter a real postcode, like EC1Y 8SY"),
])
def test_a_bad_shipping_address_is_refused(client_request, signed_in_customer, customer_row,
                                           field, typed, message, htmx):
    before = customer_row(signed_in_customer.id)
    page = client_request.post("customers.update_shipping_address",
                               _data=dict(SHIPPING, **{field: typed}), _htmx=htmx,
                               _expected_status=422)
    assert page.select_one(f"#{field}-error").text.strip() == f"Error: {message}"
    assert page.select_one(f"#{field}")["value"] == typed
    assert customer_row(signed_in_customer.id) == before


def test_removing_the_shipping_address(client_request, signed_in_customer, customer_row):
    client_request.post("customers.update_shipping_address", _data=SHIPPING)
    page = client_request.post("customers.remove_shipping_address", _htmx=True,
                               _expected_status=200)
    assert page.select_one(".notice").text == "Your shipping address has been removed"
    row = customer_row(signed_in_customer.id)
    assert all(row[column] is None for column in row if column.startswith("shipping_"))
    client_request.post("customers.remove_shipping_address")


# ---- the edit forms open in place ----------------------------------------------------------

@pytest.mark.parametrize(("endpoint", "section_id"), [
    ("customers.edit_name", "name-section"),
    ("customers.edit_phone", "phone-section"),
    ("customers.edit_address", "address-section"),
    ("customers.edit_shipping_address", "shipping-section"),
])
def test_change_links_open_the_form_in_place_or_on_a_page(client_request, signed_in_customer,
                                                          endpoint, section_id):
    page = client_request.get("customers.billing_information")
    link = page.select_one(f"#{section_id} a[hx-get]")
    assert link["hx-get"] == client_request.url(endpoint)
    assert link["href"] == f"{client_request.url(endpoint)}#{section_id}"  # opens at the form
    assert link["hx-target"] == f"#{section_id}"

    fragment = client_request.get(endpoint, _htmx=True)
    assert fragment.select_one("section")["id"] == section_id
    assert fragment.select_one("form")["hx-target"] == f"#{section_id}"
    assert fragment.find("nav") is None

    full = client_request.get(endpoint)
    assert full.select_one(f"#{section_id} form") is not None
    assert full.select_one("nav a[aria-current=page]").text == "Billing information"


def test_billing_pages_stay_small(client_request, us_customer, session, now):
    from portal.customers.models import TaxId

    session.add(TaxId(customer_id=us_customer.id, type="eu_vat", value="DE136695976",
                      country="DE", created=now))
    session.commit()
    page = client_request.get_response("customers.billing_information").get_data()
    form_page = client_request.get_response("customers.edit_address").get_data()
    fragment = client_request.get_response("customers.edit_address", _htmx=True).get_data()
    print(f"billing information {len(page)} B, with the address form {len(form_page)} B, "
          f"address form fragment {len(fragment)} B")
    assert len(page) < 10_000
    # 249 countries and the US states are most of it.
    assert len(form_page) < 24_000
    assert len(fragment) < len(form_page) - 5_000


def test_the_error_summary_follows_the_order_of_the_fields(client_request, signed_in_customer):
    page = client_request.post("customers.update_shipping_address", _expected_status=422,
                               _data=dict(SHIPPING, **{"shipping-name": "", "shipping-line1": "",
                                                       "shipping-postal_code": "x"}))
    on_screen = [element["id"] for element in page.select("#shipping-section form [id]")
                 if element.name in ("input", "select")]
    summary = [link["href"].removeprefix("#") for link in page.select(".error-summary a")]
    assert summary == ["shipping-name", "shipping-line1", "shipping-postal_code"]
    assert summary == [field_id for field_id in on_screen if field_id in summary]
