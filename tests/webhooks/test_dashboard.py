"""Developers > Webhooks in the dashboard: endpoints added, edited, deleted; the secret shown
once and on request; recent deliveries with every attempt; and Resend."""

from __future__ import annotations

from datetime import timedelta

import pytest
import stripe
from sqlalchemy import select

from portal.events import AuditEvent, raise_event
from portal.outbox.delivery import deliver_due
from portal.webhooks.models import WebhookEndpoint
from portal.webhooks.signing import unseal_secret
from tests.webhooks.conftest import deliveries

BASE = "/admin/developers/webhooks"


@pytest.fixture
def app_config() -> dict:
    return {"WORKER_MODE": "external"}


@pytest.fixture
def staff_client(client, signed_in_staff):
    return client


def endpoints(session) -> list[WebhookEndpoint]:
    session.expire_all()
    return list(session.scalars(select(WebhookEndpoint)))


def test_staff_add_an_endpoint_and_see_its_secret_once(session, staff_client, receiver):
    page = staff_client.get(f"{BASE}/new")
    assert page.status_code == 200 and "Add a webhook endpoint" in page.get_data(as_text=True)
    response = staff_client.post(f"{BASE}/new", data={
        "url": receiver.url + "/hooks", "description": "Our CRM",
        "enabled_events": ["customer.subscription.updated", "invoice.paid"], "enabled": "y"})
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store, private"
    [endpoint] = endpoints(session)
    secret = unseal_secret(endpoint.secret_sealed)
    html = response.get_data(as_text=True)
    assert secret in html and endpoint.url in html
    assert endpoint.enabled_events == ["customer.subscription.updated", "invoice.paid"]
    assert endpoint.status == "enabled" and endpoint.description == "Our CRM"
    # Not on the endpoint's page afterwards, nor in the audit log.
    assert secret not in staff_client.get(f"{BASE}/{endpoint.id}").get_data(as_text=True)
    [created] = session.scalars(select(AuditEvent).where(
        AuditEvent.type == "webhook_endpoint.created")).all()
    assert created.actor.startswith("staff:") and secret not in str(created.data)


def test_revealing_the_secret_is_a_post_that_the_audit_log_records(
        session, staff_client, make_endpoint):
    endpoint, secret = make_endpoint()
    response = staff_client.post(f"{BASE}/{endpoint.id}/reveal")
    assert response.status_code == 200 and secret in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store, private"
    assert session.scalars(select(AuditEvent).where(
        AuditEvent.type == "webhook_endpoint.secret_revealed")).first() is not None


@pytest.mark.parametrize(("data", "message"), [
    ({"url": "", "all_events": "y"}, "Enter the endpoint&#39;s URL"),
    ({"url": "ftp://example.com/x", "all_events": "y"}, "Enter a URL that starts with"),
    ({"url": "https://user:pw@example.com/x", "all_events": "y"}, "without a user name"),
    ({"url": "https://example.com/x"}, "Choose the events to send"),
    ({"url": "https://example.com/x", "enabled_events": ["charge.refunded"]},
     "Invalid event type: charge.refunded"),
])
def test_a_mistake_is_shown_by_its_field_and_nothing_is_saved(session, staff_client, data,
                                                              message):
    response = staff_client.post(f"{BASE}/new", data=data)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert endpoints(session) == []


def test_production_refuses_an_http_url(app, session, staff_client):
    app.config["WEBHOOK_ALLOW_HTTP"] = False
    response = staff_client.post(f"{BASE}/new", data={"url": "http://example.com/x",
                                                      "all_events": "y"})
    assert response.status_code == 422
    assert "Enter a URL that starts with https://" in response.get_data(as_text=True)


def test_staff_edit_and_disable_an_endpoint(session, staff_client, make_endpoint):
    endpoint, _ = make_endpoint(["invoice.paid"])
    form = staff_client.get(f"{BASE}/{endpoint.id}/edit").get_data(as_text=True)
    assert 'value="invoice.paid" checked' in form
    response = staff_client.post(f"{BASE}/{endpoint.id}/edit", data={
        "url": "https://example.com/new", "all_events": "y"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"{BASE}/{endpoint.id}")
    [saved] = endpoints(session)
    assert (saved.url, saved.enabled_events, saved.status) == (
        "https://example.com/new", ["*"], "disabled")


def test_staff_delete_an_endpoint(session, staff_client, make_endpoint):
    endpoint, _ = make_endpoint()
    assert "Delete endpoint" in staff_client.get(f"{BASE}/{endpoint.id}/delete").get_data(
        as_text=True)
    response = staff_client.post(f"{BASE}/{endpoint.id}/delete")
    assert response.status_code == 303 and response.headers["Location"].endswith(f"{BASE}/")
    assert endpoints(session) == []
    assert staff_client.get(f"{BASE}/{endpoint.id}").status_code == 404


def test_the_list_shows_every_endpoint(staff_client, make_endpoint):
    first, _ = make_endpoint(path="/one")
    second, _ = make_endpoint(["invoice.paid"], path="/two")
    html = staff_client.get(f"{BASE}/").get_data(as_text=True)
    assert first.url in html and second.url in html and "All events" in html


def test_the_endpoint_page_shows_deliveries_and_their_attempts_and_resends(
        session, staff_client, make_endpoint, receiver, customer, now):
    endpoint, secret = make_endpoint()
    audit = raise_event(session, "customer.updated", now=now, actor="merchant",
                        customer_id=customer.id, object_id=customer.id)
    session.commit()
    receiver.replies = [500]
    deliver_due(now=now)
    receiver.body = b"upstream exploded"
    html = staff_client.get(f"{BASE}/{endpoint.id}").get_data(as_text=True)
    assert "customer.updated" in html and audit.id in html
    assert "Retrying" in html and "HTTP 500" in html and "1 attempt" in html
    assert "upstream exploded" not in html  # that answer came later
    assert '{&#34;received&#34;: true}' in html  # the first answer's excerpt
    [row] = deliveries(session)
    response = staff_client.post(f"{BASE}/{endpoint.id}/deliveries/{row.id}/resend")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"{BASE}/{endpoint.id}")
    assert len(deliveries(session)) == 2
    deliver_due()  # the resend is due now (the clock the view used); the retry in a minute
    assert len(receiver.requests) == 2
    last = receiver.requests[-1]
    assert stripe.Webhook.construct_event(last.body, last.headers["Stripe-Signature"],
                                          secret).id == audit.id
    page = staff_client.get(f"{BASE}/{endpoint.id}")
    html = page.get_data(as_text=True)
    assert "Delivered" in html and "(resent)" in html
    deliver_due(now=now + timedelta(minutes=1))
    assert [r.sent_at is not None for r in deliveries(session)] == [True, True]
    assert "Retrying" not in staff_client.get(f"{BASE}/{endpoint.id}").get_data(as_text=True)


def test_another_endpoints_delivery_cannot_be_resent_through_this_one(
        session, staff_client, make_endpoint, customer, now):
    mine, _ = make_endpoint(path="/mine")
    theirs, _ = make_endpoint(path="/theirs")
    raise_event(session, "customer.updated", now=now, actor="merchant",
                customer_id=customer.id, object_id=customer.id)
    session.commit()
    row = next(r for r in deliveries(session) if r.payload["endpoint_id"] == theirs.id)
    response = staff_client.post(f"{BASE}/{mine.id}/deliveries/{row.id}/resend")
    assert response.status_code == 404
    assert len(deliveries(session)) == 2


def test_webhooks_are_under_developers_next_to_the_api_keys(staff_client):
    html = staff_client.get(f"{BASE}/").get_data(as_text=True)
    assert 'href="/admin/developers/api-keys" aria-current="page">Developers' in html
    keys = staff_client.get("/admin/developers/api-keys").get_data(as_text=True)
    assert f'href="{BASE}/"' in keys
