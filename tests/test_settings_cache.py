"""The branding and configurations each process keeps for SETTINGS_CACHE_SECONDS.

A change made through another process (here: a plain SQL statement on a connection of its own,
which this process's ORM never sees) shows once the time passes; a change committed through
this process's session shows at once. The cache's clock is moved with monkeypatch.
"""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import event, text

from portal import request_context
from portal.extensions import db
from tests.conftest import TEST_SECRET

TTL = 30


@pytest.fixture
def app_config() -> dict:
    # No in-process outbox deliverer: its polls would land among the statements counted.
    return {"SETTINGS_CACHE_SECONDS": TTL, "WORKER_MODE": "external"}


@pytest.fixture
def clock(monkeypatch):
    """The cache's clock, standing still until the test moves it."""
    moment = [1000.0]
    monkeypatch.setattr(request_context, "monotonic", lambda: moment[0])

    def advance(seconds: float) -> None:
        moment[0] += seconds

    return advance


@pytest.fixture
def acme(session):
    from portal.portal_settings.operations import default_configuration, get_branding

    get_branding(session).business_name = "Acme Cloud"
    default_configuration(session)
    session.commit()


def from_another_process(statement: str, **values) -> None:
    """Change a row as another server process or the CLI would: not through this ORM."""
    with db.engine.begin() as connection:
        connection.execute(text(statement), values)
    # The test client's requests share one ORM session, which would keep the rows it already
    # holds; a server's next request starts with a fresh one.
    db.session.expire_all()


def statements_of(send) -> list[str]:
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        send()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return statements


def test_production_keeps_the_settings_five_seconds_and_development_reads_them_each_time():
    from portal.config import finish

    development = {"ENV": "development", "SECRET_KEY": TEST_SECRET}
    production = {"ENV": "production", "SECRET_KEY": secrets.token_hex(32),
                  "PUBLIC_URL": "https://billing.example.com",
                  "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0"}
    chosen = {**production, "SETTINGS_CACHE_SECONDS": 0}
    for config in (development, production, chosen):
        finish(config, "/nonexistent")
    assert development["SETTINGS_CACHE_SECONDS"] == 0
    assert production["SETTINGS_CACHE_SECONDS"] == 5
    assert chosen["SETTINGS_CACHE_SECONDS"] == 0


def test_with_the_cache_on_a_page_makes_one_query_fewer(app, acme, signed_in_customer,
                                                         client_request, clock):
    def overview():
        client_request.get_response("customers.overview")

    app.config["SETTINGS_CACHE_SECONDS"] = 0
    overview()
    uncached = statements_of(overview)
    app.config["SETTINGS_CACHE_SECONDS"] = TTL
    overview()  # fills the cache
    cached = statements_of(overview)
    assert len(cached) == len(uncached) - 1
    assert not [s for s in cached if "portal_configuration" in s]


def test_the_signed_out_page_needs_no_settings_query_once_cached(acme, client_request, clock):
    client_request.get("login.signed_out")
    statements = statements_of(lambda: client_request.get("login.signed_out"))
    assert statements == []


def test_a_branding_change_from_another_process_shows_after_the_time_passes(
        acme, client_request, clock):
    assert "Acme Cloud" in client_request.get("login.signed_out").get_text()
    from_another_process("UPDATE branding SET business_name = :name", name="Globex")

    clock(TTL - 1)
    assert "Acme Cloud" in client_request.get("login.signed_out").get_text()
    clock(2)
    page = client_request.get("login.signed_out").get_text()
    assert "Globex" in page
    assert "Acme Cloud" not in page


def test_a_branding_change_committed_in_this_process_shows_at_once(acme, session,
                                                                   client_request, clock):
    from portal.portal_settings.operations import get_branding

    client_request.get("login.signed_out")
    get_branding(session).business_name = "Initech"
    session.commit()
    assert "Initech" in client_request.get("login.signed_out").get_text()


def test_a_feature_switched_off_elsewhere_is_gone_after_the_time_passes(
        acme, signed_in_customer, client_request, clock):
    client_request.get_response("invoices.invoice_history")
    from_another_process("UPDATE portal_configuration SET invoice_history_enabled = :off",
                         off=False)

    client_request.get_response("invoices.invoice_history")
    clock(TTL + 1)
    client_request.get_response("invoices.invoice_history", _expected_status=404)


def test_a_configuration_switched_to_inactive_gives_way_to_the_default_after_the_time_passes(
        acme, session, customer, sign_in, client_request, clock):
    from portal.portal_settings.models import PortalConfiguration

    own = PortalConfiguration(is_default=False, active=True, invoice_history_enabled=False)
    session.add(own)
    session.commit()
    sign_in(customer, configuration_id=own.id)
    # The sign-in's own configuration has no invoice history; the default has.
    client_request.get_response("invoices.invoice_history", _expected_status=404)
    from_another_process("UPDATE portal_configuration SET active = :off WHERE id = :id",
                         off=False, id=own.id)

    client_request.get_response("invoices.invoice_history", _expected_status=404)
    clock(TTL + 1)
    client_request.get_response("invoices.invoice_history")


def test_cached_settings_survive_the_request_session_committing(acme, session, customer,
                                                               sign_in, client_request, clock):
    # A commit expires every object of the session it belongs to; the cached rows belong to
    # none, so the next request can still read them (no DetachedInstanceError).
    client_request.get_response("login.signed_out")
    sign_in(customer)  # commits the test's session
    db.session.commit()
    client_request.get_response("customers.overview")
    assert "Acme Cloud" in client_request.get("customers.overview").get_text()
