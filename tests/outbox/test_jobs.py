"""The periodic jobs themselves: the billing run bills what is due, and the worker's settings
are checked before it starts."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal import create_app
from portal.config import ConfigError
from portal.outbox import jobs
from tests.conftest import TEST_SECRET


@pytest.fixture
def app_config() -> dict:
    return {"WORKER_MODE": "external"}


def test_the_periodic_billing_job_renews_invoices_and_charges_what_is_due(
        app, session, now, make_customer, make_payment_method, make_subscription, caplog):
    from portal.invoices.models import Invoice

    customer = make_customer()
    make_payment_method(customer)
    subscription = make_subscription(customer, current_period_start=now - timedelta(days=31),
                                     current_period_end=now - timedelta(hours=1))
    caplog.set_level(logging.INFO, logger="portal.worker")

    summary = jobs.run_billing(now)

    assert (summary.renewed, summary.invoiced, summary.charged) == (1, 1, 1)
    session.expire_all()
    [invoice] = session.scalars(select(Invoice).where(
        Invoice.subscription_id == subscription.id)).all()
    assert (invoice.status, invoice.amount_paid) == ("paid", 2900)
    assert "billing run: renewed 1, invoiced 1, charged 1" in caplog.text
    # The job is idempotent like the command: the same moment again does nothing more.
    assert jobs.run_billing(now).invoiced == 0


BAD_WORKER_SETTINGS = {
    "an unknown mode": ({"WORKER_MODE": "celery"}, "PORTAL_WORKER_MODE must be one of"),
    "redis without its URL": ({"WORKER_MODE": "redis"}, "needs PORTAL_WORKER_REDIS_URL"),
    "a lease a slow mail server outlasts": ({"OUTBOX_LEASE_SECONDS": 30,
                                             "MAIL_TIMEOUT_SECONDS": 20},
                                            "PORTAL_OUTBOX_LEASE_SECONDS must be more than"),
    "no poll": ({"OUTBOX_POLL_SECONDS": 0}, "PORTAL_OUTBOX_POLL_SECONDS must be more than 0"),
}


@pytest.mark.parametrize("case", list(BAD_WORKER_SETTINGS))
def test_the_portal_refuses_to_start_with_worker_settings_that_cannot_work(
        case, tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path))
    settings, message = BAD_WORKER_SETTINGS[case]
    with pytest.raises(ConfigError, match=message):
        create_app({"SECRET_KEY": TEST_SECRET, **settings})


@pytest.mark.parametrize(("settings", "mode"), [
    ({}, "inline-thread"),
    ({"WORKER_REDIS_URL": "redis://127.0.0.1:6379/1"}, "redis"),
    ({"WORKER_REDIS_URL": "redis://127.0.0.1:6379/1", "WORKER_MODE": "Inline-Thread"},
     "inline-thread"),
    ({"WORKER_MODE": "external"}, "external"),
], ids=["by default", "with a Redis URL", "chosen, in any case", "external"])
def test_the_worker_mode_follows_the_settings(settings, mode, tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path))
    assert create_app({"SECRET_KEY": TEST_SECRET, **settings}).config["WORKER_MODE"] == mode
