"""The dashboard home: each currency's numbers over 12 months as charts drawn on the server,
the same numbers in tables beside them, what each means, and the latest events.
The dashboard's clock says 15 March 2026, noon UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.reporting.helpers import NOW, add_event, add_payment

JAN_1 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def dashboard_clock(monkeypatch):
    """The dashboard reads the clock at NOW; the staff sign-in keeps the real one."""
    from portal.admin.dashboard import views

    monkeypatch.setattr(views, "utcnow", lambda: NOW)


@pytest.fixture
def business(session, make_customer, make_price, make_subscription):
    """$29 a month and $120 a year in USD, €25 a month in EUR, payments in both."""
    jenny = make_customer()
    make_subscription(jenny, make_price(unit_amount=2900), created=JAN_1)
    make_subscription(jenny, make_price(name="Annual", unit_amount=12000, interval="year"),
                      created=JAN_1)
    hans = make_customer(email="hans@example.de", name="Hans")
    make_subscription(hans, make_price(name="Pro EU", unit_amount=2500, currency="eur"),
                      created=JAN_1)
    add_payment(session, jenny, 2900, created=datetime(2026, 3, 2, tzinfo=UTC))
    add_payment(session, jenny, 12000, created=datetime(2026, 2, 2, tzinfo=UTC))
    add_payment(session, jenny, 2900, status="failed", created=datetime(2026, 2, 1, tzinfo=UTC))
    add_payment(session, hans, 2500, currency="eur", created=datetime(2026, 3, 3, tzinfo=UTC))
    return jenny, hans


def _table_rows(page, table_id):
    table = page.select_one(f"#{table_id}")
    assert table is not None, table_id
    return [[cell.get_text(" ", strip=True) for cell in row.select("th, td")]
            for row in table.select("tbody tr")]


def test_the_mrr_chart_is_an_image_named_and_described_with_its_numbers_in_a_table(
        client_request, signed_in_staff, business):
    page = client_request.get("admin_dashboard.home")
    chart = page.select_one("#usd-mrr-chart")
    assert chart.name == "svg" and chart["role"] == "img"
    title_id, desc_id = chart["aria-labelledby"].split()
    assert page.select_one(f"#{title_id}").name == "title"
    assert page.select_one(f"#{title_id}").get_text() == "MRR (USD), last 12 months"
    description = page.select_one(f"#{desc_id}").get_text()
    assert "Latest: $39.00" in description
    assert chart["viewbox"].startswith("0 0 ")  # sized by its viewBox, scaled by CSS
    assert len(chart.select("rect.chart__bar")) == 3  # January to March; the rest are zero
    rows = _table_rows(page, "usd-mrr-table")
    assert page.select_one("#usd-mrr-table caption").get_text() == "MRR (USD), by month"
    assert rows[0] == ["April 2025", "$0.00"]
    assert rows[-1] == ["March 2026", "$39.00"]
    assert rows[-3] == ["January 2026", "$39.00"]


def test_the_charts_have_labelled_axes_and_take_the_brand_colour_from_css(
        client_request, signed_in_staff, business):
    page = client_request.get("admin_dashboard.home")
    chart = page.select_one("#usd-mrr-chart")
    texts = [t.get_text() for t in chart.select("text")]
    assert texts[0] == "USD" and texts[-1] == "Month"
    # Every other month is labelled, ending with this one, and the year where it changes.
    assert {"May", "Jul", "Sep", "Nov", "Jan", "Mar", "2025", "2026"} <= set(texts)
    assert "Apr" not in texts and "Feb" not in texts
    assert "$0" in texts  # the value axis starts at zero
    assert not chart.select("[fill], [style]")  # colours come from the stylesheet only
    assert not page.select("script:not([src])")
    css = client_request.client.get("/static/admin.css").get_data(as_text=True)
    assert ".chart__bar{fill:var(--brand)}" in css


def test_every_number_a_merchant_reads_is_in_a_table(client_request, signed_in_staff,
                                                    business):
    page = client_request.get("admin_dashboard.home")
    assert _table_rows(page, "usd-active-table")[-1] == ["March 2026", "2"]
    assert _table_rows(page, "usd-new-table")[-3] == ["January 2026", "2"]
    assert _table_rows(page, "usd-churned-table")[-1] == ["March 2026", "0"]
    assert _table_rows(page, "usd-failed-table")[-2] == ["February 2026", "1", "$29.00"]
    assert _table_rows(page, "usd-revenue-table")[-2:] == [["February 2026", "$120.00"],
                                                           ["March 2026", "$29.00"]]
    headline = page.select_one("#usd .headline-figures").get_text(" ", strip=True)
    assert "MRR now $39.00" in headline and "Active subscriptions 2" in headline


def test_each_currency_has_its_own_section_and_amounts_are_never_added(
        client_request, signed_in_staff, business):
    page = client_request.get("admin_dashboard.home")
    assert [h.get_text() for h in page.select(".currency-section > h2")] == [
        "Euro (EUR)", "US Dollar (USD)"]
    assert _table_rows(page, "eur-mrr-table")[-1] == ["March 2026", "€25.00"]
    assert _table_rows(page, "usd-mrr-table")[-1] == ["March 2026", "$39.00"]
    assert "$64" not in page.get_text() and "64.00" not in page.get_text()


def test_a_new_business_sees_an_empty_dashboard_that_says_so(client_request, signed_in_staff):
    page = client_request.get("admin_dashboard.home")
    assert "No subscriptions or payments in the last 12 months yet" in page.get_text()
    assert not page.select("svg")


def test_the_page_says_what_each_number_means(client_request, signed_in_staff, business):
    definitions = client_request.get("admin_dashboard.home").select_one("#definitions")
    assert definitions.name == "details"
    terms = [dt.get_text() for dt in definitions.select("dt")]
    assert terms == ["Months", "MRR", "Active subscriptions", "New subscriptions",
                     "Churned subscriptions", "Failed payments", "Revenue collected"]


def test_the_home_page_shows_the_last_ten_events_and_links_to_the_log(
        client_request, signed_in_staff, session, business):
    jenny, _ = business
    for n in range(12):
        add_event(session, "customer.updated", created=NOW - timedelta(minutes=n),
                  actor=f"customer:{jenny.id}", customer_id=jenny.id, data={"n": n})
    page = client_request.get("admin_dashboard.home")
    rows = page.select(".audit-table tbody tr")
    assert len(rows) == 10
    assert "Customer details changed" in rows[0].get_text()
    assert rows[0].select_one("[data-label=Who]").get_text(strip=True) == jenny.email
    link = page.find("a", string="See the full audit log")
    assert link["href"] == client_request.url("admin_dashboard.audit_log")


def test_the_tables_stack_on_a_phone(client_request, signed_in_staff, business):
    page = client_request.get("admin_dashboard.home")
    for table in page.select(".chart-table"):
        assert "stack-table" in table["class"]
        assert all(cell.get("data-label") for cell in table.select("tbody td"))


def test_the_home_page_is_for_staff_only(client):
    response = client.get("/admin/")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/admin/sign-in")
