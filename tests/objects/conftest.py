"""Helpers for the Stripe object tests: schema checks and query counting."""

from __future__ import annotations

from contextlib import contextmanager

import jsonschema_rs
import pytest
from sqlalchemy import event

from portal.extensions import db
from portal.objects import schemas


def assert_matches_schema(name: str, data) -> None:
    validator = jsonschema_rs.validator_for(schemas.standalone(name), validate_formats=True)
    errors = [f"{'/'.join(map(str, e.instance_path))}: {e.message}"
              for e in validator.iter_errors(data)]
    assert not errors, f"{name} does not match its schema:\n" + "\n".join(errors[:20])


class QueryCounter:
    def __init__(self):
        self.statements: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)


@contextmanager
def counting_queries():
    counter = QueryCounter()

    def record(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE")):
            counter.statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield counter
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


@pytest.fixture
def app_config():
    return {"PUBLIC_URL": "https://billing.example.com", "WORKER_MODE": "external"}
