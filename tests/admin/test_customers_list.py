"""The dashboard's customer list: newest first, a page at a time, searched by part of an email
address or name; the same address answers a plain request with the page and an htmx request
with the results alone."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import event

from portal.extensions import db
from tests.conftest import HTMX_HEADERS


@pytest.fixture
def app_config() -> dict:
    return {"WORKER_MODE": "external"}


def names_listed(page) -> list[str]:
    return [th.get_text(strip=True) for th in page.select("#customer-results tbody th")]


def text_of(element) -> str:
    return " ".join(element.get_text(" ").split()) if element is not None else ""


@pytest.fixture
def customers(make_customer, now):
    """Three customers, made a day apart: Ada first, Zoë last."""
    return [
        make_customer(email="ada.lovelace@example.com", name="Ada Lovelace",
                      created=now - timedelta(days=2)),
        make_customer(email="grace+billing@navy.example", name="Grace Hopper",
                      created=now - timedelta(days=1)),
        make_customer(email="zoe@example.org", name="Zoë Brown", created=now),
    ]


def test_customers_are_listed_newest_first_with_their_email_and_created_date(
        client_request, signed_in_staff, customers):
    page = client_request.get("admin_customers.customer_list")

    assert names_listed(page) == ["Zoë Brown", "Grace Hopper", "Ada Lovelace"]
    first = page.select_one("#customer-results tbody tr")
    assert "zoe@example.org" in text_of(first)
    assert text_of(page.select_one("#customer-results-heading")) == "3 customers"
    link = first.select_one("a")["href"]
    assert link == client_request.url("admin_customers.customer_page",
                                      customer_id=customers[2].id)


def test_each_row_sums_up_the_customers_subscriptions(client_request, signed_in_staff,
                                                      customers, make_subscription,
                                                      make_price):
    price = make_price()
    ada, grace, _ = customers
    make_subscription(ada, price, status="active")
    make_subscription(ada, price, status="past_due")
    make_subscription(ada, price, status="canceled")
    make_subscription(grace, price, status="trialing")

    page = client_request.get("admin_customers.customer_list")

    summaries = {row.select_one("th").get_text(strip=True):
                 row.select_one("[data-label=Subscriptions]").get_text(strip=True)
                 for row in page.select("#customer-results tbody tr")}
    assert summaries == {"Ada Lovelace": "1 past due, 1 active, 1 canceled",
                         "Grace Hopper": "1 trialing", "Zoë Brown": "No subscriptions"}


@pytest.mark.parametrize(("query", "expected"), [
    ("ada.lovelace@example.com", ["Ada Lovelace"]),  # a whole email address
    ("grace+billing", ["Grace Hopper"]),  # part of one, with a +
    ("Hopper", ["Grace Hopper"]),  # a name
    ("HOPPER", ["Grace Hopper"]),  # capitals do not matter in names
    ("ADA.LOVELACE@EXAMPLE", ["Ada Lovelace"]),  # nor in addresses
    ("love", ["Ada Lovelace"]),  # part of a name
    ("@example", ["Zoë Brown", "Ada Lovelace"]),  # several, still newest first
    ("zoë", ["Zoë Brown"]),  # letters beyond ASCII
    ("  grace  ", ["Grace Hopper"]),  # spaces around are ignored
])
def test_the_search_finds_part_of_an_email_or_name_ignoring_case(client_request,
                                                                 signed_in_staff, customers,
                                                                 query, expected):
    page = client_request.get("admin_customers.customer_list", q=query)

    assert names_listed(page) == expected
    assert page.select_one("#q")["value"] == query.strip()


@pytest.mark.parametrize("query", ["nobody@example.com", "%", "_", "Ada%Lovelace"])
def test_a_search_that_matches_nobody_says_so(client_request, signed_in_staff, customers,
                                              query):
    page = client_request.get("admin_customers.customer_list", q=query)

    assert names_listed(page) == []
    assert text_of(page.select_one("#customer-results-heading")) == f"No customers match “{query}”"
    assert "Check the spelling" in text_of(page.select_one("#customer-results"))


def test_a_search_with_control_characters_is_answered_not_crashed(client_request,
                                                                  signed_in_staff, customers):
    page = client_request.get("admin_customers.customer_list", q="ada\x00love\u202e")
    assert page.select_one("#customer-results-heading") is not None


def test_with_no_customers_the_list_says_so_and_offers_to_create_one(client_request,
                                                                     signed_in_staff):
    page = client_request.get("admin_customers.customer_list")

    assert text_of(page.select_one("#customer-results-heading")) == "No customers yet"
    assert page.select_one("#customer-results a")["href"] == client_request.url(
        "admin_customers.new_customer")


def test_deleted_customers_are_not_listed(client_request, signed_in_staff, make_customer):
    make_customer(email="gone@example.com", name="Gone", deleted=True)
    make_customer(email="here@example.com", name="Here")

    assert names_listed(client_request.get("admin_customers.customer_list")) == ["Here"]


def test_an_htmx_search_answers_with_the_results_alone(client, signed_in_staff, customers):
    response = client.get("/admin/customers/?q=grace", headers=HTMX_HEADERS)

    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    html = response.get_data(as_text=True)
    assert "<html" not in html and "<nav class=\"site-nav\"" not in html
    fragment = BeautifulSoup(html, "html.parser")
    assert fragment.select_one("section#customer-results") is not None
    assert names_listed(fragment) == ["Grace Hopper"]
    # The live region says what was found, since focus stays in the search box.
    assert text_of(fragment.select_one("#announcements")) == "1 customer matches “grace”"
    assert fragment.find("a", string="Show all customers")["href"] == "/admin/customers/"


def test_a_plain_search_answers_with_the_whole_page_and_its_search_box(client, signed_in_staff,
                                                                       customers):
    response = client.get("/admin/customers/?q=grace")

    page = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    assert page.select_one("form[role=search]")["method"] == "get"
    assert page.select_one("form[role=search]")["hx-target"] == "#customer-results"
    assert page.select_one("label[for=q]").get_text(strip=True) == "Search by email or name"
    assert names_listed(page) == ["Grace Hopper"]
    assert page.title.get_text(strip=True).startswith("Customers matching “grace”")


@pytest.fixture
def many_customers(make_customer, now):
    return [make_customer(email=f"customer{n:02d}@example.com", name=f"Customer {n:02d}",
                          created=now - timedelta(minutes=n)) for n in range(30)]


def test_customers_come_a_page_at_a_time(client_request, signed_in_staff, many_customers):
    first = client_request.get("admin_customers.customer_list")
    second = client_request.get("admin_customers.customer_list", page=2)

    assert names_listed(first) == [f"Customer {n:02d}" for n in range(25)]
    assert names_listed(second) == [f"Customer {n:02d}" for n in range(25, 30)]
    assert "page 1 of 2" in text_of(first.select_one("#customer-results-heading"))
    assert first.select_one("a[rel=next]")["href"] == client_request.url(
        "admin_customers.customer_list", page=2)
    assert second.select_one("a[rel=prev]")["href"] == client_request.url(
        "admin_customers.customer_list")


def test_page_links_keep_the_search(client_request, signed_in_staff, many_customers):
    page = client_request.get("admin_customers.customer_list", q="customer")
    assert page.select_one("a[rel=next]")["href"] == client_request.url(
        "admin_customers.customer_list", q="customer", page=2)


@pytest.mark.parametrize(("page", "shown"), [("99", 2), ("0", 1), ("abc", 1), ("-1", 1),
                                             ("9" * 40, 2)])
def test_a_page_number_out_of_range_shows_the_nearest_page(client_request, signed_in_staff,
                                                           many_customers, page, shown):
    listing = client_request.get("admin_customers.customer_list", page=page)
    assert f"page {shown} of 2" in text_of(listing.select_one("#customer-results-heading"))


def test_the_list_is_one_query_and_a_count_however_many_rows_it_shows(
        app, client, signed_in_staff, make_customer, make_subscription, make_price, now):
    price = make_price()
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    def queries_for_a_page() -> list[str]:
        client.get("/admin/customers/?q=example")
        statements.clear()
        assert client.get("/admin/customers/?q=example").status_code == 200
        # The page's own statements: those reading the customer table (the staff sign-in
        # and the settings are the frame's).
        return [s for s in statements if re.search(r"\bFROM customer\b", s)]

    make_subscription(make_customer(email="one@example.com", name="One"), price)
    event.listen(db.engine, "before_cursor_execute", record)
    try:
        few = queries_for_a_page()
        for n in range(20):
            customer = make_customer(email=f"c{n}@example.com", name=f"C {n}",
                                     created=now - timedelta(minutes=n))
            make_subscription(customer, price, status="active" if n % 2 else "past_due")
        many = queries_for_a_page()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)

    assert len(few) == len(many) == 2, many
