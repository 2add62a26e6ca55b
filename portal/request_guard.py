"""Requests the portal's pages cannot use are refused before any view (or CSRF check) runs.

- Ids in the URL are checked against the shape every id has, so a NUL byte or a 10 kB string
  never reaches a query (PostgreSQL refuses NUL in text and the request would fail with 500).
- The customer pages' forms take form-encoded or multipart text only. A JSON body would be
  read by Flask-WTF as form data with numbers, lists and nulls in it, and skip what the views
  read from ``request.form`` (the address form saved ``state=Narnia`` that way): it is a 415.
  A file where text is expected is a 400. A body that cannot be read (a broken chunked
  upload, a client gone half-way) is a 400, never a 500.

The API (``/v1``, later) takes JSON, so the body rules cover the form routes only.
"""

from __future__ import annotations

import re

from flask import Flask, request
from werkzeug.exceptions import BadRequest, ClientDisconnected, NotFound, UnsupportedMediaType

# Ids are prefixed random letters and digits (portal.ids), login link ids are
# secrets.token_urlsafe (letters, digits, - and _).
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# The login link view answers a malformed link id with its own "link not active" page.
_CHECKED_BY_THEIR_VIEW = {"link_id"}

FORM_ROUTE_PREFIXES = ("/p/", "/dev/")
FORM_CONTENT_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# The largest form is a few kilobytes. Werkzeug bounds multipart parts (MAX_FORM_MEMORY_SIZE)
# but reads a form-encoded body of any size into memory, so the form routes bound the body.
FORM_BODY_LIMIT = 256 * 1024
# The dashboard's forms may carry one product image, icon or logo (under 2 MB each).
ADMIN_BODY_LIMIT = 3 * 1024 * 1024


class FileNotAccepted(BadRequest):
    """A file was posted to a form that has only text fields."""

    description = "This form takes typed text only: files cannot be sent with it."


class UnreadableBody(BadRequest):
    """The request body could not be read to the end."""

    description = "The form did not arrive in one piece."


class FormBodyRequired(UnsupportedMediaType):
    """A body of another type (JSON, XML, plain text) was posted to a form route."""

    description = "This form must be sent from the page it is on."


def register_request_guard(app: Flask) -> None:
    """Check URL ids on every route, and request bodies on the form routes."""
    app.url_value_preprocessor(check_url_ids)
    # First of the before-request functions: Flask-WTF's CSRF check reads the form, and a body
    # that cannot be read must be answered here rather than crash there.
    app.before_request_funcs.setdefault(None, []).insert(0, refuse_unusable_bodies)


def check_url_ids(endpoint: str | None, values: dict | None) -> None:
    """404 for any ``..._id`` in the URL that cannot be an id, exactly like an unknown one."""
    for name, value in (values or {}).items():
        if name.endswith("_id") and name not in _CHECKED_BY_THEIR_VIEW and isinstance(value, str) \
                and not _ID.fullmatch(value):
            raise NotFound()


def refuse_unusable_bodies() -> None:
    """415 for a form route's body that is not a form, 400 for files or an unreadable body,
    413 for one larger than any form."""
    if request.method not in _BODY_METHODS:
        return
    if request.path.startswith("/admin"):
        # Bounded here, before the CSRF check parses the body: the dashboard's largest form
        # carries one image under 2 MB.
        configured = request.max_content_length
        request.max_content_length = min(configured or ADMIN_BODY_LIMIT, ADMIN_BODY_LIMIT)
        return
    if not request.path.startswith(FORM_ROUTE_PREFIXES):
        return
    configured = request.max_content_length
    request.max_content_length = min(configured or FORM_BODY_LIMIT, FORM_BODY_LIMIT)
    try:
        if request.mimetype not in FORM_CONTENT_TYPES:
            # An empty body of no type is a button with no fields (the CSRF check decides).
            if request.get_data(cache=True):
                raise FormBodyRequired()
            return
        has_files = bool(request.files)  # parses the whole form, so reading errors show here
    except (OSError, ValueError, ClientDisconnected) as error:
        # Werkzeug's chunked decoder and servers' (gunicorn's InvalidChunkSize) raise OSError or
        # ValueError; Werkzeug's stream turns them, and a body cut short, into ClientDisconnected.
        raise UnreadableBody() from error
    if has_files:
        raise FileNotAccepted()
