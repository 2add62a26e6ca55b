"""Prometheus metrics (prometheus_client), served at /metrics when PORTAL_METRICS_ENABLED.

Two kinds, each where it is right:

- Counters and the latency histogram count what happens, in the process it happens in:
  requests (by route, never the raw path), outbox rows committed and delivery outcomes,
  passcode emails sent, payments by outcome. Under gunicorn with several workers they are
  kept in PROMETHEUS_MULTIPROC_DIR (prometheus_client's multiprocess mode, which
  portal.gunicorn_conf sets up) and /metrics adds every worker's up. ``rate()`` of them is
  what alerts use.
- Gauges of what is waiting (outbox rows queued, the oldest one's wait, rows given up on,
  the RQ queue and its failed jobs) are read from the database and Redis at scrape time
  (``QueueCollector``): the table is the truth whichever process, machine or cron run did the
  work, and a counter kept by one process cannot know what another one finished.

The counters are module globals: prometheus_client keeps one registry per process, and the
multiprocess files are per process too, so several apps in one process (the tests) share
them, as they share the database.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time
from datetime import timedelta
from itertools import chain

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import event, func, inspect, select, text
from sqlalchemy.orm import Session as OrmSession

from portal.ops.logs import ROUTE_KEY

log = logging.getLogger("portal.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
PASSCODE_TEMPLATE = "login_code"
# Every other method (a scanner's "PROPFIND") is counted as "other": a label value per
# invented method would grow the series without end.
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
_FINAL_PAYMENT_STATUSES = ("succeeded", "failed")
_PAYMENTS_NOTED = "portal.metrics.payments"
_OUTBOX_NOTED = "portal.metrics.outbox"

REQUEST_SECONDS = Histogram(
    "portal_http_request_duration_seconds",
    "Time from a request's arrival in the app to its answer, by route (the URL rule, never "
    "the raw path), method and status class.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
OUTBOX_ENQUEUED = Counter(
    "portal_outbox_enqueued", "Outbox rows committed (emails and webhook deliveries queued).",
    ["kind"])
OUTBOX_DELIVERIES = Counter(
    "portal_outbox_deliveries",
    "Outbox delivery attempts by outcome: sent, dropped (deliver=false), retry (the attempt "
    "failed and will be tried again), failed (given up on), expired, stopped (the webhook "
    "endpoint is gone or off).",
    ["kind", "outcome"])
PASSCODES_SENT = Counter(
    "portal_passcodes_sent", "Sign-in passcode emails the mail server accepted.")
PAYMENTS = Counter(
    "portal_payments",
    "Payments by outcome: succeeded, failed (declined, or no usable card), processing (the "
    "processor gave no answer; housekeeping asks again later).",
    ["outcome"])


def multiprocess_dir() -> str | None:
    """The directory of multiprocess mode, when this process runs in it."""
    path = os.environ.get(MULTIPROC_ENV)
    return path if path and os.path.isdir(path) else None


# ---- requests --------------------------------------------------------------------------------

def route_label(environ: dict) -> str:
    """The URL rule that answered, e.g. ``/p/invoices/<invoice_id>``: ids never become labels."""
    route = environ.get(ROUTE_KEY)
    if route:
        return route
    if (environ.get("PATH_INFO") or "").startswith("/static/"):
        return "/static/<path:filename>"  # answered by WhiteNoise before Flask
    return "<unmatched>"


def method_label(environ: dict) -> str:
    method = environ.get("REQUEST_METHOD") or "GET"
    return method if method in _METHODS else "other"


class RequestMetrics:
    """WSGI middleware timing every request, static files and refused hosts included."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        seen = {}

        def recording(status, headers, exc_info=None):
            seen["status"] = status
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, recording)
        finally:
            code = str(seen.get("status") or "500")[:1]
            REQUEST_SECONDS.labels(route_label(environ), method_label(environ),
                                   f"{code}xx").observe(time.perf_counter() - started)


# ---- outbox, passcodes and payments ---------------------------------------------------------

def outbox_delivered(kind: str, outcome: str, template: str | None = None) -> None:
    """Count one delivery attempt's outcome (portal.outbox.delivery.deliver_due)."""
    OUTBOX_DELIVERIES.labels(kind, outcome).inc()
    if kind == "email" and outcome == "sent" and template == PASSCODE_TEMPLATE:
        PASSCODES_SENT.inc()


def payment_outcome(outcome: str) -> None:
    """Count a payment that ended (or was left) in ``outcome``."""
    PAYMENTS.labels(outcome).inc()


@event.listens_for(OrmSession, "after_flush")
def _note_rows(session, flush_context) -> None:
    """Note what this transaction will count once it commits: new outbox rows, and payments
    that reached an outcome, whichever front door (portal, billing engine, housekeeping,
    API) recorded them."""
    from portal.outbox.models import OutboxMessage
    from portal.payments.models import Payment

    for obj in session.new:
        if isinstance(obj, OutboxMessage):
            session.info.setdefault(_OUTBOX_NOTED, []).append(obj.kind or "email")
    for obj in chain(session.new, session.dirty):
        if isinstance(obj, Payment) and obj.status in _FINAL_PAYMENT_STATUSES:
            if inspect(obj).attrs.status.history.added:
                session.info.setdefault(_PAYMENTS_NOTED, []).append(obj.status)


@event.listens_for(OrmSession, "after_commit")
def _count_committed(session) -> None:
    for kind in session.info.pop(_OUTBOX_NOTED, []):
        OUTBOX_ENQUEUED.labels(kind).inc()
    for status in session.info.pop(_PAYMENTS_NOTED, []):
        payment_outcome(status)


@event.listens_for(OrmSession, "after_soft_rollback")
def _forget_rolled_back(session, previous_transaction) -> None:
    if not session.in_transaction():
        session.info.pop(_OUTBOX_NOTED, None)
        session.info.pop(_PAYMENTS_NOTED, None)


# ---- read at scrape time ------------------------------------------------------------------------

class QueueCollector:
    """What is waiting, read from the database and the worker's Redis when scraped."""

    def __init__(self, app):
        self.app = app

    def collect(self):
        up = GaugeMetricFamily("portal_metrics_source_up",
                               "1 when the source of the queue gauges answered this scrape.",
                               labels=["source"])
        try:
            yield from self._outbox()
            up.add_metric(["database"], 1)
        except Exception as error:  # a scrape must still answer with what it has
            log.warning("metrics: could not read the outbox: %s", type(error).__name__)
            up.add_metric(["database"], 0)
        if self.app.config.get("WORKER_MODE") == "redis":
            try:
                yield from self._rq()
                up.add_metric(["redis"], 1)
            except Exception as error:
                log.warning("metrics: could not read the RQ queue: %s", type(error).__name__)
                up.add_metric(["redis"], 0)
        yield up

    def _outbox(self):
        from portal import dbtypes
        from portal.extensions import db
        from portal.outbox.delivery import KINDS, unfinished
        from portal.outbox.models import OutboxMessage

        now = dbtypes.utcnow()
        with self.app.app_context():
            try:
                if db.session.get_bind().dialect.name == "postgresql":
                    db.session.execute(text("SET LOCAL statement_timeout = 2000"))
                waiting = dict.fromkeys(KINDS, 0)
                oldest = dict.fromkeys(KINDS, 0.0)
                for kind, count in db.session.execute(
                        select(OutboxMessage.kind, func.count())
                        .where(unfinished(OutboxMessage, None))
                        .group_by(OutboxMessage.kind)):
                    waiting[kind] = count
                for kind, first_due in db.session.execute(
                        select(OutboxMessage.kind, func.min(OutboxMessage.available_at))
                        .where(unfinished(OutboxMessage, None),
                               OutboxMessage.available_at <= now)
                        .group_by(OutboxMessage.kind)):
                    if first_due is not None:
                        oldest[kind] = max((now - first_due) / timedelta(seconds=1), 0.0)
                given_up = dict.fromkeys(KINDS, 0)
                for kind, count in db.session.execute(
                        select(OutboxMessage.kind, func.count())
                        .where(OutboxMessage.sent_at.is_(None),
                               OutboxMessage.failed_at.is_not(None))
                        .group_by(OutboxMessage.kind)):
                    given_up[kind] = count
            finally:
                db.session.rollback()
        pending = GaugeMetricFamily(
            "portal_outbox_pending", "Outbox rows neither sent nor given up on: queued, "
            "being sent, or waiting for a retry.", labels=["kind"])
        age = GaugeMetricFamily(
            "portal_outbox_oldest_due_seconds", "How long the oldest due outbox row has "
            "waited (0 when none is due): delivery is stuck when this grows.", labels=["kind"])
        failed = GaugeMetricFamily(
            "portal_outbox_given_up", "Outbox rows given up on after their last attempt, "
            "until housekeeping deletes them.", labels=["kind"])
        for kind in sorted(waiting):
            pending.add_metric([kind], waiting[kind])
            age.add_metric([kind], oldest.get(kind, 0.0))
            failed.add_metric([kind], given_up.get(kind, 0))
        yield from (pending, age, failed)

    def _rq(self):
        from rq import Queue
        from rq.registry import FailedJobRegistry

        from portal.outbox.jobs import redis_connection

        queue = Queue(self.app.config["WORKER_QUEUE"], connection=redis_connection(self.app))
        queued = GaugeMetricFamily("portal_rq_jobs_queued", "Jobs waiting on the RQ queue.",
                                   labels=["queue"])
        failed = GaugeMetricFamily("portal_rq_jobs_failed",
                                   "Jobs in the RQ queue's failed job registry.",
                                   labels=["queue"])
        queued.add_metric([queue.name], queue.count)
        failed.add_metric([queue.name], FailedJobRegistry(queue=queue).count)
        yield from (queued, failed)


class _ThisProcess:
    """The default registry's metrics (this process only), for a registry of our own."""

    def collect(self):
        yield from REGISTRY.collect()


def registry_for(app) -> CollectorRegistry:
    """Every worker's counters (multiprocess mode) or this process's, and the queue gauges."""
    registry = CollectorRegistry()
    path = multiprocess_dir()
    if path:
        from prometheus_client.multiprocess import MultiProcessCollector

        MultiProcessCollector(registry, path=path)
    else:
        registry.register(_ThisProcess())
    registry.register(QueueCollector(app))
    return registry


def exposition(app) -> tuple[bytes, str]:
    """The text a scrape gets, and its content type."""
    return generate_latest(registry_for(app)), CONTENT_TYPE_LATEST


# ---- who may scrape ------------------------------------------------------------------------------

def allowed_networks(config) -> list:
    """PORTAL_METRICS_ALLOWED_NETWORKS as networks (loopback always)."""
    value = config.get("METRICS_ALLOWED_NETWORKS") or []
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    networks = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]
    networks += [ipaddress.ip_network(str(item), strict=False) for item in value]
    return networks


def may_scrape(config, environ: dict, authorization: str | None) -> bool:
    """A scrape is answered with the bearer token (PORTAL_METRICS_TOKEN), or without one from
    an allowed network on a direct connection: a request that came through a proxy (it carries
    X-Forwarded-For or Forwarded) may be anyone's, so only the token admits it."""
    token = config.get("METRICS_TOKEN")
    if token and authorization:
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                              str(token).encode()):
            return True
    if environ.get("HTTP_X_FORWARDED_FOR") or environ.get("HTTP_FORWARDED"):
        return False
    from portal.proxy import parsed_ip, peer_address

    address = parsed_ip(peer_address(environ))
    if address is None:
        return False
    ip = ipaddress.ip_address(address)
    return any(ip in network for network in allowed_networks(config))


def init_app(app) -> None:
    """Time every request (outermost, so what the app refuses early is timed too)."""
    app.wsgi_app = RequestMetrics(app.wsgi_app)


def serve_worker_metrics(app, port: int, host: str = "127.0.0.1"):
    """``flask worker --metrics-port``: this worker's counters and the queue gauges on their own
    port (prometheus_client's server, in a thread)."""
    from prometheus_client import start_http_server

    return start_http_server(port, addr=host, registry=registry_for(app))


__all__ = ["exposition", "init_app", "may_scrape", "outbox_delivered", "payment_outcome",
           "serve_worker_metrics"]
