"""The payment methods page: what a customer sees of their saved cards."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import url_for

from portal.portal_settings.operations import default_configuration
from tests.payments.cards import month_offset


def card_rows(page):
    return page.select("#payment-methods li.payment-method")


def test_each_card_shows_brand_last_four_and_expiry(client_request, signed_in_customer,
                                                    make_payment_method, now):
    make_payment_method(signed_in_customer, number="5555555555554444", exp_month=4,
                        exp_year=now.year + 2)
    page = client_request.get("payments.payment_methods")
    [row] = card_rows(page)
    assert "Mastercard ending in 4444" in row.text
    assert f"Expires 04/{now.year + 2}" in row.text
    assert page.title.text.startswith("Payment methods")
    assert page.select_one('nav a[aria-current="page"]').text == "Payment methods"


def test_the_default_card_comes_first_with_a_badge_and_the_rest_newest_first(
        client_request, signed_in_customer, make_payment_method, now):
    default = make_payment_method(signed_in_customer, created=now - timedelta(days=30))
    make_payment_method(signed_in_customer, number="5555555555554444", default=False,
                        created=now - timedelta(days=20))
    make_payment_method(signed_in_customer, number="378282246310005", default=False,
                        created=now - timedelta(days=10))
    rows = card_rows(client_request.get("payments.payment_methods"))
    assert [row.strong.text for row in rows] == [
        "Visa ending in 4242", "American Express ending in 0005", "Mastercard ending in 4444"]
    assert rows[0].select_one(".badge").text == "Default"
    assert rows[0]["id"] == f"pm-{default.id}"
    assert not rows[1].select(".badge") and not rows[2].select(".badge")


@pytest.mark.parametrize("months, words, badge", [
    (-1, "Expired", "Expired"),
    (-14, "Expired", "Expired"),
    (0, "Expires", "Expires soon"),  # works to the end of this month
    (1, "Expires", "Expires soon"),
    (2, "Expires", None),
])
def test_expired_and_soon_to_expire_cards_say_so_in_words(client_request, signed_in_customer,
                                                          make_payment_method, set_expiry,
                                                          now, months, words, badge):
    set_expiry(make_payment_method(signed_in_customer), months)
    [row] = card_rows(client_request.get("payments.payment_methods"))
    year, month = month_offset(now, months)
    assert f"{words} {month:02d}/{year}" in row.text
    badges = [b.text for b in row.select(".badge") if b.text != "Default"]
    assert badges == ([badge] if badge else [])


def test_an_expired_card_cannot_be_made_default(client_request, signed_in_customer,
                                                make_payment_method, set_expiry):
    make_payment_method(signed_in_customer)
    set_expiry(make_payment_method(signed_in_customer, number="5555555555554444", default=False), -1)
    rows = card_rows(client_request.get("payments.payment_methods"))
    assert [b.text for b in rows[1].select("button")] == ["Remove Mastercard ending in 4444"]


def test_each_action_is_a_form_whose_button_names_the_card(client_request, signed_in_customer,
                                                           make_payment_method):
    default = make_payment_method(signed_in_customer)
    other = make_payment_method(signed_in_customer, number="5555555555554444", default=False)
    rows = card_rows(client_request.get("payments.payment_methods"))
    # The default card has nothing to make default.
    [remove_default] = rows[0].select("form")
    assert remove_default["action"] == client_request.url(
        "payments.confirm_remove_payment_method", payment_method_id=default.id)
    assert remove_default.button.text == "Remove Visa ending in 4242"
    make, remove = rows[1].select("form")
    assert make["method"] == "post" and make.select_one("input[name=csrf_token]")
    assert make["action"] == client_request.url("payments.make_default_payment_method",
                                                payment_method_id=other.id)
    assert make.button.text == "Make default Mastercard ending in 4444"
    assert make.button.select_one(".visually-hidden").text.strip() == "Mastercard ending in 4444"
    # Removing asks first: the button fetches the confirmation, it does not remove.
    assert remove["method"] == "get" and remove.button.text == "Remove Mastercard ending in 4444"
    assert "button--warning" in remove.button["class"]
    assert "button--secondary" in make.button["class"]
    assert make["hx-target"] == "#payment-methods"
    assert remove["hx-target"] == f"#pm-{other.id}"


def test_a_customer_without_cards_is_offered_to_add_one(client_request, signed_in_customer):
    page = client_request.get("payments.payment_methods")
    assert "You have no saved cards." in page.select_one("#payment-methods").text
    assert page.select_one("#payment-methods a.button")["href"] == client_request.url(
        "payments.add_payment_method")


def test_removed_cards_are_not_listed(client_request, signed_in_customer, make_payment_method,
                                      session, now):
    make_payment_method(signed_in_customer)
    gone = make_payment_method(signed_in_customer, number="5555555555554444", default=False)
    gone.customer_id, gone.detached_at = None, now
    session.commit()
    assert [r.strong.text for r in card_rows(client_request.get("payments.payment_methods"))] == [
        "Visa ending in 4242"]


def test_htmx_gets_only_the_list_fragment(client_request, signed_in_customer,
                                          make_payment_method):
    make_payment_method(signed_in_customer)
    response = client_request.get_response("payments.payment_methods", _htmx=True)
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="payment-methods">')
    assert "<html" not in html and "Visa ending in 4242" in html
    assert "HX-Request" in response.headers["Vary"]


def test_the_page_works_without_javascript_and_stays_small(client_request, signed_in_customer,
                                                           make_payment_method):
    make_payment_method(signed_in_customer)
    make_payment_method(signed_in_customer, number="5555555555554444", default=False)
    response = client_request.get_response("payments.payment_methods")
    # Every action is a real form with a real action: nothing depends on script.
    page = client_request.get("payments.payment_methods")
    assert all(form.get("action") for form in page.select("main form"))
    assert len(response.get_data()) < 8 * 1024


def test_signed_out_visitors_are_sent_to_sign_in(client_request):
    response = client_request.get_response("payments.payment_methods", _expected_status=303)
    assert "/p/signed-out" in response.headers["Location"]


def test_the_overview_navigation_links_to_payment_methods(client_request, signed_in_customer):
    nav = client_request.get("customers.overview").select_one("nav.site-nav")
    assert client_request.url("payments.payment_methods") in [a["href"] for a in nav.select("a")]


@pytest.fixture
def payment_methods_switched_off(app, session):
    default_configuration(session).payment_method_update_enabled = False
    session.commit()


def all_payment_routes(app, payment_method_id):
    """Every route of the feature, with each of its methods, as (method, url)."""
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if rule.endpoint.startswith("payments."):
                values = {"payment_method_id": payment_method_id} if rule.arguments else {}
                for method in sorted(rule.methods & {"GET", "POST"}):
                    yield method, url_for(rule.endpoint, **values)


@pytest.mark.parametrize("htmx", [False, True])
def test_switched_off_the_whole_feature_answers_not_found(app, client, signed_in_customer,
                                                          make_payment_method, card_form,
                                                          payment_methods_switched_off, htmx):
    method = make_payment_method(signed_in_customer)
    routes = list(all_payment_routes(app, method.id))
    assert len(routes) >= 5
    headers = {"HX-Request": "true"} if htmx else {}
    for verb, url in routes:
        response = client.open(url, method=verb, data=card_form(), headers=headers)
        assert response.status_code == 404, (verb, url)
    assert signed_in_customer.default_payment_method_id == method.id
    assert method.customer_id == signed_in_customer.id


def test_switched_off_the_navigation_does_not_offer_it(client_request, signed_in_customer,
                                                       payment_methods_switched_off):
    nav = client_request.get("customers.overview").select_one("nav.site-nav")
    assert "Payment methods" not in nav.text
