"""Country-aware address fields: names from Babel, labels and checks per country."""

from __future__ import annotations

import pytest

from portal.customers import addresses
from tests.customers.conftest import ALL_SECTIONS


def test_the_country_list_is_iso_3166_sorted_as_people_read_it():
    codes = [code for code, _ in addresses.countries()]
    names = dict(addresses.countries())
    assert len(codes) == 249
    assert not {"EU", "EZ", "UN", "ZZ", "QO", "150", "XA", "AC", "IC"} & set(codes)
    assert names["GB"] == "United Kingdom" and names["CI"] == "Côte d’Ivoire"
    assert codes.index("AX") == codes.index("AF") + 1  # Åland Islands sorts with the As


@pytest.mark.parametrize(("country", "labels"), [
    ("US", {"city": "Town or city", "state": "State", "postal_code": "ZIP code"}),
    ("GB", {"city": "Town or city", "state": "County (optional)", "postal_code": "Postcode"}),
    ("IE", {"city": "Town or city", "state": "County (optional)",
            "postal_code": "Eircode (optional)"}),
    ("CA", {"city": "Town or city", "state": "Province", "postal_code": "Postal code"}),
    ("AU", {"city": "Suburb or town", "state": "State", "postal_code": "Postcode"}),
    ("DE", {"city": "Town or city", "postal_code": "Postcode"}),
    ("FR", {"city": "Town or city", "postal_code": "Postcode"}),
    ("NL", {"city": "Town or city", "postal_code": "Postcode"}),
    ("IN", {"city": "Town or city", "state": "State", "postal_code": "PIN code"}),
    ("SG", {"postal_code": "Postal code"}),
    ("HK", {"city": "District (optional)", "state": "Area"}),
])
def test_each_country_gets_its_own_fields_and_words(client_request, allow, signed_in_customer,
                                                    country, labels):
    allow(*ALL_SECTIONS)
    page = client_request.post("customers.update_address", _expected_status=200, _data={
        "address-country": country, "address-shown_country": "", "refresh": "1"})
    form = page.select_one("#address-section form")
    shown = {label["for"].removeprefix("address-"): label.text for label in form.select("label")}
    assert shown.pop("country") == "Country or region"
    assert shown.pop("line1") == "Address line 1"
    assert shown.pop("line2") == "Address line 2 (optional)"
    assert shown == labels


@pytest.mark.parametrize(("country", "states"), [
    ("US", {"OR": "Oregon", "CA": "California", "DC": "District of Columbia"}),
    ("CA", {"QC": "Quebec", "BC": "British Columbia"}),
    ("AU", {"NSW": "New South Wales", "VIC": "Victoria"}),
])
def test_states_and_provinces_are_chosen_from_a_list(country, states):
    choices = dict(addresses.address_format(country).state_choices)
    for code, name in states.items():
        assert choices[code] == name


@pytest.fixture
def address_post(client_request, allow, signed_in_customer):
    allow(*ALL_SECTIONS)

    def post(country, expected_status, htmx=False, **fields):
        data = {"address-country": country, "address-shown_country": country,
                "address-line1": "1 High Street"}
        data.update({f"address-{name}": value for name, value in fields.items()})
        return client_request.post("customers.update_address", _data=data, _htmx=htmx,
                                   _expected_status=expected_status)

    return post


@pytest.mark.parametrize(("country", "fields", "stored_postal_code"), [
    ("US", {"city": "Brothers", "state": "OR", "postal_code": "97712"}, "97712"),
    ("US", {"city": "Brothers", "state": "OR", "postal_code": "97712 1234"}, "97712-1234"),
    ("CA", {"city": "Ottawa", "state": "ON", "postal_code": "k1a0b1"}, "K1A 0B1"),
    ("GB", {"city": "London", "postal_code": "sw1a 2aa"}, "SW1A 2AA"),
    ("GB", {"city": "Manchester", "state": "Greater Manchester", "postal_code": "M11AE"},
     "M1 1AE"),
    ("DE", {"city": "Berlin", "postal_code": "10117"}, "10117"),
    ("FR", {"city": "Paris", "postal_code": "75008"}, "75008"),
    ("NL", {"city": "Amsterdam", "postal_code": "1012ab"}, "1012 AB"),
    ("AU", {"city": "Sydney", "state": "NSW", "postal_code": "2000"}, "2000"),
    ("IE", {"city": "Dublin", "postal_code": "d02x285"}, "D02 X285"),
    ("IE", {"city": "Dublin", "postal_code": ""}, None),
    ("SG", {"postal_code": "048616"}, "048616"),
    ("AQ", {"city": "McMurdo Station"}, None),
])
def test_real_addresses_are_saved(address_post, customer_row, signed_in_customer, country,
                                  fields, stored_postal_code):
    address_post(country, 303, **fields)
    row = customer_row(signed_in_customer.id)
    assert row["address_country"] == country
    assert row["address_postal_code"] == stored_postal_code


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize(("country", "fields", "field", "message"), [
    ("US", {"city": "Brothers", "state": "OR", "postal_code": ""}, "postal_code", "Enter a ZIP code"),
    ("US", {"city": "Brothers", "state": "OR", "postal_code": "9771"}, "postal_code",
     "Enter a real ZIP code, like 95014"),
    ("US", {"city": "Brothers", "state": "OR", "postal_code": "10001"}, "postal_code",
     "ZIP code 10001 is not in Oregon. Check the ZIP code and state"),
    ("US", {"city": "Brothers", "state": "", "postal_code": "97712"}, "state", "Select the state"),
    ("US", {"city": "Brothers", "state": "Oregon", "postal_code": "97712"}, "state",
     "Select the state from the list"),
    ("US", {"city": "", "state": "OR", "postal_code": "97712"}, "city", "Enter the town or city"),
    ("CA", {"city": "Ottawa", "state": "ON", "postal_code": "K1A 0B"}, "postal_code",
     "Enter a real postal code, like H3Z 2Y7"),
    ("CA", {"city": "Ottawa", "state": "", "postal_code": "K1A 0B1"}, "state", "Select the province"),
    ("GB", {"city": "London", "postal_code": ""}, "postal_code", "Enter a postcode"),
    ("GB", {"city": "London", "postal_code": "SW1A 2A"}, "postal_code",
     "Enter a real postcode, like EC1Y 8SY"),
    ("DE", {"city": "Berlin", "postal_code": "1011"}, "postal_code",
     "Enter a real postcode, like 26133"),
    ("FR", {"city": "Paris", "postal_code": "7500"}, "postal_code",
     "Enter a real postcode, like 33380"),
    ("NL", {"city": "Amsterdam", "postal_code": "1012"}, "postal_code",
     "Enter a real postcode, like 1234 AB"),
    ("AU", {"city": "Sydney", "state": "NSW", "postal_code": "200"}, "postal_code",
     "Enter a real postcode, like 2060"),
    ("AU", {"city": "Sydney", "state": "", "postal_code": "2000"}, "state", "Select the state"),
    ("IE", {"city": "Dublin", "postal_code": "D02"}, "postal_code",
     "Enter a real Eircode, like A65 F4E2"),
    ("US", {"city": "x" * 101, "state": "OR", "postal_code": "97712"}, "city",
     "Town or city must be 100 characters or fewer"),
    ("ZZ", {"city": "Nowhere"}, "country", "Select the country or region from the list"),
    ("", {"city": "Nowhere"}, "country", "Select the country or region"),
])
def test_a_bad_address_says_what_to_fix(address_post, customer_row, signed_in_customer,
                                       country, fields, field, message, htmx):
    before = customer_row(signed_in_customer.id)
    page = address_post(country, 422, htmx=htmx, **fields)
    assert page.select_one(f"#address-{field}-error").text.strip() == f"Error: {message}"
    assert page.select_one(f"#address-{field}")["aria-invalid"] == "true"
    assert customer_row(signed_in_customer.id) == before


def test_addresses_are_shown_in_the_countrys_own_order():
    assert addresses.format_address("DE", line1="Unter den Linden 1", city="Berlin",
                                    postal_code="10117") == [
        "Unter den Linden 1", "10117 Berlin", "Germany"]
    assert addresses.format_address("GB", line1="10 Downing Street", city="London",
                                    postal_code="SW1A 2AA") == [
        "10 Downing Street", "London", "SW1A 2AA", "United Kingdom"]
    assert addresses.format_address("US", line1="27 Fredrick Ave", line2="Apt 2",
                                    city="Brothers", state="OR", postal_code="97712") == [
        "27 Fredrick Ave", "Apt 2", "Brothers, OR 97712", "United States"]
