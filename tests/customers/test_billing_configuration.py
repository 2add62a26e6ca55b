"""What the merchant's configuration lets customers change, and what it only shows them."""

from __future__ import annotations

import pytest

from portal.customers.models import TaxId
from tests.customers.conftest import ALL_SECTIONS

FULL_DETAILS = dict(
    phone="+1 415 555 0100", address_line1="27 Fredrick Ave", address_city="Brothers",
    address_state="OR", address_postal_code="97712", address_country="US",
    shipping_name="Jenny Rosen", shipping_line1="1 Market St", shipping_city="San Francisco",
    shipping_state="CA", shipping_postal_code="94105", shipping_country="US",
)

# section: (section id on the page, GET form endpoint, POST endpoint, data that would be valid)
SECTIONS = {
    "name": ("name-section", "customers.edit_name", "customers.update_name",
             {"name": "Someone Else"}),
    "email": ("email-section", "customers.edit_email", "customers.update_email",
              {"email": "someone@else.example"}),
    "phone": ("phone-section", "customers.edit_phone", "customers.update_phone",
              {"phone": "+44 808 157 0192"}),
    "address": ("address-section", "customers.edit_address", "customers.update_address",
                {"address-shown_country": "US", "address-country": "US",
                 "address-line1": "1 Main St", "address-city": "Boston", "address-state": "MA",
                 "address-postal_code": "02110"}),
    "shipping": ("shipping-section", "customers.edit_shipping_address",
                 "customers.update_shipping_address",
                 {"shipping-shown_country": "US", "shipping-country": "US",
                  "shipping-name": "X", "shipping-line1": "1 Main St", "shipping-city": "Boston",
                  "shipping-state": "MA", "shipping-postal_code": "02110"}),
    "tax_id": ("tax-ids-section", None, "customers.add_tax_id",
               {"tax-id-type": "eu_vat", "tax-id-value": "DE136695976"}),
}


@pytest.fixture
def detailed_customer(make_customer, sign_in, session, now):
    customer = make_customer(**FULL_DETAILS)
    customer.tax_ids.append(TaxId(type="gb_vat", value="GB980780684", country="GB", created=now))
    session.commit()
    return sign_in(customer, via="portal_session")


def _forms_in(section):
    return section.select("form") if section is not None else []


@pytest.mark.parametrize("section", ALL_SECTIONS)
def test_an_allowed_section_can_be_changed(client_request, allow, detailed_customer, section):
    allow(*ALL_SECTIONS)
    section_id, edit_endpoint, _, _ = SECTIONS[section]
    page = client_request.get("customers.billing_information")
    block = page.select_one(f"#{section_id}")
    if edit_endpoint:
        assert block.select_one(f"a[hx-get='{client_request.url(edit_endpoint)}']") is not None
        client_request.get(edit_endpoint)
    else:
        assert block.select_one("form button").text.startswith("Remove")


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize("section", ALL_SECTIONS)
def test_a_section_the_merchant_did_not_allow_is_read_only_and_refuses_posts(
        client_request, allow, detailed_customer, customer_row, events, session, section, htmx):
    allow(*[other for other in ALL_SECTIONS if other != section])
    section_id, edit_endpoint, post_endpoint, data = SECTIONS[section]
    before = customer_row(detailed_customer.id)

    page = client_request.get("customers.billing_information")
    block = page.select_one(f"#{section_id}")
    assert block is not None, "the saved details are still shown"
    assert _forms_in(block) == []
    assert block.select("a[hx-get]") == []
    if edit_endpoint:
        client_request.get_response(edit_endpoint, _expected_status=404, _htmx=htmx)
    client_request.post_response(post_endpoint, _data=data, _expected_status=404, _htmx=htmx)

    assert customer_row(detailed_customer.id) == before
    assert events("customer.updated") == [] and events("customer.tax_id.created") == []
    assert [t.value for t in session.query(TaxId)] == ["GB980780684"]


def test_removing_a_tax_id_is_refused_when_tax_ids_are_read_only(
        client_request, allow, detailed_customer, session):
    allow("name")
    tax_id = detailed_customer.tax_ids[0]
    client_request.post_response("customers.remove_tax_id", tax_id_id=tax_id.id,
                                 _expected_status=404)
    session.expire_all()
    assert session.get(TaxId, tax_id.id) is not None


def test_removing_the_shipping_address_is_refused_when_shipping_is_read_only(
        client_request, allow, detailed_customer, customer_row):
    allow("name", "address")
    client_request.post_response("customers.remove_shipping_address", _expected_status=404)
    assert customer_row(detailed_customer.id)["shipping_line1"] == "1 Market St"


def test_with_customer_updates_switched_off_everything_is_read_only(
        client_request, allow, detailed_customer):
    allow(*ALL_SECTIONS, enabled=False)
    page = client_request.get("customers.billing_information")
    assert page.select("main form") == []
    assert "To change these details, contact" in page.select_one("main").text
    assert "1 Market St" in page.select_one("#shipping-section").text
    assert "GB980780684" in page.select_one("#tax-ids-section").text
    for _, edit_endpoint, post_endpoint, data in SECTIONS.values():
        client_request.post_response(post_endpoint, _data=data, _expected_status=404)
        if edit_endpoint:
            client_request.get_response(edit_endpoint, _expected_status=404)


@pytest.mark.parametrize(("section", "section_id"), [
    ("phone", "phone-section"), ("shipping", "shipping-section"), ("tax_id", "tax-ids-section")])
def test_an_empty_read_only_section_is_left_out(client_request, allow, signed_in_customer,
                                                section, section_id):
    allow(*[other for other in ALL_SECTIONS if other != section])
    page = client_request.get("customers.billing_information")
    assert page.select_one(f"#{section_id}") is None


def test_name_email_and_billing_address_are_always_shown(client_request, allow,
                                                         signed_in_customer):
    allow()
    page = client_request.get("customers.billing_information")
    assert page.select_one("#name-section .section-value").text == "Jenny Rosen"
    assert page.select_one("#email-section .section-value").text == "jenny.rosen@example.com"
    assert page.select_one("#address-section .section-value").text == "Not given"


# ---- the email address -------------------------------------------------------------------

def test_the_email_is_shown_but_not_editable_after_signing_in_with_the_login_link(
        client_request, allow, signed_in_customer, customer_row):
    allow(*ALL_SECTIONS)
    page = client_request.get("customers.billing_information")
    section = page.select_one("#email-section")
    assert section.select_one(".section-value").text == "jenny.rosen@example.com"
    assert section.select("a, form, input") == []
    assert "You signed in with a code sent to this address" in section.text
    client_request.get_response("customers.edit_email", _expected_status=404)
    client_request.post_response("customers.update_email", _data={"email": "x@evil.example"},
                                 _expected_status=404)
    assert customer_row(signed_in_customer.id)["email"] == "jenny.rosen@example.com"


def test_the_email_is_editable_in_a_portal_session_when_the_merchant_allows_it(
        client_request, allow, portal_session_customer):
    allow(*ALL_SECTIONS)
    page = client_request.get("customers.billing_information")
    link = page.select_one("#email-section a")
    assert link["hx-get"] == client_request.url("customers.edit_email")
    form = client_request.get("customers.edit_email").select_one("#email-section form")
    assert form.select_one("#email")["value"] == "jenny.rosen@example.com"


def test_the_email_is_read_only_in_a_portal_session_unless_the_merchant_allows_it(
        client_request, allow, portal_session_customer):
    allow("name", "address")
    page = client_request.get("customers.billing_information")
    section = page.select_one("#email-section")
    assert section.select("a, form") == []
    assert "signed in with a code" not in section.text
    client_request.post_response("customers.update_email", _data={"email": "a@b.example"},
                                 _expected_status=404)


def test_signed_out_visitors_are_sent_to_sign_in_before_any_check(client_request, allow):
    allow()
    for endpoint in ("customers.billing_information", "customers.edit_name"):
        response = client_request.get_response(endpoint, _expected_status=303)
        assert "/p/signed-out" in response.headers["Location"]
    response = client_request.post_response("customers.update_name", _data={"name": "x"},
                                            _expected_status=303)
    assert "/p/signed-out" in response.headers["Location"]
