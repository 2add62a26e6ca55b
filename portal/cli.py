"""Command-line commands: ``flask --app portal demo``, ``create-admin``, ``login-link``,
``branding``, ``worker``, ``housekeeping`` and ``billing run`` (portal/billing/cli.py)."""

from __future__ import annotations

import re
import secrets
import shutil
import sys
from pathlib import Path

import click
from flask import Flask, current_app

from portal.config import Defaults
from portal.dbtypes import utcnow
from portal.designer.cli import templates_cli
from portal.extensions import db


def login_url(link_id: str, email: str | None = None, *, base: str | None = None) -> str:
    """The absolute login URL for a link, optionally with the email prefilled."""
    from portal.portal_settings.operations import login_url as build

    return build(link_id, email, base=base or current_app.config["PUBLIC_URL"])


def register_commands(app: Flask) -> None:
    from portal.billing.cli import billing_cli

    app.cli.add_command(billing_cli)
    app.cli.add_command(templates_cli)

    @app.cli.command("demo")
    @click.option("--serve", is_flag=True, help="Serve the app on 127.0.0.1 afterwards.")
    @click.option("--port", default=5000, show_default=True, help="The port --serve listens on.")
    def demo_command(serve: bool, port: int) -> None:
        """Build the schema and seed the Acme Cloud demo (safe to run again)."""
        from flask_migrate import upgrade

        from portal.demo import JENNY, seed_demo

        upgrade()
        link = seed_demo(db.session, now=utcnow())
        db.session.commit()
        base = current_app.config["PUBLIC_URL"].rstrip("/")
        if serve and port != 5000 and base == Defaults.PUBLIC_URL:
            base = f"http://127.0.0.1:{port}"  # the printed URL must be the one being served
        click.echo("Demo merchant Acme Cloud is ready.")
        click.echo(f"Login URL:           {login_url(link.id, base=base)}")
        click.echo(f"Prefilled for Jenny: {login_url(link.id, JENNY, base=base)}")
        if current_app.config["MAIL_BACKEND"] == "console":
            click.echo(f"Passcodes are printed here and shown at {base}/dev/mailbox")
        click.echo(f"Dashboard:           {base}/admin/sign-in (make a staff account with "
                   "`flask --app portal create-admin EMAIL`)")
        if serve:
            # app.run() refuses to block inside a `flask` command, so serve with Werkzeug directly.
            from werkzeug.serving import run_simple

            db.session.remove()
            click.echo(f"Serving on http://127.0.0.1:{port} (press Ctrl+C to stop)")
            run_simple("127.0.0.1", port, current_app._get_current_object(),
                       use_reloader=False, use_debugger=False, threaded=True)

    @app.cli.command("create-admin")
    @click.argument("email")
    @click.option("--reset-password", is_flag=True,
                  help="Set a new password for an existing staff account (ends its sessions).")
    def create_admin_command(email: str, reset_password: bool) -> None:
        """Make a staff account for the dashboard at /admin; the password is asked for."""
        from email_validator import EmailNotValidError, validate_email

        from portal.admin import operations

        try:
            validate_email(email, check_deliverability=False)
        except EmailNotValidError as error:
            raise click.BadParameter(str(error), param_hint="EMAIL") from None
        existing = operations.find_staff(db.session, email)
        if existing is not None and not reset_password:
            raise click.ClickException(f"A staff account for {email} exists already; "
                                       "use --reset-password to give it a new password.")
        if existing is None and reset_password:
            raise click.ClickException(f"There is no staff account for {email}.")
        # Asked for, never an argument: command lines end up in shell history and `ps`.
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        try:
            if existing is None:
                operations.create_staff(db.session, email, password, now=utcnow())
            else:
                operations.set_password(db.session, existing, password, now=utcnow())
        except operations.StaffRefused as refusal:
            raise click.ClickException(str(refusal)) from None
        db.session.commit()
        base = current_app.config["PUBLIC_URL"].rstrip("/")
        click.echo(f"{'Password changed' if existing else 'Staff account made'} for {email}. "
                   f"Sign in at {base}/admin/sign-in")

    @app.cli.command("login-link")
    @click.option("--rotate", is_flag=True, help="Replace the active link; old URLs stop working.")
    @click.option("--deactivate", is_flag=True, help="Switch the login link off altogether.")
    def login_link_command(rotate: bool, deactivate: bool) -> None:
        """Print the active login URL, activating a link if none is active."""
        from portal.portal_settings.operations import activate_login_link, deactivate_login_links

        if deactivate:
            count = deactivate_login_links(db.session, now=utcnow())
            db.session.commit()
            click.echo(f"Deactivated {count} login link(s). Shared URLs now answer 'not active'.")
            return
        link = activate_login_link(db.session, now=utcnow(), rotate=rotate)
        db.session.commit()
        click.echo(login_url(link.id))

    @app.cli.command("branding")
    @click.option("--business-name", help="Shown in every page's header and title.")
    @click.option("--brand-color", help="#rrggbb or #rgb: links, buttons, the header.")
    @click.option("--accent-color", help="#rrggbb or #rgb: secondary highlights.")
    @click.option("--icon", type=click.Path(exists=True, dir_okay=False),
                  help="A square image file; copied into instance/uploads.")
    @click.option("--logo", type=click.Path(exists=True, dir_okay=False),
                  help="A logo image file; copied into instance/uploads.")
    @click.option("--support-email")
    @click.option("--support-phone")
    @click.option("--support-url")
    @click.option("--address", help="Printed on invoices; use \\n between lines.")
    @click.option("--invoice-prefix", help="Prefix of new invoice numbers, e.g. ACME.")
    def branding_command(**options) -> None:
        """Show the merchant's branding, or change the parts given as options."""
        from portal.portal_settings.operations import get_branding

        branding = get_branding(db.session)
        for name in ("brand_color", "accent_color"):
            value = options[name]
            if value is not None and not _HEX_COLOR.fullmatch(value):
                raise click.BadParameter("use #rrggbb or #rgb, e.g. #3b2fc9",
                                         param_hint=f"--{name.replace('_', '-')}")
        for kind in ("icon", "logo"):
            if options[kind]:
                options[kind] = _store_upload(Path(options[kind]), kind)
        if options["address"]:
            options["address"] = options["address"].replace("\\n", "\n")
        changed = {name: value for name, value in options.items() if value is not None}
        for name, value in changed.items():
            setattr(branding, name, value)
        db.session.commit()
        for name in ("business_name", "brand_color", "accent_color", "icon", "logo",
                     "support_email", "support_phone", "support_url", "invoice_prefix"):
            click.echo(f"{name:<15} {getattr(branding, name) or ''}")

    @app.cli.command("worker")
    def worker_command() -> None:
        """Deliver the outbox and run the periodic jobs (billing run, housekeeping) until
        SIGTERM or Ctrl+C: an RQ worker with PORTAL_WORKER_MODE=redis, else in this process."""
        from portal.outbox.jobs import run_worker

        sys.exit(run_worker(current_app._get_current_object()))

    @app.cli.command("housekeeping")
    def housekeeping_command() -> None:
        """Purge expired passcodes, sign-ins and delivered outbox rows; settle payments left
        processing."""
        from portal.outbox import housekeeping
        from portal.payments.gateway import get_gateway

        done = housekeeping.run(db.session, now=utcnow(), config=current_app.config,
                                gateway=get_gateway())
        click.echo(f"Purged {done['login_passcodes']} login passcode(s), "
                   f"{done['sign_ins']} sign-in(s) and {done['outbox_messages']} outbox "
                   "message(s).")
        click.echo(f"Payments left processing: {done['payments_succeeded']} succeeded, "
                   f"{done['payments_failed']} failed, {done['payments_still_processing']} "
                   "still waiting for the processor.")


_HEX_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}){1,2}")
# No SVG: served from our origin, an SVG could carry script.
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp"}


def _store_upload(source: Path, kind: str) -> str:
    """Copy an image into instance/uploads under a fresh name; return the name to store."""
    suffix = source.suffix.lower()
    if suffix not in _IMAGE_SUFFIXES:
        raise click.BadParameter(f"use one of {', '.join(sorted(_IMAGE_SUFFIXES))}",
                                 param_hint=f"--{kind}")
    uploads = Path(current_app.instance_path) / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    # A new name each time: pages cache the image, and the URL must change with it.
    name = f"{kind}-{secrets.token_hex(6)}{suffix}"
    shutil.copyfile(source, uploads / name)
    return name
