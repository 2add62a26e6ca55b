"""Adding and removing tax IDs from many requests at once: the cap and "once each" still hold.

Each request runs in its own thread, test client and database session through the real views
(tests/concurrency.py), released together by a barrier, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select

from portal.customers import operations
from portal.customers.models import TaxId
from portal.customers.operations import MAX_TAX_IDS
from portal.events import AuditEvent
from tests.concurrency import send_together, signed_in_token
from tests.customers.conftest import ALL_SECTIONS
from tests.customers.test_tax_ids import VALID

# One of each distinct stored number: more than the cap allows.
DISTINCT = list({(kind, stored): (kind, typed) for kind, typed, stored, _ in VALID}.values())
assert len(DISTINCT) > MAX_TAX_IDS + 3


@pytest.fixture(autouse=True)
def everything_allowed(allow):
    allow(*ALL_SECTIONS)


@pytest.fixture
def token(customer, now):
    return signed_in_token(customer, now)


def _stored(session, customer) -> list[TaxId]:
    return list(session.scalars(select(TaxId).where(TaxId.customer_id == customer.id)))


def _events(session, event_type: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.type == event_type)))


def _assert_no_errors(answers):
    assert all(a.status is not None and a.status < 500 for a in answers), [
        (a.status, a.text[:300]) for a in answers if a.status is None or a.status >= 500]


def _form(kind: str, typed: str) -> dict:
    return {"tax-id-type": kind, "tax-id-value": typed}


def test_adding_more_tax_ids_at_once_than_the_cap_stores_no_more_than_the_cap(
        app, session, client_request, customer, token):
    url = client_request.url("customers.add_tax_id")
    answers = send_together(app, token, [(url, _form(*tax_id)) for tax_id in DISTINCT[:14]])

    _assert_no_errors(answers)
    assert len(_stored(session, customer)) == MAX_TAX_IDS
    assert Counter(a.status for a in answers) == {200: MAX_TAX_IDS, 422: 14 - MAX_TAX_IDS}
    refused = [a for a in answers if a.status == 422]
    assert all(f"You can add up to {MAX_TAX_IDS} tax IDs" in a.page_text for a in refused)
    assert len(_events(session, "customer.tax_id.created")) == MAX_TAX_IDS


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "no-js"])
def test_adding_one_vat_number_from_many_tabs_at_once_stores_it_once(
        app, session, client_request, customer, token, htmx):
    url = client_request.url("customers.add_tax_id")
    answers = send_together(app, token, [(url, _form("eu_vat", "DE 136,695 976"))] * 8,
                            htmx=htmx)

    _assert_no_errors(answers)
    assert [(t.type, t.value) for t in _stored(session, customer)] == [("eu_vat", "DE136695976")]
    added = 200 if htmx else 303
    assert Counter(a.status for a in answers) == {added: 1, 422: 7}
    assert all("You have already added this tax ID" in a.page_text
               for a in answers if a.status == 422)
    assert len(_events(session, "customer.tax_id.created")) == 1


def test_removing_one_tax_id_from_many_tabs_at_once_removes_it_once(
        app, session, client_request, customer, token, now):
    tax_id = operations.add_tax_id(session, customer, "gb_vat", "GB980780684", now=now,
                                   actor="test")
    session.commit()
    url = client_request.url("customers.remove_tax_id", tax_id_id=tax_id.id)
    answers = send_together(app, token, [(url, {})] * 8)

    _assert_no_errors(answers)
    assert {a.status for a in answers} <= {200, 404}
    assert all("Tax ID GB980780684 has been removed" in a.page_text
               for a in answers if a.status == 200)
    assert _stored(session, customer) == []
    assert len(_events(session, "customer.tax_id.deleted")) == 1


def test_a_duplicate_tax_id_that_slips_past_the_check_is_refused_as_a_duplicate(
        session, customer, now, monkeypatch):
    """Where something wrote without the lock, the unique index is the last guard: the second
    insert fails, the customer is told it is a duplicate, and the first one is kept."""
    first = operations.add_tax_id(session, customer, "eu_vat", "DE136695976", now=now,
                                  actor="test")
    session.commit()
    # This request counted the customer's tax IDs before the first one was visible...
    monkeypatch.setattr(operations, "_tax_ids_of", lambda *args: [])

    with pytest.raises(operations.TaxIdRefused, match="You have already added this tax ID"):
        operations.add_tax_id(session, customer, "eu_vat", "DE 136 695 976", now=now,
                              actor="test")
    # The page shown with the refusal lists the one tax ID, not the copy that was refused.
    assert [t.id for t in customer.tax_ids] == [first.id]
    session.commit()  # the transaction survived the refused insert
    assert [t.id for t in _stored(session, customer)] == [first.id]
    assert len(_events(session, "customer.tax_id.created")) == 1
