"""A backup as the README says to take it (the database, the instance folder, the secret key)
restores into a portal where the customer signs in with an emailed code and finds their
invoices and the merchant's logo: ``pg_dump -Fc`` and ``pg_restore`` into a fresh database on
PostgreSQL, SQLite's online backup on SQLite."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import uuid
from pathlib import Path

import pytest
from cryptography.fernet import InvalidToken
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from portal.portal_settings.operations import activate_login_link, get_branding
from tests.conftest import _empty_tables
from tests.image_files import image_bytes
from tests.production.servers import Browser, Gunicorn, portal_env, sign_in

PUBLIC_HOST = "billing.example.test"
# Production checks the key's randomness: the seeding app and the restored portal share this.
SECRET_KEY = "bK7vQ2xN9pL4mR8tW1zY6cF3hJ5dG0sA-restore"


@pytest.fixture
def app_config(smtp_config) -> dict:
    # Nothing is sent from this process; the restored portal sends the code.
    return {**smtp_config, "SECRET_KEY": SECRET_KEY, "WORKER_MODE": "external"}


def libpq(uri: str) -> str:
    """The SQLAlchemy URL as pg_dump and pg_restore take it."""
    return make_url(uri).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def restored_databases(database_uri):
    """Names of PostgreSQL databases a test restored into; dropped afterwards."""
    names: list[str] = []
    yield names
    if names:
        admin = create_engine(make_url(database_uri).set(database="postgres"),
                              isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def back_up_and_restore(database_uri: str, folder: Path, restored_databases: list[str]) -> str:
    """Back the database up and restore it as a new one, as README "Backups and restore"
    says; returns the restored database's URI."""
    url = make_url(database_uri)
    if url.get_backend_name() == "postgresql":
        dump = folder / "portal.dump"
        subprocess.run(["pg_dump", "--format=custom", "--file", str(dump), libpq(database_uri)],
                       check=True, timeout=120)
        fresh = f"{url.database}_restored_{uuid.uuid4().hex[:8]}"
        restored_databases.append(fresh)
        restored = url.set(database=fresh).render_as_string(hide_password=False)
        subprocess.run(["createdb", "--host", url.host or "127.0.0.1", "--port",
                        str(url.port or 5432), "--username", url.username or "postgres", fresh],
                       check=True, timeout=60)
        subprocess.run(["pg_restore", "--no-owner", "--exit-on-error", "--dbname",
                        libpq(restored), str(dump)], check=True, timeout=120)
        return restored
    # SQLite: the online backup API copies a consistent snapshot while the portal runs.
    backup = folder / "portal-backup.db"
    with sqlite3.connect(url.database) as live, sqlite3.connect(backup) as copy:
        live.backup(copy)
    restored = folder / "restored" / "portal.db"
    restored.parent.mkdir()
    shutil.copyfile(backup, restored)
    return f"sqlite:///{restored}"


def test_a_restored_backup_signs_the_customer_in_and_shows_their_invoices_and_the_logo(
        app, session, database_uri, make_customer, make_invoice, now, smtp_server, tmp_path,
        restored_databases, monkeypatch):
    from portal.portal_settings.operations import store_branding_image
    from portal.webhooks.operations import create_endpoint
    from portal.webhooks.signing import unseal_secret

    branding = get_branding(session)
    branding.business_name = "Acme Cloud"
    branding.logo = store_branding_image(app.instance_path, image_bytes("PNG", (120, 40)),
                                         "logo")
    link_id = activate_login_link(session, now=now).id
    customer = make_customer(email="jenny.rosen@example.com")
    paid = make_invoice(customer, status="paid", description="Pro plan, March")
    unpaid = make_invoice(customer, status="open", description="Pro plan, April")
    endpoint, signing_secret = create_endpoint(
        session, url="https://merchant.example/hooks", enabled_events=["invoice.paid"],
        now=now, actor="merchant")
    session.commit()
    numbers, email = {paid.number, unpaid.number}, customer.email
    sealed = endpoint.secret_sealed
    stored_logo = (Path(app.instance_path) / "uploads" / branding.logo).read_bytes()

    # The backup: the database, and a copy of the instance folder beside it.
    restored_uri = back_up_and_restore(database_uri, tmp_path, restored_databases)
    instance = tmp_path / "restored-instance"
    shutil.copytree(app.instance_path, instance)
    # The original is gone: whatever the portal shows now comes from the backup.
    session.remove()
    _empty_tables()
    shutil.rmtree(app.instance_path)

    env = portal_env(restored_uri, instance, ENV="production", SECRET_KEY=SECRET_KEY,
                     PUBLIC_URL=f"https://{PUBLIC_HOST}", PROXY_FIX_X_FOR=1,
                     RATELIMIT_SINGLE_PROCESS="true", WORKER_MODE="inline-thread",
                     MAIL_SERVER=smtp_server.host, MAIL_PORT=smtp_server.port,
                     MAIL_DEFAULT_SENDER="billing@acme.example")
    server = Gunicorn(env, tmp_path / "logs", workers=1, health_host=PUBLIC_HOST)
    browser = Browser(server, host=PUBLIC_HOST, client_ip="198.51.100.7")
    try:
        server.start()
        sign_in(browser, server, link_id, smtp_server, email)
        invoices = browser.get("/p/invoices")
        assert invoices.status_code == 200
        assert all(number in invoices.text for number in numbers)
        logo_answer = browser.get("/branding/logo")
        assert logo_answer.status_code == 200
        assert logo_answer.content == stored_logo
    finally:
        browser.close()
        server.stop()

    # With the same PORTAL_SECRET_KEY the webhook signing secrets still open; with another
    # they are lost (README: what losing the key costs).
    engine = create_engine(restored_uri)
    try:
        with engine.connect() as conn:
            restored_sealed = conn.execute(text(
                "SELECT secret_sealed FROM webhook_endpoint")).scalar_one()
    finally:
        engine.dispose()
    assert restored_sealed == sealed
    assert unseal_secret(restored_sealed) == signing_secret
    monkeypatch.setitem(app.config, "SECRET_KEY", "another-key-Zq8Lw2Xv5Nb9Tc4Rm7Pk1Hs6")
    with pytest.raises(InvalidToken):
        unseal_secret(restored_sealed)
