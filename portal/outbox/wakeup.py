"""Waking the deliverers when a commit added outbox rows, and the in-process deliverers.

A session that flushed an ``OutboxMessage`` wakes delivery after it commits (never before:
the worker must find the row, and a rolled-back row must never be sent). What wakes depends
on WORKER_MODE:

- ``inline-thread``: a few threads in this app process (OUTBOX_THREADS for emails,
  WEBHOOK_THREADS for webhooks), started on the first request or the first wake, which also
  look every OUTBOX_POLL_SECONDS. Several processes
  (gunicorn workers) each run theirs; the database lease keeps each email to one of them.
- ``redis``: a "deliver outbox" job is put on the RQ queue for ``flask worker`` to run.
- ``external``: nothing here; ``flask worker`` looks every OUTBOX_POLL_SECONDS.
"""

from __future__ import annotations

import atexit
import logging
import threading

from flask import Flask, current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session as OrmSession

from portal.outbox.models import OutboxMessage

log = logging.getLogger("portal.outbox")

_ADDED = "portal.outbox.added"
_EXTENSION = "portal.outbox.inline"
_REDIS = "portal.outbox.redis"


def init_app(app: Flask) -> None:
    """Start the in-process deliverers with the first request, in inline-thread mode."""
    if app.config["WORKER_MODE"] != "inline-thread":
        return

    @app.before_request
    def _start_delivery() -> None:
        inline_worker(app).start()


def wake(app: Flask) -> None:
    """Tell the deliverers that rows were committed; never raises (the safety net's poll
    finds the rows anyway)."""
    mode = app.config["WORKER_MODE"]
    if mode == "inline-thread":
        worker = inline_worker(app)
        worker.start()
        worker.wake()
    elif mode == "redis":
        try:
            from portal.outbox import jobs

            jobs.enqueue_delivery(app)
        except Exception as error:
            log.warning("outbox: could not wake the worker through Redis: %s; it will find "
                        "the email within PORTAL_OUTBOX_POLL_SECONDS", type(error).__name__)


# ---- the commit hook -------------------------------------------------------------------------

@event.listens_for(OrmSession, "after_flush")
def _note_added_rows(session, flush_context) -> None:
    if any(isinstance(obj, OutboxMessage) for obj in session.new):
        session.info[_ADDED] = True


@event.listens_for(OrmSession, "after_commit")
def _wake_after_commit(session) -> None:
    if session.info.pop(_ADDED, False) and has_app_context():
        wake(current_app._get_current_object())


@event.listens_for(OrmSession, "after_soft_rollback")
def _forget_rolled_back_rows(session, previous_transaction) -> None:
    if not session.in_transaction():
        session.info.pop(_ADDED, None)


# ---- in-process delivery -----------------------------------------------------------------------

class InlineWorker:
    """OUTBOX_THREADS daemon threads delivering one app's emails and WEBHOOK_THREADS its
    webhooks. Several, so one slow mail server conversation does not hold up other
    recipients' emails, nor a slow endpoint any email."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.poll_seconds = float(app.config["OUTBOX_POLL_SECONDS"])
        self._stop = threading.Event()
        # Emails and webhooks have threads of their own: an endpoint that takes its time
        # never holds up a sign-in code.
        email_threads = max(int(app.config["OUTBOX_THREADS"]), 1)
        webhook_threads = max(int(app.config.get("WEBHOOK_THREADS", 1)), 1)
        self._kinds = [("email",)] * email_threads + [("webhook",)] * webhook_threads
        self._wakes = [threading.Event() for _ in self._kinds]
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the threads, once."""
        if self._threads or self._stop.is_set():
            return
        with self._lock:
            if self._threads or self._stop.is_set():
                return
            for number, (wake_event, kinds) in enumerate(zip(self._wakes, self._kinds,
                                                             strict=True)):
                thread = threading.Thread(target=self._run, args=(wake_event, kinds),
                                          daemon=True, name=f"outbox-{kinds[0]}-{number}")
                thread.start()
                self._threads.append(thread)
            if self.app.config.get("WORKER_SCHEDULE_IN_PROCESS"):
                thread = threading.Thread(target=self._run_schedule, daemon=True,
                                          name="outbox-schedule")
                thread.start()
                self._threads.append(thread)
            with _running_lock:
                _running.add(self)

    def wake(self) -> None:
        """Have every thread look for due rows now."""
        for wake_event in self._wakes:
            wake_event.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the threads after the email each is sending."""
        self._stop.set()
        self.wake()
        for thread in self._threads:
            thread.join(timeout)
        with _running_lock:
            _running.discard(self)

    def _run(self, wake_event: threading.Event, kinds: tuple[str, ...]) -> None:
        from portal.outbox.delivery import deliver_due

        while not self._stop.is_set():
            # Wait first: started by a request, the first look is one poll later; started by
            # a commit, the wake is already set.
            wake_event.wait(self.poll_seconds)
            wake_event.clear()
            if self._stop.is_set():
                break
            try:
                with self.app.app_context():
                    deliver_due(stop=self._stop, kinds=kinds)
            except Exception as error:  # the database went away; try again next time
                log.error("outbox: delivery failed: %s", type(error).__name__)


    def _run_schedule(self) -> None:
        """Housekeeping and the billing run on their intervals, as `flask worker` runs them."""
        from portal.outbox.jobs import Ticker, schedule

        jobs = [job for job in schedule(self.app.config) if job.name != "deliver-outbox"]
        # This process's own claims: without Redis there is no one else to agree with.
        ticker = Ticker(jobs, claim=lambda name, period, seconds: True)
        while not self._stop.wait(1.0):
            for job in ticker.due():
                try:
                    with self.app.app_context():
                        job.func()
                except Exception as error:  # logged; the next period tries again
                    log.error("outbox: scheduled %s failed: %s", job.name,
                              type(error).__name__)


_running: set[InlineWorker] = set()
_running_lock = threading.Lock()


def inline_worker(app: Flask) -> InlineWorker:
    """The app's in-process deliverer (made, not started, on first use)."""
    worker = app.extensions.get(_EXTENSION)
    if worker is None:
        worker = app.extensions.setdefault(_EXTENSION, InlineWorker(app))
    return worker


def stop_all(timeout: float = 10.0) -> None:
    """Stop every in-process deliverer of this process (at exit, and between tests)."""
    with _running_lock:
        workers = list(_running)
    for worker in workers:
        worker.stop(timeout)


# A thread killed at exit mid-send would leave its row to be sent again after the lease.
atexit.register(stop_all, 5.0)
