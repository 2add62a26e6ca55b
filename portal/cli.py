"""Command-line commands: ``flask --app portal demo`` and ``flask --app portal login-link``."""

from __future__ import annotations

from urllib.parse import quote

import click
from flask import Flask, current_app

from portal.dbtypes import utcnow
from portal.extensions import db


def login_url(link_id: str, email: str | None = None) -> str:
    """The absolute login URL for a link, optionally with the email prefilled."""
    base = current_app.config["PUBLIC_URL"].rstrip("/") + f"/p/login/{link_id}"
    return f"{base}?prefilled_email={quote(email)}" if email else base


def register_commands(app: Flask) -> None:
    @app.cli.command("demo")
    @click.option("--serve", is_flag=True, help="Serve the app on 127.0.0.1:5000 afterwards.")
    @click.option("--port", default=5000, show_default=True)
    def demo_command(serve: bool, port: int) -> None:
        """Build the schema and seed the Acme Cloud demo (safe to run again)."""
        from flask_migrate import upgrade

        from portal.demo import seed_demo

        upgrade()
        link = seed_demo(db.session, now=utcnow())
        db.session.commit()
        click.echo("Demo merchant Acme Cloud is ready.")
        click.echo(f"Login URL:         {login_url(link.id)}")
        click.echo(f"Prefilled for Jenny: {login_url(link.id, 'jenny.rosen@example.com')}")
        if current_app.config["MAIL_BACKEND"] == "console":
            click.echo("Passcodes are printed here and shown at "
                       f"{current_app.config['PUBLIC_URL'].rstrip('/')}/dev/mailbox")
        if serve:
            current_app.run(host="127.0.0.1", port=port, debug=False, use_reloader=False)

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
