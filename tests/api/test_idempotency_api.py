"""Idempotency-Key on every POST: one run per key, the first answer replayed for 24 hours,
another request's parameters refused."""

from __future__ import annotations

import threading
from datetime import timedelta

import httpx
import pytest
import stripe

from portal.dbtypes import utcnow
from portal.events import AuditEvent
from portal.integration.idempotency import purge
from portal.integration.models import IdempotentRequest
from portal.portal_settings.models import PortalConfiguration

CREATE = {"features[invoice_history][enabled]": "true", "business_profile[headline]": "Acme"}


def _configurations(session) -> int:
    session.expire_all()
    return session.query(PortalConfiguration).count()


def test_the_same_key_and_parameters_replay_the_first_answer(api, session):
    first = api.post("/v1/billing_portal/configurations", CREATE,
                     headers={"Idempotency-Key": "create-1"})
    again = api.post("/v1/billing_portal/configurations", CREATE,
                     headers={"Idempotency-Key": "create-1"})

    assert first.status_code == again.status_code == 200
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Original-Request"] == first.headers["Request-Id"]
    assert "Idempotent-Replayed" not in first.headers
    assert _configurations(session) == 1
    created = session.query(AuditEvent).filter_by(
        type="billing_portal.configuration.created").count()
    assert created == 1


def test_parameters_in_another_order_are_the_same_request(api, session):
    api.post("/v1/billing_portal/configurations", CREATE, headers={"Idempotency-Key": "k"})
    reordered = dict(reversed(list(CREATE.items())))

    again = api.post("/v1/billing_portal/configurations", reordered,
                     headers={"Idempotency-Key": "k"})

    assert again.headers["Idempotent-Replayed"] == "true"
    assert _configurations(session) == 1


def test_the_same_key_with_other_parameters_is_an_idempotency_error(api, session):
    api.post("/v1/billing_portal/configurations", CREATE, headers={"Idempotency-Key": "k"})

    other = api.post("/v1/billing_portal/configurations",
                     {**CREATE, "business_profile[headline]": "Other"},
                     headers={"Idempotency-Key": "k"})

    assert other.status_code == 400
    error = other.get_json()["error"]
    assert error["type"] == "idempotency_error"
    assert "'k'" in error["message"]
    assert _configurations(session) == 1


def test_the_same_key_on_another_endpoint_is_an_idempotency_error(api, session):
    first = api.post("/v1/billing_portal/configurations", CREATE,
                     headers={"Idempotency-Key": "k"})
    config_id = first.get_json()["id"]

    other = api.post(f"/v1/billing_portal/configurations/{config_id}", {},
                     headers={"Idempotency-Key": "k"})

    assert other.status_code == 400
    assert other.get_json()["error"]["type"] == "idempotency_error"


def test_stripe_python_raises_idempotency_error_for_a_reused_key(stripe_client):
    stripe_client.v1.billing_portal.configurations.create(
        params={"features": {"invoice_history": {"enabled": True}}},
        options={"idempotency_key": "reused"})

    with pytest.raises(stripe.IdempotencyError):
        stripe_client.v1.billing_portal.configurations.create(
            params={"features": {"invoice_history": {"enabled": False}}},
            options={"idempotency_key": "reused"})


def test_a_request_refused_for_its_parameters_leaves_the_key_free(api, session):
    refused = api.post("/v1/billing_portal/configurations", {**CREATE, "colour": "red"},
                       headers={"Idempotency-Key": "k"})
    fixed = api.post("/v1/billing_portal/configurations", CREATE,
                     headers={"Idempotency-Key": "k"})

    assert refused.status_code == 400
    assert fixed.status_code == 200
    assert "Idempotent-Replayed" not in fixed.headers
    assert _configurations(session) == 1


def test_a_refusal_by_the_operation_is_the_keys_answer_as_on_stripe(api, session):
    rule_broken = {**CREATE, "features[subscription_cancel][proration_behavior]":
                   "create_prorations"}  # prorations need immediate cancellation
    first = api.post("/v1/billing_portal/configurations", rule_broken,
                     headers={"Idempotency-Key": "k"})
    again = api.post("/v1/billing_portal/configurations", rule_broken,
                     headers={"Idempotency-Key": "k"})

    assert first.status_code == again.status_code == 400
    assert first.get_json()["error"]["param"] == (
        "features[subscription_cancel][proration_behavior]")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _configurations(session) == 0


def test_a_failure_inside_the_endpoint_frees_the_key_for_a_retry(api, session, monkeypatch):
    from portal.api.resources import portal_configurations

    real = portal_configurations.serialize
    monkeypatch.setattr(portal_configurations, "serialize",
                        lambda *a, **k: (_ for _ in ()).throw(RuntimeError("down")))
    failed = api.post("/v1/billing_portal/configurations", CREATE,
                      headers={"Idempotency-Key": "k"})
    monkeypatch.setattr(portal_configurations, "serialize", real)
    retried = api.post("/v1/billing_portal/configurations", CREATE,
                       headers={"Idempotency-Key": "k"})

    assert failed.status_code == 500
    assert retried.status_code == 200
    assert "Idempotent-Replayed" not in retried.headers
    assert _configurations(session) == 1


def test_an_answer_is_kept_for_24_hours_then_the_key_runs_again(api, session):
    api.post("/v1/billing_portal/configurations", CREATE, headers={"Idempotency-Key": "k"})
    record = session.query(IdempotentRequest).one()
    record.created = utcnow() - timedelta(hours=23, minutes=59)
    session.commit()

    within = api.post("/v1/billing_portal/configurations", CREATE,
                      headers={"Idempotency-Key": "k"})
    record = session.query(IdempotentRequest).one()
    record.created = utcnow() - timedelta(hours=24, seconds=1)
    session.commit()
    after = api.post("/v1/billing_portal/configurations", CREATE,
                     headers={"Idempotency-Key": "k"})

    assert within.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in after.headers
    assert _configurations(session) == 2


def test_housekeeping_forgets_answers_older_than_24_hours(api, session):
    api.post("/v1/billing_portal/configurations", CREATE, headers={"Idempotency-Key": "old"})
    api.post("/v1/billing_portal/configurations", CREATE, headers={"Idempotency-Key": "new"})
    old = session.query(IdempotentRequest).filter_by(key="old").one()
    old.created = utcnow() - timedelta(days=2)
    session.commit()

    assert purge(session, now=utcnow()) == 1
    session.commit()

    assert [r.key for r in session.query(IdempotentRequest)] == ["new"]


def test_a_key_held_by_a_request_that_died_is_taken_over_once_its_lock_runs_out(
        app, api, session):
    from portal.integration.idempotency import fingerprint

    pairs = sorted(CREATE.items())
    session.add(IdempotentRequest(
        key="orphan", fingerprint=fingerprint("POST", "/v1/billing_portal/configurations",
                                              pairs),
        method="POST", path="/v1/billing_portal/configurations",
        created=utcnow() - timedelta(minutes=5), locked_until=utcnow() - timedelta(minutes=4),
        request_id="req_dead"))
    session.commit()

    response = api.post("/v1/billing_portal/configurations", CREATE,
                        headers={"Idempotency-Key": "orphan"})

    assert response.status_code == 200
    assert "Idempotent-Replayed" not in response.headers
    assert _configurations(session) == 1


def test_a_running_request_with_the_same_parameters_is_waited_for_then_409(app, api, session):
    from portal.integration.idempotency import fingerprint

    app.config["API_IDEMPOTENCY_WAIT_SECONDS"] = 0.2
    session.add(IdempotentRequest(
        key="busy", fingerprint=fingerprint("POST", "/v1/billing_portal/configurations",
                                            sorted(CREATE.items())),
        method="POST", path="/v1/billing_portal/configurations", created=utcnow(),
        locked_until=utcnow() + timedelta(minutes=1), request_id="req_other"))
    session.commit()

    response = api.post("/v1/billing_portal/configurations", CREATE,
                        headers={"Idempotency-Key": "busy"})

    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "idempotency_key_in_use"
    assert _configurations(session) == 0


def test_parallel_requests_with_one_key_run_once_and_all_get_its_answer(api_server, api_key,
                                                                         session):
    count = 6
    start = threading.Barrier(count)
    answers: list = [None] * count

    def send(index: int) -> None:
        with httpx.Client(base_url=api_server.url, timeout=30) as client:
            start.wait(10)
            response = client.post("/v1/billing_portal/configurations", data=CREATE,
                                   headers={"Authorization": f"Bearer {api_key}",
                                            "Idempotency-Key": "together"})
            answers[index] = (response.status_code, response.json().get("id"))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert [status for status, _ in answers] == [200] * count
    assert len({config_id for _, config_id in answers}) == 1
    assert _configurations(session) == 1


def test_a_key_longer_than_255_characters_is_refused(api, session):
    response = api.post("/v1/billing_portal/configurations", CREATE,
                        headers={"Idempotency-Key": "k" * 256})

    assert response.status_code == 400
    assert response.get_json()["error"]["type"] == "idempotency_error"
    assert _configurations(session) == 0
