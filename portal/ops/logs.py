"""Log lines as JSON (or text), each naming the request it belongs to.

Every request gets a request id: the client's ``X-Request-Id`` when it is a short, safe token
(a proxy or load balancer that made one), else a new one. It is echoed in the response's
``X-Request-Id``, kept in a context variable for this thread (``request_id()``), and added to
every log record (``RequestIdFilter``). An outbox row written during the request carries it
in ``payload["request_id"]``, and the worker that delivers the row logs under that id
(``bound_request_id``), so one grep follows a sign-in from the click to the email.

The id is set by a WSGI middleware around the whole app rather than in ``before_request``:
answers made before Flask (a refused host, a static file) carry one too, and gunicorn's
access log reads it from the environ.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import uuid
from contextlib import contextmanager

from pythonjsonlogger.json import JsonFormatter

HEADER = "X-Request-Id"
ENVIRON_KEY = "portal.request_id"
ROUTE_KEY = "portal.route"
# Letters, digits and . _ : - only, so an id copied into a log line or a header can never
# break either (no spaces, quotes, newlines); long enough for a UUID or a trace id.
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")
LOG_FORMATS = ("json", "text")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("portal_request_id",
                                                                      default=None)


def request_id() -> str | None:
    """The id of the request (or job) this thread is working for, None outside one."""
    return _current.get()


def new_request_id() -> str:
    """A fresh id: 32 hex digits."""
    return uuid.uuid4().hex


def accepted_request_id(value: str | None) -> str | None:
    """``value`` when it is a safe short token to keep as the request id, else None."""
    if value and _SAFE_ID.fullmatch(value):
        return value
    return None


@contextmanager
def bound_request_id(value: str | None):
    """Log under ``value`` inside the block (the worker delivering a request's email)."""
    token = _current.set(accepted_request_id(value))
    try:
        yield
    finally:
        _current.reset(token)


class RequestIds:
    """WSGI middleware: give each request its id and answer with it in ``X-Request-Id``."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        rid = accepted_request_id(environ.get("HTTP_X_REQUEST_ID")) or new_request_id()
        environ[ENVIRON_KEY] = rid
        token = _current.set(rid)

        def with_request_id(status, headers, exc_info=None):
            headers = [(name, value) for name, value in headers if name.lower() != "x-request-id"]
            headers.append((HEADER, rid))
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, with_request_id)
        finally:
            _current.reset(token)


def note_route(response):
    """after_request: tell the access log and the metrics which route answered."""
    from flask import request

    if request.url_rule is not None:
        request.environ[ROUTE_KEY] = request.url_rule.rule
    return response


# ---- formatting ---------------------------------------------------------------------------

class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (None outside a request or job) to every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id()
        return True


class PortalJsonFormatter(JsonFormatter):
    """One JSON object a line: time (ISO 8601, UTC), level, logger, message, request_id, and
    any ``extra=`` fields the call gave."""

    def __init__(self) -> None:
        super().__init__(["levelname", "name", "message"],
                         rename_fields={"levelname": "level", "name": "logger"},
                         timestamp="time", json_ensure_ascii=False)

    def add_fields(self, log_record, record, message_dict) -> None:
        super().add_fields(log_record, record, message_dict)
        log_record.setdefault("request_id", getattr(record, "request_id", None))
        # "time" first, for people reading the lines.
        ordered = {"time": log_record.pop("time")}
        ordered.update(log_record)
        log_record.clear()
        log_record.update(ordered)


class TextFormatter(logging.Formatter):
    """The text lines, with the request id in brackets ("-" without one)."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None) is None:
            record.request_id = "-"
            try:
                return super().format(record)
            finally:
                record.request_id = None
        return super().format(record)


def formatter_for(log_format: str) -> logging.Formatter:
    """The formatter for PORTAL_LOG_FORMAT."""
    return PortalJsonFormatter() if log_format == "json" else TextFormatter()


class _PortalHandler(logging.StreamHandler):
    """The handler the portal installs, told apart from any the operator configured."""


def configure_logging(app) -> None:
    """Send log records to stderr in PORTAL_LOG_FORMAT at PORTAL_LOG_LEVEL, with request ids.

    Only when nothing else configured logging first: pytest's capture, a gunicorn
    ``logconfig_dict``, or an operator's own setup keep theirs (the request id filter still
    joins them)."""
    root = logging.getLogger()
    theirs = [handler for handler in root.handlers if not isinstance(handler, _PortalHandler)]
    for handler in root.handlers:
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())
    if theirs:
        return
    for handler in list(root.handlers):
        root.removeHandler(handler)  # ours, from an app built before in this process
    handler = _PortalHandler(sys.stderr)
    handler.setFormatter(formatter_for(app.config["LOG_FORMAT"]))
    handler.addFilter(RequestIdFilter())
    root.addHandler(handler)
    root.setLevel(app.config["LOG_LEVEL"])


def init_app(app) -> None:
    """Request ids on every request and response, and the log handler."""
    app.wsgi_app = RequestIds(app.wsgi_app)
    app.after_request(note_route)
    configure_logging(app)
