"""``flask --app portal billing run [--now ISO-8601] [--dry-run]``: the billing engine from the
command line (cron, a systemd timer, or by hand to see what a date would bring)."""

from __future__ import annotations

import sys
from datetime import datetime

import click
from flask import current_app
from flask.cli import AppGroup

billing_cli = AppGroup("billing", help="The billing engine: renewals, invoices and charges.")


class ISODateTime(click.ParamType):
    """An ISO-8601 date and time; naive means UTC; a date alone means its midnight UTC."""

    name = "ISO-8601"

    def convert(self, value, param, ctx):
        """The value as an aware UTC datetime, or a click error saying what is wanted."""
        from portal.billing.engine import as_utc

        if isinstance(value, datetime):
            return as_utc(value)
        text = str(value).strip()
        try:
            if not text.isascii():
                # fromisoformat takes other scripts' digits; a typed date never needs them.
                raise ValueError(text)
            moment = datetime.fromisoformat(text)
        except ValueError:
            self.fail(f"{value!r} is not an ISO-8601 date and time; use e.g. "
                      "2027-01-01T00:00:00Z or 2027-01-01 (UTC when no offset is given)",
                      param, ctx)
        return as_utc(moment)


class _ProgressBar:
    """``progress(done, total)`` shown as click's bar, on a terminal only."""

    def __init__(self):
        self.bar = None

    def __call__(self, done: int, total: int) -> None:
        """Move the bar to ``done`` of ``total``; the first call draws it."""
        if self.bar is None:
            # On stderr, so the summary line on stdout stays clean for a pipe or a log.
            self.bar = click.progressbar(length=total, label="Billing", show_pos=True,
                                         file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.bar.pos)

    def close(self) -> None:
        """Finish the bar's line, so the summary starts on a line of its own."""
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def _on_a_terminal() -> bool:
    # Under cron or a timer the output is mailed or logged: the summary line alone, no bar.
    return sys.stderr.isatty() and sys.stdout.isatty()


@billing_cli.command("run")
@click.option("--now", "now", type=ISODateTime(), default=None,
              help="Bill as of this moment (ISO-8601; naive means UTC). Default: the real time.")
@click.option("--dry-run", is_flag=True,
              help="List what would be done for each subscription; write nothing.")
def run_command(now: datetime | None, dry_run: bool) -> None:
    """Renew, invoice and charge every subscription that is due, once."""
    from portal.billing.engine import run
    from portal.billing.policy import BillingPolicy
    from portal.dbtypes import utcnow
    from portal.extensions import db
    from portal.payments.gateway import get_gateway

    try:
        policy = BillingPolicy.from_config(current_app.config)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    gateway = get_gateway(config=current_app.config)
    bar = _ProgressBar() if _on_a_terminal() else None
    try:
        summary = run(db.session, now=now or utcnow(), gateway=gateway, policy=policy,
                      dry_run=dry_run, progress=bar)
    finally:
        if bar is not None:
            bar.close()
    if dry_run:
        for action in summary.actions:
            click.echo(action)
    elif summary.errors:
        for action in summary.actions:
            if ": error, " in action:
                click.echo(action, err=True)
    click.echo(summary.line())
    if summary.errors:
        raise SystemExit(1)
