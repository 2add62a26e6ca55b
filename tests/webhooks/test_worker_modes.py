"""Every worker mode delivers webhooks: the in-process threads woken by the commit,
``flask --app portal worker`` (external), and the RQ job the redis mode runs."""

from __future__ import annotations

import json

import pytest

from portal.customers import operations as customers
from tests.outbox.conftest import start_worker, wait_for, worker_env  # noqa: F401
from tests.webhooks.conftest import deliveries


@pytest.fixture
def app_config(request) -> dict:
    return getattr(request, "param", {"WORKER_MODE": "external"})


def change(session, customer, now, name="Jenny Q. Rosen"):
    customers.update_customer_details(session, customer, {"name": name}, now=now,
                                      actor="merchant")
    session.commit()


@pytest.mark.parametrize("app_config", [{"WORKER_MODE": "inline-thread",
                                         "OUTBOX_POLL_SECONDS": 3600}], indirect=True)
def test_the_commit_wakes_the_in_process_webhook_thread(
        session, customer, now, receiver, make_endpoint):
    make_endpoint()
    change(session, customer, now)
    wait_for(lambda: receiver.requests, timeout=15, what="the webhook")
    assert json.loads(receiver.requests[0].body)["type"] == "customer.updated"
    wait_for(lambda: deliveries(session)[0].sent_at is not None, what="the row to be marked")


@pytest.mark.parametrize("app_config", [{"WORKER_MODE": "external"}], indirect=True)
def test_flask_worker_delivers_webhooks(session, customer, now, receiver, make_endpoint,
                                        start_worker):  # noqa: F811
    make_endpoint()
    worker = start_worker()
    change(session, customer, now)
    wait_for(lambda: receiver.requests, timeout=30, what="the worker to deliver")
    wait_for(lambda: deliveries(session)[0].sent_at is not None, what="the row to be marked")
    # The worker process claimed it (this test's app delivers nothing by itself).
    assert ":outbox-" not in (deliveries(session)[0].claimed_by or "")
    from sqlalchemy import select

    from portal.webhooks.models import WebhookAttempt

    assert session.scalars(select(WebhookAttempt)).one().status_code == 200
    worker.stop()
    assert "Traceback" not in worker.output


@pytest.mark.parametrize("app_config", [{"WORKER_MODE": "external"}], indirect=True)
def test_the_delivery_job_of_the_redis_mode_delivers_webhooks_too(
        session, customer, now, receiver, make_endpoint):
    from portal.outbox import jobs

    make_endpoint()
    change(session, customer, now)
    assert jobs.deliver_outbox() == 1
    assert len(receiver.requests) == 1
