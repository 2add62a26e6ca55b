"""The worker's jobs, the schedule that runs them, and ``flask --app portal worker``.

With WORKER_MODE=redis the worker is an RQ worker (SimpleWorker: jobs run in this process,
inside the app) with RQ's own scheduler for retries, plus a ticker thread that enqueues the
periodic jobs. Redis only wakes and schedules: which email is sent, and that it is sent once,
is decided by the lease in the database (portal/outbox/delivery.py), so a lost or repeated
job costs nothing but a query.

Periodic jobs are cut into periods of their interval counted from the epoch, and each period
is claimed in Redis with SET NX by the first ticker to get there. So however many workers
run, and however often they restart, each job is enqueued once per period. (RQ's
CronScheduler keeps its timetable in each process: every worker would enqueue every job,
and each restart would enqueue them all at once.)

In the other modes ``flask worker`` runs the same jobs in the foreground, without Redis:
run one such worker.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from urllib.parse import urlsplit, urlunsplit

import click
from flask import Flask, current_app, has_app_context

from portal import dbtypes
from portal.extensions import db

log = logging.getLogger("portal.worker")

_REDIS = "portal.worker.redis"
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
# RQ's own retries for the periodic jobs (a database restart, say): then the next period.
_JOB_RETRY_INTERVALS = [30, 120, 600]
# The billing engine may run long; nothing else should.
_BILLING_TIMEOUT_SECONDS = 3600
_JOB_TIMEOUT_SECONDS = 600
# Emails one delivery job sends at most, well inside its timeout (a timeout interrupting a
# send could repeat it); what is left goes with the next wake-up or poll.
_DELIVERY_BATCH = 200
# Nor does it start a send after this long: endpoints that time out one after another must
# not carry a job past its timeout.
_DELIVERY_BUDGET_SECONDS = _JOB_TIMEOUT_SECONDS / 3


# ---- the jobs ----------------------------------------------------------------------------------

@contextmanager
def _app_context():
    """A fresh app context (a session of its own) in the worker's app, or in one made from
    the environment when the job runs under a bare ``rq worker``."""
    app = current_app._get_current_object() if has_app_context() else _standalone_app()
    with app.app_context():
        yield app


@lru_cache(maxsize=1)
def _standalone_app() -> Flask:
    from portal import create_app

    return create_app()


def deliver_outbox() -> int:
    """Job: send every outbox email and webhook that is due; returns how many were handled."""
    from rq import get_current_job

    from portal.ops.logs import bound_request_id
    from portal.outbox.delivery import deliver_due

    job = get_current_job()
    # The request whose commit woke this job; each row is then logged under its own.
    with bound_request_id((job.meta or {}).get("request_id") if job else None), _app_context():
        return deliver_due(limit=_DELIVERY_BATCH, budget_seconds=_DELIVERY_BUDGET_SECONDS)


def housekeeping(now: datetime | None = None) -> dict:
    """Job: purge what can never be used again and settle payments left processing."""
    from portal.outbox import housekeeping as chores
    from portal.payments.gateway import get_gateway

    with _app_context() as app:
        return chores.run(db.session, now=now or dbtypes.utcnow(), config=app.config,
                          gateway=get_gateway())


def run_billing(now: datetime | None = None):
    """Job: one run of the billing engine (renewals, invoices, charges, retries) at ``now``,
    the real time by default; returns its summary."""
    from portal.billing.engine import run_from_app

    with _app_context() as app:
        summary = run_from_app(app, now=now)
    log.info("billing run: %s", summary.line())
    return summary


# ---- the schedule ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Periodic:
    """A job run every ``seconds`` (0 or less: never)."""

    name: str
    seconds: float
    func: Callable
    timeout: int = _JOB_TIMEOUT_SECONDS
    retry: bool = True


def schedule(config) -> list[Periodic]:
    """The periodic jobs: the outbox safety net, housekeeping and the billing run."""
    return [
        # Each commit that adds rows wakes delivery; this finds what a lost wake-up left.
        Periodic("deliver-outbox", float(config["OUTBOX_POLL_SECONDS"]), deliver_outbox,
                 retry=False),
        Periodic("housekeeping", float(config["HOUSEKEEPING_INTERVAL_SECONDS"]), housekeeping),
        Periodic("billing-run", float(config["BILLING_RUN_INTERVAL_SECONDS"]), run_billing,
                 timeout=_BILLING_TIMEOUT_SECONDS),
    ]


class Ticker:
    """Says which periodic jobs are due: each job once per period of its interval, counted
    from the epoch, and only when ``claim(name, period, seconds)`` wins that period."""

    def __init__(self, jobs: list[Periodic], claim: Callable[[str, int, float], bool]):
        self.jobs = [job for job in jobs if job.seconds > 0]
        self.claim = claim
        self._last: dict[str, int] = {}

    def due(self, timestamp: float | None = None) -> list[Periodic]:
        """The jobs whose current period this ticker has just claimed."""
        timestamp = time.time() if timestamp is None else timestamp
        found = []
        for job in self.jobs:
            period = int(timestamp // job.seconds)
            if self._last.get(job.name) == period:
                continue
            self._last[job.name] = period
            if self.claim(job.name, period, job.seconds):
                found.append(job)
        return found


def redis_claim(connection, prefix: str, owner: str) -> Callable[[str, int, float], bool]:
    """Claims shared by every worker on one Redis: the first SET NX of a period wins it."""
    def claim(name: str, period: int, seconds: float) -> bool:
        key = f"{prefix}:schedule:{name}:{period}"
        return bool(connection.set(key, owner, nx=True, ex=max(int(seconds * 2), 10)))

    return claim


# ---- Redis -------------------------------------------------------------------------------------

def redis_connection(app: Flask):
    """The app's Redis client for waking the worker: short timeouts, so a Redis that went
    away costs a request two seconds at most, never a hang."""
    client = app.extensions.get(_REDIS)
    if client is None:
        from redis import Redis

        client = app.extensions.setdefault(_REDIS, Redis.from_url(
            app.config["WORKER_REDIS_URL"], socket_connect_timeout=2, socket_timeout=2))
    return client


def enqueue_delivery(app: Flask) -> None:
    """Put a "deliver outbox" job on the queue (after a commit that added rows)."""
    from rq import Queue

    from portal.ops.logs import request_id

    rid = request_id()
    Queue(app.config["WORKER_QUEUE"], connection=redis_connection(app)).enqueue(
        deliver_outbox, result_ttl=0, failure_ttl=7 * 24 * 3600,
        job_timeout=_JOB_TIMEOUT_SECONDS, meta={"request_id": rid} if rid else None)


def _enqueue_periodic(queue, job: Periodic) -> None:
    from rq import Retry

    queue.enqueue(job.func, result_ttl=0, failure_ttl=7 * 24 * 3600, job_timeout=job.timeout,
                  retry=Retry(max=len(_JOB_RETRY_INTERVALS), interval=_JOB_RETRY_INTERVALS)
                  if job.retry else None)


def safe_url(url: str) -> str:
    """``url`` without its password, for messages."""
    parts = urlsplit(url)
    if parts.password:
        host = parts.hostname or ""
        netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


# ---- flask --app portal worker -----------------------------------------------------------------

def run_worker(app: Flask) -> int:
    """Run until SIGTERM or SIGINT; the exit status."""
    if not logging.getLogger().handlers:
        # A worker's log is all an operator sees of it: what was sent, retried, given up on.
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if app.config["WORKER_MODE"] == "redis":
        return _run_rq_worker(app)
    return _run_in_foreground(app)


def _run_rq_worker(app: Flask) -> int:
    from redis import Redis
    from redis.exceptions import RedisError
    from rq import Queue, SimpleWorker

    url = app.config["WORKER_REDIS_URL"]
    connection = Redis.from_url(url, socket_connect_timeout=5)
    try:
        connection.ping()
    except RedisError as error:
        click.echo(f"portal: cannot reach Redis at {safe_url(url)} (PORTAL_WORKER_REDIS_URL): "
                   f"{type(error).__name__}", err=True)
        return 1
    queue = Queue(app.config["WORKER_QUEUE"], connection=connection)
    os.register_at_fork(after_in_child=_die_with_parent)
    worker = SimpleWorker([queue], connection=connection)
    ticker = Ticker(schedule(app.config),
                    redis_claim(connection, app.config["WORKER_QUEUE"], worker.name))
    stop = threading.Event()
    poll = float(app.config["OUTBOX_POLL_SECONDS"])

    def tick() -> None:
        redis_down, next_delivery = False, 0.0
        while not stop.is_set():
            try:
                if redis_down:
                    connection.ping()
                for job in ticker.due():
                    _enqueue_periodic(queue, job)
                if redis_down:
                    redis_down = False
                    log.warning("worker: Redis is back; the queue delivers again")
            except RedisError as error:
                if not redis_down:
                    log.warning("worker: Redis is out of reach (%s): delivering the outbox "
                                "from the database every %g s until it is back; billing runs "
                                "and housekeeping wait for it", type(error).__name__, poll)
                redis_down = True
            if redis_down and time.monotonic() >= next_delivery:
                # The database, not Redis, says what is due: sign-in codes keep going out.
                next_delivery = time.monotonic() + poll
                _deliver_without_redis(app, stop)
            stop.wait(0.5)

    click.echo(f"portal worker: RQ worker {worker.name} on queue {queue.name} at "
               f"{safe_url(url)}; Ctrl+C or SIGTERM stops it after the job at hand")
    thread = threading.Thread(target=tick, name="worker-ticker", daemon=True)
    thread.start()
    try:
        # RQ handles SIGTERM and SIGINT itself: the job at hand finishes, then work() returns.
        # Its INFO lines are four per job, a delivery job every few seconds: warnings only;
        # what was sent, retried or given up on is logged by portal.outbox.
        worker.work(with_scheduler=True, logging_level="WARNING")
    finally:
        stop.set()
        thread.join(5)
    return 0


def _deliver_without_redis(app: Flask, stop: threading.Event) -> None:
    """One round of delivery straight from the database, as the queue's job would do."""
    from portal.outbox.delivery import deliver_due

    try:
        with app.app_context():
            deliver_due(stop=stop, limit=_DELIVERY_BATCH, budget_seconds=_DELIVERY_BUDGET_SECONDS)
    except Exception as error:  # the database went away too; the next round tries again
        log.error("worker: delivery without Redis failed: %s", type(error).__name__)


def _die_with_parent() -> None:
    """In a process the worker forks (RQ's scheduler): get SIGTERM when the worker dies, even
    by SIGKILL, instead of living on as an orphan that holds the queue's scheduler lock."""
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: systemd's cgroup stop still ends it
        return
    if os.getppid() != parent:  # the worker died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _run_in_foreground(app: Flask) -> int:
    from portal.outbox.delivery import deliver_due

    stop = threading.Event()

    def request_stop(signum, frame) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    ticker = Ticker(schedule(app.config), lambda name, period, seconds: True)
    poll = float(app.config["OUTBOX_POLL_SECONDS"])
    click.echo(f"portal worker: delivering the outbox in this process every {poll:g} s "
               f"(PORTAL_WORKER_MODE={app.config['WORKER_MODE']}); Ctrl+C or SIGTERM stops it")
    while not stop.is_set():
        for job in ticker.due():
            if stop.is_set():
                break
            try:
                if job.func is deliver_outbox:
                    with app.app_context():
                        deliver_due(stop=stop, limit=_DELIVERY_BATCH,
                                    budget_seconds=_DELIVERY_BUDGET_SECONDS)
                else:
                    job.func()
            except Exception as error:  # the next period tries again
                log.error("worker: %s failed: %s", job.name, type(error).__name__)
        stop.wait(min(poll, 1.0))
    click.echo("portal worker: stopped")
    return 0
