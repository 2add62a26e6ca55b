"""Reading the audit log without Flask (as the API will): filters, groups of types, pages, and
what of an event's data may be shown."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.reporting import audit
from tests.reporting.helpers import NOW, add_event


def test_groups_are_offered_only_where_they_gather_two_types_or_more():
    types = ["customer.subscription.deleted", "customer.subscription.updated",
             "customer.updated", "login.signed_in", "login_link.activated"]
    assert audit.type_prefixes(types) == ["customer.*", "customer.subscription.*"]


def test_a_group_matches_by_its_dotted_prefix_only(session):
    add_event(session, "login_link.activated", created=NOW)
    add_event(session, "loginXlink.activated", created=NOW + timedelta(seconds=1))
    add_event(session, "login_linked", created=NOW + timedelta(seconds=2))
    page = audit.audit_page(session, audit.AuditFilters(event_type="login_link.*"))
    assert [e.type for e in page.events] == ["login_link.activated"]


def test_events_at_the_same_moment_keep_one_order_across_pages(session):
    made = {add_event(session, "customer.updated", created=NOW).id for _ in range(7)}
    first = audit.audit_page(session, limit=3)
    second = audit.audit_page(session, after=first.older_cursor, limit=3)
    third = audit.audit_page(session, after=second.older_cursor, limit=3)
    seen = [e.id for page in (first, second, third) for e in page.events]
    assert len(seen) == 7 and set(seen) == made
    assert not third.has_older and third.has_newer
    back = audit.audit_page(session, before=second.newer_cursor, limit=3)
    assert [e.id for e in back.events] == [e.id for e in first.events]


def test_an_unknown_who_is_refused(session):
    with pytest.raises(ValueError):
        audit.audit_page(session, audit.AuditFilters(who="robots"))


@pytest.mark.parametrize("key, shown", [
    ("code", False), ("passcode", False), ("password", False), ("new_password", False),
    ("access_token", False), ("client_secret", False), ("card_number", False),
    ("number", False), ("cvc", False), ("api_key", False),
    ("failure_code", True), ("invoice_number", True), ("action", True), ("status", True),
])
def test_keys_that_could_hold_a_secret_are_never_shown(key, shown):
    assert (audit.shown_data({key: "x"}) == [(key, "x")]) is shown


def test_long_values_are_cut_short():
    [(_, value)] = audit.shown_data({"comment": "y" * 500})
    assert len(value) == 120 and value.endswith("…")
