"""Fixtures for the production tests: the servers they start (gunicorn, a private Redis, a
private PostgreSQL cluster, an SMTP server that holds its answers) and which suite run
deploys the portal's processes.

The helpers behind them are servers.py (the portal's processes, the browser) and faults.py
(the servers the fault tests break)."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from tests.login.conftest import login_link  # noqa: F401  (fixtures for the files here)
from tests.outbox.conftest import free_port
from tests.production.faults import GatedSMTP, PostgresCluster, RedisServer
from tests.production.servers import Gunicorn
from tests.webhooks.conftest import make_endpoint, receiver  # noqa: F401  (fixtures)

ON_SQLITE = ("the portal's processes are deployed in the PostgreSQL run of the suite only "
             "(production's database; CI's second pass, PORTAL_TEST_DATABASE_URI)")


@pytest.fixture
def app_config() -> dict:
    """The test's own app delivers nothing: only the processes under test do (a file that
    needs more overrides this)."""
    return {"WORKER_MODE": "external"}


@pytest.fixture(scope="session")
def deployed_on_postgresql(database_uri) -> None:
    """Skip, with the reason printed, on SQLite: a test that deploys the portal as production
    does (gunicorn, workers, faults injected into them) runs once, on production's database,
    unless it is about SQLite itself. Session-scoped, so it skips before any module fixture
    starts a server."""
    if make_url(database_uri).get_backend_name() != "postgresql":
        pytest.skip(ON_SQLITE)


@pytest.fixture
def start_gunicorn(tmp_path):
    """``start_gunicorn(env, workers=2, threads=4)``: a running portal, every worker up; all
    are stopped afterwards."""
    started: list[Gunicorn] = []

    def start(env: dict, *, workers: int = 2, threads: int = 4, **options) -> Gunicorn:
        server = Gunicorn(env, tmp_path / "logs", workers=workers, threads=threads,
                          timeout=60, **options)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.terminate()
    for server in started:
        server.stop()


@pytest.fixture
def gated_smtp():
    """A GatedSMTP on a free port, not started: the test starts it when SMTP is to be up."""
    server = GatedSMTP(port=free_port())
    yield server
    server.stop()


@pytest.fixture
def private_redis(tmp_path):
    """A RedisServer of this test's own, running; killed afterwards."""
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def private_postgresql():
    """A PostgresCluster of this test's own, started; stopped and deleted afterwards."""
    cluster = PostgresCluster()
    try:
        cluster.init().start()
        yield cluster
    finally:
        cluster.destroy()
