"""What a save on the configuration page does to the real portal, for a customer signed in at
that moment: at once, although this process keeps the settings cached (the save's commit
clears the cache)."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup

from tests.portal_settings.portal_form import PAGE, product_index, shown_form


@pytest.fixture
def app_config():
    # Settings cached as in production, for longer than any test: only the save's commit can
    # make the portal see the change.
    return {"SETTINGS_CACHE_SECONDS": 3600}


def soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


@pytest.fixture
def staff_client(client, signed_in_staff, signed_in_customer):
    """One browser signed in as staff on /admin and as the customer on /p/ (both cookies)."""
    return client


@pytest.fixture
def subscription(make_subscription, signed_in_customer, make_price):
    return make_subscription(signed_in_customer, price=make_price("Pro", unit_amount=2900))


def save(client, **changes):
    """Post the settings form as shown, with ``changes`` (lists; [] unticks)."""
    data = {**shown_form(soup(client.get(PAGE))), **changes}
    response = client.post(PAGE, data=data)
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]


def nav(client) -> list[str]:
    return [a.get_text(strip=True) for a in soup(client.get("/p/")).select("nav[aria-label=Account] a")]


def test_invoice_history_off_removes_the_page_and_its_nav_item(staff_client, make_invoice,
                                                               signed_in_customer):
    invoice = make_invoice(signed_in_customer)
    assert "Invoices" in nav(staff_client)
    assert staff_client.get("/p/invoices").status_code == 200
    save(staff_client, invoice_history_enabled=[])
    assert "Invoices" not in nav(staff_client)
    assert staff_client.get("/p/invoices").status_code == 404
    assert staff_client.get(f"/p/invoices/{invoice.id}").status_code == 404
    save(staff_client, invoice_history_enabled=["y"])
    assert staff_client.get("/p/invoices").status_code == 200


def test_payment_methods_off_removes_their_nav_item(staff_client):
    save(staff_client, payment_method_update_enabled=[])
    assert "Payment methods" not in nav(staff_client)
    assert staff_client.get("/p/payment-methods").status_code == 404


def test_cancelling_off_removes_the_cancel_button(staff_client, subscription):
    url = f"/p/subscriptions/{subscription.id}"
    assert soup(staff_client.get(url)).find("a", string="Cancel subscription")
    save(staff_client, subscription_cancel_enabled=[])
    assert soup(staff_client.get(url)).find("a", string="Cancel subscription") is None
    assert staff_client.get(f"{url}/cancel").status_code == 404


def test_the_headline_and_merchant_links_show_on_the_customers_pages(staff_client):
    save(staff_client, headline=["Welcome to Acme billing"],
         terms_of_service_url=["https://acme.example/terms"],
         privacy_policy_url=["https://acme.example/privacy"],
         default_return_url=["https://acme.example/account"])
    page = soup(staff_client.get("/p/"))
    assert page.select_one(".headline").get_text(strip=True) == "Welcome to Acme billing"
    footer = {a.get_text(strip=True): a["href"] for a in page.select(".site-footer a")}
    assert footer["Terms of service"] == "https://acme.example/terms"
    assert footer["Privacy policy"] == "https://acme.example/privacy"
    assert "https://acme.example/account" in footer.values()


def test_the_details_customers_may_change_follow_the_settings(staff_client):
    assert staff_client.get("/p/billing-information/phone").status_code == 200
    save(staff_client, customer_update_allowed=["name"])
    assert staff_client.get("/p/billing-information/phone").status_code == 404
    assert staff_client.get("/p/billing-information/name").status_code == 200
    save(staff_client, customer_update_enabled=[])
    assert staff_client.get("/p/billing-information/name").status_code == 404


def test_immediate_cancellation_with_the_reasons_chosen_is_what_the_customer_gets(
        staff_client, subscription):
    save(staff_client, subscription_cancel_mode=["immediately"],
         cancellation_reason_options=["too_expensive", "unused"])
    page = soup(staff_client.get(f"/p/subscriptions/{subscription.id}/cancel/confirm"))
    assert "will end now" in page.get_text()
    reasons = [label.get_text(strip=True) for label in page.select("fieldset .choice label")]
    assert reasons == ["Too expensive", "No longer using it"]


def test_switching_plans_offers_the_prices_and_quantities_saved(staff_client, subscription,
                                                               make_price, session, now):
    from portal.catalog.models import Price

    pro = subscription.items[0].price
    yearly = Price(product=pro.product, unit_amount=29000, currency="usd",
                   recurring_interval="year", recurring_interval_count=1, active=True,
                   created=now, metadata_={})
    session.add(yearly)
    session.commit()
    url = f"/p/subscriptions/{subscription.id}"
    assert soup(staff_client.get(url)).find("a", string="Change plan") is None
    data = shown_form(soup(staff_client.get(PAGE)))
    index = product_index(data, pro.product_id)
    save(staff_client, subscription_update_enabled=["y"],
         subscription_update_default_allowed_updates=["price", "quantity"],
         **{f"products-{index}-selected": ["y"], f"products-{index}-prices": [pro.id, yearly.id],
            f"products-{index}-quantity_enabled": ["y"], f"products-{index}-minimum": ["2"],
            f"products-{index}-maximum": ["4"]})
    assert soup(staff_client.get(url)).find("a", string="Change plan")
    change = soup(staff_client.get(f"{url}/change"))
    assert {i["value"] for i in change.select("input[name=price]")} == {pro.id, yearly.id}
    too_many = staff_client.get(f"{url}/change/preview", query_string={
        "price": pro.id, "quantity": "5", "version": str(subscription.version)})
    assert too_many.status_code == 422
    assert "at most 4" in too_many.get_data(as_text=True)


def test_a_retention_pause_is_offered_before_cancelling(staff_client, subscription):
    save(staff_client, retention_pause_max_months=["2"])
    page = soup(staff_client.get(f"/p/subscriptions/{subscription.id}/cancel"))
    months = [i["value"] for i in page.select("input[name=months]")]
    assert months == ["1", "2"]
