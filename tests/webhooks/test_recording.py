"""A webhook event is recorded in the transaction of the change that caused it: with the
object as it is at commit, and one delivery per endpoint that wants the type."""

from __future__ import annotations

import stripe
from sqlalchemy import select

from portal.customers import operations as customers
from portal.events import raise_event
from portal.webhooks.models import Event
from portal.webhooks.recording import set_api_request
from tests.webhooks.conftest import deliveries


def events(session) -> list[Event]:
    session.expire_all()
    return list(session.scalars(select(Event).order_by(Event.created, Event.id)))


def test_a_change_that_rolls_back_leaves_no_event_and_no_delivery(
        session, customer, now, make_endpoint):
    make_endpoint()
    customers.update_customer_details(session, customer, {"name": "Jenny Q. Rosen"}, now=now,
                                      actor="merchant")
    session.flush()
    session.rollback()
    assert events(session) == []
    assert deliveries(session) == []


def test_a_committed_change_always_has_its_event_and_deliveries(
        session, customer, now, make_endpoint):
    first, _ = make_endpoint(path="/one")
    second, _ = make_endpoint(path="/two")
    customers.update_customer_details(session, customer, {"name": "Jenny Q. Rosen"}, now=now,
                                      actor="merchant")
    session.commit()
    [event] = events(session)
    assert event.type == "customer.updated" and event.object_id == customer.id
    body = event.body
    assert body["id"] == event.id and event.id.startswith("evt_")
    assert body["object"] == "event" and body["type"] == "customer.updated"
    assert body["created"] == int(now.timestamp())
    assert body["data"]["object"]["id"] == customer.id
    assert body["data"]["object"]["object"] == "customer"
    assert body["data"]["previous_attributes"] == {"name": "Jenny Rosen"}
    assert body["pending_webhooks"] == 2
    assert body["request"] == {"id": None, "idempotency_key": None}
    assert body["livemode"] is True and body["api_version"] == stripe.api_version
    rows = deliveries(session)
    assert sorted(row.payload["endpoint_id"] for row in rows) == sorted([first.id, second.id])
    assert {row.payload["event_id"] for row in rows} == {event.id}
    assert {row.dedupe_key for row in rows} == {f"webhook:{first.id}:{event.id}",
                                                f"webhook:{second.id}:{event.id}"}


def test_the_event_shows_the_object_as_it_was_when_the_transaction_committed(
        session, customer, now):
    customers.update_customer_details(session, customer, {"name": "First"}, now=now,
                                      actor="merchant")
    session.flush()  # operations flush; the view commits later
    customer.name = "Second"
    session.commit()
    [event] = events(session)
    assert event.body["data"]["object"]["name"] == "Second"


def test_the_audit_event_and_the_stripe_event_share_their_id(session, customer, now):
    audit = raise_event(session, "customer.updated", now=now, actor="merchant",
                        customer_id=customer.id, object_id=customer.id)
    session.commit()
    [event] = events(session)
    assert event.id == audit.id


def test_an_event_raised_in_a_savepoint_that_rolled_back_is_not_recorded(
        session, customer, now, make_endpoint):
    make_endpoint()
    try:
        with session.begin_nested():
            raise_event(session, "customer.updated", now=now, actor="merchant",
                        customer_id=customer.id, object_id=customer.id)
            session.flush()
            raise RuntimeError("refused")
    except RuntimeError:
        pass
    kept = raise_event(session, "customer.created", now=now, actor="merchant",
                       customer_id=customer.id, object_id=customer.id)
    session.commit()
    assert [event.id for event in events(session)] == [kept.id]
    assert len(deliveries(session)) == 1


def test_a_savepoint_released_inside_the_transaction_records_nothing_until_the_commit(
        session, customer, now):
    raise_event(session, "customer.updated", now=now, actor="merchant",
                customer_id=customer.id, object_id=customer.id)
    with session.begin_nested():
        session.flush()
    assert session.scalars(select(Event)).all() == []  # not yet: the change is not over
    session.commit()
    assert len(events(session)) == 1


def test_other_event_types_are_not_recorded_as_webhook_events(session, customer, now,
                                                              make_endpoint):
    make_endpoint()
    raise_event(session, "login.signed_in", now=now, actor="merchant", customer_id=customer.id)
    raise_event(session, "customer.tax_id.created", now=now, actor="merchant",
                customer_id=customer.id, object_id="txi_123")
    session.commit()
    assert events(session) == []
    assert deliveries(session) == []


def test_endpoints_get_only_the_event_types_they_asked_for(session, customer, now,
                                                           make_endpoint):
    wants_updates, _ = make_endpoint(["customer.updated"], path="/updates")
    wants_all, _ = make_endpoint(["*"], path="/all")
    make_endpoint(["invoice.paid"], path="/invoices")
    make_endpoint(["customer.updated"], path="/off", disabled=True)
    raise_event(session, "customer.updated", now=now, actor="merchant",
                customer_id=customer.id, object_id=customer.id)
    raise_event(session, "customer.created", now=now, actor="merchant",
                customer_id=customer.id, object_id=customer.id)
    session.commit()
    by_type = {event.type: event.id for event in events(session)}
    sent = sorted((row.payload["endpoint_id"], row.payload["event_id"])
                  for row in deliveries(session))
    assert sent == sorted([(wants_updates.id, by_type["customer.updated"]),
                           (wants_all.id, by_type["customer.updated"]),
                           (wants_all.id, by_type["customer.created"])])


def test_an_api_request_is_named_in_its_events(session, customer, now):
    set_api_request(session, request_id="req_123", idempotency_key="key-1")
    raise_event(session, "customer.updated", now=now, actor="api",
                customer_id=customer.id, object_id=customer.id)
    session.commit()
    [event] = events(session)
    assert event.body["request"] == {"id": "req_123", "idempotency_key": "key-1"}


def test_previous_attributes_keep_only_the_objects_own_fields(session, customer, now):
    raise_event(session, "customer.updated", now=now, actor="merchant",
                customer_id=customer.id, object_id=customer.id,
                data={"previous_attributes": {"name": "Old", "address_city": "Paris"}})
    session.commit()
    [event] = events(session)
    assert event.body["data"]["previous_attributes"] == {"name": "Old"}


def test_a_deleted_object_is_shown_as_stripe_shows_one(session, now):
    raise_event(session, "customer.deleted", now=now, actor="merchant", object_id="cus_gone")
    session.commit()
    [event] = events(session)
    assert event.body["data"]["object"] == {"id": "cus_gone", "object": "customer",
                                            "deleted": True, "livemode": True}


def test_a_commit_with_no_webhook_event_adds_no_query(session, customer, now, app):
    from sqlalchemy import event as sa_event

    statements = []
    engine = session.get_bind()

    def count(*args):
        statements.append(args[2])

    sa_event.listen(engine, "before_cursor_execute", count)
    try:
        raise_event(session, "login.signed_in", now=now, actor="merchant")
        session.commit()
    finally:
        sa_event.remove(engine, "before_cursor_execute", count)
    assert not any("webhook" in statement for statement in statements)
