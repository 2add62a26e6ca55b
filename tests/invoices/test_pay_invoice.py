"""Paying an open or past-due invoice from its page, with JavaScript and without."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.events import AuditEvent
from portal.invoices.models import Invoice
from portal.payments.models import Payment

DECLINED = "4000000000000002"
INSUFFICIENT_FUNDS = "4000000000009995"


def pay_form(page):
    """What the page's pay form would send: its hidden key and the preselected card."""
    form = page.select_one("#invoice-payment form")
    assert form is not None, "no pay form on the page"
    checked = form.select_one("input[name=payment_method][checked]")
    return {"idempotency_key": form.select_one("input[name=idempotency_key]")["value"],
            "payment_method": checked["value"] if checked else ""}


def events(session, type_):
    return session.scalars(select(AuditEvent).where(AuditEvent.type == type_)).all()


@pytest.fixture
def open_invoice(signed_in_customer, make_invoice, make_payment_method, now):
    make_payment_method(signed_in_customer)
    return make_invoice(signed_in_customer, amount=2900, created=now - timedelta(days=2))


def test_paying_without_javascript_charges_once_and_redirects_to_the_paid_invoice(
        client_request, session, open_invoice, gateway, now):
    page = client_request.get("invoices.invoice_detail", invoice_id=open_invoice.id)
    response = client_request.post_response("invoices.pay_invoice", invoice_id=open_invoice.id,
                                            _data=pay_form(page))
    assert response.headers["Location"].endswith(f"/p/invoices/{open_invoice.id}")

    page = client_request.get("invoices.invoice_detail", invoice_id=open_invoice.id)
    assert "Payment of $29.00 received. Thank you." in page.text
    assert page.select_one("#invoice-payment .badge").text == "Paid"
    assert page.select_one("#invoice-payment form") is None
    assert page.find("a", string="Download receipt (PDF)") is not None

    invoice = session.get(Invoice, open_invoice.id)
    assert (invoice.status, invoice.amount_paid, invoice.amount_remaining) == ("paid", 2900, 0)
    assert invoice.paid_at is not None and invoice.attempt_count == 1
    payment = session.scalars(select(Payment).where(Payment.invoice_id == invoice.id)).one()
    assert (payment.status, payment.amount, payment.currency) == ("succeeded", 2900, "usd")
    assert payment.processor_reference.startswith("ch_test_")
    assert len(gateway.calls) == 1 and gateway.calls[0]["amount"] == 2900
    [event] = events(session, "invoice.paid")
    assert event.object_id == invoice.id and event.actor == f"customer:{invoice.customer_id}"


def test_paying_with_htmx_swaps_the_payment_section_to_the_paid_state(
        client_request, session, open_invoice, gateway):
    page = client_request.get("invoices.invoice_detail", invoice_id=open_invoice.id)
    fragment = client_request.post("invoices.pay_invoice", invoice_id=open_invoice.id,
                                   _data=pay_form(page), _htmx=True, _expected_status=200)
    assert fragment.find("html") is None
    section = fragment.select_one("section#invoice-payment")
    assert section is not None
    assert "Payment of $29.00 received. Thank you." in section.text
    assert section.select_one(".badge").text == "Paid"
    assert section.find("a", string="Download receipt (PDF)") is not None
    assert section.select_one("form") is None
    assert "Succeeded" in section.select_one("table").text
    assert len(gateway.calls) == 1


def test_the_pay_form_preselects_the_default_card_and_lists_every_saved_card(
        client_request, signed_in_customer, make_invoice, make_payment_method, now):
    older = make_payment_method(signed_in_customer, number="5555555555554444", default=False,
                                created=now - timedelta(days=1))
    default = make_payment_method(signed_in_customer, number="4242424242424242")
    invoice = make_invoice(signed_in_customer)
    page = client_request.get("invoices.invoice_detail", invoice_id=invoice.id)
    radios = page.select("#invoice-payment input[name=payment_method]")
    assert [r["value"] for r in radios] == [older.id, default.id]
    assert pay_form(page)["payment_method"] == default.id
    labels = [label.text for label in page.select("#invoice-payment .choice label")]
    assert "Mastercard ending in 4444" in labels[0]
    assert "Visa ending in 4242" in labels[1] and "Default" in labels[1]
    assert page.select_one("#invoice-payment button").text == "Pay $29.00"
    # the first radio carries the id the error summary links to
    assert radios[0]["id"] == "payment_method"


def test_a_customer_can_pay_with_a_card_other_than_the_default(
        client_request, session, signed_in_customer, make_invoice, make_payment_method, gateway):
    make_payment_method(signed_in_customer, number="4000000000000002")
    other = make_payment_method(signed_in_customer, number="5555555555554444", default=False)
    invoice = make_invoice(signed_in_customer)
    data = pay_form(client_request.get("invoices.invoice_detail", invoice_id=invoice.id))
    client_request.post("invoices.pay_invoice", invoice_id=invoice.id,
                        _data=dict(data, payment_method=other.id))
    payment = session.scalars(select(Payment).where(Payment.invoice_id == invoice.id)).one()
    assert (payment.status, payment.payment_method_id) == ("succeeded", other.id)


@pytest.mark.parametrize("number, message, code", [
    (DECLINED, "Your card was declined. Try another card or contact your bank.", "card_declined"),
    (INSUFFICIENT_FUNDS, "Your card has insufficient funds. Try another card.",
     "insufficient_funds"),
])
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_a_declined_card_says_why_next_to_the_card_choice_and_leaves_the_invoice_open(
        client_request, session, signed_in_customer, make_invoice, make_payment_method, gateway,
        number, message, code, htmx):
    make_payment_method(signed_in_customer, number=number)
    invoice = make_invoice(signed_in_customer, attempt_count=1)
    sent = pay_form(client_request.get("invoices.invoice_detail", invoice_id=invoice.id))
    page = client_request.post("invoices.pay_invoice", invoice_id=invoice.id, _data=sent,
                               _htmx=htmx, _expected_status=422)

    assert page.select_one("#payment_method-error").text.strip() == f"Error: {message}"
    summary = page.select_one(".error-summary a")
    assert summary.text == message and summary["href"] == "#payment_method"
    assert page.select_one("#invoice-payment fieldset")["aria-describedby"] == "payment_method-error"
    if htmx:
        assert page.find("html") is None and page.select_one("section#invoice-payment")
    else:
        assert page.title.text.startswith("Error: ")
    # The card chosen stays chosen; the new attempt gets a new key so it can be charged.
    again = pay_form(page)
    assert again["payment_method"] == sent["payment_method"]
    assert again["idempotency_key"] != sent["idempotency_key"]
    assert message in page.select_one("table.invoice-payments").text

    session.expire_all()
    invoice = session.get(Invoice, invoice.id)
    assert (invoice.status, invoice.amount_paid, invoice.attempt_count) == ("open", 0, 2)
    payment = session.scalars(select(Payment).where(Payment.invoice_id == invoice.id)).one()
    assert (payment.status, payment.failure_code, payment.failure_message) == ("failed", code,
                                                                              message)
    [event] = events(session, "invoice.payment_failed")
    assert event.data["failure_code"] == code and event.object_id == invoice.id
    assert events(session, "invoice.paid") == []
    assert len(gateway.calls) == 1


def test_after_a_decline_the_customer_can_pay_with_another_card(
        client_request, session, signed_in_customer, make_invoice, make_payment_method, gateway):
    make_payment_method(signed_in_customer, number=DECLINED)
    good = make_payment_method(signed_in_customer, number="5555555555554444", default=False)
    invoice = make_invoice(signed_in_customer)
    page = client_request.post("invoices.pay_invoice", invoice_id=invoice.id,
                               _data=pay_form(client_request.get("invoices.invoice_detail",
                                                                 invoice_id=invoice.id)),
                               _expected_status=422)
    client_request.post("invoices.pay_invoice", invoice_id=invoice.id,
                        _data=dict(pay_form(page), payment_method=good.id))
    session.expire_all()
    assert session.get(Invoice, invoice.id).status == "paid"
    statuses = [p.status for p in session.get(Invoice, invoice.id).payments]
    assert statuses == ["failed", "succeeded"]
    assert len(gateway.calls) == 2


def test_sending_the_same_form_twice_charges_once_and_the_second_answer_says_so(
        client_request, session, open_invoice, gateway):
    data = pay_form(client_request.get("invoices.invoice_detail", invoice_id=open_invoice.id))
    client_request.post("invoices.pay_invoice", invoice_id=open_invoice.id, _data=data)
    second = client_request.post("invoices.pay_invoice", invoice_id=open_invoice.id, _data=data,
                                 _htmx=True, _expected_status=200)
    assert "already paid. You have not been charged again." in second.text
    assert len(gateway.calls) == 1
    assert len(session.scalars(select(Payment)).all()) == 1
    assert len(events(session, "invoice.paid")) == 1


def test_a_second_tab_with_its_own_form_does_not_charge_a_paid_invoice_again(
        client_request, session, open_invoice, gateway):
    tab_one = pay_form(client_request.get("invoices.invoice_detail", invoice_id=open_invoice.id))
    tab_two = pay_form(client_request.get("invoices.invoice_detail", invoice_id=open_invoice.id))
    assert tab_one["idempotency_key"] != tab_two["idempotency_key"]
    client_request.post("invoices.pay_invoice", invoice_id=open_invoice.id, _data=tab_one)
    client_request.post("invoices.pay_invoice", invoice_id=open_invoice.id, _data=tab_two)
    page = client_request.get("invoices.invoice_detail", invoice_id=open_invoice.id)
    assert "This invoice is already paid. You have not been charged again." in page.text
    assert len(gateway.calls) == 1


def test_resending_a_declined_form_answers_with_the_decline_without_charging_again(
        client_request, session, signed_in_customer, make_invoice, make_payment_method, gateway):
    make_payment_method(signed_in_customer, number=INSUFFICIENT_FUNDS)
    invoice = make_invoice(signed_in_customer)
    data = pay_form(client_request.get("invoices.invoice_detail", invoice_id=invoice.id))
    for _ in range(2):
        page = client_request.post("invoices.pay_invoice", invoice_id=invoice.id, _data=data,
                                   _expected_status=422)
        assert "insufficient funds" in page.select_one("#payment_method-error").text
    assert len(gateway.calls) == 1
    assert session.get(Invoice, invoice.id).attempt_count == 1


def test_a_form_key_reused_with_another_card_is_refused_without_a_charge(
        client_request, session, signed_in_customer, make_invoice, make_payment_method, gateway):
    make_payment_method(signed_in_customer, number=DECLINED)
    good = make_payment_method(signed_in_customer, number="5555555555554444", default=False)
    invoice = make_invoice(signed_in_customer)
    data = pay_form(client_request.get("invoices.invoice_detail", invoice_id=invoice.id))
    client_request.post("invoices.pay_invoice", invoice_id=invoice.id, _data=data,
                        _expected_status=422)
    page = client_request.post("invoices.pay_invoice", invoice_id=invoice.id,
                               _data=dict(data, payment_method=good.id), _expected_status=422)
    assert "already used to pay with another card" in page.select_one(".error-summary").text
    assert len(gateway.calls) == 1
    assert session.get(Invoice, invoice.id).status == "open"


def test_a_past_due_invoice_can_be_paid(client_request, session, signed_in_customer,
                                        make_invoice, make_payment_method, gateway, now):
    make_payment_method(signed_in_customer)
    invoice = make_invoice(signed_in_customer, created=now - timedelta(days=40),
                           due_date=now - timedelta(days=10))
    page = client_request.get("invoices.invoice_detail", invoice_id=invoice.id)
    assert page.select_one("#invoice-payment .badge").text == "Past due"
    client_request.post("invoices.pay_invoice", invoice_id=invoice.id, _data=pay_form(page))
    assert session.get(Invoice, invoice.id).status == "paid"


@pytest.mark.parametrize("status", ["paid", "void", "uncollectible"])
def test_an_invoice_that_is_not_open_has_no_pay_form_and_a_post_charges_nothing(
        client_request, session, signed_in_customer, make_invoice, make_payment_method, gateway,
        status):
    method = make_payment_method(signed_in_customer)
    invoice = make_invoice(signed_in_customer, status=status)
    page = client_request.get("invoices.invoice_detail", invoice_id=invoice.id)
    assert page.select_one("#invoice-payment form") is None
    client_request.post("invoices.pay_invoice", invoice_id=invoice.id,
                        _data={"idempotency_key": "k" * 32, "payment_method": method.id})
    page = client_request.get("invoices.invoice_detail", invoice_id=invoice.id)
    expected = ("already paid" if status == "paid" else f"cannot be paid: it is {status}")
    assert expected in page.select_one(".notice").text
    assert gateway.calls == []
    assert session.get(Invoice, invoice.id).status == status


@pytest.mark.parametrize("data, message", [
    ({"payment_method": ""}, "Choose a card to pay with"),
    ({"payment_method": "pm_madeup"}, "Choose one of your saved cards"),
])
def test_a_missing_or_unknown_card_is_an_error_next_to_the_choice(
        client_request, session, open_invoice, gateway, data, message):
    sent = pay_form(client_request.get("invoices.invoice_detail", invoice_id=open_invoice.id))
    page = client_request.post("invoices.pay_invoice", invoice_id=open_invoice.id,
                               _data=dict(sent, **data), _expected_status=422)
    assert page.select_one("#payment_method-error").text.strip() == f"Error: {message}"
    assert gateway.calls == [] and session.scalars(select(Payment)).all() == []


@pytest.mark.parametrize("key", ["", "short", "has spaces in it 1234567890", "x" * 101])
def test_a_missing_or_malformed_form_key_asks_to_pay_again_without_charging(
        client_request, session, open_invoice, gateway, key):
    sent = pay_form(client_request.get("invoices.invoice_detail", invoice_id=open_invoice.id))
    page = client_request.post("invoices.pay_invoice", invoice_id=open_invoice.id,
                               _data=dict(sent, idempotency_key=key), _expected_status=422)
    assert "This form has expired. Check the details and pay again." in page.select_one(
        ".error-summary").text
    assert pay_form(page)["idempotency_key"] not in ("", key)
    assert gateway.calls == [] and session.scalars(select(Payment)).all() == []


def test_another_customers_card_is_refused_and_nothing_is_charged(
        client_request, session, open_invoice, other_customer, make_payment_method, gateway):
    theirs = make_payment_method(other_customer)
    sent = pay_form(client_request.get("invoices.invoice_detail", invoice_id=open_invoice.id))
    page = client_request.post("invoices.pay_invoice", invoice_id=open_invoice.id,
                               _data=dict(sent, payment_method=theirs.id), _expected_status=422)
    assert "Choose one of your saved cards" in page.select_one("#payment_method-error").text
    assert gateway.calls == [] and session.scalars(select(Payment)).all() == []


def test_a_removed_card_is_not_offered_and_cannot_be_used(
        client_request, session, signed_in_customer, make_invoice, make_payment_method, gateway,
        now):
    keep = make_payment_method(signed_in_customer)
    removed = make_payment_method(signed_in_customer, number="5555555555554444", default=False)
    removed.detached_at = now
    session.commit()
    invoice = make_invoice(signed_in_customer)
    page = client_request.get("invoices.invoice_detail", invoice_id=invoice.id)
    assert [r["value"] for r in page.select("input[name=payment_method]")] == [keep.id]
    client_request.post("invoices.pay_invoice", invoice_id=invoice.id,
                        _data=dict(pay_form(page), payment_method=removed.id),
                        _expected_status=422)
    assert gateway.calls == []


def test_an_expired_card_is_refused_before_any_charge(
        client_request, session, signed_in_customer, make_invoice, make_payment_method, gateway,
        now):
    method = make_payment_method(signed_in_customer)
    method.card_exp_year, method.card_exp_month = now.year - 1, 1
    session.commit()
    invoice = make_invoice(signed_in_customer)
    page = client_request.post(
        "invoices.pay_invoice", invoice_id=invoice.id, _expected_status=422,
        _data=pay_form(client_request.get("invoices.invoice_detail", invoice_id=invoice.id)))
    assert "This card has expired" in page.select_one("#payment_method-error").text
    assert gateway.calls == []


def test_a_customer_without_saved_cards_is_told_to_add_one(
        client_request, signed_in_customer, make_invoice):
    invoice = make_invoice(signed_in_customer)
    page = client_request.get("invoices.invoice_detail", invoice_id=invoice.id)
    section = page.select_one("#invoice-payment")
    assert "You have no saved cards to pay with." in section.text
    assert section.find("a", string="Add a card")["href"] == "/p/payment-methods"


def test_a_payment_under_way_hides_the_form_and_blocks_a_second_charge(
        client_request, session, open_invoice, add_payment, gateway):
    sent = pay_form(client_request.get("invoices.invoice_detail", invoice_id=open_invoice.id))
    method = open_invoice.customer.default_payment_method
    add_payment(open_invoice, method, status="processing")
    page = client_request.get("invoices.invoice_detail", invoice_id=open_invoice.id)
    assert page.select_one("#invoice-payment form") is None
    assert "is being processed" in page.select_one("#invoice-payment").text
    client_request.post("invoices.pay_invoice", invoice_id=open_invoice.id, _data=sent)
    page = client_request.get("invoices.invoice_detail", invoice_id=open_invoice.id)
    assert "already being processed, so we have not charged you again" in page.text
    assert gateway.calls == []


def test_when_the_processor_does_not_answer_the_payment_stays_processing_and_is_not_retried(
        client_request, session, open_invoice, gateway):
    gateway.broken = True
    data = pay_form(client_request.get("invoices.invoice_detail", invoice_id=open_invoice.id))
    client_request.post("invoices.pay_invoice", invoice_id=open_invoice.id, _data=data)
    page = client_request.get("invoices.invoice_detail", invoice_id=open_invoice.id)
    assert "still confirming this payment" in page.text
    client_request.post("invoices.pay_invoice", invoice_id=open_invoice.id, _data=data)
    assert len(gateway.calls) == 1
    payment = session.scalars(select(Payment)).one()
    assert payment.status == "processing"
    assert session.get(Invoice, open_invoice.id).status == "open"
