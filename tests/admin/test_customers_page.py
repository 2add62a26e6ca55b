"""One customer's page in the dashboard: their details, subscriptions, invoices and cards (and
nobody else's), and the login link with their email address filled in, ready to copy."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from bs4 import BeautifulSoup

from portal.portal_settings.operations import activate_login_link

PUBLIC_URL = "https://billing.acme.example"


@pytest.fixture
def app_config() -> dict:
    return {"PUBLIC_URL": PUBLIC_URL, "WORKER_MODE": "external"}


@pytest.fixture
def login_link(session, now):
    link = activate_login_link(session, now=now)
    session.commit()
    return link


def text_of(element) -> str:
    return " ".join(element.get_text(" ").split()) if element is not None else ""


def section(page, heading_id):
    return page.find(id=heading_id).find_parent("section")


def customer_page(client_request, customer, **kwargs):
    return client_request.get("admin_customers.customer_page", customer_id=customer.id, **kwargs)


@pytest.fixture
def jenny(make_customer, make_subscription, make_price, make_invoice, make_payment_method, now):
    """A customer with a subscription, two invoices and two cards, the second the default."""
    customer = make_customer(email="jenny.rosen@example.com", name="Jenny Rosen",
                             phone="+1 415 555 0100")
    subscription = make_subscription(customer, make_price(name="Pro", unit_amount=2900),
                                     current_period_end=now + timedelta(days=20))
    make_invoice(customer, status="paid", subscription=subscription,
                 created=now - timedelta(days=40))
    make_invoice(customer, status="open", amount=4500, subscription=subscription,
                 created=now - timedelta(days=10), due_date=now - timedelta(days=1))
    make_payment_method(customer, number="5555555555554444", default=False,
                        created=now - timedelta(days=30))
    make_payment_method(customer, number="4242424242424242", exp_month=4)
    return customer


@pytest.fixture
def someone_else(make_customer, make_subscription, make_price, make_invoice,
                 make_payment_method):
    other = make_customer(email="max@example.com", name="Max Mustermann")
    make_subscription(other, make_price(name="Other plan", unit_amount=100))
    make_invoice(other, amount=777, status="open")
    make_payment_method(other, number="378282246310005")
    return other


def test_the_page_shows_the_customers_details(client_request, signed_in_staff, jenny):
    page = customer_page(client_request, jenny)

    assert page.h1.get_text(strip=True) == "Jenny Rosen"
    details = text_of(section(page, "details-heading"))
    for value in ("jenny.rosen@example.com", "+1 415 555 0100", jenny.id):
        assert value in details


def test_the_page_shows_the_subscription_with_its_status_price_and_next_renewal(
        client_request, signed_in_staff, jenny, now):
    rows = section(customer_page(client_request, jenny), "subscriptions-heading").select("tbody tr")

    assert len(rows) == 1
    assert "Pro" in text_of(rows[0].th)
    assert text_of(rows[0].select_one("[data-label=Status]")) == "Active"
    assert text_of(rows[0].select_one("[data-label=Price]")) == "$29.00 per month"
    renewal = text_of(rows[0].select_one("[data-label='Next renewal']"))
    assert renewal == f"{now + timedelta(days=20):%b %-d, %Y}"


def test_the_page_lists_invoices_newest_first_with_number_status_and_total(
        client_request, signed_in_staff, jenny):
    rows = section(customer_page(client_request, jenny), "invoices-heading").select("tbody tr")

    assert [(text_of(r.th), text_of(r.select_one("[data-label=Status]")),
             text_of(r.select_one("[data-label=Total]"))) for r in rows] == [
        ("TEST-0002", "Past due", "$45.00"), ("TEST-0001", "Paid", "$29.00")]
    assert not rows[0].th.select("a")  # no invoice page in the dashboard yet


def test_the_page_lists_saved_cards_with_brand_last_four_expiry_and_the_default(
        client_request, signed_in_staff, jenny, now):
    rows = section(customer_page(client_request, jenny), "cards-heading").select("tbody tr")

    cards = [(text_of(r.th), text_of(r.select_one("[data-label='Ending in']")),
              text_of(r.select_one("[data-label=Expires]")),
              text_of(r.select_one("[data-label=Default]"))) for r in rows]
    assert cards == [("Mastercard", "4444", f"12/{now.year + 3}", "Not the default"),
                     ("Visa", "4242", f"04/{now.year + 3}", "Default")]


def test_the_page_shows_nothing_of_another_customer(client_request, signed_in_staff, jenny,
                                                    someone_else):
    page = customer_page(client_request, jenny)
    page.find(id="start-heading").find_parent("section").decompose()  # offers every price
    page = text_of(page.select_one("#customer-detail"))

    for theirs in ("Other plan", "$7.77", "American Express", "0005", "max@example.com"):
        assert theirs not in page


def test_a_customer_with_nothing_yet_is_told_so_section_by_section(client_request,
                                                                  signed_in_staff,
                                                                  make_customer):
    page = customer_page(client_request, make_customer(name="New Person"))

    assert text_of(section(page, "subscriptions-heading").p) == "New Person has no subscriptions."
    assert text_of(section(page, "invoices-heading").p) == "New Person has no invoices."
    assert "New Person has no saved cards" in text_of(section(page, "cards-heading"))


@pytest.mark.parametrize("customer_id", ["cus_doesnotexist0000000000", "cus_", "not-an-id",
                                         "x" * 300])
def test_an_unknown_customer_is_not_found(client, signed_in_staff, customer_id):
    assert client.get(f"/admin/customers/{customer_id}").status_code == 404


def test_the_id_of_something_else_is_not_a_customer(client, signed_in_staff, jenny, session):
    from portal.subscriptions.models import Subscription

    subscription_id = session.query(Subscription.id).scalar()
    assert client.get(f"/admin/customers/{subscription_id}").status_code == 404


# ---- the prefilled login URL ---------------------------------------------------------------------

@pytest.mark.parametrize(("email", "encoded"), [
    ("jenny.rosen@example.com", "jenny.rosen@example.com"),
    ("jenny+billing@example.com", "jenny%2Bbilling@example.com"),
    ("tom&jerry@example.com", "tom%26jerry@example.com"),
    ("100%real@example.com", "100%25real@example.com"),
    ("a=b?c#d@example.com", "a%3Db%3Fc%23d@example.com"),
    ("o'brien@example.com", "o%27brien@example.com"),
    # Unicode local parts are addresses the portal's email form accepts, so customers can have
    # them; the URL carries them as UTF-8, percent-encoded.
    ("jörg@example.com", "j%C3%B6rg@example.com"),
    ("Jenny.Rosen@Example.com", "Jenny.Rosen@Example.com"),  # exactly as stored
])
def test_the_login_url_fills_in_the_customers_exact_address(client, client_request,
                                                            signed_in_staff, make_customer,
                                                            login_link, email, encoded):
    customer = make_customer(email=email)

    url = customer_page(client_request, customer).select_one("#login-url")["value"]

    assert url == f"{PUBLIC_URL}/p/login/{login_link.id}?prefilled_email={encoded}"
    parts = urlsplit(url)
    login = client.get(f"{parts.path}?{parts.query}")
    assert login.status_code == 200
    field = BeautifulSoup(login.get_data(as_text=True), "html.parser").select_one("#email")
    assert field["value"] == email


def test_the_login_url_is_a_read_only_labelled_field_with_a_copy_button(client_request,
                                                                       signed_in_staff, jenny,
                                                                       login_link):
    page = customer_page(client_request, jenny)

    field = page.select_one("input#login-url")
    assert field.has_attr("readonly") and field["type"] == "text"
    assert page.select_one("label[for=login-url]").get_text(strip=True)
    button = page.select_one("button[data-copy=login-url]")
    assert button["type"] == "button" and button.has_attr("hidden")
    assert button.get_text(strip=True) == "Copy"
    status = page.select_one("#login-url-copied")
    assert status["role"] == "status" and status.get_text() == ""
    # admin.js does the copying; the page links it, with no inline script.
    assert [s.get("src", "") for s in page.select("script") if not s.get("src")] == []
    scripts = [urlsplit(s["src"]).path for s in page.select("script[src]")]
    assert any(path.startswith("/static/admin.") and path.endswith(".js") for path in scripts)


def test_without_an_active_login_link_the_page_says_where_to_activate_it(client_request,
                                                                        signed_in_staff,
                                                                        jenny):
    page = customer_page(client_request, jenny)
    sign_in = section(page, "sign-in-heading")

    assert page.select_one("#login-url") is None
    assert "The login link is not active" in text_of(sign_in)
    assert sign_in.select_one("a")["href"] == client_request.url("admin_portal.configuration")


def test_a_customer_without_an_email_address_cannot_sign_in_until_they_have_one(
        client_request, signed_in_staff, make_customer, login_link):
    page = customer_page(client_request, make_customer(email=None, name="No Email Ltd"))

    assert page.select_one("#login-url") is None
    assert ("No Email Ltd cannot sign in to the portal until they have an email address"
            in text_of(section(page, "sign-in-heading")))


def test_when_customers_share_an_address_the_page_says_which_one_signs_in(
        client_request, signed_in_staff, make_customer, make_subscription, login_link, now):
    older = make_customer(email="shared@example.com", name="Older",
                          created=now - timedelta(days=5))
    make_subscription(older)
    newer = make_customer(email="Shared@Example.com", name="Newer", created=now)

    warning = text_of(section(customer_page(client_request, newer), "sign-in-heading")
                      .select_one(".notice--warning"))
    assert "1 other customer has this email address" in warning
    assert "Older" in warning and "not this one" in warning
    on_older = section(customer_page(client_request, older), "sign-in-heading")
    assert "this one." in text_of(on_older.select_one(".notice--warning"))


def test_an_htmx_request_for_the_page_answers_with_its_fragment(client, signed_in_staff, jenny):
    from tests.conftest import HTMX_HEADERS

    response = client.get(f"/admin/customers/{jenny.id}", headers=HTMX_HEADERS)

    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html
    assert BeautifulSoup(html, "html.parser").select_one("div#customer-detail") is not None


def test_the_page_is_the_same_few_queries_however_much_the_customer_has(
        app, client, signed_in_staff, make_customer, make_subscription, make_price,
        make_invoice, make_payment_method, login_link, now):
    from sqlalchemy import event

    from portal.extensions import db

    def statements_for(customer) -> int:
        statements: list[str] = []

        def record(conn, cursor, statement, parameters, context, executemany):
            statements.append(statement)

        client.get(f"/admin/customers/{customer.id}")
        event.listen(db.engine, "before_cursor_execute", record)
        try:
            assert client.get(f"/admin/customers/{customer.id}").status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        return len(statements)

    little = make_customer(email="little@example.com")
    make_subscription(little, make_price(name="Solo"))
    make_invoice(little)
    make_payment_method(little)
    lots = make_customer(email="lots@example.com")
    for n in range(5):
        make_subscription(lots, make_price(name=f"Plan {n}"), created=now - timedelta(days=n))
        make_invoice(lots, created=now - timedelta(days=n))
    for number in ("4242424242424242", "5555555555554444", "378282246310005"):
        make_payment_method(lots, number=number)

    assert statements_for(little) == statements_for(lots) <= 12
