"""Error pages: every error a customer can meet is a branded page, never a bare one.

An error page must not fail itself: the session is rolled back first (a failed flush leaves
it unusable, and the layout reads the branding through it), and if the page still cannot be
rendered a small static page with the business name takes its place.

A database that went away (restarted, cut off, out of connections) is a 503 with Retry-After,
drawn as that static page straight away: the layout would only ask the lost database again.
The pool recovers by itself (pool_pre_ping tests each connection it hands out).
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from flask import (
    Flask,
    current_app,
    has_request_context,
    make_response,
    render_template,
    request,
    template_rendered,
    url_for,
)
from flask_babel import lazy_gettext as _l
from sqlalchemy import inspect as sqlalchemy_inspect
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from portal.extensions import db
from portal.request_guard import FileNotAccepted, FormBodyRequired, UnreadableBody

GENERIC_BUSINESS_NAME = "Billing portal"
_LAST_BUSINESS_NAME = "portal.last_business_name"

# (title, message) by status, or by the request guard's exception class; translated when the
# page is drawn, in the request's language.
PAGES = {
    400: (_l("Something was wrong with that request"), _l("Go back, reload the page and try again.")),
    404: (_l("Page not found"), _l("Check the address, or go back to the page you came from.")),
    405: (_l("This page cannot be used that way"),
          _l("Go back to the page you came from, reload it and try again.")),
    413: (_l("That was too much to send"),
          _l("Go back, shorten what you typed and try again.")),
    415: (_l("This form must be sent from the page it is on"),
          _l("Go back, reload the page and send the form from there.")),
    429: (_l("Too many attempts"), _l("Wait a few minutes, then try again.")),
    500: (_l("Sorry, something went wrong"), _l("Try again in a few minutes.")),
    FileNotAccepted: (_l("Files cannot be sent with this form"),
                      _l("This form takes typed text only. Go back, type the details into the "
                      "boxes and try again.")),
    UnreadableBody: (_l("The form did not arrive in one piece"),
                     _l("Go back, reload the page and send the form again.")),
    FormBodyRequired: (_l("This form must be sent from the page it is on"),
                       _l("Go back, reload the page and send the form from there.")),
}
# Headers of the error worth keeping on the page: which methods a URL takes, when to retry.
_KEPT_HEADERS = ("Allow", "Retry-After")

# The database out of reach, rather than a fault in a query: worth trying again shortly.
DATABASE_OUTAGES = (OperationalError, InterfaceError, DisconnectionError, PoolTimeoutError)
DATABASE_RETRY_AFTER_SECONDS = 10


# Paths whose errors are answered by another front door's renderer (the API answers JSON in
# Stripe's shape): (prefix, renderer(status, error) -> response).
_RENDERERS: list[tuple[str, Callable]] = []


def render_errors_under(prefix: str, renderer: Callable) -> None:
    """Answer errors under ``prefix`` with ``renderer(status, error)`` instead of a page."""
    if all(known != prefix for known, _ in _RENDERERS):
        _RENDERERS.append((prefix, renderer))


def register_error_pages(app: Flask) -> None:
    """A branded page for every error status a customer can meet."""
    for key, (title, message) in PAGES.items():
        status = key if isinstance(key, int) else key.code
        app.register_error_handler(key, _handler(status, title, message))
    for outage in DATABASE_OUTAGES:
        app.register_error_handler(outage, database_unavailable)
    # Registered after Flask-SQLAlchemy's, so it runs first (teardowns run in reverse).
    app.teardown_appcontext(_end_session_quietly)
    template_rendered.connect(_remember_business_name, app)


def _end_session_quietly(exc) -> None:
    """End the request's session; a connection the database cut off fails its ROLLBACK, and
    that must not turn an answered request into gunicorn's bare error page."""
    try:
        db.session.remove()
    except Exception as error:  # noqa: BLE001
        current_app.logger.warning("database unavailable while ending a request: %s",
                                   type(error).__name__)
        db.session.registry.clear()  # the pool tests the connection before it is used again


def database_unavailable(error):
    """503 with Retry-After when the database cannot be reached, without asking it again."""
    cause = getattr(error, "orig", None)
    # The class names only: a driver's message may quote the statement and its parameters.
    current_app.logger.warning("database unavailable: %s%s", type(error).__name__,
                               f" ({type(cause).__name__})" if cause is not None else "")
    _rollback(quiet=True)
    if has_request_context():
        for prefix, renderer in _RENDERERS:
            if request.path == prefix or request.path.startswith(prefix + "/"):
                response = renderer(503, error)
                response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
                return response
    title, message = PAGES[500]
    response = make_response(_static_page(title, message), 503)
    response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response


def _handler(status: int, title: str, message: str):
    def handle(error):
        original = getattr(error, "original_exception", None)
        if isinstance(original, DATABASE_OUTAGES):
            # Raised outside a view (opening the session, a teardown): Flask hands it to the
            # 500 handler rather than to the one registered for its class.
            return database_unavailable(original)
        if has_request_context():
            for prefix, renderer in _RENDERERS:
                if request.path == prefix or request.path.startswith(prefix + "/"):
                    _rollback()
                    return renderer(status, error)
        return error_page(status, title, message, error)

    return handle


def error_page(status: int, title: str, message: str, error=None):
    """The error page in the layout, or a static one if even that fails."""
    _rollback()
    # An unhandled exception reaches the 500 page as InternalServerError(original_exception).
    problem = _template_problem(getattr(error, "original_exception", None))
    try:
        response = make_response(render_template("error.html", title=title, message=message,
                                                 template_problem=problem), status)
    except Exception as failure:  # noqa: BLE001 (an error page must not itself fail)
        current_app.logger.exception("the %s error page could not be rendered", status)
        problem = _template_problem(failure) or problem
        _rollback()
        response = make_response(_static_page(title, message, problem), status)
    if error is not None and hasattr(error, "get_headers"):
        for name, value in error.get_headers():
            if name in _KEPT_HEADERS:
                response.headers[name] = value
    return response


def _template_problem(error) -> str | None:
    """A template's fault (a designer's override, usually): log its file and line in one line,
    and in development return it for the page, so the designer sees it there too. Never shown
    in production: customers see no internals."""
    if not isinstance(error, Exception):
        return None
    try:
        from portal.designer import designer_for
        from portal.designer.overrides import location_of

        location = location_of(error, designer_for())
    except Exception:  # noqa: BLE001
        return None
    if location is None:
        return None
    current_app.logger.error("template error in %s", location)
    return None if current_app.config.get("ENV") == "production" else str(location)


def _customer_text(text) -> str:
    """The words as texts.html rewords them; else translated; else the English (when even
    choosing the locale fails, as it may when the database is what broke)."""
    from portal.designer.texts import customer_text

    for attempt in (lambda: customer_text(text), lambda: text):
        try:
            return str(attempt())
        except Exception:  # noqa: BLE001, S112 (the static page is the last resort)
            continue
    return str(getattr(text, "_args", (text,))[0])  # a lazy text's English words


def _rollback(quiet: bool = False) -> None:
    try:
        db.session.rollback()
    except Exception as error:  # noqa: BLE001 (a broken connection must not stop the error page)
        if quiet:  # the database is known to be gone: one line, no traceback
            current_app.logger.warning("rolling back before an error page failed: %s",
                                       type(error).__name__)
        else:
            current_app.logger.exception("rolling back before an error page failed")


def _remember_business_name(sender, template, context, **extra) -> None:
    """Keep the business name of the last page rendered, for the static error page."""
    branding = context.get("branding")
    if branding is None:
        return
    try:
        # The loaded value only: reading an expired attribute would query the database.
        name = sqlalchemy_inspect(branding).dict.get("business_name")
    except Exception:  # noqa: BLE001
        return
    if name:
        sender.extensions[_LAST_BUSINESS_NAME] = name


def _static_page(title: str, message: str, problem: str | None = None) -> str:
    name = current_app.extensions.get(_LAST_BUSINESS_NAME) or GENERIC_BUSINESS_NAME
    try:
        stylesheet = f'<link rel="stylesheet" href="{escape(url_for("static", filename="portal.css"))}">'
    except Exception:  # noqa: BLE001
        stylesheet = ""
    title, message = _customer_text(title), _customer_text(message)
    title, message, name = escape(title), escape(message), escape(name)
    if problem:
        message += ("</p>\n<p class=\"notice notice--warning\">Template error (shown in "
                    f"development only): {escape(problem)}")
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title} – {name}</title>\n{stylesheet}\n</head>\n<body>\n"
        f'<header class="site-header"><div class="wrap"><span class="brand"><span>{name}'
        "</span></span></div></header>\n"
        f'<main id="main" class="wrap"><h1>{title}</h1>\n<p>{message}</p></main>\n'
        "</body>\n</html>\n"
    )
