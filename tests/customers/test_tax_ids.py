"""Adding and removing tax IDs, each type checked for format and check digits."""

from __future__ import annotations

import pytest

from portal.customers.models import TaxId
from portal.customers.operations import MAX_TAX_IDS
from portal.customers.tax_ids import TAX_ID_TYPES, InvalidTaxId, normalize_tax_id
from tests.customers.conftest import ALL_SECTIONS


@pytest.fixture(autouse=True)
def everything_allowed(allow):
    allow(*ALL_SECTIONS)


# Real numbers (published examples: Google's, the tax authorities', python-stdnum's docs),
# as typed, and as stored.
VALID = [
    ("eu_vat", "DE 136,695 976", "DE136695976", "DE"),
    ("eu_vat", "fr 61 954 506 077", "FR61954506077", "FR"),
    ("eu_vat", "BE0697449992", "BE0697449992", "BE"),
    ("eu_vat", "IE6388047V", "IE6388047V", "IE"),
    ("eu_vat", "EL094259216", "EL094259216", "GR"),
    ("eu_vat", "NL004495445B01", "NL004495445B01", "NL"),
    ("gb_vat", "GB 980 7806 84", "GB980780684", "GB"),
    ("gb_vat", "980780684", "GB980780684", "GB"),
    ("us_ein", "91-1144442", "91-1144442", "US"),
    ("us_ein", "911144442", "91-1144442", "US"),
    ("ch_vat", "CHE-107.787.577 IVA", "CHE-107.787.577 IVA", "CH"),
    ("ch_uid", "CHE-100.155.212", "CHE-100.155.212", "CH"),
    ("au_abn", "51 824 753 556", "51 824 753 556", "AU"),
    ("au_abn", "33102417032", "33 102 417 032", "AU"),
    ("ca_bn", "123456782", "123456782", "CA"),
    ("ca_gst_hst", "123456782 RT 0001", "123456782RT0001", "CA"),
    ("no_vat", "NO 995 525 828 MVA", "995525828MVA", "NO"),
    ("in_gst", "27AAPFU0939F1ZV", "27AAPFU0939F1ZV", "IN"),
    ("nz_gst", "49-091-850", "49-091-850", "NZ"),
    ("za_vat", "4123456789", "4123456789", "ZA"),
    ("br_cnpj", "16.727.230/0001-97", "16.727.230/0001-97", "BR"),
    ("br_cpf", "390.533.447-05", "390.533.447-05", "BR"),
    ("jp_cn", "5-8356-7825-6246", "5835678256246", "JP"),
    ("sg_uen", "197401143C", "197401143C", "SG"),
    ("tr_tin", "4540536920", "4540536920", "TR"),
]

INVALID = [
    ("eu_vat", "136695976", "Enter the EU VAT number starting with its country code, like DE123456789 or FR40303265045"),
    ("eu_vat", "US136695976", "Enter the EU VAT number starting with its country code, like DE123456789 or FR40303265045"),
    ("eu_vat", "DE13669597", "Enter the VAT number for Germany in the correct format, starting with DE"),
    ("eu_vat", "DE136695977", "Check the VAT number for typing mistakes: it is not a valid VAT number for Germany"),
    ("eu_vat", "FR61954506078", "Check the VAT number for typing mistakes: it is not a valid VAT number for France"),
    ("gb_vat", "GB980780685", "Check the UK VAT number for typing mistakes: its check digits do not match"),
    ("gb_vat", "GB98078068", "Enter the UK VAT number in the correct format, like GB123456789"),
    ("us_ein", "12-345678", "Enter the US Employer Identification Number (EIN) in the correct format, like 12-3456789"),
    ("us_ein", "00-1234567", "Enter the US Employer Identification Number (EIN) in the correct format, like 12-3456789"),
    ("ch_vat", "CHE-107.787.578 IVA", "Check the Swiss VAT number for typing mistakes: its check digits do not match"),
    ("ch_vat", "CHE-107.787.577", "Enter the Swiss VAT number in the correct format, like CHE-123.456.789 MWST"),
    ("au_abn", "51 824 753 557", "Check the Australian Business Number (ABN) for typing mistakes: its check digits do not match"),
    ("au_abn", "5182475355", "Enter the Australian Business Number (ABN) in the correct format, like 12 345 678 912"),
    ("ca_bn", "123456789", "Check the Canadian Business Number (BN) for typing mistakes: its check digit does not match"),
    ("ca_bn", "12345678", "Enter the Canadian Business Number (BN) in the correct format, like 123456789"),
    ("ca_gst_hst", "123456782RC0001", "Enter the Canadian GST/HST number in the correct format, like 123456789RT0002"),
    ("no_vat", "NO 995 525 829 MVA", "Check the Norwegian VAT number for typing mistakes: its check digits do not match"),
    ("no_vat", "995525828", "Enter the Norwegian VAT number in the correct format, like 123456789MVA"),
    ("in_gst", "27AAPFU0939F1ZW", "Check the Indian GST number (GSTIN) for typing mistakes: its check digits do not match"),
    ("nz_gst", "136410133", "Check the New Zealand GST number for typing mistakes: its check digits do not match"),
    ("za_vat", "5123456789", "Enter the South African VAT number in the correct format, like 4123456789"),
    ("br_cnpj", "16.727.230/0001-98", "Check the Brazilian CNPJ number for typing mistakes: its check digits do not match"),
    ("tr_tin", "4540536921", "Check the Turkish tax number (VKN) for typing mistakes: its check digits do not match"),
]


@pytest.mark.parametrize(("kind", "typed", "stored", "country"), VALID)
def test_real_tax_ids_are_accepted_and_stored_tidily(kind, typed, stored, country):
    assert normalize_tax_id(kind, typed) == (stored, country)


@pytest.mark.parametrize(("kind", "typed", "message"), INVALID)
def test_mistyped_tax_ids_are_refused_with_a_reason(kind, typed, message):
    with pytest.raises(InvalidTaxId) as refused:
        normalize_tax_id(kind, typed)
    assert refused.value.message == message


def test_every_offered_type_has_a_valid_example_in_these_tests():
    assert {kind for kind, *_ in VALID} >= {
        "eu_vat", "gb_vat", "us_ein", "ch_vat", "au_abn", "ca_bn", "no_vat", "in_gst",
        "nz_gst", "za_vat", "br_cnpj"}
    assert set(TAX_ID_TYPES) >= {kind for kind, *_ in VALID}


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize(("kind", "typed", "stored", "country"), VALID[::4])
def test_adding_a_tax_id(client_request, signed_in_customer, session, events, kind, typed,
                         stored, country, htmx):
    page = client_request.post("customers.add_tax_id",
                               _data={"tax-id-type": kind, "tax-id-value": typed},
                               _htmx=htmx, _expected_status=200 if htmx else 303)
    if htmx:
        assert page.select_one("section")["id"] == "tax-ids-section"
        assert page.select_one(".notice").text == f"Tax ID {stored} has been added"
        assert page.select_one(".tax-id-value").text == stored
    else:
        page = client_request.get("customers.billing_information")
        assert page.select_one(".notice").text == f"Tax ID {stored} has been added"
    saved = session.query(TaxId).one()
    assert (saved.customer_id, saved.type, saved.value, saved.country) == (
        signed_in_customer.id, kind, stored, country)
    [event] = events("customer.tax_id.created")
    assert (event.object_id, event.customer_id, event.actor) == (
        saved.id, signed_in_customer.id, f"customer:{signed_in_customer.id}")


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize(("kind", "typed", "message"), [
    *INVALID,
    ("", "DE136695976", "Select the type of tax ID"),
    ("xx_tax", "DE136695976", "Select the type of tax ID from the list"),
    ("eu_vat", "", "Enter the tax ID number"),
    ("eu_vat", "D" * 65, "Number must be 64 characters or fewer"),
])
def test_a_bad_tax_id_is_refused_next_to_the_field(client_request, signed_in_customer, session,
                                                   events, kind, typed, message, htmx):
    page = client_request.post("customers.add_tax_id",
                               _data={"tax-id-type": kind, "tax-id-value": typed},
                               _htmx=htmx, _expected_status=422)
    field = "tax-id-type" if message.startswith("Select") else "tax-id-value"
    assert page.select_one(f"#{field}-error").text.strip() == f"Error: {message}"
    assert page.select_one(".error-summary a")["href"] == f"#{field}"
    assert page.select_one("#tax-id-value")["value"] == typed
    if kind in TAX_ID_TYPES:
        assert page.select_one("#tax-id-type option[selected]")["value"] == kind
    assert session.query(TaxId).count() == 0
    assert events("customer.tax_id.created") == []


def test_the_same_tax_id_cannot_be_added_twice(client_request, signed_in_customer, session):
    data = {"tax-id-type": "gb_vat", "tax-id-value": "GB980780684"}
    client_request.post("customers.add_tax_id", _data=data)
    page = client_request.post("customers.add_tax_id",
                               _data={"tax-id-type": "gb_vat", "tax-id-value": "980 7806 84"},
                               _expected_status=422)
    assert page.select_one("#tax-id-value-error").text.strip() == \
        "Error: You have already added this tax ID"
    assert session.query(TaxId).count() == 1


def test_there_is_a_limit_to_how_many_tax_ids_a_customer_keeps(client_request,
                                                               signed_in_customer, session, now):
    for number in range(MAX_TAX_IDS):
        session.add(TaxId(customer_id=signed_in_customer.id, type="za_vat",
                          value=f"41234567{number:02d}", country="ZA", created=now))
    session.commit()
    page = client_request.post("customers.add_tax_id",
                               _data={"tax-id-type": "gb_vat", "tax-id-value": "GB980780684"},
                               _htmx=True, _expected_status=422)
    assert "You can add up to 10 tax IDs" in page.select_one("#tax-id-value-error").text
    assert session.query(TaxId).count() == MAX_TAX_IDS


@pytest.fixture
def tax_id(signed_in_customer, session, now):
    record = TaxId(customer_id=signed_in_customer.id, type="gb_vat", value="GB980780684",
                   country="GB", created=now)
    session.add(record)
    session.commit()
    return record


def test_the_tax_id_list_shows_type_and_number_with_a_remove_button(client_request, tax_id):
    page = client_request.get("customers.billing_information")
    item = page.select_one("#tax-ids-section li")
    assert item.select_one(".tax-id-type").text == "UK VAT number"
    assert item.select_one(".tax-id-value").text == "GB980780684"
    form = item.select_one("form")
    assert form["action"] == client_request.url("customers.remove_tax_id", tax_id_id=tax_id.id)
    assert form["hx-target"] == "#tax-ids-section"
    assert item.select_one("button").text == "Remove GB980780684"


@pytest.mark.parametrize("htmx", [False, True])
def test_removing_a_tax_id(client_request, signed_in_customer, tax_id, session, events, htmx):
    tax_id_id = tax_id.id
    page = client_request.post("customers.remove_tax_id", tax_id_id=tax_id_id, _htmx=htmx,
                               _expected_status=200 if htmx else 303)
    if htmx:
        assert page.select_one(".notice").text == "Tax ID GB980780684 has been removed"
        assert page.select(".tax-id-value") == []
    session.expire_all()
    assert session.get(TaxId, tax_id_id) is None
    [event] = events("customer.tax_id.deleted")
    assert event.object_id == tax_id_id and event.data["value"] == "GB980780684"


@pytest.mark.parametrize("htmx", [False, True])
def test_another_customers_tax_id_cannot_be_removed(client_request, signed_in_customer,
                                                    make_customer, session, now, htmx):
    other = make_customer(email="someone.else@example.com", name="Someone Else")
    theirs = TaxId(customer_id=other.id, type="gb_vat", value="GB980780684", country="GB",
                   created=now)
    session.add(theirs)
    session.commit()
    response = client_request.post("customers.remove_tax_id", tax_id_id=theirs.id,
                                   _htmx=htmx, _expected_status=404)
    made_up = client_request.post("customers.remove_tax_id", tax_id_id="txi_madeup",
                                  _htmx=htmx, _expected_status=404)
    assert response.select_one("main").text == made_up.select_one("main").text
    session.expire_all()
    assert session.get(TaxId, theirs.id) is not None
