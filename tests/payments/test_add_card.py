"""Adding a card: the form, every documented test-card outcome, and every bad input."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.payments.models import PaymentMethod
from tests.payments.cards import CVC, mm_yy


def saved_cards(session, customer):
    return session.scalars(
        select(PaymentMethod).where(PaymentMethod.customer_id == customer.id)
    ).all()


def count_cards(session):
    return session.scalar(select(func.count()).select_from(PaymentMethod))


def test_the_form_asks_for_the_card_with_the_right_autocomplete(client_request,
                                                                signed_in_customer):
    page = client_request.get("payments.add_payment_method")
    form = page.select_one("#add-card form")
    assert form["method"] == "post" and form.has_attr("novalidate")
    assert form["action"] == client_request.url("payments.add_payment_method")
    fields = {i["name"]: i for i in form.select("input")}
    assert fields["number"]["autocomplete"] == "cc-number"
    assert fields["number"]["inputmode"] == "numeric"
    assert fields["expiry"]["autocomplete"] == "cc-exp"
    assert fields["cvc"]["autocomplete"] == "cc-csc"
    assert fields["name"]["autocomplete"] == "cc-name"
    assert fields["postal_code"]["autocomplete"] == "postal-code"
    for name in ("name", "number", "expiry", "cvc", "postal_code", "make_default"):
        assert page.select_one(f'label[for="{fields[name]["id"]}"]'), name
    assert page.select_one("#expiry-hint").text == "For example, 04/28"
    assert page.title.text.startswith("Add a card")


def test_the_default_box_is_ticked_for_the_first_card(client_request, signed_in_customer):
    page = client_request.get("payments.add_payment_method")
    assert page.select_one("input[name=make_default]").has_attr("checked")


def test_the_default_box_is_not_ticked_when_there_is_a_default_already(
        client_request, signed_in_customer, make_payment_method):
    make_payment_method(signed_in_customer)
    page = client_request.get("payments.add_payment_method")
    assert not page.select_one("input[name=make_default]").has_attr("checked")


def test_adding_the_good_test_card_saves_only_its_summary(client_request, signed_in_customer,
                                                          session, card_form, now, events):
    response = client_request.post_response(
        "payments.add_payment_method", _data=card_form(make_default="y", expiry=mm_yy(now, 30)))
    assert response.headers["Location"] == client_request.url("payments.payment_methods")
    [card] = saved_cards(session, signed_in_customer)
    assert (card.card_brand, card.card_last4, card.billing_name) == ("visa", "4242", "Jenny Rosen")
    assert (card.card_exp_year % 100, card.card_exp_month) == tuple(
        int(p) for p in reversed(mm_yy(now, 30).split("/")))
    assert card.processor == "test" and card.processor_token.startswith("tok_test_ok_")
    assert card.fingerprint and card.detached_at is None
    session.refresh(signed_in_customer)
    assert signed_in_customer.default_payment_method_id == card.id
    [attached] = events("payment_method.attached")
    assert attached.object_id == card.id
    assert attached.actor == f"customer:{signed_in_customer.id}"
    assert attached.data == {"type": "card", "brand": "visa", "last4": "4242",
                             "exp_month": card.card_exp_month, "exp_year": card.card_exp_year}
    [updated] = events("customer.updated")
    assert updated.data["invoice_settings"]["default_payment_method"] == card.id


def test_after_adding_the_list_says_so(client_request, signed_in_customer, card_form):
    client_request.post_response("payments.add_payment_method", _data=card_form(make_default="y"))
    page = client_request.get("payments.payment_methods")
    notice = page.select_one("#payment-methods .notice--success").text
    assert notice == "Visa ending in 4242 has been added. It is your default payment method."
    assert page.select_one("#payment-methods .badge").text == "Default"


def test_with_htmx_the_list_replaces_the_form_and_the_address_follows(
        client_request, signed_in_customer, card_form, session):
    response = client_request.post_response("payments.add_payment_method", _data=card_form(),
                                            _htmx=True, _expected_status=200)
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="payment-methods">') and "<html" not in html
    assert "Visa ending in 4242 has been added." in html
    assert "<title>Payment methods" in html
    assert response.headers["HX-Push-Url"] == client_request.url("payments.payment_methods")
    assert len(saved_cards(session, signed_in_customer)) == 1


def test_a_card_added_without_the_box_ticked_leaves_the_default_alone(
        client_request, signed_in_customer, make_payment_method, card_form, session):
    old = make_payment_method(signed_in_customer)
    client_request.post_response("payments.add_payment_method",
                                 _data=card_form(number="5555 5555 5555 4444"))
    session.refresh(signed_in_customer)
    assert signed_in_customer.default_payment_method_id == old.id
    assert len(saved_cards(session, signed_in_customer)) == 2


def test_a_new_default_card_also_pays_the_automatic_subscriptions(
        client_request, signed_in_customer, make_payment_method, make_subscription, card_form,
        session):
    old = make_payment_method(signed_in_customer)
    automatic = make_subscription(signed_in_customer, default_payment_method_id=old.id)
    client_request.post_response("payments.add_payment_method",
                                 _data=card_form(number="5555555555554444", make_default="y"))
    session.refresh(automatic)
    session.refresh(signed_in_customer)
    assert signed_in_customer.default_payment_method.card_last4 == "4444"
    assert automatic.default_payment_method_id == signed_in_customer.default_payment_method_id


def test_an_amex_card_takes_a_four_digit_code(client_request, signed_in_customer, card_form,
                                              session):
    client_request.post_response("payments.add_payment_method",
                                 _data=card_form(number="3782 822463 10005", cvc="4321"))
    assert saved_cards(session, signed_in_customer)[0].card_brand == "amex"


@pytest.mark.parametrize("months", [0, 1, 120])
def test_any_expiry_from_this_month_on_is_accepted(client_request, signed_in_customer,
                                                   card_form, now, months):
    client_request.post_response("payments.add_payment_method",
                                 _data=card_form(expiry=mm_yy(now, months)))


@pytest.mark.parametrize("written", ["{m}/{yy}", "{m:02d}/{yy}", "{m:02d}/{yyyy}", "{m:02d}{yy}",
                                     "{m:02d} / {yy}", "{m:02d}-{yy}", " {m:02d}/{yy} "])
def test_the_expiry_can_be_written_the_ways_people_write_it(client_request, signed_in_customer,
                                                             card_form, session, now, written):
    year = now.year + 2
    expiry = written.format(m=7, yy=f"{year % 100:02d}", yyyy=year)
    client_request.post_response("payments.add_payment_method", _data=card_form(expiry=expiry))
    [card] = saved_cards(session, signed_in_customer)
    assert (card.card_exp_month, card.card_exp_year) == (7, year)


def test_sending_the_form_twice_saves_one_card(client_request, signed_in_customer, card_form,
                                               session, events):
    data = card_form(make_default="y")
    client_request.post_response("payments.add_payment_method", _data=data)
    client_request.post_response("payments.add_payment_method", _data=data)
    assert len(saved_cards(session, signed_in_customer)) == 1
    assert len(events("payment_method.attached")) == 1
    notices = [n.text for n in client_request.get("payments.payment_methods").select(".notice")]
    assert "Visa ending in 4242 was already saved. It is your default payment method." in notices


# ---- refusals -----------------------------------------------------------------------------

EXPIRED = "The expiry date is in the past: check the date on your card"
FORMAT = "Enter the expiry date as MM/YY, like 04/28"

REFUSALS = [
    # (overrides, field the message sits next to (None: only in the summary), message)
    ({"number": "4000 0000 0000 0069"}, "expiry",
     "Your card has expired. Check the expiry date or use another card."),
    ({"number": "4000 0000 0000 0127"}, "cvc",
     "The security code is incorrect. Check the 3 or 4 digits on your card."),
    ({"number": "4000 0000 0000 0119"}, None,
     "There was a problem processing your card. Try again in a few minutes."),
    ({"number": "4000 0000 0000 0101"}, "number",
     "This card was not accepted. In test mode use a test card such as 4242 4242 4242 4242."),
    ({"number": "4242 4242 4242 4241"}, "number",
     "Check the card number: it is not a valid card number"),
    ({"number": "4242 4242 abcd 4242"}, "number",
     "Enter the card number using numbers only, like 4242 4242 4242 4242"),
    ({"number": "4242 4242"}, "number", "Enter the full card number: it is 12 to 19 digits long"),
    ({"number": ""}, "number", "Enter the card number"),
    ({"expiry": "past"}, "expiry", EXPIRED),
    ({"expiry": "13/30"}, "expiry", "Enter a real expiry month, from 01 to 12"),
    ({"expiry": "00/30"}, "expiry", "Enter a real expiry month, from 01 to 12"),
    ({"expiry": "1/2"}, "expiry", FORMAT),
    ({"expiry": "ab/cd"}, "expiry", FORMAT),
    ({"expiry": "June 2030"}, "expiry", FORMAT),
    ({"expiry": "12/300"}, "expiry", FORMAT),
    ({"expiry": "12/3000"}, "expiry", "Check the expiry year: it is more than 20 years away"),
    ({"expiry": "12/99"}, "expiry", "Check the expiry year: it is more than 20 years away"),
    ({"expiry": ""}, "expiry", "Enter the expiry date"),
    ({"cvc": "12"}, "cvc", "Enter the 3-digit security code from the back of your card"),
    ({"cvc": "1234"}, "cvc", "Enter the 3-digit security code from the back of your card"),
    ({"cvc": "abc"}, "cvc", "Enter the 3-digit security code from the back of your card"),
    ({"cvc": ""}, "cvc", "Enter the security code"),
    ({"number": "3782 822463 10005", "cvc": "123"}, "cvc",
     "Enter the 4-digit security code from the front of your card"),
    ({"name": ""}, "name", "Enter the name on the card"),
    ({"name": "x" * 101}, "name", "Name on card must be 100 characters or fewer"),
    ({"postal_code": "SW1A 1AA LONDON"}, "postal_code", "Postcode must be 12 characters or fewer"),
]


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
@pytest.mark.parametrize("overrides, field, message", REFUSALS,
                         ids=[f"{list(o.items())[0][0]}={list(o.values())[0]!s:.20}"
                              for o, _, _ in REFUSALS])
def test_a_refused_card_says_why_next_to_the_field_and_saves_nothing(
        client_request, signed_in_customer, card_form, session, now, overrides, field, message,
        htmx):
    overrides = dict(overrides)
    if overrides.get("expiry") == "past":
        overrides["expiry"] = mm_yy(now, -1)
    data = card_form(**overrides)
    response = client_request.post_response("payments.add_payment_method", _data=data,
                                            _htmx=htmx, _expected_status=422)
    from bs4 import BeautifulSoup

    page = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    summary = page.select_one(".error-summary")
    assert message in summary.text
    if field:
        assert summary.select_one(f'a[href="#{field}"]').text == message
        assert page.select_one(f"#{field}-error").text.strip() == f"Error: {message}"
        assert page.select_one(f"#{field}")["aria-invalid"] == "true"
    else:
        assert not page.select(".error-message")
    # What was typed is kept, except the card number and CVC, which must be typed again.
    inputs = {i["name"]: i.get("value", "") for i in page.select("#add-card input")
              if i.get("type") != "checkbox"}
    assert inputs["number"] == "" and inputs["cvc"] == ""
    assert inputs["expiry"] == data["expiry"].strip()
    assert inputs["name"] == data["name"] and inputs["postal_code"] == data["postal_code"]
    assert "enter them again" in page.text
    assert count_cards(session) == 0
    if htmx:
        assert response.get_data(as_text=True).lstrip().startswith('<div id="add-card">')
        assert page.title.text.startswith("Error: Add a card")  # htmx moves it to the tab
    else:
        assert page.title.text.startswith("Error: Add a card")


def test_a_refusal_keeps_the_default_box_as_it_was_left(client_request, signed_in_customer,
                                                        card_form):
    page = client_request.post("payments.add_payment_method", _expected_status=422,
                               _data=card_form(cvc="", make_default="y"))
    assert page.select_one("input[name=make_default]").has_attr("checked")
    page = client_request.post("payments.add_payment_method", _expected_status=422,
                               _data=card_form(cvc=""))
    assert not page.select_one("input[name=make_default]").has_attr("checked")


@pytest.mark.parametrize("field", ["name", "postal_code"])
def test_a_card_number_typed_in_the_wrong_box_is_not_shown_back(client_request,
                                                                signed_in_customer,
                                                                card_form, field):
    response = client_request.post_response(
        "payments.add_payment_method", _expected_status=422,
        _data=card_form(**{field: "4242 4242 4242 4242"}))
    html = response.get_data(as_text=True)
    assert "4242 4242 4242 4242" not in html and "4242424242424242" not in html
    assert "and the card number" in html


def test_a_refused_card_leaves_saved_cards_and_the_default_alone(
        client_request, signed_in_customer, make_payment_method, card_form, session):
    old = make_payment_method(signed_in_customer)
    client_request.post_response("payments.add_payment_method", _expected_status=422,
                                 _data=card_form(number="4000000000000119", make_default="y"))
    session.refresh(signed_in_customer)
    assert signed_in_customer.default_payment_method_id == old.id
    assert [c.id for c in saved_cards(session, signed_in_customer)] == [old.id]


def test_the_cvc_message_does_not_count_on_the_number_being_valid(client_request,
                                                                   signed_in_customer,
                                                                   card_form):
    page = client_request.post("payments.add_payment_method", _expected_status=422,
                               _data=card_form(number="1234", cvc="12345"))
    assert page.select_one("#cvc-error").text.strip() == (
        "Error: Enter the 3 or 4-digit security code from your card")
    assert CVC not in [i.get("value") for i in page.select("input")]
