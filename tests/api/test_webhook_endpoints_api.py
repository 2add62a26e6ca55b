"""/v1/webhook_endpoints and /v1/events through the official stripe package."""

from __future__ import annotations

import pytest
import stripe

from portal.events import AuditEvent
from portal.webhooks.models import WebhookEndpoint


@pytest.fixture
def app_config() -> dict:
    return {"WEBHOOK_ALLOW_HTTP": True}


def test_an_endpoint_shows_its_secret_only_when_made(stripe_client, session):
    made = stripe_client.v1.webhook_endpoints.create(params={
        "url": "https://hooks.acme.example/stripe", "enabled_events": ["invoice.paid"],
        "description": "Accounting", "metadata": {"team": "finance"}})
    again = stripe_client.v1.webhook_endpoints.retrieve(made.id)

    assert made.object == "webhook_endpoint" and made.secret.startswith("whsec_")
    assert made.status == "enabled" and made.enabled_events == ["invoice.paid"]
    assert "secret" not in again.to_dict()
    assert again.description == "Accounting"
    stored = session.get(WebhookEndpoint, made.id)
    assert made.secret not in stored.secret_sealed
    event = session.query(AuditEvent).filter_by(type="webhook_endpoint.created").one()
    assert event.actor.startswith("api:key_") and made.secret not in str(event.data)


def test_an_endpoint_is_updated_disabled_listed_and_deleted(stripe_client):
    made = stripe_client.v1.webhook_endpoints.create(params={
        "url": "https://hooks.acme.example/a", "enabled_events": ["*"],
        "metadata": {"a": "1", "b": "2"}})

    updated = stripe_client.v1.webhook_endpoints.update(made.id, params={
        "enabled_events": ["customer.updated", "invoice.paid"], "disabled": True,
        "metadata": {"a": ""}, "description": ""})
    listed = stripe_client.v1.webhook_endpoints.list()
    deleted = stripe_client.v1.webhook_endpoints.delete(made.id)

    assert updated.status == "disabled"
    assert updated.enabled_events == ["customer.updated", "invoice.paid"]
    assert updated.metadata.to_dict() == {"b": "2"} and updated.description is None
    assert [e.id for e in listed.data] == [made.id]
    assert deleted.deleted is True
    with pytest.raises(stripe.InvalidRequestError) as gone:
        stripe_client.v1.webhook_endpoints.retrieve(made.id)
    assert gone.value.http_status == 404


@pytest.mark.parametrize(("params", "param"), [
    ({"url": "not a url", "enabled_events": ["*"]}, "url"),
    ({"url": "https://hooks.acme.example", "enabled_events": ["charge.succeeded"]},
     "enabled_events[0]"),
    ({"url": "https://hooks.acme.example"}, "enabled_events"),
    ({"url": "https://hooks.acme.example", "enabled_events": ["*"], "connect": True},
     "connect"),
])
def test_a_bad_endpoint_is_refused_naming_the_parameter(stripe_client, session, params, param):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.webhook_endpoints.create(params=params)

    assert refused.value.param == param
    assert session.query(WebhookEndpoint).count() == 0


def test_events_are_listed_by_type_and_retrieved_as_delivered(stripe_client, session):
    stripe_client.v1.webhook_endpoints.create(params={
        "url": "https://hooks.acme.example/a", "enabled_events": ["*"]})
    configuration = stripe_client.v1.billing_portal.configurations.create(
        params={"features": {"invoice_history": {"enabled": True}}})
    stripe_client.v1.billing_portal.configurations.update(
        configuration.id, params={"features": {"invoice_history": {"enabled": False}}})

    everything = stripe_client.v1.events.list()
    updates = stripe_client.v1.events.list(params={"type": "billing_portal.configuration.updated"})
    prefixed = stripe_client.v1.events.list(params={"type": "billing_portal.*"})
    one = stripe_client.v1.events.retrieve(updates.data[0].id)

    assert [e.type for e in everything.data] == ["billing_portal.configuration.updated",
                                                 "billing_portal.configuration.created"]
    assert [e.type for e in prefixed.data] == [e.type for e in everything.data]
    assert len(updates.data) == 1
    assert one.data.object.id == configuration.id
    assert one.data.object.features.invoice_history.enabled is False
    assert one.request.id.startswith("req_")
