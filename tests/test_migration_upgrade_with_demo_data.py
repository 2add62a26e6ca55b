"""Merchants upgrade with data in place: the newest revision, applied to a database that holds
the demo's data at the revision before it, keeps every row and every value, on SQLite and on
PostgreSQL. The revisions are read from the migrations folder, so each new revision is tested
this way without changing this file."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask import current_app
from flask_migrate import downgrade, upgrade

from portal.demo import seed_demo
from portal.extensions import db
from tests.fresh_database import fresh_database_app  # noqa: F401  (a fixture)

pytestmark = pytest.mark.usefixtures("fresh_database_app")

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def _revisions() -> tuple[str, str]:
    config = current_app.extensions["migrate"].migrate.get_config()
    script = ScriptDirectory.from_config(config)
    head = script.get_revision(script.get_current_head())
    return head.revision, head.down_revision


def _snapshot(columns_by_table: dict[str, list[str]]) -> dict[str, list[tuple]]:
    """Every row of every table, the given columns only, in a stable order."""
    engine = db.engine
    rows = {}
    with engine.connect() as conn:
        for table, columns in columns_by_table.items():
            selected = [sa.column(name) for name in columns]
            result = conn.execute(sa.select(*selected).select_from(sa.table(table)))
            rows[table] = sorted(tuple(repr(value) for value in row) for row in result)
    return rows


def _schema() -> dict[str, list[str]]:
    inspector = sa.inspect(db.engine)
    return {table: sorted(column["name"] for column in inspector.get_columns(table))
            for table in inspector.get_table_names() if table != "alembic_version"}


def test_the_newest_revision_keeps_every_row_of_a_database_holding_the_demo():
    head, previous = _revisions()
    upgrade(revision=previous)
    old_schema = _schema()
    # The demo as the previous revision stores it: seeded at the head (the models are the
    # head's), then taken back down, which drops only what the head added.
    upgrade(revision=head)
    seed_demo(db.session, now=NOW)
    db.session.commit()
    db.session.remove()
    downgrade(revision=previous)
    assert _schema() == old_schema
    before = _snapshot(old_schema)
    assert sum(len(rows) for rows in before.values()) > 50, "the demo seeded too little to test"

    upgrade(revision=head)

    after = _snapshot(old_schema)
    assert after == before
    # The app works on the upgraded data: seeding again finds the demo and adds nothing.
    counts = {table: len(rows) for table, rows in after.items()}
    seed_demo(db.session, now=NOW)
    db.session.commit()
    assert {table: len(rows) for table, rows in _snapshot(old_schema).items()} == counts
