"""``flask --app portal billing run [--now ISO-8601] [--dry-run]``."""

from __future__ import annotations

import os
import pty
from datetime import timedelta

import pytest

from portal.billing import engine
from tests.billing.helpers import (
    DECLINED,
    FEB_1,
    JAN_1,
    MAR_1,
    invoices_of,
    snapshot,
)
from tests.billing.processes import command_env, start_billing_run

SUMMARY = "renewed 1, invoiced 1, charged 1, failed 0, canceled 0, skipped 0\n"


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(args=["billing", "run", *args])


def test_the_command_bills_what_is_due_and_ends_with_a_summary_line(cli, session, monthly,
                                                                      gateway):
    result = cli("--now", "2027-02-01T00:00:00Z")
    assert result.exit_code == 0, result.output
    # Not on a terminal: no progress bar, only the summary.
    assert result.output == SUMMARY
    [invoice] = invoices_of(session, monthly)
    assert invoice.status == "paid" and len(gateway.calls) == 1


@pytest.mark.parametrize("value", [
    "2027-02-01",
    "2027-02-01T00:00:00",
    "2027-02-01 00:00",
    "2027-02-01T00:00:00Z",
    "2027-02-01T00:00:00+00:00",
    "2027-02-01T01:00:00+01:00",
    "2027-01-31T19:00:00-05:00",
    "20270201T000000Z",
], ids=["date", "naive", "space", "zulu", "utc-offset", "east-of-utc", "west-of-utc", "basic"])
def test_now_takes_any_iso_8601_moment_and_naive_means_utc(cli, session, monthly, value):
    result = cli("--now", value)
    assert result.exit_code == 0, result.output
    assert result.output == SUMMARY


def test_a_moment_before_the_period_end_bills_nothing(cli, session, monthly):
    result = cli("--now", "2027-01-31T23:59:59")
    assert result.output == "renewed 0, invoiced 0, charged 0, failed 0, canceled 0, skipped 0\n"
    assert invoices_of(session, monthly) == []


@pytest.mark.parametrize("value", [
    "",
    "tomorrow",
    "now",
    "2027",
    "2027-13-01",
    "2027-02-30",
    "2027-02-01T25:00",
    "01/02/2027",
    "2027-02-01T00:00:00+25:00",
    "２０２７-02-01",
    "1e9",
], ids=["empty", "word", "now", "year-only", "month-13", "february-30", "hour-25",
        "slashes", "offset-out-of-range", "full-width-digits", "number"])
def test_now_refuses_what_is_not_an_iso_8601_moment_and_changes_nothing(cli, session, monthly,
                                                                         value):
    before = snapshot(session)
    result = cli("--now", value)
    assert result.exit_code == 2
    assert "Invalid value for '--now'" in result.output
    assert "is not an ISO-8601 date and time" in result.output
    assert snapshot(session) == before


def test_without_now_the_command_bills_as_of_the_real_time(cli, session, monthly, monkeypatch):
    monkeypatch.setattr("portal.dbtypes.utcnow", lambda: FEB_1 + timedelta(hours=1))
    result = cli()
    assert result.output == SUMMARY


def test_a_dry_run_lists_what_it_would_do_and_writes_nothing(
        cli, session, monthly, customer, pro, make_customer, make_payment_method,
        make_subscription, gateway):
    other = make_customer(email="sam.lee@example.com", name="Sam Lee")
    make_payment_method(other, number=DECLINED)
    # Its period ends first, so the run lists it first.
    ending = make_subscription(other, pro, current_period_start=JAN_1,
                               current_period_end=FEB_1 - timedelta(days=1),
                               cancel_at_period_end=True)
    before = snapshot(session)
    result = cli("--now", "2027-03-01T00:00:00Z", "--dry-run")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    label = f"{monthly.id} ({customer.email})"
    assert lines == [
        f"{ending.id} (sam.lee@example.com): ended Jan 31, 2027 as the customer asked",
        f"{label}: renewed, period Feb 1, 2027 – Mar 1, 2027, a new invoice for $29.00",
        f"{label}: renewed, period Mar 1, 2027 – Apr 1, 2027, a new invoice for $29.00",
        f"{label}: the new invoice for Feb 1 – Mar 1, 2027 ($29.00): would charge Visa ending "
        "in 4242 (attempt 1)",
        f"{label}: the new invoice for Mar 1 – Apr 1, 2027 ($29.00): would charge Visa ending "
        "in 4242 (attempt 1)",
        "Dry run, nothing written: renewed 2, invoiced 2, would charge 2, failed 0, "
        "canceled 1, skipped 0",
    ]
    assert snapshot(session) == before
    assert gateway.calls == []
    # And the real run then does what the dry run said.
    assert cli("--now", "2027-03-01T00:00:00Z").output == (
        "renewed 2, invoiced 2, charged 2, failed 0, canceled 1, skipped 0\n")


def test_a_billing_setting_it_cannot_follow_stops_the_command_with_its_name(cli, app, session,
                                                                          monthly):
    app.config["BILLING_RETRY_DAYS"] = "soon"
    result = cli("--now", "2027-02-01")
    assert result.exit_code == 2
    assert "PORTAL_BILLING_RETRY_DAYS" in result.output
    assert invoices_of(session, monthly) == []


def test_a_subscription_that_fails_is_reported_and_the_others_are_still_billed(
        cli, session, monthly, customer, make_customer, make_payment_method, make_subscription,
        pro, monkeypatch):
    other = make_customer(email="sam.lee@example.com", name="Sam Lee")
    make_payment_method(other)
    broken = make_subscription(other, pro, current_period_start=JAN_1,
                               current_period_end=FEB_1 - timedelta(days=1))
    real = engine._renew

    def renew(session, subscription, start, **kwargs):
        if subscription.id == broken.id:
            raise RuntimeError("the price is missing")
        return real(session, subscription, start, **kwargs)

    monkeypatch.setattr(engine, "_renew", renew)
    result = cli("--now", "2027-02-01")
    assert result.exit_code == 1
    assert f"{broken.id}: error, RuntimeError: the price is missing" in result.stderr
    assert result.stdout == ("renewed 1, invoiced 1, charged 1, failed 0, canceled 0, "
                             "skipped 0, errors 1\n")
    assert len(invoices_of(session, monthly)) == 1
    assert invoices_of(session, broken) == []


def test_the_command_shows_a_progress_bar_on_a_terminal(app, session, monthly, database_uri,
                                                        tmp_path):
    env = command_env(database_uri, tmp_path / "instance", tmp_path / "charges.log")
    terminal, child_end = pty.openpty()
    process = start_billing_run(env, "--now", "2027-02-01", stdout=child_end, stderr=child_end)
    os.close(child_end)
    shown = b""
    while True:
        try:
            chunk = os.read(terminal, 4096)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        shown += chunk
    os.close(terminal)
    assert process.wait(60) == 0, shown
    text = shown.decode()
    assert "Billing" in text and "1/1" in text
    assert text.rstrip().endswith(SUMMARY.strip())


def test_run_reports_progress_as_each_piece_of_work_is_done(app, session, monthly, customer,
                                                            make_subscription, pro, policy,
                                                            gateway):
    from portal.payments.gateway import get_gateway

    make_subscription(customer, pro, current_period_start=JAN_1, current_period_end=FEB_1)
    calls = []
    engine.run(session, now=MAR_1, gateway=get_gateway(), policy=policy,
               progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 2), (1, 2), (2, 2)]


def test_run_from_app_builds_the_session_gateway_and_policy_from_the_app(app, session, monthly,
                                                                         gateway):
    app.config["BILLING_RETRY_DAYS"] = [1]
    summary = engine.run_from_app(app, FEB_1)
    assert summary.line() == SUMMARY.strip()
    assert len(gateway.calls) == 1
    session.expire_all()
    assert len(invoices_of(session, monthly)) == 1
