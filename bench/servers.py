"""What the benchmarks share: scratch PostgreSQL databases, and gunicorn servers started in
production mode on loopback (bench/throughput.py, bench/load.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def create_database(admin_uri: str, name: str) -> str:
    """A new empty database ``name`` beside ``admin_uri``'s; its URI."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    engine = create_engine(admin_uri, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return make_url(admin_uri).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_uri: str, name: str) -> None:
    """Drop ``name``, closing whatever sessions are still in it."""
    from sqlalchemy import create_engine, text

    engine = create_engine(admin_uri, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def production_env(database_uri: str, tmp: Path, redis_uri: str, secret: str) -> dict:
    """The environment of a production start on ``database_uri`` (set up front, so the benches
    keep starting as production checks are added)."""
    env = dict(os.environ)
    env.update({
        "PORTAL_ENV": "production",
        "PORTAL_SECRET_KEY": secret,  # the key the signed-in cookie was made with
        "PORTAL_SQLALCHEMY_DATABASE_URI": database_uri,
        "PORTAL_MAIL_BACKEND": "smtp",
        "PORTAL_MAIL_SUPPRESS_SEND": "true",
        "PORTAL_RATELIMIT_STORAGE_URI": redis_uri,
        "PORTAL_RATELIMIT_KEY_PREFIX": f"bench{os.getpid()}",
        "PORTAL_PUBLIC_URL": "https://127.0.0.1:8000",
        "PORTAL_TRUSTED_HOSTS": '["127.0.0.1"]',
        "PORTAL_PROXY_FIX_X_FOR": "0",
        "PORTAL_INSTANCE_PATH": str(tmp / "instance"),
        "PYTHONPATH": str(ROOT),
    })
    return env


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(target: str, port: int, workers: int, *, cwd: Path, env: dict, log: Path):
    """gunicorn serving ``target`` on ``port`` with sync workers, its log in ``log``."""
    gunicorn = Path(sys.executable).with_name("gunicorn")
    command = [str(gunicorn) if gunicorn.exists() else "gunicorn", "--workers", str(workers),
               "--worker-class", "sync", "--bind", f"127.0.0.1:{port}",
               "--error-logfile", str(log / f"gunicorn-{port}.log"), target]
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT)


def wait_until_up(port: int, servers: list, timeout: float = 60) -> None:
    """Until a worker answers (the socket opens before the workers have built the app)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(server.poll() is not None for server in servers):
            raise SystemExit("a gunicorn server exited early; its log is gunicorn-<port>.log")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/static/portal.css", timeout=30):
                return
        except urllib.error.HTTPError:
            return  # the hello-world has no stylesheet, but it answered
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing answered on port {port} within {timeout} s")


def stop_servers(servers: list) -> None:
    """SIGTERM each server, then SIGKILL whichever has not stopped within 15 seconds."""
    for server in servers:
        server.send_signal(signal.SIGTERM)
    for server in servers:
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
