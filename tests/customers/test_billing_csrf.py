"""With CSRF protection on, as in production, the billing forms carry what they need."""

from __future__ import annotations

import json

import pytest

from portal.customers.models import TaxId
from tests.customers.conftest import ALL_SECTIONS


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


@pytest.fixture(autouse=True)
def everything_allowed(allow):
    allow(*ALL_SECTIONS)


def test_the_name_form_posts_with_its_own_token(client_request, signed_in_customer,
                                                customer_row):
    form = client_request.get("customers.edit_name").select_one("#name-section form")
    token = form.select_one("input[name=csrf_token]")["value"]
    client_request.post("customers.update_name", _data={"csrf_token": token, "name": "J. R."})
    assert customer_row(signed_in_customer.id)["name"] == "J. R."


def test_htmx_posts_with_the_token_from_the_page_header(client_request, signed_in_customer,
                                                        session, now):
    tax_id = TaxId(customer_id=signed_in_customer.id, type="gb_vat", value="GB980780684",
                   country="GB", created=now)
    session.add(tax_id)
    session.commit()
    page = client_request.get("customers.billing_information")
    token = json.loads(page.body["hx-headers:inherited"])["X-CSRFToken"]
    remove_form = page.select_one("#tax-ids-section li form")
    assert remove_form.select_one("input[name=csrf_token]")["value"]
    client_request.post("customers.remove_tax_id", tax_id_id=tax_id.id, _htmx=True,
                        _headers={"X-CSRFToken": token}, _expected_status=200)
    session.expire_all()
    assert session.get(TaxId, tax_id.id) is None


def test_the_address_form_refuses_a_post_without_a_token(client_request, us_customer,
                                                         customer_row):
    before = customer_row(us_customer.id)
    client_request.post("customers.update_address", _expected_status=400, _data={
        "address-country": "GB", "address-shown_country": "GB", "address-line1": "x"})
    assert customer_row(us_customer.id) == before


def test_the_address_form_posts_with_its_prefixed_token(client_request, us_customer,
                                                        customer_row):
    form = client_request.get("customers.edit_address").select_one("#address-section form")
    data = {field["name"]: field.get("value", "") for field in form.select("input")}
    assert "address-csrf_token" in data
    data.update({"address-country": "US", "address-state": "OR",
                 "address-line1": "1 Main Street"})
    client_request.post("customers.update_address", _data=data)
    assert customer_row(us_customer.id)["address_line1"] == "1 Main Street"
