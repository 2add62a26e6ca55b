"""A fixture for tests that need an empty database of their own (migrations, the demo command).

Not a test module; test files import the fixture from here.
"""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import create_engine, text

from portal import create_app
from portal.extensions import db
from tests.conftest import base_config


@pytest.fixture
def fresh_database_app(database_uri, tmp_path, monkeypatch):
    """An app on an empty database: a temp SQLite file, or a new PostgreSQL schema (so the
    suite's own tables in the test database are left alone). Its app context is pushed."""
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    if not database_uri.startswith("postgresql"):
        app = create_app(base_config("sqlite:///" + str(tmp_path / "fresh.db")))
        with app.app_context():
            yield app
            db.session.remove()
            db.engine.dispose()
        return
    schema = f"fresh_{secrets.token_hex(6)}"
    admin = create_engine(database_uri)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    options = {"pool_pre_ping": True, "connect_args": {"options": f"-csearch_path={schema}"}}
    try:
        app = create_app(base_config(database_uri, SQLALCHEMY_ENGINE_OPTIONS=options))
        with app.app_context():
            yield app
            db.session.remove()
            db.engine.dispose()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
