"""Whose invoices a customer reaches: only their own, never drafts, never with the feature off."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import select

from portal.payments.models import Payment
from portal.portal_settings.models import PortalConfiguration
from portal.portal_settings.operations import default_configuration

# Every invoice route that takes an id, with how it is called. The walk below checks that this
# list covers every route in the blueprint, so a new route cannot miss the foreign-id test.
ID_ROUTES = [
    ("GET", "invoices.invoice_detail"),
    ("GET", "invoices.invoice_pdf"),
    ("GET", "invoices.receipt_pdf"),
    ("POST", "invoices.pay_invoice"),
]


def main_text(response) -> str:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser").main.get_text(" ",
                                                                                    strip=True)


def call(client_request, method, endpoint, invoice_id, data=None):
    url = client_request.url(endpoint, invoice_id=invoice_id)
    if method == "GET":
        return client_request.client.get(url)
    return client_request.client.post(url, data=data or {})


def test_the_walk_covers_every_invoice_route(app):
    with_id = {rule.endpoint for rule in app.url_map.iter_rules()
               if rule.endpoint.startswith("invoices.") and "invoice_id" in rule.arguments}
    assert with_id == {endpoint for _method, endpoint in ID_ROUTES}


@pytest.mark.parametrize("method, endpoint", ID_ROUTES)
@pytest.mark.parametrize("status", ["open", "paid"])
def test_another_customers_invoice_answers_404_like_a_made_up_one(
        client_request, session, signed_in_customer, other_customer, make_invoice,
        make_payment_method, gateway, method, endpoint, status):
    mine = make_payment_method(signed_in_customer)
    theirs = make_invoice(other_customer, status=status)
    make_payment_method(other_customer)
    data = {"idempotency_key": "k" * 32, "payment_method": mine.id}
    foreign = call(client_request, method, endpoint, theirs.id, data)
    made_up = call(client_request, method, endpoint, "in_madeup000000000000000000", data)
    assert foreign.status_code == made_up.status_code == 404
    assert main_text(foreign) == main_text(made_up) and "Page not found" in main_text(foreign)
    assert theirs.number.encode() not in foreign.get_data()
    assert gateway.calls == [] and session.scalars(select(Payment)).all() == []


@pytest.mark.parametrize("method, endpoint", ID_ROUTES)
def test_a_draft_invoice_is_never_reachable(client_request, signed_in_customer, make_invoice,
                                            make_payment_method, gateway, method, endpoint):
    mine = make_payment_method(signed_in_customer)
    draft = make_invoice(signed_in_customer, status="draft")
    response = call(client_request, method, endpoint, draft.id,
                    {"idempotency_key": "k" * 32, "payment_method": mine.id})
    assert response.status_code == 404
    assert gateway.calls == []


def test_drafts_and_other_customers_invoices_are_not_in_the_history(
        client_request, signed_in_customer, other_customer, make_invoice):
    mine = make_invoice(signed_in_customer, status="open")
    make_invoice(signed_in_customer, status="draft")
    theirs = make_invoice(other_customer, status="open")
    page = client_request.get("invoices.invoice_history")
    shown = [a.text for a in page.select("#invoice-history tbody th a")]
    assert shown == [mine.number] and theirs.number not in page.text


ALL_ROUTES = [("GET", "invoices.invoice_history")] + ID_ROUTES


@pytest.mark.parametrize("method, endpoint", ALL_ROUTES)
def test_with_invoice_history_switched_off_every_invoice_route_is_404(
        client_request, session, signed_in_customer, make_invoice, make_payment_method, gateway,
        method, endpoint):
    mine = make_payment_method(signed_in_customer)
    invoice = make_invoice(signed_in_customer, status="paid" if "receipt" in endpoint else "open")
    default_configuration(session).invoice_history_enabled = False
    session.commit()
    url = client_request.url(endpoint, **({} if endpoint.endswith("history")
                                          else {"invoice_id": invoice.id}))
    if method == "GET":
        response = client_request.client.get(url)
    else:
        response = client_request.client.post(
            url, data={"idempotency_key": "k" * 32, "payment_method": mine.id})
    assert response.status_code == 404
    assert gateway.calls == []


def test_with_invoice_history_switched_off_the_navigation_does_not_offer_it(
        client_request, session, signed_in_customer):
    assert client_request.get("customers.overview").find("a", string="Invoices") is not None
    default_configuration(session).invoice_history_enabled = False
    session.commit()
    assert client_request.get("customers.overview").find("a", string="Invoices") is None


def test_the_configuration_of_the_sign_in_decides_not_the_default(
        client_request, session, customer, sign_in, make_invoice):
    closed = PortalConfiguration(is_default=False, active=True, invoice_history_enabled=False,
                                 customer_update_allowed=[], metadata_={})
    session.add(closed)
    session.commit()
    sign_in(customer, configuration_id=closed.id)
    invoice = make_invoice(customer)
    client_request.get_response("invoices.invoice_history", _expected_status=404)
    client_request.get_response("invoices.invoice_detail", invoice_id=invoice.id,
                                _expected_status=404)


@pytest.mark.parametrize("method, endpoint", ALL_ROUTES)
def test_a_signed_out_visitor_is_sent_to_sign_in(client_request, customer, make_invoice,
                                                 gateway, method, endpoint):
    invoice = make_invoice(customer)
    url = client_request.url(endpoint, **({} if endpoint.endswith("history")
                                          else {"invoice_id": invoice.id}))
    response = (client_request.client.get(url) if method == "GET"
                else client_request.client.post(url, data={"idempotency_key": "k" * 32}))
    assert response.status_code == 303
    assert "/p/signed-out" in response.headers["Location"]
    assert gateway.calls == []
