"""The add-card form behind CSRF and a per-customer attempt limit (card-testing fraud)."""

from __future__ import annotations

import pytest

from tests.payments.cards import CARD_NUMBER, CVC


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True, "PAYMENT_METHOD_ADD_RATE_LIMIT": "3 per hour"}


def csrf_token(client_request):
    page = client_request.get("payments.add_payment_method")
    return page.select_one("#add-card input[name=csrf_token]")["value"]


def test_a_post_without_the_token_is_refused_without_showing_the_card(client_request,
                                                                      signed_in_customer,
                                                                      card_form):
    response = client_request.post_response("payments.add_payment_method", _expected_status=400,
                                            _data=card_form(number=CARD_NUMBER))
    html = response.get_data(as_text=True)
    assert "Something was wrong with that request" in html
    assert CARD_NUMBER not in html and f'value="{CVC}"' not in html


def test_every_card_form_on_the_pages_carries_the_token(client_request, signed_in_customer,
                                                        make_payment_method):
    make_payment_method(signed_in_customer)
    make_payment_method(signed_in_customer, number="5555555555554444", default=False)
    posts = client_request.get("payments.payment_methods").select("form[method=post]:not(.language)")
    posts += client_request.get("payments.add_payment_method").select("form[method=post]:not(.language)")
    assert len(posts) == 4  # sign out on each page, make default, add card
    assert all(form.select_one("input[name=csrf_token]")["value"] for form in posts)


def test_with_the_token_a_card_is_added(client_request, signed_in_customer, card_form):
    client_request.post_response("payments.add_payment_method",
                                 _data=card_form(csrf_token=csrf_token(client_request)))


def test_a_customer_trying_card_after_card_is_stopped(client_request, signed_in_customer,
                                                      card_form):
    token = csrf_token(client_request)
    for number in ("4000000000000119", "4000000000000127", "4000000000000069"):
        client_request.post_response("payments.add_payment_method", _expected_status=422,
                                     _data=card_form(number=number, csrf_token=token))
    response = client_request.post_response(
        "payments.add_payment_method", _expected_status=429,
        _data=card_form(number=CARD_NUMBER, csrf_token=token))
    html = response.get_data(as_text=True)
    assert "Too many attempts" in html and CARD_NUMBER not in html
    # Looking at the form is not an attempt.
    client_request.get("payments.add_payment_method")


def test_the_limit_counts_per_customer_not_per_address(app, session, customer, make_customer,
                                                       now):

    from flask import session as cookie

    from portal.customers.auth import SESSION_KEY, open_sign_in_session
    from portal.payments.views import _limit_key

    keys = []
    someone_else = make_customer(email="someone.else@example.com")
    for someone in (customer, someone_else):
        _, token = open_sign_in_session(someone.id, now=now)
        session.commit()
        with app.test_request_context(environ_base={"REMOTE_ADDR": "203.0.113.9"}):
            cookie[SESSION_KEY] = token
            keys.append(_limit_key())
    assert keys == [f"add-card:{customer.id}", f"add-card:{someone_else.id}"]
