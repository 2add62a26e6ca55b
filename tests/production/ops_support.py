"""Helpers for the ops tests (health checks, logs, metrics): the database stamped at an
Alembic revision, and a Prometheus scrape read back as numbers."""

from __future__ import annotations

from contextlib import contextmanager

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text


@contextmanager
def stamped(app, revision: str = "head"):
    """The app's database marked as migrated to ``revision`` (the suite builds its schema with
    create_all, which writes no alembic_version), unmarked afterwards."""
    from flask_migrate import stamp

    from portal.extensions import db

    with app.app_context():
        stamp(revision=revision)
    try:
        yield
    finally:
        with app.app_context(), db.engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))


def samples(exposition: str) -> dict[tuple, float]:
    """``{(sample name, ((label, value), ...)): value}`` of a scrape's text."""
    found = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(exposition: str, name: str, **labels) -> float:
    """One sample's value (0 when the scrape does not have it yet)."""
    return samples(exposition).get((name, tuple(sorted(labels.items()))), 0.0)
