"""What htmx fragments carry for assistive technology: every success fills the layout's one
polite live region out of band and takes focus to its notice; every swapped form with errors
retitles the tab "Error: ..."; full pages never carry either (their flashes take focus instead)."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup

from portal.portal_settings.operations import default_configuration

US_ADDRESS = {"address-country": "US", "address-shown_country": "US",
              "address-line1": "27 Fredrick Ave", "address-line2": "", "address-city": "Brothers",
              "address-state": "OR", "address-postal_code": "97712"}
SHIPPING = {"shipping-name": "Jenny Rosen", "shipping-phone": "", "shipping-country": "US",
            "shipping-shown_country": "US", "shipping-line1": "1 Main Street",
            "shipping-line2": "", "shipping-city": "Portland", "shipping-state": "OR",
            "shipping-postal_code": "97201"}
CARD = {"name": "Jenny Rosen", "number": "4242 4242 4242 4242", "expiry": "12/39", "cvc": "123",
        "postal_code": "", "make_default": "y"}


@pytest.fixture
def jenny(make_customer, sign_in, session):
    default_configuration(session).customer_update_allowed = [
        "address", "email", "name", "phone", "shipping", "tax_id"]
    session.commit()
    customer = make_customer(phone="+1 415 555 0100", **{
        f"address_{key.split('-')[1]}": value for key, value in US_ADDRESS.items()
        if key.split("-")[1] != "shown_country"})
    # A merchant-made portal session: the only kind where the email address may be changed.
    return sign_in(customer, via="portal_session")


@pytest.fixture
def tax_id(jenny, session, now):
    from portal.customers import operations

    added = operations.add_tax_id(session, jenny, "eu_vat", "DE136695976", now=now,
                                  actor="system")
    session.commit()
    return added


@pytest.fixture
def two_cards(jenny, make_payment_method):
    return (make_payment_method(jenny),
            make_payment_method(jenny, number="5555555555554444", default=False))


@pytest.fixture
def open_invoice(jenny, make_invoice, two_cards):
    return make_invoice(jenny)


def announced(fragment: BeautifulSoup) -> str | None:
    region = fragment.select_one("#announcements")
    if region is None:
        return None
    assert region["hx-swap-oob"] == "innerHTML"
    return region.get_text(strip=True)


SUCCESSES = {
    "name": ("customers.update_name", {"name": "Jenny R"}, {}, "Your name has been updated"),
    "email": ("customers.update_email", {"email": "jenny.r@example.com"}, {},
              "Your email address has been updated"),
    "phone": ("customers.update_phone", {"phone": "+1 415 555 0199"}, {},
              "Your phone number has been updated"),
    "phone removed": ("customers.update_phone", {"phone": ""}, {},
                      "Your phone number has been removed"),
    "address": ("customers.update_address", US_ADDRESS, {},
                "Your billing address has been updated"),
    "shipping": ("customers.update_shipping_address", SHIPPING, {},
                 "Your shipping address has been updated"),
    "tax ID added": ("customers.add_tax_id", {"tax-id-type": "au_abn",
                                              "tax-id-value": "51 824 753 556"}, {},
                     "Tax ID 51 824 753 556 has been added"),
    "tax ID removed": ("customers.remove_tax_id", {}, {"tax_id_id": "tax_id"},
                       "Tax ID DE136695976 has been removed"),
    "card made default": ("payments.make_default_payment_method", {},
                          {"payment_method_id": "mastercard"},
                          "Mastercard ending in 4444 is now your default payment method."),
    "card removed": ("payments.remove_payment_method", {}, {"payment_method_id": "mastercard"},
                     "Mastercard ending in 4444 has been removed."),
    "card added": ("payments.add_payment_method", CARD, {},
                   "Visa ending in 4242 has been added. It is your default payment method."),
}


@pytest.mark.parametrize("case", SUCCESSES, ids=list(SUCCESSES))
def test_every_htmx_success_is_announced_and_focuses_its_notice(client_request, jenny, tax_id,
                                                                two_cards, case):
    endpoint, data, ids, message = SUCCESSES[case]
    values = {key: {"tax_id": tax_id.id, "mastercard": two_cards[1].id}[ref]
              for key, ref in ids.items()}
    fragment = client_request.post(endpoint, _data=data, _htmx=True, _expected_status=200,
                                   **values)
    assert announced(fragment) == message
    notice = fragment.select_one(".notice")
    assert notice.text == message
    assert notice.has_attr("autofocus") and notice["tabindex"] == "-1"
    assert len(fragment.select("[autofocus]")) == 1
    assert not fragment.title.text.startswith("Error: ") if fragment.title else True


def test_a_successful_htmx_payment_is_announced(client_request, jenny, open_invoice):
    page = client_request.get("invoices.invoice_detail", invoice_id=open_invoice.id)
    form = page.select_one("#invoice-payment form")
    data = {"idempotency_key": form.select_one("input[name=idempotency_key]")["value"],
            "payment_method": form.select_one("input[name=payment_method][checked]")["value"]}
    fragment = client_request.post("invoices.pay_invoice", invoice_id=open_invoice.id,
                                   _data=data, _htmx=True, _expected_status=200)
    assert announced(fragment) == "Payment of $29.00 received. Thank you."
    assert fragment.select_one(".notice").has_attr("autofocus")
    assert fragment.title.text == f"Invoice {open_invoice.number} – {branding_name(client_request)}"


def branding_name(client_request) -> str:
    page = client_request.get("customers.overview")
    return page.title.text.split(" – ", 1)[1]


ERRORS = {
    "name": ("customers.update_name", {"name": ""}, "Billing information"),
    "email": ("customers.update_email", {"email": "not an email"}, "Billing information"),
    "phone": ("customers.update_phone", {"phone": "12"}, "Billing information"),
    "address": ("customers.update_address", dict(US_ADDRESS, **{"address-line1": ""}),
                "Billing information"),
    "shipping": ("customers.update_shipping_address", dict(SHIPPING, **{"shipping-name": ""}),
                 "Billing information"),
    "tax ID": ("customers.add_tax_id", {"tax-id-type": "eu_vat", "tax-id-value": "DE136695977"},
               "Billing information"),
    "card": ("payments.add_payment_method", dict(CARD, number="4242 4242 4242 4241"),
             "Add a card"),
}


@pytest.mark.parametrize("case", ERRORS, ids=list(ERRORS))
def test_every_htmx_error_fragment_is_titled_error_and_focuses_the_summary(client_request,
                                                                           jenny, case):
    endpoint, data, title = ERRORS[case]
    fragment = client_request.post(endpoint, _data=data, _htmx=True, _expected_status=422)
    assert fragment.find("html") is None
    assert fragment.title.text.startswith(f"Error: {title} – ")
    assert [e["class"] for e in fragment.select("[autofocus]")] == [["error-summary"]]
    assert announced(fragment) is None


def test_a_declined_htmx_payment_is_titled_error(client_request, jenny, open_invoice,
                                                 make_payment_method):
    declined = make_payment_method(jenny, number="4000000000000002", default=False)
    page = client_request.get("invoices.invoice_detail", invoice_id=open_invoice.id)
    key = page.select_one("#invoice-payment input[name=idempotency_key]")["value"]
    fragment = client_request.post("invoices.pay_invoice", invoice_id=open_invoice.id,
                                   _data={"idempotency_key": key, "payment_method": declined.id},
                                   _htmx=True, _expected_status=422)
    assert fragment.title.text.startswith(f"Error: Invoice {open_invoice.number} – ")
    assert fragment.select_one("[autofocus]")["class"] == ["error-summary"]
    assert announced(fragment) is None


@pytest.mark.parametrize(("endpoint", "first_field"), [
    ("customers.edit_name", "name"), ("customers.edit_email", "email"),
    ("customers.edit_phone", "phone"), ("customers.edit_address", "address-country"),
    ("customers.edit_shipping_address", "shipping-name")])
def test_a_form_swapped_in_by_change_focuses_its_first_field_and_the_full_page_does_not(
        client_request, jenny, endpoint, first_field):
    fragment = client_request.get(endpoint, _htmx=True)
    assert [e["id"] for e in fragment.select("[autofocus]")] == [first_field]
    assert not fragment.title.text.startswith("Error: ")
    assert client_request.get(endpoint).select("[autofocus]") == []


@pytest.mark.parametrize(("section", "heading"), [
    ("name-section", "Name"), ("email-section", "Email address"),
    ("phone-section", "Phone number"), ("address-section", "Billing address"),
    ("shipping-section", "Shipping address")])
def test_cancel_focuses_the_heading_of_the_section_it_swaps_back(client_request, jenny, section,
                                                                 heading):
    # Cancel asks for the whole page and htmx selects the section (HX-Request-Type: full).
    page = client_request.get("customers.billing_information", _htmx=True, _headers={
        "HX-Request-Type": "full", "HX-Target": f"section#{section}"})
    assert [e.text for e in page.select("[autofocus]")] == [heading]
    assert page.select_one(f"#{section} h2").has_attr("autofocus")


@pytest.mark.parametrize("endpoint", ["customers.overview", "customers.billing_information",
                                      "payments.payment_methods", "invoices.invoice_history"])
def test_full_pages_have_one_empty_polite_live_region_and_nothing_out_of_band(
        client_request, jenny, endpoint):
    page = client_request.get(endpoint)
    regions = page.select("[aria-live]")
    assert [(r["id"], r["aria-live"], r.text) for r in regions] == [("announcements", "polite", "")]
    assert page.select("[hx-swap-oob]") == [] and page.select("body title") == []
    assert page.select("[autofocus]") == []


def test_after_a_plain_post_the_flashed_notice_takes_focus(client_request, jenny):
    client_request.post("customers.update_name", _data={"name": "Jenny R"})
    page = client_request.get("customers.billing_information")
    notice = page.select_one("[autofocus]")
    assert (notice.text, notice["role"]) == ("Your name has been updated", "status")
    assert page.select_one("#announcements").text == ""


def test_no_keep_it_gives_focus_back_to_the_cards_remove_button(client_request, jenny,
                                                                two_cards):
    mastercard = two_cards[1]
    confirm = client_request.get("payments.confirm_remove_payment_method",
                                 payment_method_id=mastercard.id, _htmx=True)
    keep = confirm.find("a", string="No, keep it")
    fragment = client_request.get("payments.payment_methods", _htmx=True, _headers={
        "HX-Source": f"a#{keep['id']}", "HX-Target": "div#payment-methods"})
    focused = fragment.select("[autofocus]")
    assert len(focused) == 1
    assert focused[0].text == "Remove Mastercard ending in 4444"
