"""The overview: the merchant's words, subscriptions, payment method, details, latest invoices."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask_babel import format_date

from portal.customers.models import TaxId


@pytest.fixture
def branding(session):
    from portal.portal_settings.operations import get_branding

    brand = get_branding(session)
    brand.business_name = "Acme Cloud"
    session.commit()
    return brand


def _text(element) -> str:
    return " ".join(element.stripped_strings)


def test_the_overview_shows_the_merchants_headline_and_name(client_request, configuration,
                                                             branding, signed_in_customer,
                                                             session):
    configuration.headline = "Acme Cloud partners with us for simplified billing."
    branding.logo = "logo.png"
    session.commit()
    page = client_request.get("customers.overview")
    assert page.select_one(".headline").text == configuration.headline
    # The stored name in the URL: a new logo gets a new URL, though the image is cached a day.
    assert page.select_one(".overview-logo")["src"] == client_request.url(
        "branding.branding_image", kind="logo", v="logo.png")
    assert page.select_one(".overview-logo")["alt"] == "Acme Cloud"
    assert "Signed in to Acme Cloud as jenny.rosen@example.com" in _text(page.select_one("main"))
    assert page.select_one("nav a[aria-current=page]").text == "Overview"


def test_the_overview_leaves_out_what_the_merchant_did_not_set(client_request, configuration,
                                                               signed_in_customer):
    page = client_request.get("customers.overview")
    assert page.select_one(".headline") is None
    assert page.select_one(".overview-logo") is None


# ---- subscriptions -----------------------------------------------------------------------

def test_a_subscription_shows_plan_amount_status_and_renewal(client_request, signed_in_customer,
                                                            make_subscription, make_price, now,
                                                            app):
    price = make_price(name="Pro", unit_amount=2900, currency="usd")
    sub = make_subscription(signed_in_customer, price=price)
    page = client_request.get("customers.overview")
    section = page.select_one("section[aria-labelledby=subscriptions-heading]")
    assert section.select_one("h2").text == "Subscription"
    assert _text(section.select_one(".subscription-plan")) == "Pro Active $29.00 per month"
    with app.test_request_context():
        renews = format_date(sub.current_period_end)
    assert f"Renews on {renews}" in _text(section)


def test_quantities_units_and_longer_intervals_are_shown(client_request, signed_in_customer,
                                                         make_subscription, make_price):
    seats = make_price(name="Team", unit_amount=1500, currency="eur", unit_label="seat",
                       interval="month", interval_count=3)
    make_subscription(signed_in_customer, price=seats, quantity=4)
    page = client_request.get("customers.overview")
    assert _text(page.select_one(".subscription-plan")) == \
        "Team × 4 seats Active €60.00 every 3 months"


def test_a_cancelling_subscription_says_when_it_ends(client_request, signed_in_customer,
                                                     make_subscription, app):
    sub = make_subscription(signed_in_customer, cancel_at_period_end=True)
    page = client_request.get("customers.overview")
    with app.test_request_context():
        ends = format_date(sub.current_period_end)
    assert f"Cancels on {ends}" in page.select_one(".subscription").text
    assert "Renews" not in page.select_one(".subscription").text


def test_a_trial_says_when_it_ends(client_request, signed_in_customer, make_subscription, now,
                                   app):
    sub = make_subscription(signed_in_customer, status="trialing", trial_end=now + timedelta(7))
    page = client_request.get("customers.overview")
    with app.test_request_context():
        ends = format_date(sub.trial_end)
    assert "Trialing" in page.select_one(".badge").text
    assert f"Trial ends on {ends}" in page.select_one(".subscription").text


def test_only_the_customers_own_current_subscriptions_are_listed(client_request,
                                                                 signed_in_customer,
                                                                 make_customer,
                                                                 make_subscription, make_price):
    make_subscription(signed_in_customer, price=make_price(name="Mine"))
    make_subscription(signed_in_customer, price=make_price(name="Old"), status="canceled")
    other = make_customer(email="other@example.com", name="Other")
    make_subscription(other, price=make_price(name="Theirs"))
    page = client_request.get("customers.overview")
    plans = [plan.select_one("strong").text for plan in page.select(".subscription-plan")]
    assert plans == ["Mine"]


def test_no_subscriptions_says_so(client_request, signed_in_customer):
    page = client_request.get("customers.overview")
    assert "You have no subscriptions." in page.text


# ---- payment method ----------------------------------------------------------------------

def test_the_default_card_is_shown_with_a_link_to_manage_cards(client_request, configuration,
                                                              signed_in_customer,
                                                              make_payment_method):
    make_payment_method(signed_in_customer, number="5555555555554444", exp_month=3,
                        exp_year=2031)
    page = client_request.get("customers.overview")
    section = page.select_one("section[aria-labelledby=payment-method-heading]")
    assert _text(section.select_one("p")) == "Mastercard ending in 4444 · Expires 03/2031"
    link = section.select_one("a")
    assert link.text == "Manage payment methods"
    assert link["href"] == client_request.url("payments.payment_methods")


def test_without_the_payment_methods_feature_the_card_is_shown_without_a_link(
        client_request, configuration, signed_in_customer, make_payment_method, session):
    configuration.payment_method_update_enabled = False
    session.commit()
    make_payment_method(signed_in_customer)
    page = client_request.get("customers.overview")
    section = page.select_one("section[aria-labelledby=payment-method-heading]")
    assert "Visa ending in 4242" in section.text
    assert section.select("a") == []
    assert page.select_one(f"a[href='{client_request.url('payments.payment_methods')}']") is None


def test_a_removed_or_foreign_card_is_never_shown(client_request, signed_in_customer,
                                                  make_customer, make_payment_method, session,
                                                  now):
    other = make_customer(email="other@example.com", name="Other")
    theirs = make_payment_method(other, number="5555555555554444")
    signed_in_customer.default_payment_method_id = theirs.id
    session.commit()
    page = client_request.get("customers.overview")
    assert "4444" not in page.text
    assert "No payment method saved." in page.text

    mine = make_payment_method(signed_in_customer)
    mine.detached_at = now
    session.commit()
    assert "4242" not in client_request.get("customers.overview").text


# ---- billing details ---------------------------------------------------------------------

def test_billing_details_are_summarised_with_a_link_to_change_them(client_request, allow,
                                                                   us_customer, session, now):
    allow("name", "address")
    session.add(TaxId(customer_id=us_customer.id, type="eu_vat", value="DE136695976",
                      country="DE", created=now))
    session.commit()
    page = client_request.get("customers.overview")
    section = page.select_one("section[aria-labelledby=billing-details-heading]")
    rows = {row.select_one("dt").text: list(row.select_one("dd").stripped_strings)
            for row in section.select(".summary-list div")}
    assert rows == {
        "Name": ["Jenny Rosen"], "Email": ["jenny.rosen@example.com"],
        "Phone": ["+1 415 555 0100"],
        "Billing address": ["27 Fredrick Ave", "Brothers, OR 97712", "United States"],
        "Tax ID": ["DE136695976"],
    }
    link = section.select_one("a")
    assert link.text == "Change billing information"
    assert link["href"] == client_request.url("customers.billing_information")


def test_the_link_says_view_when_nothing_may_be_changed(client_request, allow,
                                                        signed_in_customer):
    allow()
    page = client_request.get("customers.overview")
    assert page.select_one("section[aria-labelledby=billing-details-heading] a").text == \
        "View billing information"


# ---- latest invoices ---------------------------------------------------------------------

def test_the_three_latest_invoices_are_listed_with_links(client_request, configuration,
                                                         signed_in_customer, make_invoice,
                                                         make_customer, now, app):
    for days_ago in (40, 30, 20, 10):
        make_invoice(signed_in_customer, status="paid", created=now - timedelta(days=days_ago))
    latest = make_invoice(signed_in_customer, status="open", amount=4900,
                          created=now - timedelta(days=1))
    make_invoice(signed_in_customer, status="draft", created=now)
    make_invoice(make_customer(email="other@example.com"), status="open", created=now)
    page = client_request.get("customers.overview")
    section = page.select_one("section[aria-labelledby=invoices-heading]")
    rows = section.select("tbody tr")
    assert len(rows) == 3
    first = [cell.text.strip() for cell in rows[0].select("td")]
    with app.test_request_context():
        assert first == [latest.number, format_date(latest.finalized_at), "$49.00", "Open"]
    assert rows[0].select_one("a")["href"] == client_request.url(
        "invoices.invoice_detail", invoice_id=latest.id)
    assert [row.select_one(".badge").text for row in rows[1:]] == ["Paid", "Paid"]
    assert section.select("a")[-1]["href"] == client_request.url("invoices.invoice_history")


def test_an_overdue_invoice_is_marked_past_due(client_request, signed_in_customer,
                                               make_invoice, now):
    make_invoice(signed_in_customer, status="open", created=now - timedelta(days=30),
                 due_date=now - timedelta(days=2))
    page = client_request.get("customers.overview")
    badge = page.select_one("section[aria-labelledby=invoices-heading] .badge")
    assert badge.text == "Past due" and "badge--past-due" in badge["class"]


def test_without_invoice_history_no_invoices_are_shown(client_request, configuration, session,
                                                       signed_in_customer, make_invoice):
    configuration.invoice_history_enabled = False
    session.commit()
    make_invoice(signed_in_customer)
    page = client_request.get("customers.overview")
    assert page.select_one("section[aria-labelledby=invoices-heading]") is None
    assert page.select_one(f"a[href='{client_request.url('invoices.invoice_history')}']") is None


def test_no_invoices_yet_says_so(client_request, signed_in_customer):
    assert "No invoices yet." in client_request.get("customers.overview").text


def test_the_overview_is_small(client_request, signed_in_customer, make_subscription,
                               make_payment_method, make_invoice):
    make_subscription(signed_in_customer)
    make_payment_method(signed_in_customer)
    for _ in range(3):
        make_invoice(signed_in_customer)
    response = client_request.get_response("customers.overview")
    assert len(response.get_data()) < 12_000


def test_an_overdue_subscription_says_so(client_request, signed_in_customer, make_subscription):
    make_subscription(signed_in_customer, status="past_due")
    page = client_request.get("customers.overview")
    assert page.select_one(".subscription .badge").text == "Past due"
    assert "Payment is overdue" in page.select_one(".subscription").text
    assert "Renews" not in page.select_one(".subscription").text
