"""What a customer sees of their subscriptions: the list, one subscription with its next invoice
and notices, the link from the overview, and nobody else's subscriptions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event

from portal.billing.calc import add_months
from portal.extensions import db
from tests.subscriptions.conftest import text_of


def panel(page):
    return page.select_one("#subscription-panel")


def summary(page) -> dict[str, str]:
    """The subscription's summary list as {term: description}."""
    return {text_of(row.dt): text_of(row.dd) for row in page.select(".summary-list > div")}


def test_the_list_shows_each_subscription_with_its_price_status_and_next_invoice(
        client_request, signed_in_customer, subscribe, catalog, now):
    pro = subscribe(signed_in_customer, catalog["pro_month"])
    subscribe(signed_in_customer, catalog["team_month"], quantity=4, days_in=2)
    page = client_request.get("subscriptions.subscription_list")
    entries = [text_of(li) for li in page.select(".subscription-summary")]
    renews = page.select_one(".subscription-summary .muted").text
    assert entries[0].startswith("Pro Active Pro · $29.00 per month Next invoice: $29.00 on")
    assert entries[1].startswith("Team Active Team × 4 seats · $60.00 per month Next invoice: $60.00")
    assert page.select_one(".subscription-summary h2 a")["href"] == (
        f"/p/subscriptions/{pro.id}")
    assert renews.strip().endswith(pro.current_period_end.strftime("%Y"))


def test_the_list_says_when_there_are_none(client_request, signed_in_customer):
    page = client_request.get("subscriptions.subscription_list")
    assert "You have no subscriptions." in text_of(page.main)


def test_the_page_shows_plan_status_period_and_the_upcoming_invoice(client_request, jenny_pro):
    page = client_request.get("subscriptions.subscription_detail", subscription_id=jenny_pro.id)
    assert page.h1.text == "Pro subscription"
    assert page.title.text.startswith("Pro subscription – ")
    rows = summary(page)
    assert rows["Plan"] == "Pro · $29.00 per month"
    assert rows["Status"] == "Active"
    assert rows["Next invoice"].startswith("$29.00 on ")
    lines = [text_of(td) for td in page.select(".next-invoice tbody td")]
    assert lines[0].startswith("1 × Pro (") and lines[1] == "$29.00"
    assert [a.text for a in page.select(".subscription-actions a")] == [
        "Cancel subscription"]  # plan changes are off by default
    assert "Changing plans is not available here." in text_of(page.select_one(".subscription-actions"))


def test_a_trial_shows_when_it_ends_and_bills_from_then(client_request, signed_in_customer,
                                                       subscribe, catalog, now):
    trial = subscribe(signed_in_customer, catalog["pro_month"], status="trialing",
                      trial_start=now - timedelta(days=3), trial_end=now + timedelta(days=11))
    page = client_request.get("subscriptions.subscription_detail", subscription_id=trial.id)
    rows = summary(page)
    assert rows["Status"] == "Trialing" and rows["Trial ends"]
    assert rows["Next invoice"] == f"$29.00 on {rows['Trial ends']}"


def test_a_pending_cancellation_says_when_it_ends_and_offers_to_renew(client_request, jenny_pro,
                                                                     session):
    jenny_pro.cancel_at_period_end = True
    session.commit()
    page = client_request.get("subscriptions.subscription_detail", subscription_id=jenny_pro.id)
    notice = text_of(page.select_one(".subscription-notice"))
    assert notice.startswith("Your subscription ends on ") and "Renew subscription" in notice
    assert summary(page)["Next invoice"].startswith("None: this subscription ends on")
    assert page.select_one(".next-invoice") is None


def test_a_discount_a_pause_and_a_scheduled_change_are_shown(client_request, jenny_pro, session,
                                                             coupon, catalog):
    jenny_pro.discount_coupon = coupon
    jenny_pro.discount_end = add_months(jenny_pro.current_period_end, 2)
    jenny_pro.pending_update = {"price": catalog["starter_month"].id, "quantity": 1}
    session.commit()
    page = client_request.get("subscriptions.subscription_detail", subscription_id=jenny_pro.id)
    rows = summary(page)
    assert rows["Discount"].startswith("50% off for 3 months: 50% off for 3 months, until ")
    # The scheduled Starter plan, discounted: what the next invoice will really be.
    assert rows["Next invoice"].startswith("$4.50 on ")
    assert text_of(page.select(".subscription-notice")[-1]).startswith(
        "Changes to Starter ($9.00 per month) on ")
    jenny_pro.pause_collection_resumes_at = add_months(jenny_pro.current_period_end, 2)
    session.commit()
    page = client_request.get("subscriptions.subscription_detail", subscription_id=jenny_pro.id)
    assert "Payments are paused until" in text_of(panel(page))
    assert summary(page)["Next invoice"].startswith("None until ")


def test_an_ended_subscription_says_so_and_offers_nothing(client_request, jenny_pro, session,
                                                          now):
    jenny_pro.status, jenny_pro.ended_at = "canceled", now - timedelta(days=1)
    session.commit()
    page = client_request.get("subscriptions.subscription_detail", subscription_id=jenny_pro.id)
    assert "This subscription ended on" in text_of(panel(page))
    assert page.select_one(".subscription-actions") is None
    assert summary(page)["Next invoice"] == "None: this subscription has ended"


def test_the_overview_links_to_each_subscription_and_to_the_list(client_request, jenny_pro):
    page = client_request.get("customers.overview")
    section = page.select_one("section[aria-labelledby=subscriptions-heading]")
    links = {a.text: a["href"] for a in section.select("a")}
    assert links["Pro"] == f"/p/subscriptions/{jenny_pro.id}"
    assert links["Manage your subscription"] == "/p/subscriptions"


SUBSCRIPTION_ROUTES = [
    ("GET", "/p/subscriptions/{id}"), ("GET", "/p/subscriptions/{id}/cancel"),
    ("GET", "/p/subscriptions/{id}/cancel/confirm"), ("POST", "/p/subscriptions/{id}/cancel"),
    ("POST", "/p/subscriptions/{id}/retention-offer"), ("POST", "/p/subscriptions/{id}/renew"),
    ("GET", "/p/subscriptions/{id}/change"), ("GET", "/p/subscriptions/{id}/change/preview"),
    ("POST", "/p/subscriptions/{id}/change"),
    ("POST", "/p/subscriptions/{id}/scheduled-change/cancel"),
]


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
@pytest.mark.parametrize(("method", "route"), SUBSCRIPTION_ROUTES,
                         ids=[f"{m} {r}" for m, r in SUBSCRIPTION_ROUTES])
def test_another_customers_subscription_is_404_like_a_made_up_one(client, jenny_pro, make_customer,
                                                                  subscribe, catalog, session,
                                                                  method, route, htmx):
    stranger = make_customer(email="mallory@example.com", name="Mallory")
    theirs = subscribe(stranger, catalog["pro_month"], cancel_at_period_end=True)
    for subscription_id in (theirs.id, "sub_doesnotexist"):
        response = client.open(route.format(id=subscription_id), method=method,
                               headers={"HX-Request": "true"} if htmx else {},
                               data={"version": "1", "offer": "coupon"})
        assert response.status_code == 404
    session.expire_all()
    assert theirs.cancel_at_period_end and theirs.version == 1


def test_signed_out_visitors_are_sent_to_sign_in(client, jenny_pro):
    with client.session_transaction() as cookie:
        cookie.clear()
    response = client.get(f"/p/subscriptions/{jenny_pro.id}")
    assert response.status_code == 303 and "/p/signed-out" in response.headers["Location"]


# ---- queries --------------------------------------------------------------------------------

@pytest.fixture
def count_queries(app):
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)

    def run(send):
        send()
        statements.clear()
        send()
        return list(statements)

    yield run
    event.remove(db.engine, "before_cursor_execute", record)


@pytest.fixture
def busy_customer(signed_in_customer, session, subscribe, catalog, allow_updates, coupon, now):
    """Three subscriptions with a coupon, a scheduled change, pending prorations and a tax
    address: everything the pages read."""
    from portal.catalog.models import TaxRate
    from portal.invoices.models import InvoiceItem

    allow_updates()
    signed_in_customer.address_country = "US"
    session.add(TaxRate(display_name="Sales tax", percentage=8, inclusive=False, country="US",
                        active=True, created=now, metadata_={}))
    subs = [subscribe(signed_in_customer, catalog[key], quantity=q)
            for key, q in (("pro_month", 1), ("team_month", 4), ("starter_month", 1))]
    subs[0].discount_coupon, subs[0].pending_update = coupon, {
        "price": catalog["starter_month"].id, "quantity": 1}
    for sub in subs:
        session.add(InvoiceItem(customer_id=signed_in_customer.id, subscription_id=sub.id,
                                description="Remaining time", amount=100, currency="usd",
                                proration=True, created=now))
    session.commit()
    return subs


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "in place"])
def test_the_list_and_a_subscription_take_at_most_six_queries(client_request, busy_customer,
                                                              count_queries, htmx):
    statements = count_queries(lambda: client_request.get_response(
        "subscriptions.subscription_list", _htmx=htmx))
    assert len(statements) <= 6, "\n".join(statements)
    for sub in busy_customer:
        statements = count_queries(lambda sub=sub: client_request.get_response(
            "subscriptions.subscription_detail", subscription_id=sub.id, _htmx=htmx))
        assert len(statements) <= 6, "\n".join(statements)


def test_the_account_navigation_leads_to_subscriptions_and_marks_where_you_are(
        client_request, signed_in_customer, subscribe, catalog):
    pro = subscribe(signed_in_customer, catalog["pro_month"])
    overview = client_request.get("customers.overview")
    link = overview.select_one('nav.site-nav a[href="/p/subscriptions"]')
    assert link is not None and link.text == "Subscriptions"
    for page in (client_request.get("subscriptions.subscription_list"),
                 client_request.get("subscriptions.subscription_detail", subscription_id=pro.id)):
        current = page.select_one("nav.site-nav a[aria-current=page]")
        assert current is not None and current.text == "Subscriptions"
