"""The periodic jobs themselves: the billing run waits for the engine, and the worker's
settings are checked before it starts."""

from __future__ import annotations

import logging
import sys
import types

import pytest
from sqlalchemy import select

from portal import create_app
from portal.config import ConfigError
from portal.outbox import jobs
from tests.conftest import TEST_SECRET


@pytest.fixture
def app_config() -> dict:
    return {"WORKER_MODE": "external"}


def test_the_billing_run_logs_one_line_and_does_nothing_while_the_engine_is_missing(
        app, monkeypatch, caplog, now):
    monkeypatch.setitem(sys.modules, "portal.billing.engine", None)  # as on a branch without it
    caplog.set_level(logging.DEBUG, logger="portal.worker")
    assert jobs.run_billing(now) is None
    [line] = [r.getMessage() for r in caplog.records if r.name == "portal.worker"]
    assert line == "billing run skipped: portal.billing.engine does not exist yet"


def test_the_billing_run_calls_the_engine_with_a_session_the_clock_and_the_gateway(
        app, session, monkeypatch, now):
    from portal.events import AuditEvent, raise_event
    from portal.payments.gateway import get_gateway

    calls = []

    def run(db_session, *, now, gateway, policy, dry_run=False):
        calls.append({"now": now, "gateway": gateway, "policy": policy, "dry_run": dry_run})
        raise_event(db_session, "billing.test_ran", now=now, actor="system")
        return "a result"

    engine = types.ModuleType("portal.billing.engine")
    engine.run = run
    engine.policy_from_config = lambda config: ("the policy", config["BILLING_RUN_INTERVAL_SECONDS"])
    monkeypatch.setitem(sys.modules, "portal.billing.engine", engine)
    assert jobs.run_billing(now) == "a result"
    assert calls == [{"now": now, "gateway": get_gateway(), "policy": ("the policy", 3600),
                      "dry_run": False}]
    session.expire_all()
    assert session.scalars(select(AuditEvent.type)).all() == ["billing.test_ran"], "committed"


def test_an_engine_that_fails_to_import_something_is_not_taken_for_a_missing_one(
        app, monkeypatch):
    def import_module(name):
        # The engine exists, and imports a library that is not installed.
        raise ModuleNotFoundError("No module named 'stripe'", name="stripe")

    monkeypatch.setattr(jobs.importlib, "import_module", import_module)
    with pytest.raises(ModuleNotFoundError, match="stripe"):
        jobs.run_billing()


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
