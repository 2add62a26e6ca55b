"""Without Redis the development server runs the worker's schedule itself: the billing run
and housekeeping happen with nothing else started; tests and production leave it off."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal import create_app
from portal.invoices.models import Invoice
from portal.outbox.wakeup import inline_worker
from tests.conftest import base_config


@pytest.fixture
def app_config() -> dict:
    return {"WORKER_MODE": "inline-thread", "WORKER_SCHEDULE_IN_PROCESS": True}


def test_the_in_process_schedule_bills_a_due_subscription_with_nothing_else_started(
        app, session, now, make_customer, make_payment_method, make_subscription):
    customer = make_customer()
    make_payment_method(customer)
    subscription = make_subscription(customer, current_period_start=now - timedelta(days=31),
                                     current_period_end=now - timedelta(minutes=5))
    worker = inline_worker(app)
    worker.start()
    try:
        deadline = time.monotonic() + 20
        invoices = []
        while time.monotonic() < deadline and not invoices:
            time.sleep(0.2)
            session.expire_all()
            invoices = session.scalars(select(Invoice).where(
                Invoice.subscription_id == subscription.id)).all()
    finally:
        worker.stop()
    [invoice] = invoices
    assert invoice.billing_reason == "subscription_cycle"


@pytest.mark.parametrize(("settings", "expected"), [
    ({"ENV": "development", "TESTING": False}, True),
    ({"ENV": "development", "TESTING": True}, False),
    ({"ENV": "development", "TESTING": False, "WORKER_MODE": "external"}, False),
    ({"ENV": "development", "TESTING": False, "WORKER_SCHEDULE_IN_PROCESS": False}, False),
])
def test_the_schedule_runs_in_process_only_on_a_development_server_by_default(
        settings, expected, database_uri, tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path))
    app = create_app(base_config(database_uri, **settings))
    assert app.config["WORKER_SCHEDULE_IN_PROCESS"] is expected
