"""The migrations build the schema the models describe, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from portal.extensions import db
from tests.fresh_database import fresh_database_app  # noqa: F401  (a fixture)

# Every test here starts on an empty database of its own.
pytestmark = pytest.mark.usefixtures("fresh_database_app")


def _differences() -> list:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def test_upgrade_builds_every_table_the_models_declare():
    from flask_migrate import upgrade

    upgrade()
    tables = set(inspect(db.engine).get_table_names())
    assert {t.name for t in db.metadata.sorted_tables} <= tables
    assert "alembic_version" in tables


def test_autogenerate_finds_no_difference_between_migrations_and_models():
    from flask_migrate import upgrade

    upgrade()
    differences = _differences()
    assert differences == [], "the models changed without a migration:\n" + "\n".join(
        map(repr, differences))


def test_downgrade_to_base_removes_every_table():
    from flask_migrate import downgrade, upgrade

    upgrade()
    downgrade(revision="base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
