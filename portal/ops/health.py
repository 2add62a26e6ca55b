"""Probes for load balancers and orchestrators, and the metrics scrape.

- ``/healthz``: the process is up and answering. Touches nothing else, so a database outage
  never makes a load balancer kill healthy processes (restarting them would not help).
- ``/readyz``: this process can serve: the database answers ``SELECT 1`` within
  PORTAL_READYZ_TIMEOUT_SECONDS, every Redis the configuration names answers PING, and the
  database's Alembic revision is the code's head (a deploy whose ``db upgrade`` has not run
  yet is not ready). 200 or 503, with a small JSON body naming each check; a failure names
  the error's class, never a URL (the password, the internal host).
- ``/metrics``: Prometheus text, when PORTAL_METRICS_ENABLED (portal.ops.metrics).

All three are GET only, never rate limited, set no cookie, and are answered whatever Host
the request names (portal.proxy.TrustedHostsOnly lets these paths by): load balancers and
Prometheus reach each process by its IP address, and these answers build no URL and no
redirect, which is what the host check protects.
"""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from portal.extensions import limiter

log = logging.getLogger("portal.health")

bp = Blueprint("ops", __name__)

# Paths the trusted-hosts check lets by (see the module docstring).
PROBE_PATHS = ("/healthz", "/readyz", "/metrics")
_ENGINE = "portal.ops.readyz_engine"
_REDIS = "portal.ops.readyz_redis"
_HEADS = "portal.ops.alembic_heads"
_NO_STORE = {"Cache-Control": "no-store"}


@bp.get("/healthz")
@limiter.exempt
def healthz():
    """The process is up."""
    return jsonify(status="ok"), 200, _NO_STORE


@bp.get("/readyz")
@limiter.exempt
def readyz():
    """Database, Redis and migrations checked: 200 when all pass, else 503 naming the failures."""
    app = current_app._get_current_object()
    checks = {"database": check_database(app)}
    checks["migrations"] = check_migrations(app) if checks["database"]["ok"] else {
        "ok": False, "error": "database unavailable"}
    for name, url in redis_urls(app.config).items():
        checks[name] = check_redis(app, name, url)
    ready = all(check["ok"] for check in checks.values())
    if not ready:
        log.warning("readyz: not ready: %s", ", ".join(
            f"{name} ({check.get('error')})" for name, check in checks.items() if not check["ok"]))
    body = {"status": "ready" if ready else "unavailable", "checks": checks}
    return jsonify(body), 200 if ready else 503, _NO_STORE


@bp.get("/metrics")
@limiter.exempt
def metrics():
    """Prometheus text: every worker's counters and the queue gauges (PORTAL_METRICS_*)."""
    from portal.ops import metrics as portal_metrics

    app = current_app._get_current_object()
    if not app.config.get("METRICS_ENABLED"):
        return Response("Not found\n", 404, mimetype="text/plain")
    if not portal_metrics.may_scrape(app.config, request.environ,
                                     request.headers.get("Authorization")):
        return Response("Metrics need PORTAL_METRICS_TOKEN as a bearer token, or a direct "
                        "connection from PORTAL_METRICS_ALLOWED_NETWORKS.\n", 403,
                        mimetype="text/plain", headers=_NO_STORE)
    body, content_type = portal_metrics.exposition(app)
    return Response(body, 200, content_type=content_type, headers=_NO_STORE)


# ---- the checks -----------------------------------------------------------------------------

def timeout_seconds(config) -> float:
    return float(config.get("READYZ_TIMEOUT_SECONDS") or 2)


def _probe_engine(app):
    """An engine of its own for the probe, with short connect and statement timeouts: a
    database that stopped answering must fail the check, not hang it (the app's own pool has
    no timeout of its own)."""
    engine = app.extensions.get(_ENGINE)
    if engine is None:
        url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
        seconds = timeout_seconds(app.config)
        options: dict = {}
        if url.get_backend_name() == "postgresql":
            options = {"pool_size": 1, "max_overflow": 1, "pool_pre_ping": True,
                       "connect_args": {"connect_timeout": max(round(seconds), 1),
                                        "options": f"-c statement_timeout={int(seconds * 1000)}"}}
        elif url.get_backend_name() == "sqlite":
            options = {"connect_args": {"timeout": seconds}}
        engine = app.extensions.setdefault(_ENGINE, create_engine(url, **options))
    return engine


def check_database(app) -> dict:
    """``SELECT 1`` answered."""
    try:
        with _probe_engine(app).connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:
        return {"ok": False, "error": type(error).__name__}
    return {"ok": True}


def code_heads(app) -> set[str]:
    """The Alembic head revision(s) of the migrations shipped with this code."""
    heads = app.extensions.get(_HEADS)
    if heads is None:
        from alembic.script import ScriptDirectory

        from portal import resource_dir

        directory = Path(resource_dir("migrations"))
        heads = app.extensions.setdefault(_HEADS, frozenset(
            ScriptDirectory(str(directory)).get_heads()))
    return set(heads)


def database_revisions(app) -> set[str]:
    """The revision(s) in the database's alembic_version table (empty when it has none)."""
    from sqlalchemy import inspect

    with _probe_engine(app).connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return set()
        return {row[0] for row in connection.execute(text(
            "SELECT version_num FROM alembic_version"))}


def check_migrations(app) -> dict:
    """The database is at the code's head revision."""
    try:
        expected, found = code_heads(app), database_revisions(app)
    except Exception as error:
        return {"ok": False, "error": type(error).__name__}
    if found == expected:
        return {"ok": True, "revision": ",".join(sorted(found))}
    return {"ok": False, "error": "not at the code's head revision (run flask db upgrade)",
            "database": ",".join(sorted(found)) or None, "code": ",".join(sorted(expected))}


def redis_urls(config) -> dict[str, str]:
    """Every Redis the configuration names, by check name."""
    urls = {}
    storage = str(config.get("RATELIMIT_STORAGE_URI") or "")
    if storage.startswith(("redis://", "rediss://", "unix://")) and config.get(
            "RATELIMIT_ENABLED", True):
        urls["redis_ratelimit"] = storage
    if config.get("WORKER_REDIS_URL"):
        urls["redis_worker"] = str(config["WORKER_REDIS_URL"])
    return urls


def check_redis(app, name: str, url: str) -> dict:
    """The Redis at ``url`` answers PING."""
    from redis import Redis

    clients = app.extensions.setdefault(_REDIS, {})
    client = clients.get(url)
    if client is None:
        seconds = timeout_seconds(app.config)
        client = clients.setdefault(url, Redis.from_url(
            url, socket_connect_timeout=seconds, socket_timeout=seconds))
    try:
        client.ping()
    except Exception as error:
        from portal.outbox.jobs import safe_url

        log.warning("readyz: %s at %s did not answer: %s", name, safe_url(url),
                    type(error).__name__)
        return {"ok": False, "error": type(error).__name__}
    return {"ok": True}
