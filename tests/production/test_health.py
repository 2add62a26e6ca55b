"""/healthz says the process is up; /readyz says whether it can serve: the database, every
Redis the configuration names, and migrations at the code's head."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from portal import create_app, resource_dir
from portal.ops.health import code_heads
from tests.conftest import TEST_SECRET, base_config
from tests.production.ops_support import stamped


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def previous_revision() -> str:
    """The revision just before the code's head."""
    script = ScriptDirectory(str(resource_dir("migrations")))
    [head] = script.get_heads()
    return script.get_revision(head).down_revision


@pytest.fixture
def migrated(app):
    """The test database marked as migrated to the code's head."""
    with stamped(app):
        yield app


def other_app(database_uri: str, tmp_path: Path, **settings):
    """An app of its own (not the suite's database), for probes of a broken setup."""
    return create_app(base_config(database_uri, **settings))


def test_healthz_answers_ok_without_a_database(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    # A database that cannot be reached: the process is still up, and healthz says so.
    app = other_app(f"postgresql+psycopg://nobody@127.0.0.1:{closed_port()}/none", tmp_path)
    client = app.test_client()
    response = client.get("/healthz")
    assert (response.status_code, response.get_json()) == (200, {"status": "ok"})
    assert client.get("/readyz").status_code == 503


def test_healthz_sets_no_cookie_even_for_a_signed_in_browser(client, signed_in_customer):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_is_ready_when_the_database_answers_at_the_head_revision(client, migrated):
    response = client.get("/readyz")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "ready"
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["migrations"] == {"ok": True, "revision": ",".join(code_heads(
        client.application))}


def test_readyz_is_unavailable_when_migrations_have_not_run(client):
    # The suite's schema is built with create_all: no Alembic revision recorded at all.
    response = client.get("/readyz")
    assert response.status_code == 503
    migrations = response.get_json()["checks"]["migrations"]
    assert migrations["ok"] is False and migrations["database"] is None
    assert "flask db upgrade" in migrations["error"]


def test_readyz_is_unavailable_on_a_database_left_at_an_older_revision(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    older = previous_revision()
    app = other_app("sqlite:///" + str(tmp_path / "older.db"), tmp_path)
    from flask_migrate import stamp

    with app.app_context():
        stamp(revision=older)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["migrations"]["database"] == older
    assert body["checks"]["migrations"]["code"] == ",".join(code_heads(app))


@pytest.mark.parametrize("setting, check", [
    ("WORKER_REDIS_URL", "redis_worker"),
    ("RATELIMIT_STORAGE_URI", "redis_ratelimit"),
])
def test_readyz_names_a_redis_that_does_not_answer_and_never_its_password(
        app_config_for_redis, migrated, setting, check):
    app = app_config_for_redis(setting)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["checks"][check] == {"ok": False, "error": "ConnectionError"}
    assert body["checks"]["database"]["ok"] and body["checks"]["migrations"]["ok"]
    text = response.get_data(as_text=True)
    assert "hunter2" not in text and "127.0.0.1" not in text


@pytest.fixture
def app_config_for_redis(database_uri, tmp_path, monkeypatch):
    """``make(setting)``: an app on the suite's database whose ``setting`` names a Redis on a
    closed port, with a password in its URL."""
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "redis-instance"))

    def make(setting: str):
        url = f"redis://:hunter2@127.0.0.1:{closed_port()}/0"
        return create_app(base_config(database_uri, **{setting: url, "WORKER_MODE": "external"}))

    return make


def test_readyz_checks_a_redis_that_answers(database_uri, migrated, tmp_path, monkeypatch):
    import redis

    try:
        redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379 (the suite's shared Redis)")
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "redis-instance"))
    app = create_app(base_config(database_uri, WORKER_REDIS_URL="redis://127.0.0.1:6379/1",
                                 WORKER_MODE="external"))
    response = app.test_client().get("/readyz")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["checks"]["redis_worker"] == {"ok": True}


@pytest.fixture
def production_app(database_uri, tmp_path, monkeypatch):
    """The app as production runs it: only billing.example.com is a trusted host."""
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "prod-instance"))
    return create_app(base_config(
        database_uri, ENV="production", SECRET_KEY=TEST_SECRET + "-Zq8",
        PUBLIC_URL="https://billing.example.com", MAIL_BACKEND="smtp",
        RATELIMIT_SINGLE_PROCESS=True, WORKER_MODE="external", TESTING=False))


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_answer_a_load_balancer_that_names_the_process_by_its_ip(
        production_app, migrated, path):
    client = production_app.test_client()
    response = client.get(path, headers={"Host": "10.0.3.7:8000"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] in ("ok", "ready")
    # Every other page still refuses a host it does not know.
    assert client.get("/p/signed-out", headers={"Host": "10.0.3.7:8000"}).status_code == 400
    assert client.post(path, headers={"Host": "10.0.3.7:8000"}).status_code == 400
