"""Command-line commands: ``flask --app portal demo``, ``create-admin``, ``login-link``,
``branding``, ``worker``, ``housekeeping`` and ``billing run`` (portal/billing/cli.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask, current_app

from portal.branding import FONT_STACKS
from portal.branding import warnings as contrast_warnings
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
    from portal.i18n_cli import translations_cli

    app.cli.add_command(translations_cli)
    from portal.integration.cli import api_keys_cli

    app.cli.add_command(api_keys_cli)

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
    @click.option("--accent-color", help="#rrggbb or #rgb: lines and markers (never text).")
    @click.option("--font", type=click.Choice(sorted(FONT_STACKS)),
                  help="A system font stack; nothing is downloaded.")
    @click.option("--icon", type=click.Path(exists=True, dir_okay=False),
                  help="A square JPEG, PNG or WEBP under 2 MB; re-encoded into instance/uploads.")
    @click.option("--logo", type=click.Path(exists=True, dir_okay=False),
                  help="A JPEG, PNG or WEBP under 2 MB; re-encoded into instance/uploads.")
    @click.option("--support-email")
    @click.option("--support-phone")
    @click.option("--support-url")
    @click.option("--address", help="Printed on invoices; use \\n between lines.")
    @click.option("--invoice-prefix", help="Prefix of new invoice numbers, e.g. ACME.")
    def branding_command(**options) -> None:
        """Show the merchant's branding, or change the parts given as options."""
        from portal.branding import parse_hex
        from portal.portal_settings import operations

        for name in ("brand_color", "accent_color"):
            value = options[name]
            if value is not None and parse_hex(value) is None:
                raise click.BadParameter("use #rrggbb or #rgb, e.g. #3b2fc9",
                                         param_hint=f"--{name.replace('_', '-')}")
        if options["address"]:
            options["address"] = options["address"].replace("\\n", "\n")
        images = {kind: options.pop(kind) for kind in operations.BRANDING_IMAGES}
        now = utcnow()
        try:
            operations.update_branding(
                db.session, now=now, actor="merchant",
                changes={name: value for name, value in options.items() if value is not None})
        except operations.BrandingRefused as refusal:
            db.session.rollback()
            hint = f"--{refusal.field.replace('_', '-')}" if refusal.field else None
            raise click.BadParameter(str(refusal), param_hint=hint) from None
        try:
            replaced = [operations.set_branding_image(db.session, kind,
                                                      _store_upload(Path(path), kind),
                                                      now=now, actor="merchant")
                        for kind, path in images.items() if path]
        except click.BadParameter:
            db.session.rollback()  # a refused image saves nothing else given with it either
            raise
        db.session.commit()
        for name in replaced:
            operations.discard_branding_image(current_app.instance_path, name)
        branding = operations.get_branding(db.session)
        for name in ("business_name", "brand_color", "accent_color", "font", "icon", "logo",
                     "support_email", "support_phone", "support_url", "invoice_prefix"):
            click.echo(f"{name:<15} {getattr(branding, name) or ''}")
        for warning in contrast_warnings(branding):
            click.echo(f"Warning: {warning.message}", err=True)

    @app.cli.command("worker")
    @click.option("--metrics-port", type=click.IntRange(0, 65535), default=None,
                  help="Serve this worker's Prometheus metrics on this port (0: any free one).")
    @click.option("--metrics-host", default="127.0.0.1", show_default=True,
                  help="The address the metrics port listens on.")
    def worker_command(metrics_port: int | None, metrics_host: str) -> None:
        """Deliver the outbox and run the periodic jobs (billing run, housekeeping) until
        SIGTERM or Ctrl+C: an RQ worker with PORTAL_WORKER_MODE=redis, else in this process."""
        from portal.outbox.jobs import run_worker

        app = current_app._get_current_object()
        if metrics_port is not None:
            from portal.ops.metrics import serve_worker_metrics

            server, _ = serve_worker_metrics(app, metrics_port, metrics_host)
            click.echo(f"portal metrics: serving http://{metrics_host}:"
                       f"{server.server_address[1]}/metrics")
        sys.exit(run_worker(app))

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


def _store_upload(source: Path, kind: str) -> str:
    """Check the image by its content (portal.images: JPEG, PNG or WEBP under 2 MB, the icon
    square), re-encode it and store it under a fresh name; return the name."""
    from portal.images import ImageRefused
    from portal.portal_settings.operations import store_branding_image

    try:
        with source.open("rb") as stream:
            return store_branding_image(current_app.instance_path, stream, kind)
    except ImageRefused as refusal:
        raise click.BadParameter(str(refusal), param_hint=f"--{kind}") from None
