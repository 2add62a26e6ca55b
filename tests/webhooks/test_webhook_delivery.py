"""Delivering webhooks to a real HTTP receiver: signed as Stripe signs, retried with backoff
for three days, every attempt logged, never for an endpoint that is off or gone."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import stripe
from sqlalchemy import select

from portal.dbtypes import utcnow
from portal.events import raise_event
from portal.outbox.delivery import deliver_due
from portal.webhooks import operations as ops
from portal.webhooks.models import Event, WebhookAttempt
from tests.webhooks.conftest import deliveries


@pytest.fixture
def app_config() -> dict:
    # Only the test delivers, on its own clock; a short timeout for the slow receiver.
    return {"WORKER_MODE": "external", "WEBHOOK_TIMEOUT_SECONDS": 0.5}


@pytest.fixture
def event_for(session, customer):
    """``event_for(when)``: a committed customer.updated raised at ``when``."""
    def make(when):
        audit = raise_event(session, "customer.updated", now=when, actor="merchant",
                            customer_id=customer.id, object_id=customer.id)
        session.commit()
        return session.get(Event, audit.id)

    return make


def attempts(session) -> list[WebhookAttempt]:
    session.expire_all()
    return list(session.scalars(select(WebhookAttempt).order_by(WebhookAttempt.attempted_at,
                                                                WebhookAttempt.attempt)))


def test_a_delivery_is_signed_so_stripe_construct_event_accepts_it(
        session, receiver, make_endpoint, event_for):
    endpoint, secret = make_endpoint()
    now = utcnow()
    event = event_for(now)
    assert deliver_due(now=now) == 1
    [request] = receiver.requests
    assert request.path == "/hooks"
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert "BillingPortal" in request.headers["User-Agent"]
    header = request.headers["Stripe-Signature"]
    assert header.startswith(f"t={int(now.timestamp())},v1=")
    verified = stripe.Webhook.construct_event(request.body, header, secret)
    assert verified.id == event.id and verified.type == "customer.updated"
    assert verified.data.object.id == event.object_id
    body = json.loads(request.body)
    assert body["object"] == "event" and body["pending_webhooks"] == 1
    [row] = deliveries(session)
    assert row.sent_at == now and row.attempts == 1 and row.last_error is None


def test_a_tampered_body_or_another_secret_fails_verification(
        session, receiver, make_endpoint, event_for):
    _, secret = make_endpoint()
    now = utcnow()
    event_for(now)
    deliver_due(now=now)
    [request] = receiver.requests
    header = request.headers["Stripe-Signature"]
    tampered = request.body.replace(b'"customer.updated"', b'"customer.deleted"')
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(tampered, header, secret)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(request.body, header, "whsec_" + "x" * 32)


def test_a_failed_delivery_is_retried_with_exponential_backoff_and_each_attempt_logged(
        session, receiver, make_endpoint, event_for, now):
    endpoint, _ = make_endpoint()
    event = event_for(now)
    receiver.replies = [500, 503, 404]
    assert deliver_due(now=now) == 1
    [row] = deliveries(session)
    assert row.sent_at is None and row.attempts == 1 and row.last_error == "HTTP 500"
    assert row.available_at == now + timedelta(minutes=1)
    assert deliver_due(now=now + timedelta(seconds=59)) == 0  # not due yet
    deliver_due(now=now + timedelta(minutes=1))
    [row] = deliveries(session)
    assert row.available_at == now + timedelta(minutes=3)  # then two minutes
    deliver_due(now=now + timedelta(minutes=3))
    [row] = deliveries(session)
    assert row.available_at == now + timedelta(minutes=7)  # then four
    deliver_due(now=now + timedelta(minutes=7))
    [row] = deliveries(session)
    assert row.sent_at == now + timedelta(minutes=7) and row.attempts == 4
    logged = attempts(session)
    assert [(a.attempt, a.status_code, a.error) for a in logged] == [
        (1, 500, None), (2, 503, None), (3, 404, None), (4, 200, None)]
    assert all(a.endpoint_id == endpoint.id and a.event_id == event.id
               and a.delivery_id == row.id for a in logged)
    assert logged[-1].response_excerpt == '{"received": true}'
    assert all(a.duration_ms >= 0 for a in logged)
    assert len(receiver.requests) == 4


def test_the_backoff_is_capped(app, now):
    from portal.webhooks.delivery import WebhookPolicy

    policy = WebhookPolicy.from_config(app.config)
    assert policy.backoff(1) == timedelta(minutes=1)
    assert policy.backoff(30) == timedelta(hours=4)


def test_delivery_is_given_up_three_days_after_the_event(
        session, receiver, make_endpoint, event_for, now):
    make_endpoint()
    event_for(now)
    receiver.status = 500
    moment, outcomes = now, []
    while True:
        assert deliver_due(now=moment) == 1
        [row] = deliveries(session)
        if row.failed_at is not None:
            break
        outcomes.append(row.available_at - moment)
        moment = row.available_at
    assert moment == now + timedelta(days=3)  # the last try is at the end of the window
    assert row.failed_at == now + timedelta(days=3) and row.last_error == "HTTP 500"
    assert max(outcomes) == timedelta(hours=4)
    assert row.attempts == len(attempts(session)) == len(receiver.requests)
    assert deliver_due(now=now + timedelta(days=4)) == 0


def test_a_timeout_and_a_refused_connection_are_retried_with_the_error_class(
        session, receiver, make_endpoint, event_for, now):
    make_endpoint()
    ops.create_endpoint(session, url="http://127.0.0.1:9/closed", enabled_events=["*"],
                        now=now, actor="merchant")
    session.commit()
    event_for(now)
    receiver.delay = 1.5  # longer than the 0.5 s timeout
    assert deliver_due(now=now) == 2
    errors = sorted(a.error for a in attempts(session))
    assert errors == ["ConnectError", "ReadTimeout"]
    assert all(row.available_at == now + timedelta(minutes=1) for row in deliveries(session))


def test_a_redirect_is_not_followed(session, receiver, make_endpoint, event_for, now):
    make_endpoint()
    event_for(now)
    receiver.replies = [302]
    deliver_due(now=now)
    assert [r.path for r in receiver.requests] == ["/hooks"]
    [row] = deliveries(session)
    assert row.last_error == "HTTP 302" and row.sent_at is None


def test_a_disabled_endpoints_pending_deliveries_stop(
        session, receiver, make_endpoint, event_for, now):
    endpoint, _ = make_endpoint()
    event_for(now)
    receiver.replies = [500]
    deliver_due(now=now)
    ops.update_endpoint(session, endpoint, disabled=True, now=now, actor="merchant")
    session.commit()
    [row] = deliveries(session)
    assert row.failed_at == now and row.last_error == "Endpoint disabled"
    assert deliver_due(now=now + timedelta(hours=1)) == 0
    assert len(receiver.requests) == 1


def test_a_deleted_endpoints_pending_deliveries_stop(
        session, receiver, make_endpoint, event_for, now):
    endpoint, _ = make_endpoint()
    event_for(now)
    ops.delete_endpoint(session, endpoint, now=now, actor="merchant")
    session.commit()
    assert deliver_due(now=now) == 0
    [row] = deliveries(session)
    assert row.last_error == "Endpoint deleted"
    assert receiver.requests == []


def test_an_endpoint_disabled_while_its_delivery_was_queued_is_not_called(
        session, receiver, make_endpoint, event_for, now):
    endpoint, _ = make_endpoint()
    event_for(now)
    endpoint.status = "disabled"  # behind the operation's back: the deliverer checks too
    session.commit()
    assert deliver_due(now=now) == 1
    assert receiver.requests == []
    [row] = deliveries(session)
    assert row.failed_at is not None and row.last_error == "Endpoint disabled"


def test_an_http_url_is_not_called_when_http_is_not_allowed(
        app, session, receiver, make_endpoint, event_for, now):
    make_endpoint()
    event_for(now)
    app.config["WEBHOOK_ALLOW_HTTP"] = False
    deliver_due(now=now)
    assert receiver.requests == []
    [row] = deliveries(session)
    assert row.failed_at == now and row.last_error == "InsecureURL"


def test_resend_queues_a_fresh_delivery_of_the_event_now(
        session, receiver, make_endpoint, event_for, now):
    endpoint, secret = make_endpoint()
    event = event_for(now)
    deliver_due(now=now)
    later = utcnow() + timedelta(days=10)
    ops.resend(session, endpoint, event, later, "merchant")
    session.commit()
    assert deliver_due(now=later) == 1
    first, second = receiver.requests
    assert json.loads(first.body)["id"] == json.loads(second.body)["id"] == event.id
    stripe.Webhook.construct_event(second.body, second.headers["Stripe-Signature"], secret,
                                   tolerance=None)
    assert len(attempts(session)) == 2
    assert [row.sent_at is not None for row in deliveries(session)] == [True, True]


def test_the_secret_is_stored_sealed_and_never_logged(
        session, receiver, make_endpoint, event_for, now, caplog):
    caplog.set_level("DEBUG")
    endpoint, secret = make_endpoint()
    event_for(now)
    receiver.replies = [500]
    deliver_due(now=now)
    deliver_due(now=now + timedelta(minutes=1))
    assert secret.startswith("whsec_") and secret not in endpoint.secret_sealed
    assert secret not in caplog.text
    from portal.events import AuditEvent

    for audit in session.scalars(select(AuditEvent)):
        assert secret not in json.dumps(audit.data)
