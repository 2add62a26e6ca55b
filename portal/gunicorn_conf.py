"""gunicorn's configuration for the portal: ``gunicorn -c python:portal.gunicorn_conf wsgi:app``
(from a wheel: ``gunicorn -c python:portal.gunicorn_conf 'portal:create_app()'``).

Every value can be changed by an environment variable (README "Running in production"), and
gunicorn's own command-line options still win over this file. The file is read by gunicorn's
master process before any worker starts, so it also prepares what the workers share: the
Prometheus multiprocess directory.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile

from gunicorn.glogging import Logger

from portal.config import gunicorn_workers


def _number(name: str, default, kind=int):
    value = str(os.environ.get(name) or "").strip()
    try:
        return kind(value) if value else default
    except ValueError:
        raise SystemExit(f"portal: {name} must be a number, not {value!r}") from None


def _on(name: str) -> bool:
    return str(os.environ.get(name) or "").strip().lower() in ("1", "true", "yes", "on")


def _bind() -> list[str]:
    if os.environ.get("PORTAL_BIND"):
        return os.environ["PORTAL_BIND"].replace(",", " ").split()
    if os.environ.get("PORT"):  # platforms that hand the app a port (Heroku, Render...)
        return [f"0.0.0.0:{os.environ['PORT']}"]  # noqa: S104  (the platform's router in front)
    return ["127.0.0.1:8000"]


def log_format() -> str:
    """PORTAL_LOG_FORMAT as the app reads it: json in production unless told otherwise."""
    chosen = str(os.environ.get("PORTAL_LOG_FORMAT") or "").strip().lower()
    if chosen:
        return chosen
    production = str(os.environ.get("PORTAL_ENV") or "").strip().lower() == "production"
    return "json" if production else "text"


# ---- the server ------------------------------------------------------------------------------

bind = _bind()
workers = gunicorn_workers()
# Threads in each worker (the gthread worker when more than one): a request waiting for the
# database or the payment processor does not hold up the others in its process.
threads = _number("PORTAL_GUNICORN_THREADS", 4)
# A request running longer than this has its worker killed and restarted: well above any page
# (a billing run is the worker's, never a request's).
timeout = _number("PORTAL_GUNICORN_TIMEOUT", 30)
# On SIGTERM (a deploy), requests in flight get this long to finish.
graceful_timeout = _number("PORTAL_GUNICORN_GRACEFUL_TIMEOUT", 30)
# Seconds an idle keep-alive connection stays open: a page and its assets share one.
keepalive = _number("PORTAL_GUNICORN_KEEPALIVE", 5)
# Restart each worker after this many requests (0: never), a little apart from each other,
# so a slow leak never grows for ever and the workers never restart all at once.
max_requests = _number("PORTAL_GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = max(max_requests // 10, 0)
# The workers' heartbeat files in memory, not on a disk that may stall (Docker's overlay).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108
accesslog = os.environ.get("PORTAL_GUNICORN_ACCESS_LOG", "-") or None
errorlog = os.environ.get("PORTAL_GUNICORN_ERROR_LOG", "-")
loglevel = os.environ.get("PORTAL_LOG_LEVEL", "info").lower()
proc_name = os.environ.get("PORTAL_GUNICORN_NAME", "billing-portal")
# gunicorn 25.1+ opens a control socket at one path per user ($HOME/.gunicorn/gunicorn.ctl):
# several portals on one machine would fight over it. Signals (HUP, TTIN, TTOU, TERM) do
# the same work; PORTAL_GUNICORN_CONTROL_SOCKET=true turns it back on.
control_socket_disable = not _on("PORTAL_GUNICORN_CONTROL_SOCKET")
# Not preloaded: each worker builds the app after the fork, with its own database pool and
# its own Prometheus files.
preload_app = False


# ---- Prometheus in multiprocess mode -----------------------------------------------------------

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_made_multiproc_dir = None
if _on("PORTAL_METRICS_ENABLED") and not os.environ.get(MULTIPROC_ENV):
    # Each worker counts in files here and /metrics adds them up, whichever worker the scrape
    # reaches. Set now, in the master, so every worker inherits it before it first imports
    # prometheus_client (which picks its mode then).
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108
    _made_multiproc_dir = tempfile.mkdtemp(prefix="portal-prometheus-", dir=base)
    os.environ[MULTIPROC_ENV] = _made_multiproc_dir


def on_starting(server) -> None:
    """A new server starts counting from zero: last run's files would add to this run's."""
    path = os.environ.get(MULTIPROC_ENV)
    if path:
        os.makedirs(path, exist_ok=True)
        for name in glob.glob(os.path.join(path, "*.db")):
            with contextlib.suppress(FileNotFoundError):
                os.remove(name)


def child_exit(server, worker) -> None:
    """A worker that exited stops counting in live gauges (its counters are kept)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    """Remove the multiprocess directory this file made (never one the operator named)."""
    if _made_multiproc_dir:
        shutil.rmtree(_made_multiproc_dir, ignore_errors=True)


# ---- logs ----------------------------------------------------------------------------------------

class PortalLogger(Logger):
    """gunicorn's logger with the portal's line format: each access line one JSON object
    (or a text line) with the request id, the route, the status and the duration; the error
    log in the same format."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        from portal.ops.logs import formatter_for

        chosen = log_format()
        for handler in self.error_log.handlers:
            handler.setFormatter(formatter_for(chosen))
        for handler in self.access_log.handlers:
            handler.setFormatter(formatter_for(chosen))

    def access(self, resp, req, environ, request_time) -> None:
        if not self.access_log_enabled:
            return
        try:
            from portal.ops.logs import ENVIRON_KEY
            from portal.ops.metrics import route_label
            from portal.portal_settings.sessions import redact_session_tokens

            status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) \
                else resp.status
            method = environ.get("REQUEST_METHOD")
            # The path without its query (which may carry anything), session tokens redacted.
            path = redact_session_tokens(environ.get("PATH_INFO") or "")
            duration_ms = round(request_time.total_seconds() * 1000, 1)
            fields = {
                "request_id": environ.get(ENVIRON_KEY), "method": method, "path": path,
                "route": route_label(environ), "status": int(status),
                "duration_ms": duration_ms, "bytes": getattr(resp, "sent", None),
                "remote_addr": environ.get("REMOTE_ADDR"),
                "user_agent": environ.get("HTTP_USER_AGENT"), "pid": os.getpid(),
            }
            if log_format() == "json":
                self.access_log.info("%s %s %s", method, path, status, extra=fields)
            else:
                self.access_log.info("%s %s %s %sms route=%s", method, path, status,
                                     duration_ms, fields["route"], extra=fields)
        except Exception:  # a log line must never fail a request
            self.error_log.exception("portal: could not write the access log line")


logger_class = PortalLogger
