"""The invoice history: newest first, ten to a page by keyset, statuses and amounts in words."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.invoices import operations


def rows(page):
    """(number, date, amount, status) for each row of the history table."""
    return [tuple(cell.get_text(" ", strip=True) for cell in tr.find_all(["th", "td"]))
            for tr in page.select("#invoice-history tbody tr")]


def numbers(page):
    return [row[0] for row in rows(page)]


def link(page, text):
    anchor = page.find("a", string=text)
    return anchor["href"] if anchor else None


@pytest.fixture
def make_invoices(signed_in_customer, make_invoice, session, now):
    """``count`` invoices a day apart, the newest yesterday; returned newest first."""

    def make(count, **fields):
        made = [make_invoice(signed_in_customer, status="paid",
                             created=now - timedelta(days=count - i), **fields)
                for i in range(count)]
        for i, invoice in enumerate(made):
            invoice.number = f"ACME-{i + 1:04d}"
        session.commit()
        return list(reversed(made))

    return make


def walk(client_request, direction="older", start=None):
    """Follow the pager links to the end, returning the invoice numbers of each page."""
    pages = []
    page = start or client_request.get("invoices.invoice_history")
    while True:
        pages.append(numbers(page))
        href = link(page, "Older invoices" if direction == "older" else "Newer invoices")
        if href is None:
            return pages, page
        response = client_request.client.get(href)
        assert response.status_code == 200
        from bs4 import BeautifulSoup

        page = BeautifulSoup(response.get_data(as_text=True), "html.parser")


def test_invoices_are_listed_newest_first_with_number_date_amount_and_status(
        client_request, signed_in_customer, make_invoice, now):
    make_invoice(signed_in_customer, status="paid", amount=2900, created=now - timedelta(days=60))
    newest = make_invoice(signed_in_customer, status="open", amount=1500,
                          created=now - timedelta(days=1))
    page = client_request.get("invoices.invoice_history")
    assert page.title.text.startswith("Invoices")
    assert page.select_one("nav.site-nav a[aria-current=page]").text == "Invoices"
    first, second = rows(page)
    assert first == (newest.number, (now - timedelta(days=1)).strftime("%b %-d, %Y"), "$15.00",
                     "Open")
    assert second[2:] == ("$29.00", "Paid")
    assert page.find("a", string=newest.number)["href"] == f"/p/invoices/{newest.id}"


@pytest.mark.parametrize("count, expected_pages", [
    (0, [0]), (1, [1]), (10, [10]), (11, [10, 1]), (20, [10, 10]), (21, [10, 10, 1]),
])
def test_history_pages_hold_ten_invoices_and_link_older_and_newer(
        client_request, make_invoices, count, expected_pages):
    made = make_invoices(count)
    pages, last = walk(client_request, "older")
    assert [len(p) for p in pages] == expected_pages
    assert [n for p in pages for n in p] == [i.number for i in made]
    # The first page has no newer link; the last has no older one.
    first = client_request.get("invoices.invoice_history")
    assert link(first, "Newer invoices") is None
    assert link(last, "Older invoices") is None
    # Walking back from the last page returns the same pages in reverse.
    back, top = walk(client_request, "newer", start=last)
    assert back == list(reversed(pages))
    assert link(top, "Newer invoices") is None


def test_an_empty_history_says_so(client_request, signed_in_customer):
    page = client_request.get("invoices.invoice_history")
    assert "You have no invoices yet." in page.text
    assert page.select_one("nav.pager") is None


def test_invoices_created_at_the_same_moment_are_neither_repeated_nor_skipped(
        client_request, signed_in_customer, make_invoice, now):
    made = {make_invoice(signed_in_customer, status="paid", created=now).number
            for _ in range(23)}
    pages, _last = walk(client_request, "older")
    seen = [n for p in pages for n in p]
    assert [len(p) for p in pages] == [10, 10, 3]
    assert sorted(seen) == sorted(made) and len(set(seen)) == 23


def test_the_page_size_comes_from_configuration(client_request, make_invoices, app):
    app.config["INVOICES_PER_PAGE"] = 4
    make_invoices(9)
    pages, _ = walk(client_request)
    assert [len(p) for p in pages] == [4, 4, 1]


@pytest.mark.parametrize("query", [
    {"after": "in_doesnotexist"},
    {"after": "' OR 1=1 --"},
    {"after": "x" * 5000},
    {"before": ""},
    {"before": "in_%00"},
    {"after": "in_\x00"},           # a real NUL: PostgreSQL refuses it in a query
    {"before": "in_\x1b[0m"},
    {"after": "in_abc", "before": "in_def"},
])
def test_a_malformed_or_unknown_cursor_shows_the_newest_page(client_request, make_invoices,
                                                             query):
    made = make_invoices(12)
    page = client_request.get("invoices.invoice_history", **query)
    assert numbers(page) == [i.number for i in made[:10]]


def test_another_customers_invoice_as_cursor_shows_the_newest_page_and_nothing_of_theirs(
        client_request, make_invoices, make_invoice, other_customer, now):
    made = make_invoices(12)
    theirs = make_invoice(other_customer, status="paid", created=now - timedelta(days=5))
    theirs.number = "THEIRS-0001"
    for query in ({"after": theirs.id}, {"before": theirs.id}):
        page = client_request.get("invoices.invoice_history", **query)
        assert numbers(page) == [i.number for i in made[:10]]
        assert "THEIRS" not in page.text


def test_a_cursor_past_the_oldest_invoice_shows_an_empty_page_with_a_way_back(
        client_request, make_invoices):
    made = make_invoices(3)
    page = client_request.get("invoices.invoice_history", after=made[-1].id)
    assert "There are no older invoices." in page.text
    assert link(page, "Latest invoices") == "/p/invoices"


def test_statuses_are_shown_in_words_including_past_due_and_drafts_are_never_listed(
        client_request, signed_in_customer, make_invoice, now):
    def made(status, days_ago, **fields):
        return make_invoice(signed_in_customer, status=status,
                            created=now - timedelta(days=days_ago), **fields).number

    expected = {
        made("paid", 6): "Paid",
        made("open", 5, due_date=now + timedelta(days=2)): "Open",
        made("open", 4, due_date=now - timedelta(minutes=1)): "Past due",
        made("void", 3): "Void",
        made("uncollectible", 2): "Uncollectible",
    }
    make_invoice(signed_in_customer, status="draft", created=now)
    page = client_request.get("invoices.invoice_history")
    shown = {row[0]: row[3] for row in rows(page)}
    assert shown == expected
    badges = {b.text: b["class"] for b in page.select("#invoice-history .badge")}
    assert "badge--past-due" in badges["Past due"]


@pytest.mark.parametrize("currency, amount, shown", [
    ("usd", 2900, "$29.00"), ("eur", 1234, "€12.34"), ("jpy", 1200, "¥1,200"),
    ("gbp", 500, "£5.00"), ("kwd", 1500, "KWD1.500"),
])
def test_amounts_are_formatted_for_their_currency(client_request, signed_in_customer,
                                                  make_invoice, currency, amount, shown):
    make_invoice(signed_in_customer, currency=currency, amount=amount)
    page = client_request.get("invoices.invoice_history")
    assert rows(page)[0][2].replace("\xa0", " ") == shown


def test_amounts_and_dates_follow_the_customers_locale(client_request, signed_in_customer,
                                                      make_invoice, session, now):
    signed_in_customer.preferred_locales = ["en-GB"]
    session.commit()
    created = now - timedelta(days=1)
    make_invoice(signed_in_customer, currency="eur", amount=123456, created=created)
    page = client_request.get("invoices.invoice_history")
    _number, date, amount, _status = rows(page)[0]
    assert amount == "€1,234.56"
    assert date == f"{created.day} {created:%b %Y}"


def test_htmx_gets_only_the_history_section_and_a_plain_request_the_whole_page(
        client_request, make_invoices):
    make_invoices(11)
    full = client_request.get("invoices.invoice_history")
    older = full.find("a", string="Older invoices")
    assert older["hx-get"] == older["href"] and older["hx-target"] == "#invoice-history"
    response = client_request.client.get(older["href"], headers={"HX-Request": "true"})
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<section id="invoice-history"') and "<html" not in body
    assert "Newer invoices" in body
    assert "<html" in client_request.client.get(older["href"]).get_data(as_text=True)


def test_the_page_helper_reports_which_neighbouring_pages_exist(session, make_customer,
                                                                  make_invoice, now):
    customer = make_customer()
    made = [make_invoice(customer, status="paid", created=now - timedelta(days=i))
            for i in range(3)]
    page = operations.invoice_page(session, customer.id, limit=2)
    assert [i.id for i in page.invoices] == [made[0].id, made[1].id]
    assert (page.has_newer, page.has_older, page.older_cursor) == (False, True, made[1].id)
    page = operations.invoice_page(session, customer.id, after=page.older_cursor, limit=2)
    assert [i.id for i in page.invoices] == [made[2].id]
    assert (page.has_newer, page.has_older, page.newer_cursor) == (True, False, made[2].id)


def test_a_full_history_page_stays_small(client_request, make_invoices):
    make_invoices(11)
    response = client_request.get_response("invoices.invoice_history")
    assert len(response.data) < 8_000, len(response.data)
