"""Bad input never gives a 500: a clear 4xx with a message by the field, and nothing stored.

tests/test_fuzz_forms.py throws every kind of bad value at every form; these are the cases
that once failed, each with what the customer should see instead.
"""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from portal.customers.models import Customer, TaxId
from portal.payments.gateway import TestGateway, luhn_valid
from portal.payments.models import PaymentMethod
from tests.conftest import HTMX_HEADERS
from tests.payments.cards import mm_yy

CONTROL_CHARACTERS = ["\x00", "\x01", "\x08", "\x0b", "\x1b", "\x7f"]
# Digits that str.isdigit() accepts but a card never carries.
NOT_ASCII_DIGITS = ["424242424242424²", "４２４２４２４２４２４２４２４２", "٤٢٤٢٤٢٤٢٤٢٤٢٤٢٤٢"]


@pytest.fixture
def login(session, now):
    from portal.portal_settings.operations import activate_login_link

    link = activate_login_link(session, now=now)
    session.commit()
    return link


@pytest.fixture
def tokenized(monkeypatch):
    """Every card the test gateway was asked to tokenize in this test."""
    seen = []
    original = TestGateway.tokenize_card

    def spy(self, card, *, now):
        seen.append(card)
        return original(self, card, now=now)

    monkeypatch.setattr(TestGateway, "tokenize_card", spy)
    return seen


def customer_row(session, customer_id) -> dict:
    session.expire_all()
    table = Customer.__table__
    return dict(session.execute(select(table).where(table.c.id == customer_id)).mappings().one())


def card_form(now, **overrides) -> dict:
    data = {"name": "Jenny Rosen", "number": "4242 4242 4242 4242", "expiry": mm_yy(now, 30),
            "cvc": "314", "postal_code": "97712"}
    data.update(overrides)
    return data


# ---- files and JSON where a form is expected ---------------------------------------------

@pytest.mark.parametrize("htmx", [False, True])
def test_a_file_posted_as_the_email_on_the_login_form_is_a_clear_400(client, login, htmx):
    response = client.post(f"/p/login/{login.id}",
                           data={"email": (io.BytesIO(b"jenny@example.com"), "email.txt")},
                           headers=HTMX_HEADERS if htmx else {})
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "files cannot be sent" in body.lower()


@pytest.mark.parametrize("endpoint, field", [
    ("/p/billing-information/name", "name"),
    ("/p/payment-methods/new", "name"),
    ("/p/billing-information/tax-ids", "tax-id-value"),
])
def test_a_file_in_a_text_field_is_refused_and_nothing_is_saved(client, signed_in_customer,
                                                               session, tokenized, endpoint,
                                                               field):
    before = customer_row(session, signed_in_customer.id)
    response = client.post(endpoint, data={field: (io.BytesIO(b"Mallory"), "name.txt"),
                                           "tax-id-type": "gb_vat"})
    assert response.status_code == 400
    assert customer_row(session, signed_in_customer.id) == before
    assert tokenized == []
    assert session.scalars(select(TaxId)).all() == []


@pytest.mark.parametrize("body", [{"email": 5}, {"email": ["a@example.com", 5]},
                                  {"email": "jenny.rosen@example.com"}, [1, 2], "null"])
def test_a_json_body_on_the_login_form_is_a_415(client, login, body):
    response = client.post(f"/p/login/{login.id}", data=json.dumps(body),
                           content_type="application/json")
    assert response.status_code == 415
    assert "This form must be sent from the page" in response.get_data(as_text=True)


def test_a_json_address_is_refused_not_saved_without_its_checks(client, session, make_customer,
                                                                sign_in):
    customer = sign_in(make_customer(address_line1="27 Fredrick Ave", address_city="Brothers",
                                     address_state="OR", address_postal_code="97712",
                                     address_country="US"))
    before = customer_row(session, customer.id)
    response = client.post("/p/billing-information/address", json={
        "address-country": "US", "address-shown_country": "US", "address-line1": "1 Road",
        "address-city": "Town", "address-state": "Narnia", "address-postal_code": "!!!!"})
    assert response.status_code == 415
    assert customer_row(session, customer.id) == before


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml",
                                          "application/octet-stream", ""])
def test_a_body_of_another_type_is_a_415(client, signed_in_customer, session, content_type):
    before = customer_row(session, signed_in_customer.id)
    response = client.post("/p/billing-information/name", data=b"name=Mallory",
                           headers={"Content-Type": content_type} if content_type else {})
    assert response.status_code == 415
    assert customer_row(session, signed_in_customer.id) == before


def test_a_form_built_from_values_that_are_not_text_says_so_instead_of_crashing(app):
    from portal.customers.forms import NameForm
    from portal.login.forms import EmailForm

    with app.test_request_context():
        form = EmailForm(formdata=MultiDict({"email": 5}))
        assert not form.validate()
        assert form.email.errors == ["Email address must be typed in as text"]
        form = NameForm(formdata=MultiDict({"name": io.BytesIO(b"x")}))
        assert not form.validate()
        assert form.name.errors == ["Name must be typed in as text"]
        form = NameForm(formdata=None, data={"name": 5})
        assert not form.validate()


# ---- control characters --------------------------------------------------------------------

@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize("character", CONTROL_CHARACTERS)
def test_a_control_character_in_the_name_is_refused_by_the_field(client_request, session,
                                                                 signed_in_customer, character,
                                                                 htmx):
    before = customer_row(session, signed_in_customer.id)
    page = client_request.post("customers.update_name", _htmx=htmx, _expected_status=422,
                               _data={"name": f"Jenny{character}Rosen"})
    message = page.select_one("#name-error")
    assert message is not None and "must not contain control characters" in message.text
    assert customer_row(session, signed_in_customer.id) == before


@pytest.mark.parametrize("field", ["line1", "line2", "city", "postal_code"])
def test_a_nul_byte_anywhere_in_an_address_is_refused_and_nothing_is_saved(
        client_request, session, signed_in_customer, field):
    before = customer_row(session, signed_in_customer.id)
    data = {"address-country": "US", "address-shown_country": "US",
            "address-line1": "27 Fredrick Ave", "address-line2": "", "address-city": "Brothers",
            "address-state": "OR", "address-postal_code": "97712"}
    data[f"address-{field}"] = "9\x007712" if field == "postal_code" else "a\x00b"
    page = client_request.post("customers.update_address", _data=data, _expected_status=422)
    assert "must not contain control characters" in page.select_one(f"#address-{field}-error").text
    assert customer_row(session, signed_in_customer.id) == before


@pytest.mark.parametrize("character", CONTROL_CHARACTERS)
def test_a_control_character_in_the_name_on_the_card_is_refused_before_the_gateway_sees_it(
        client_request, session, signed_in_customer, now, tokenized, character):
    page = client_request.post("payments.add_payment_method", _expected_status=422,
                               _data=card_form(now, name=f"Jen{character}ny"))
    assert "must not contain control characters" in page.select_one("#name-error").text
    assert tokenized == []
    assert session.scalars(select(PaymentMethod)).all() == []


def test_a_control_character_in_a_tax_id_is_refused(client_request, session, signed_in_customer):
    page = client_request.post("customers.add_tax_id", _expected_status=422,
                               _data={"tax-id-type": "gb_vat", "tax-id-value": "GB980\x00780684"})
    assert "must not contain control characters" in page.select_one("#tax-id-value-error").text
    assert session.scalars(select(TaxId)).all() == []


def test_tabs_and_line_breaks_around_a_value_are_simply_trimmed(client_request, session,
                                                                signed_in_customer):
    client_request.post("customers.update_name", _data={"name": "\tJenny Rosen\r\n"})
    assert customer_row(session, signed_in_customer.id)["name"] == "Jenny Rosen"


def test_a_character_that_could_not_be_read_is_refused(client, session, signed_in_customer):
    before = customer_row(session, signed_in_customer.id)
    # Werkzeug reads bytes that are not UTF-8 in a multipart part as U+FFFD.
    body = b'--b\r\nContent-Disposition: form-data; name="name"\r\n\r\nJ\xffnny\r\n--b--\r\n'
    response = client.post("/p/billing-information/name", data=body,
                           content_type="multipart/form-data; boundary=b")
    assert response.status_code == 422
    assert "could not be read" in response.get_data(as_text=True)
    assert customer_row(session, signed_in_customer.id) == before


# ---- ids in the URL ------------------------------------------------------------------------

@pytest.mark.parametrize("method, path", [
    ("GET", "/p/payment-methods/a%00b/remove"),
    ("POST", "/p/payment-methods/a%00b/remove"),
    ("POST", "/p/payment-methods/pm_%01/make-default"),
    ("GET", "/p/invoices/in_%00"),
    ("GET", "/p/invoices/in_%00/invoice.pdf"),
    ("POST", "/p/invoices/in_%7f/pay"),
    ("POST", "/p/billing-information/tax-ids/txi_%00/remove"),
    ("GET", "/p/invoices/" + "x" * 65),
    ("GET", "/p/invoices/in_%C3%A9"),
])
def test_an_id_in_the_url_that_cannot_be_an_id_is_a_404(client, signed_in_customer,
                                                         make_payment_method, method, path):
    make_payment_method(signed_in_customer)
    response = client.open(path, method=method, data={"idempotency_key": "k" * 32})
    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)


def test_a_real_id_still_works(client, signed_in_customer, make_payment_method):
    method = make_payment_method(signed_in_customer)
    assert client.get(f"/p/payment-methods/{method.id}/remove").status_code == 200


def test_a_login_link_with_a_nul_byte_still_says_the_link_is_not_active(client):
    response = client.get("/p/login/nul%00byte")
    assert response.status_code == 404
    assert "This login link is not active" in response.get_data(as_text=True)


# ---- card digits -----------------------------------------------------------------------------

@pytest.mark.parametrize("number", NOT_ASCII_DIGITS)
def test_a_card_number_with_digits_other_than_0_to_9_is_refused_before_the_gateway(
        client_request, session, signed_in_customer, now, tokenized, number):
    page = client_request.post("payments.add_payment_method", _expected_status=422,
                               _data=card_form(now, number=number))
    assert "using numbers only" in page.select_one("#number-error").text
    assert tokenized == []


@pytest.mark.parametrize("field, value, message", [
    ("expiry", "０４/３０", "Enter the expiry date as MM/YY"),
    ("expiry", "04/3٠", "Enter the expiry date as MM/YY"),
    ("cvc", "３１４", "security code"),
    ("cvc", "31²", "security code"),
])
def test_an_expiry_or_security_code_with_digits_other_than_0_to_9_is_refused(
        client_request, signed_in_customer, now, tokenized, field, value, message):
    page = client_request.post("payments.add_payment_method", _expected_status=422,
                               _data=card_form(now, **{field: value}))
    assert message in page.select_one(f"#{field}-error").text
    assert tokenized == []


@pytest.mark.parametrize("number", [*NOT_ASCII_DIGITS, "", "42", "4242-4242", "x" * 16])
def test_the_luhn_check_says_no_to_odd_input_instead_of_crashing(number):
    assert luhn_valid(number) is False


@pytest.mark.parametrize("field, value", [("postal_code", "９７７１２"),
                                          ("postal_code", "97712²")])
def test_a_postcode_with_digits_other_than_0_to_9_is_refused(client_request, session,
                                                            signed_in_customer, field, value):
    before = customer_row(session, signed_in_customer.id)
    data = {"address-country": "US", "address-shown_country": "US",
            "address-line1": "27 Fredrick Ave", "address-city": "Brothers",
            "address-state": "OR", f"address-{field}": value}
    page = client_request.post("customers.update_address", _data=data, _expected_status=422)
    assert "0 to 9" in page.select_one(f"#address-{field}-error").text
    assert customer_row(session, signed_in_customer.id) == before


def test_a_tax_id_with_digits_other_than_0_to_9_is_refused(client_request, session,
                                                           signed_in_customer):
    page = client_request.post("customers.add_tax_id", _expected_status=422,
                               _data={"tax-id-type": "us_ein", "tax-id-value": "１２-３４５６７８９"})
    assert "0 to 9" in page.select_one("#tax-id-value-error").text
    assert session.scalars(select(TaxId)).all() == []
