"""``flask --app portal api-keys create|list|revoke``: the merchant's secret API keys."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from portal.dbtypes import utcnow
from portal.extensions import db
from portal.integration import operations as ops

api_keys_cli = AppGroup("api-keys", help="Create, list and revoke secret keys for the /v1 API.")


@api_keys_cli.command("create")
@click.option("--name", required=True, help="What the key is for, e.g. 'billing sync'.")
def create_command(name: str) -> None:
    """Make a key and print it once: it cannot be shown again."""
    try:
        new = ops.create_key(db.session, name=name, now=utcnow(), actor="merchant")
    except ops.ApiKeyRefused as refusal:
        raise click.UsageError(str(refusal)) from None
    db.session.commit()
    click.echo(f"Created {new.key.id} ({new.key.name}). The secret key, shown this once:")
    click.echo(new.secret)


@api_keys_cli.command("list")
def list_command() -> None:
    """Every key: id, name, the last 4 characters, created, last used, revoked."""
    keys = ops.list_keys(db.session)
    if not keys:
        click.echo("No API keys yet: `flask --app portal api-keys create --name NAME` makes one.")
        return
    for key in keys:
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
        used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
        click.echo(f"{key.id}  {key.redacted}  {state:<24}  created {key.created:%Y-%m-%d}  "
                   f"last used {used}  {key.name}")


@api_keys_cli.command("revoke")
@click.argument("key_id")
def revoke_command(key_id: str) -> None:
    """Revoke KEY_ID (key_...) at once: requests with it are refused from now on."""
    key = ops.find_key(db.session, key_id)
    if key is None:
        raise click.UsageError(f"No API key {key_id}: `flask --app portal api-keys list` shows them.")
    if not ops.revoke_key(db.session, key, now=utcnow(), actor="merchant"):
        click.echo(f"{key.id} was revoked already.")
        return
    db.session.commit()
    click.echo(f"Revoked {key.id} ({key.name}).")
