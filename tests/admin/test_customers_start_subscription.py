"""Starting a subscription from a customer's page: the prices on offer, the first invoice paid
with the customer's card (or emailed, or a trial begun), and every refusal shown by its field
with nothing started."""

from __future__ import annotations

from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import func, select

from portal.invoices.models import Invoice
from portal.outbox.models import OutboxMessage
from portal.subscriptions.models import Subscription
from tests.billing.helpers import DECLINED, GATEWAY_SPEC
from tests.invoices.counting_gateway import CountingGateway

FORM_KEY = "a-form-key-of-the-right-shape"


@pytest.fixture
def app_config() -> dict:
    return {"PAYMENT_GATEWAY": GATEWAY_SPEC, "WORKER_MODE": "external"}


@pytest.fixture(autouse=True)
def _gateway(app):
    CountingGateway.reset()
    yield
    CountingGateway.reset()


@pytest.fixture
def pro(make_price):
    return make_price(name="Pro", unit_amount=2900)


def text_of(element) -> str:
    return " ".join(element.get_text(" ").split()) if element is not None else ""


def count(session, model) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


def form_of(data=None, **fields) -> dict:
    posted = {"form_key": FORM_KEY, "quantity": "1", "collection_method": "charge_automatically",
              "days_until_due": "", "trial_period_days": ""}
    posted.update(data or {})
    posted.update(fields)
    return posted


def post_start(client_request, customer, status=303, htmx=False, **fields):
    return client_request.post_response("admin_customers.start_subscription",
                                        customer_id=customer.id, _data=form_of(**fields),
                                        _expected_status=status, _htmx=htmx)


def page_of(response) -> BeautifulSoup:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def test_the_form_offers_active_recurring_prices_with_product_amount_and_interval(
        client_request, signed_in_staff, customer, make_price, session):
    make_price(name="Pro", unit_amount=2900)
    make_price(name="Pro", unit_amount=29000, interval="year", nickname="Pro yearly")
    make_price(name="Team", unit_amount=4500, interval="month", interval_count=3)
    make_price(name="Old plan", unit_amount=100).active = False
    make_price(name="Setup fee", unit_amount=5000, interval=None)
    session.commit()

    page = client_request.get("admin_customers.customer_page", customer_id=customer.id)

    options = [text_of(o) for o in page.select("#price option")]
    assert options == ["Choose a price", "Pro – $29.00 per month (USD)",
                       "Pro (Pro yearly) – $290.00 per year (USD)",
                       "Team – $45.00 every 3 months (USD)"]
    assert page.select_one("form[hx-post]")["hx-target"] == "#customer-detail"
    assert page.select_one("input[name=form_key]")["value"]


def test_without_a_card_the_form_suggests_emailing_the_invoice(client_request, signed_in_staff,
                                                               customer, pro):
    page = client_request.get("admin_customers.customer_page", customer_id=customer.id)

    assert page.select_one("input[name=collection_method][checked]")["value"] == "send_invoice"
    assert "has no card saved" in text_of(page.select_one("#start-heading").find_parent("section"))


def test_without_prices_the_page_says_to_add_one(client_request, signed_in_staff, customer):
    page = client_request.get("admin_customers.customer_page", customer_id=customer.id)

    start = page.select_one("#start-heading").find_parent("section")
    assert start.select_one("form") is None
    assert start.select_one("a")["href"] == client_request.url("admin_catalog.product_list")


def test_a_subscription_starts_and_its_first_invoice_is_paid_with_the_customers_card(
        client_request, signed_in_staff, session, customer, make_payment_method, pro):
    make_payment_method(customer)

    response = post_start(client_request, customer, price=pro.id, quantity="2")

    assert response.headers["Location"] == client_request.url(
        "admin_customers.customer_page", customer_id=customer.id)
    subscription = session.scalars(select(Subscription)).one()
    invoice = session.scalars(select(Invoice)).one()
    assert subscription.status == "active" and subscription.items[0].quantity == 2
    assert (invoice.status, invoice.amount_paid) == ("paid", 5800)
    assert [call["amount"] for call in CountingGateway.calls] == [5800]
    page = client_request.get("admin_customers.customer_page", customer_id=customer.id)
    notice = text_of(page.select_one(".notice--success"))
    assert notice == f"Subscription started. Invoice {invoice.number} for $58.00 was paid."
    rows = page.find(id="subscriptions-heading").find_parent("section").select("tbody tr")
    assert text_of(rows[0].select_one("[data-label=Status]")) == "Active"
    invoices = page.find(id="invoices-heading").find_parent("section").select("tbody tr")
    assert text_of(invoices[0].th) == invoice.number


def test_with_htmx_the_page_comes_back_with_the_new_subscription_and_a_notice(
        client_request, signed_in_staff, session, customer, make_payment_method, pro):
    make_payment_method(customer)

    response = post_start(client_request, customer, status=200, htmx=True, price=pro.id)

    fragment = page_of(response)
    assert "<html" not in response.get_data(as_text=True)
    assert fragment.select_one("div#customer-detail") is not None
    notice = fragment.select_one(".notice--success")
    assert notice.has_attr("autofocus") and "was paid" in text_of(notice)
    assert text_of(fragment.select_one("#subscriptions-heading").find_parent("section")
                   .select_one("[data-label=Status]")) == "Active"
    # A fresh form with a fresh key, so the next start is a new one.
    assert fragment.select_one("input[name=form_key]")["value"] != FORM_KEY


def test_the_same_form_sent_twice_starts_one_subscription_charged_once(
        client_request, signed_in_staff, session, customer, make_payment_method, pro):
    make_payment_method(customer)

    post_start(client_request, customer, price=pro.id)
    post_start(client_request, customer, price=pro.id)

    assert count(session, Subscription) == 1 and count(session, Invoice) == 1
    assert len(CountingGateway.calls) == 1


def test_an_emailed_invoice_is_due_when_the_form_says(client_request, signed_in_staff, session,
                                                      customer, pro, now):
    post_start(client_request, customer, price=pro.id, collection_method="send_invoice",
               days_until_due="14")

    invoice = session.scalars(select(Invoice)).one()
    assert invoice.status == "open" and invoice.collection_method == "send_invoice"
    assert now <= invoice.due_date - timedelta(days=14) <= now + timedelta(minutes=1)
    assert session.scalars(select(OutboxMessage)).one().payload["to"] == customer.email
    page = client_request.get("admin_customers.customer_page", customer_id=customer.id)
    assert f"was emailed to {customer.email}, due on" in text_of(page.select_one(".notice"))


def test_a_trial_starts_with_nothing_to_pay(client_request, signed_in_staff, session, customer,
                                            pro):
    post_start(client_request, customer, price=pro.id, trial_period_days="14")

    assert session.scalars(select(Subscription)).one().status == "trialing"
    assert count(session, Invoice) == 0
    page = client_request.get("admin_customers.customer_page", customer_id=customer.id)
    assert "The free trial ends on" in text_of(page.select_one(".notice"))


def test_a_declined_card_is_said_plainly_and_the_subscription_is_past_due(
        client_request, signed_in_staff, session, customer, make_payment_method, pro):
    make_payment_method(customer, number=DECLINED)

    post_start(client_request, customer, price=pro.id)

    assert session.scalars(select(Subscription)).one().status == "past_due"
    page = client_request.get("admin_customers.customer_page", customer_id=customer.id)
    warning = text_of(page.select_one(".notice--warning"))
    assert "the first payment failed: Your card was declined." in warning
    assert "It will be tried again on" in warning


def assert_refused_by(response, field: str, message: str):
    page = page_of(response)
    assert page.title.get_text(strip=True).startswith("Error: ")
    assert page.select_one(f".error-summary a[href='#{field}']").get_text(strip=True) == message
    assert message in text_of(page.select_one(f"#{field}-error"))
    return page


def test_a_customer_without_a_card_is_refused_by_the_collection_field(
        client_request, signed_in_staff, session, customer, pro):
    response = post_start(client_request, customer, status=422, price=pro.id)

    assert_refused_by(response, "collection_method",
                      "This customer has no card to charge. They can add one in the portal; "
                      "or email them an invoice to pay, or start with a free trial.")
    assert count(session, Subscription) == 0 and count(session, Invoice) == 0


def test_an_archived_price_is_refused_by_the_price_field(client_request, signed_in_staff,
                                                         session, customer,
                                                         make_payment_method, pro):
    make_payment_method(customer)
    pro.active = False
    session.commit()

    response = post_start(client_request, customer, status=422, price=pro.id)

    assert_refused_by(response, "price", "The Pro price is archived. Choose an active price.")
    assert count(session, Subscription) == 0


def test_a_price_in_another_currency_than_the_customers_subscription_is_refused(
        client_request, signed_in_staff, session, customer, make_payment_method, make_price,
        make_subscription):
    make_payment_method(customer)
    make_subscription(customer, make_price(name="Euro plan", currency="eur"))
    dollars = make_price(name="Dollar plan", currency="usd")

    response = post_start(client_request, customer, status=422, price=dollars.id)

    assert_refused_by(response, "price", "This customer is billed in EUR. Choose a price in EUR.")
    assert count(session, Subscription) == 1


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"price": ""}, "price", "Choose a price"),
    ({"price": "price_doesnotexist000000000"}, "price", "Choose one of the prices listed"),
    ({"price": "x" * 500}, "price", "Choose one of the prices listed"),
    ({"quantity": ""}, "quantity", "Enter a quantity"),
    ({"quantity": "0"}, "quantity", "Enter a quantity of at least 1"),
    ({"quantity": "-1"}, "quantity", "Enter the quantity as a whole number, like 3"),
    ({"quantity": "1.5"}, "quantity", "Enter the quantity as a whole number, like 3"),
    ({"quantity": "٣"}, "quantity", "Enter the quantity using the digits 0 to 9"),
    ({"quantity": "9" * 30}, "quantity",
     "That comes to more than one invoice can charge. Enter a smaller quantity."),
    ({"collection_method": "cash"}, "collection_method", "Choose how to collect payment"),
    ({"collection_method": "send_invoice", "days_until_due": "two weeks"}, "days_until_due",
     "Enter the days until due as a whole number of days, like 14"),
    ({"collection_method": "send_invoice", "days_until_due": "400"}, "days_until_due",
     "Enter the days until due of at most 365 days"),
    ({"trial_period_days": "800"}, "trial_period_days",
     "Enter the free trial of at most 730 days"),
    ({"trial_period_days": "1e3"}, "trial_period_days",
     "Enter the free trial as a whole number of days, like 14"),
])
def test_bad_input_is_shown_by_its_field_kept_and_nothing_is_started(
        client_request, signed_in_staff, session, customer, make_payment_method, pro, fields,
        field, message):
    make_payment_method(customer)
    fields = {"price": pro.id, **fields}

    response = post_start(client_request, customer, status=422, **fields)

    page = assert_refused_by(response, field, message)
    if field in ("quantity", "days_until_due", "trial_period_days"):
        assert page.select_one(f"#{field}")["value"] == fields[field]
    assert page.select_one("input[name=form_key]")["value"] == FORM_KEY
    assert count(session, Subscription) == 0 and CountingGateway.calls == []


def test_an_htmx_refusal_answers_with_the_fragment_and_its_error_summary(
        client_request, signed_in_staff, session, customer, pro):
    response = post_start(client_request, customer, status=422, htmx=True, price=pro.id)

    fragment = page_of(response)
    assert fragment.select_one("div#customer-detail") is not None
    summary = fragment.select_one(".error-summary")
    assert summary.has_attr("autofocus")
    assert fragment.title.get_text(strip=True).startswith("Error: ")


def test_a_form_without_its_key_is_refused_as_out_of_date(client_request, signed_in_staff,
                                                          session, customer, pro,
                                                          make_payment_method):
    make_payment_method(customer)

    response = post_start(client_request, customer, status=422, price=pro.id, form_key="")

    assert "This form is out of date" in text_of(page_of(response).select_one(".error-summary"))
    assert count(session, Subscription) == 0


def test_starting_one_for_an_unknown_customer_is_not_found(client, signed_in_staff, pro):
    response = client.post("/admin/customers/cus_doesnotexist000000000000/subscriptions",
                           data=form_of(price=pro.id))
    assert response.status_code == 404


def test_the_staff_member_who_started_it_is_in_the_audit_log(client_request, signed_in_staff,
                                                             session, customer, pro):
    from portal.events import AuditEvent

    post_start(client_request, customer, price=pro.id, trial_period_days="7")

    event = session.scalars(select(AuditEvent).where(
        AuditEvent.type == "customer.subscription.created")).one()
    assert event.actor == f"staff:{signed_in_staff.id}"
    assert event.customer_id == customer.id
