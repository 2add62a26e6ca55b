"""Log lines name the request they belong to, from the click to the email the worker sends."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from portal.ops.logs import PortalJsonFormatter, RequestIdFilter, TextFormatter
from portal.outbox.models import OutboxMessage
from tests.outbox.conftest import start_worker, wait_for, worker_env  # noqa: F401  (fixtures)
from tests.outbox.test_redis_worker import REDIS_URL, queue_name, redis_client  # noqa: F401

NEW_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def app_config(smtp_config):
    # The test's own worker process delivers, not threads in the test's app.
    return {**smtp_config, "WORKER_MODE": "external"}


@pytest.fixture
def login_link(session, now):
    from portal.portal_settings.operations import activate_login_link

    link = activate_login_link(session, now=now)
    session.commit()
    return link


@pytest.fixture
def json_lines():
    """The portal's log records as the JSON handler writes them, one dict per line."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(PortalJsonFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("portal")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)

    def read() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    yield read
    logger.removeHandler(handler)
    logger.setLevel(previous)


# ---- the request id ---------------------------------------------------------------------------

@pytest.mark.parametrize("given", ["req-7f3a9c", "3f2b1c9e-8d4a-4e1f-9c3b-2a1d0e9f8b7c",
                                   "trace.1:abc_DEF"])
def test_a_safe_request_id_from_the_proxy_is_kept_and_echoed(client, given):
    response = client.get("/healthz", headers={"X-Request-Id": given})
    assert response.headers["X-Request-Id"] == given


@pytest.mark.parametrize("given", ["two words", "x" * 101, "<script>", "id\"quoted",
                                   "-starts-with-a-dash", ""])
def test_an_unsafe_request_id_is_replaced_by_a_new_one(client, given):
    response = client.get("/healthz", headers={"X-Request-Id": given})
    assert NEW_ID.fullmatch(response.headers["X-Request-Id"])


def test_every_answer_carries_a_request_id_of_its_own(client):
    first, second = client.get("/p/signed-out"), client.get("/p/no-such-page")
    assert second.status_code == 404
    assert NEW_ID.fullmatch(first.headers["X-Request-Id"])
    assert first.headers["X-Request-Id"] != second.headers["X-Request-Id"]


def test_a_log_line_written_during_a_request_is_json_with_its_request_id(client, json_lines):
    response = client.get("/readyz", headers={"X-Request-Id": "req-readyz-1"})
    assert response.status_code == 503  # the suite's database has no Alembic revision
    [line] = [line for line in json_lines() if line["logger"] == "portal.health"]
    assert list(line)[:5] == ["time", "level", "logger", "message", "request_id"]
    assert line["level"] == "WARNING" and line["request_id"] == "req-readyz-1"
    assert line["message"].startswith("readyz: not ready: migrations")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00", line["time"])


def test_a_line_outside_any_request_says_so():
    record = logging.LogRecord("portal.worker", logging.INFO, __file__, 1, "tick", None, None)
    RequestIdFilter().filter(record)
    assert json.loads(PortalJsonFormatter().format(record))["request_id"] is None
    assert "[-]: tick" in TextFormatter().format(record)


# ---- carried into the worker's jobs --------------------------------------------------------------

def test_the_worker_logs_the_email_it_sends_under_the_request_id_that_queued_it(
        deployed_on_postgresql, client, session, login_link, make_customer, smtp_server,
        smtp_config, start_worker):  # noqa: F811  (the fixture imported above)
    """The worker as a process: in the PostgreSQL run only (tests/production/conftest.py)."""
    make_customer(email="jenny.rosen@example.com")
    response = client.post(f"/p/login/{login_link.id}", data={"email": "jenny.rosen@example.com"},
                           headers={"X-Request-Id": "req-signin-42"})
    assert response.status_code == 303
    assert response.headers["X-Request-Id"] == "req-signin-42"
    [row] = session.query(OutboxMessage).all()
    assert row.payload["request_id"] == "req-signin-42"

    worker = start_worker(LOG_FORMAT="json", **smtp_config)
    wait_for(lambda: smtp_server.messages, what="the passcode email")

    def sent_line():
        for text in worker.lines:
            if text.startswith("{") and "outbox: sent the login_code email" in text:
                return json.loads(text)
        return None

    line = wait_for(sent_line, what="the worker's line for the email")
    worker.stop()
    assert line["request_id"] == "req-signin-42"
    assert line["level"] == "INFO" and line["logger"] == "portal.outbox"
    assert row.id in line["message"]
    [text] = [part.get_payload(decode=True).decode() for part in smtp_server.messages[0].walk()
              if part.get_content_type() == "text/plain"]
    code = re.search(r"^\s*(\d{6})\s*$", text, re.MULTILINE).group(1)
    assert code not in worker.output, "the passcode never reaches a log line"


def test_a_webhook_delivery_is_logged_under_the_request_that_raised_its_event(
        app, session, now, json_lines):
    """A webhook outbox row written in a request carries the id; its delivery logs under it."""
    from portal.outbox.delivery import deliver_due
    from portal.webhooks.operations import create_endpoint

    create_endpoint(session, url="http://127.0.0.1:9/hooks", enabled_events=["*"], now=now,
                    actor="merchant")
    session.commit()
    with app.test_request_context("/v1/customers", method="POST"):
        from portal.customers.models import Customer
        from portal.events import raise_event
        from portal.ops.logs import bound_request_id

        with bound_request_id("req-webhook-7"):
            customer = Customer(name="Jenny", created=now, preferred_locales=[], metadata_={})
            customer.set_email("jenny.rosen@example.com")
            session.add(customer)
            session.flush()
            raise_event(session, "customer.created", now=now, actor="merchant",
                        customer_id=customer.id, object_id=customer.id)
            session.commit()
    [row] = session.query(OutboxMessage).filter_by(kind="webhook").all()
    assert row.payload["request_id"] == "req-webhook-7"
    assert deliver_due(now=now, kinds=("webhook",)) == 1
    [line] = [line for line in json_lines() if line["logger"] == "portal.webhooks"
              and "customer.created" in line["message"] and "failed" in line["message"]]
    assert line["request_id"] == "req-webhook-7"


def test_a_delivery_job_a_request_puts_on_the_rq_queue_carries_its_request_id(
        database_uri, tmp_path, monkeypatch, session, login_link, make_customer,
        redis_client, queue_name):  # noqa: F811  (the fixtures imported above)
    from rq import Queue

    from portal import create_app
    from tests.conftest import base_config

    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "redis-instance"))
    app = create_app(base_config(database_uri, WORKER_MODE="redis", WORKER_REDIS_URL=REDIS_URL,
                                 WORKER_QUEUE=queue_name, OUTBOX_POLL_SECONDS=86400))
    make_customer(email="jenny.rosen@example.com")
    response = app.test_client().post(f"/p/login/{login_link.id}",
                                      data={"email": "jenny.rosen@example.com"},
                                      headers={"X-Request-Id": "req-rq-9"})
    assert response.status_code == 303
    [job] = Queue(queue_name, connection=redis_client).get_jobs()
    assert job.func_name == "portal.outbox.jobs.deliver_outbox"
    assert job.meta == {"request_id": "req-rq-9"}
