"""The audit log at /admin/audit-log: every event newest first, who did it by name, filters in
a plain GET form (htmx swaps just the log), 50 to a page with the filters kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import event as sa_event

from portal.extensions import db
from tests.reporting.helpers import add_event

MAR_10 = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)


@pytest.fixture
def app_config() -> dict:
    return {"WORKER_MODE": "external"}  # no background queries among the ones counted


@pytest.fixture
def world(session, signed_in_staff, make_customer, make_staff):
    """A customer, a second staff member, and events of every kind of actor, a day apart."""
    jenny = make_customer()
    bob = make_customer(email="bob@example.com", name="Bob")
    other_staff = make_staff(email="finance@acme.example")
    events = {
        "signed_in": add_event(session, "login.signed_in", created=MAR_10,
                               actor=f"customer:{jenny.id}", customer_id=jenny.id,
                               ip_address="203.0.113.9"),
        "sub_updated": add_event(session, "customer.subscription.updated",
                                 created=MAR_10 + timedelta(days=1), actor=f"customer:{bob.id}",
                                 customer_id=bob.id, object_id="sub_123",
                                 data={"action": "cancel_at_period_end"}),
        "sub_deleted": add_event(session, "customer.subscription.deleted",
                                 created=MAR_10 + timedelta(days=2), actor="system",
                                 customer_id=jenny.id, object_id="sub_456"),
        "staff_changed": add_event(session, "customer.updated",
                                   created=MAR_10 + timedelta(days=3),
                                   actor=f"staff:{other_staff.id}", customer_id=bob.id,
                                   data={"name": "Robert"}),
        "failed_sign_in": add_event(session, "staff.sign_in_failed",
                                    created=MAR_10 + timedelta(days=4), actor="visitor",
                                    ip_address="198.51.100.7"),
    }
    return {"jenny": jenny, "bob": bob, "staff": other_staff, "events": events}


def _event_ids(page) -> list[str]:
    return [row["id"].removeprefix("event-") for row in page.select(".audit-table tbody tr")]


def _ids(world, *names) -> list[str]:
    return [world["events"][name].id for name in names]


def test_the_log_shows_every_event_newest_first_with_who_what_and_where(client_request,
                                                                       world):
    page = client_request.get("admin_dashboard.audit_log")
    assert _event_ids(page) == _ids(world, "failed_sign_in", "staff_changed", "sub_deleted",
                                    "sub_updated", "signed_in")
    rows = {row["id"].removeprefix("event-"): row for row in page.select(".audit-table tbody tr")}
    signed_in = rows[world["events"]["signed_in"].id]
    assert signed_in.select_one("[data-label=Who]").get_text(strip=True) == "jenny.rosen@example.com"
    assert "Signed in" in signed_in.select_one("[data-label=What]").get_text()
    assert signed_in.select_one("[data-label=What] code").get_text() == "login.signed_in"
    assert signed_in.select_one("[data-label='IP address']").get_text(strip=True) == "203.0.113.9"
    assert signed_in.select_one("time")["datetime"] == MAR_10.isoformat()
    link = signed_in.select_one("[data-label=Customer] a")
    assert link["href"] == client_request.url("admin_customers.customer_page",
                                              customer_id=world["jenny"].id)
    assert link.get_text() == "jenny.rosen@example.com"
    assert rows[world["events"]["sub_deleted"].id].select_one(
        "[data-label=Who]").get_text(strip=True) == "System"
    assert rows[world["events"]["failed_sign_in"].id].select_one(
        "[data-label=Who]").get_text(strip=True) == "Visitor"
    updated = rows[world["events"]["sub_updated"].id]
    assert updated.select_one("[data-label=Object]").get_text(strip=True) == "sub_123"
    assert "cancel_at_period_end" in updated.select_one("details").get_text()


def test_staff_are_shown_by_their_email(client_request, world):
    page = client_request.get("admin_dashboard.audit_log")
    row = page.select_one(f"#event-{world['events']['staff_changed'].id}")
    assert row.select_one("[data-label=Who]").get_text(strip=True) == "finance@acme.example"


@pytest.mark.parametrize("args, expected", [
    ({"event_type": "login.signed_in"}, ["signed_in"]),
    ({"event_type": "customer.subscription.*"}, ["sub_deleted", "sub_updated"]),
    ({"event_type": "customer.*"}, ["staff_changed", "sub_deleted", "sub_updated"]),
    ({"who": "staff"}, ["staff_changed"]),
    ({"who": "customers"}, ["sub_updated", "signed_in"]),
    ({"who": "system"}, ["sub_deleted"]),
    ({"who": "visitor"}, ["failed_sign_in"]),
    ({"customer": "jenny.rosen@example.com"}, ["sub_deleted", "signed_in"]),
    ({"customer": "  JENNY.ROSEN@example.com "}, ["sub_deleted", "signed_in"]),
    ({"customer": "nobody@example.com"}, []),
    ({"from_date": "2026-03-12"}, ["failed_sign_in", "staff_changed", "sub_deleted"]),
    ({"to_date": "2026-03-11"}, ["sub_updated", "signed_in"]),
    ({"from_date": "2026-03-11", "to_date": "2026-03-11"}, ["sub_updated"]),
    ({"who": "customers", "event_type": "customer.*"}, ["sub_updated"]),
])
def test_each_filter_narrows_the_log(client_request, world, args, expected):
    page = client_request.get("admin_dashboard.audit_log", **args)
    assert _event_ids(page) == _ids(world, *expected)
    if not expected:
        assert "No events match these filters." in page.get_text()


def test_a_customer_can_be_found_by_id(client_request, world):
    page = client_request.get("admin_dashboard.audit_log", customer=world["bob"].id)
    assert _event_ids(page) == _ids(world, "staff_changed", "sub_updated")


def test_the_type_filter_offers_the_types_present_and_their_groups(client_request, world):
    page = client_request.get("admin_dashboard.audit_log")
    options = [o["value"] for o in page.select("select#event_type option")]
    assert options[0] == ""
    assert "customer.subscription.*" in options and "customer.*" in options
    assert "login.signed_in" in options and "staff.sign_in_failed" in options
    assert "login.*" not in options  # one login type: no group to offer


def test_the_form_keeps_what_was_chosen(client_request, world):
    page = client_request.get("admin_dashboard.audit_log", who="staff",
                              customer="bob@example.com", from_date="2026-03-01")
    assert page.select_one("select#who option[selected]")["value"] == "staff"
    assert page.select_one("input#customer")["value"] == "bob@example.com"
    assert page.select_one("input#from_date")["value"] == "2026-03-01"
    assert page.select_one("form.audit-filters")["method"] == "get"
    assert not page.select("form.audit-filters input[name=csrf_token]")


@pytest.mark.parametrize("args, field, message", [
    ({"from_date": "2026-02-30"}, "from_date", "Enter the from date as a real date"),
    ({"to_date": "31/03/2026"}, "to_date", "Enter the to date as a real date"),
    ({"from_date": "2026-03-12", "to_date": "2026-03-01"}, "to_date",
     "The to date must be the same as or after the from date"),
    ({"to_date": "9999-12-31"}, "to_date", "Enter a to date between the years 1970 and 9998"),
    ({"from_date": "0001-01-01"}, "from_date", "between the years 1970 and 9998"),
    ({"from_date": "２０２６-03-01"}, "from_date", "Enter the from date as a real date"),
    ({"who": "robots"}, "who", "Choose who did it from the list"),
    ({"event_type": "made.up"}, "event_type", "Choose an event type from the list"),
    ({"event_type": "%"}, "event_type", "Choose an event type from the list"),
    ({"customer": "jenny"}, "customer", "Enter a customer's email address"),
    ({"customer": "x" * 400 + "@example.com"}, "customer", "320 characters or fewer"),
    ({"customer": "bad\x00value@example.com"}, "customer", "must not contain control characters"),
])
def test_bad_filters_are_named_by_their_field_never_a_500(client_request, world, args, field,
                                                         message):
    response = client_request.get_response("admin_dashboard.audit_log", _expected_status=422,
                                           **args)
    from bs4 import BeautifulSoup

    page = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    assert message in page.select_one(f"#{field}-error").get_text()
    assert page.select_one(f".error-summary a[href='#{field}']")
    assert page.title.get_text().startswith("Error: ")
    assert _event_ids(page) == []
    assert "Correct the filters above to see events." in page.get_text()


def test_an_unknown_or_malformed_page_cursor_shows_the_newest_events(client_request, world):
    for cursor in ("evt_doesnotexist", "x" * 300):
        page = client_request.get("admin_dashboard.audit_log", after=cursor)
        assert _event_ids(page)[0] == world["events"]["failed_sign_in"].id


def _many(session, count, **fields):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [add_event(session, created=start + timedelta(minutes=n), **fields).id
            for n in range(count)]


def test_pages_of_fifty_go_older_and_newer_keeping_the_filters(client_request, session,
                                                                signed_in_staff):
    wanted = _many(session, 60, type="customer.updated", actor="system")
    _many(session, 5, type="invoice.paid", actor="system")
    first = client_request.get("admin_dashboard.audit_log", event_type="customer.updated")
    assert _event_ids(first) == list(reversed(wanted))[:50]
    older = first.find("a", string="Older events")
    assert parse_qs(urlsplit(older["href"]).query)["event_type"] == ["customer.updated"]
    assert older["hx-get"] == older["href"]
    assert not first.find("a", string="Newer events")

    second = client_request.client.get(older["href"])
    from bs4 import BeautifulSoup

    second = BeautifulSoup(second.get_data(as_text=True), "html.parser")
    assert _event_ids(second) == list(reversed(wanted))[50:]
    assert second.select_one("select#event_type option[selected]")["value"] == "customer.updated"
    assert not second.find("a", string="Older events")
    newer = second.find("a", string="Newer events")
    assert parse_qs(urlsplit(newer["href"]).query)["event_type"] == ["customer.updated"]
    back = BeautifulSoup(client_request.client.get(newer["href"]).get_data(as_text=True),
                         "html.parser")
    assert _event_ids(back) == list(reversed(wanted))[:50]


def test_an_htmx_request_gets_only_the_log_and_a_plain_one_the_page(client_request, world):
    plain = client_request.get_response("admin_dashboard.audit_log", who="system")
    swapped = client_request.get_response("admin_dashboard.audit_log", who="system", _htmx=True)
    plain_html, fragment = plain.get_data(as_text=True), swapped.get_data(as_text=True)
    assert plain_html.lstrip().lower().startswith("<!doctype html>")
    assert "<h1>Audit log</h1>" in plain_html
    assert fragment.lstrip().startswith('<div id="audit-log">')
    assert "<html" not in fragment and "<h1>" not in fragment
    from bs4 import BeautifulSoup

    root = BeautifulSoup(fragment, "html.parser").select_one("#audit-log")
    assert root.select_one("title").get_text().startswith("Audit log")  # htmx moves it up
    assert root.select_one("form")["hx-target"] == "#audit-log"
    assert _event_ids(root) == _ids(world, "sub_deleted")
    assert "HX-Request" in swapped.headers["Vary"]


def test_bad_filters_over_htmx_come_back_in_the_swapped_part_with_422(client_request, world):
    response = client_request.get_response("admin_dashboard.audit_log", _htmx=True,
                                           _expected_status=422, from_date="soon")
    fragment = response.get_data(as_text=True)
    assert "<title>Error: Audit log" in fragment
    assert "Enter the from date as a real date" in fragment
    assert 'id="audit-log"' in fragment and "<html" not in fragment


def test_event_data_is_escaped_and_secrets_never_shown(client_request, session, world):
    add_event(session, "customer.updated", created=MAR_10 + timedelta(days=5), actor="system",
              data={"name": "<script>alert(1)</script>", "access_token": "tok_live_secret",
                    "client_secret": "shh", "failure_code": "card_declined"})
    response = client_request.get_response("admin_dashboard.audit_log")
    html = response.get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "tok_live_secret" not in html and "shh" not in html
    assert "card_declined" in html


def test_a_removed_staff_member_or_customer_is_still_named_by_id(client_request, session,
                                                                 signed_in_staff):
    add_event(session, "customer.updated", actor="staff:stf_gone", created=MAR_10)
    add_event(session, "customer.updated", actor="customer:cus_gone", created=MAR_10)
    page = client_request.get("admin_dashboard.audit_log")
    who = [cell.get_text(strip=True) for cell in page.select("[data-label=Who]")]
    assert "Staff member stf_gone (removed)" in who and "Customer cus_gone" in who


@pytest.fixture
def count_queries(app):
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    sa_event.listen(db.engine, "before_cursor_execute", record)
    yield statements
    sa_event.remove(db.engine, "before_cursor_execute", record)


def test_names_are_looked_up_once_a_page_not_once_a_row(client_request, session, make_customer,
                                                        make_staff, signed_in_staff,
                                                        count_queries):
    def page_queries():
        client_request.get("admin_dashboard.audit_log")  # the first also touches the sign-in
        count_queries.clear()
        client_request.get("admin_dashboard.audit_log")
        return len(count_queries)

    def people(count, tag):
        for n in range(count):
            customer = make_customer(email=f"{tag}{n}@example.com")
            staff = make_staff(email=f"{tag}{n}@acme.example")
            add_event(session, "customer.updated", actor=f"customer:{customer.id}",
                      customer_id=customer.id, created=MAR_10)
            add_event(session, "customer.updated", actor=f"staff:{staff.id}",
                      customer_id=customer.id, created=MAR_10)

    people(1, "a")
    few = page_queries()
    people(15, "b")
    assert page_queries() == few


def test_the_audit_log_is_for_staff_only(client):
    response = client.get("/admin/audit-log")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/admin/sign-in")
