"""The operations behind billing information, called directly as the dashboard and API will."""

from __future__ import annotations

import pytest

from portal.customers import operations
from portal.customers.models import TaxId
from portal.customers.tax_ids import InvalidTaxId


def test_update_names_only_the_fields_that_really_changed(session, customer, now, events):
    changed = operations.update_customer_details(
        session, customer, {"name": "Jenny Rosen", "phone": "+1 415 555 0100",
                            "address_city": ""}, now=now, actor="merchant")
    session.commit()
    assert changed == ["phone"]
    [event] = events("customer.updated")
    assert (event.customer_id, event.object_id, event.actor, event.data) == (
        customer.id, customer.id, "merchant",
        {"changed": ["phone"], "previous_attributes": {"phone": None}})
    assert event.created == now


def test_an_update_that_changes_nothing_raises_no_event(session, customer, now, events):
    assert operations.update_customer_details(session, customer, {"name": "Jenny Rosen"},
                                              now=now, actor="merchant") == []
    assert events("customer.updated") == []


def test_empty_values_are_stored_as_none(session, customer, now):
    customer.phone = "+1 415 555 0100"
    operations.update_customer_details(session, customer, {"phone": ""}, now=now,
                                       actor="system")
    assert customer.phone is None


def test_a_new_email_is_matched_case_insensitively(session, customer, now):
    operations.update_customer_details(session, customer, {"email": "Jenny@Example.ORG"},
                                       now=now, actor="merchant")
    assert (customer.email, customer.email_normalized) == ("Jenny@Example.ORG",
                                                           "jenny@example.org")


def test_only_billing_details_can_be_changed(session, customer, now):
    with pytest.raises(ValueError, match="currency, deleted"):
        operations.update_customer_details(session, customer, {"deleted": True,
                                                               "currency": "usd"},
                                           now=now, actor="merchant")
    assert customer.deleted is False


def test_adding_a_tax_id_checks_it_whoever_adds_it(session, customer, now, events):
    with pytest.raises(InvalidTaxId):
        operations.add_tax_id(session, customer, "au_abn", "51 824 753 557", now=now,
                              actor="merchant")
    tax_id = operations.add_tax_id(session, customer, "au_abn", "51824753556", now=now,
                                   actor="merchant")
    session.commit()
    assert (tax_id.value, tax_id.country) == ("51 824 753 556", "AU")
    [event] = events("customer.tax_id.created")
    assert event.data == {"type": "au_abn", "value": "51 824 753 556", "country": "AU"}


def test_a_duplicate_tax_id_is_refused(session, customer, now):
    operations.add_tax_id(session, customer, "eu_vat", "DE136695976", now=now, actor="merchant")
    with pytest.raises(operations.TaxIdRefused):
        operations.add_tax_id(session, customer, "eu_vat", "de 136 695 976", now=now,
                              actor="merchant")


def test_removing_another_customers_tax_id_is_refused(session, customer, make_customer, now,
                                                      events):
    other = make_customer(email="other@example.com")
    theirs = operations.add_tax_id(session, other, "gb_vat", "GB980780684", now=now,
                                   actor="merchant")
    session.commit()
    with pytest.raises(LookupError):
        operations.remove_tax_id(session, customer, theirs, now=now, actor="merchant")
    session.commit()
    assert session.get(TaxId, theirs.id) is not None
    assert events("customer.tax_id.deleted") == []


def test_removing_a_tax_id_deletes_it_and_says_so(session, customer, now, events):
    tax_id = operations.add_tax_id(session, customer, "gb_vat", "GB980780684", now=now,
                                   actor="merchant")
    session.commit()
    operations.remove_tax_id(session, customer, tax_id, now=now, actor="merchant")
    session.commit()
    assert session.query(TaxId).count() == 0
    [event] = events("customer.tax_id.deleted")
    assert event.object_id == tax_id.id


@pytest.mark.parametrize(("enabled", "allowed", "via", "expected"), [
    (True, ["address", "email", "name", "phone", "shipping", "tax_id"], "portal_session",
     {"address", "email", "name", "phone", "shipping", "tax_id"}),
    (True, ["address", "email", "name", "phone", "shipping", "tax_id"], "login_link",
     {"address", "name", "phone", "shipping", "tax_id"}),
    (True, ["email"], None, set()),
    (True, ["name", "bogus"], "login_link", {"name"}),
    (False, ["address", "name"], "portal_session", set()),
])
def test_editable_sections_follow_the_configuration(configuration, enabled, allowed, via,
                                                    expected):
    configuration.customer_update_enabled = enabled
    configuration.customer_update_allowed = allowed
    assert operations.editable_sections(configuration, via) == expected
