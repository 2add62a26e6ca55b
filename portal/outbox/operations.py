"""Writing side effects to the outbox, in the caller's transaction."""

from __future__ import annotations

from datetime import datetime

from flask import has_request_context
from flask_babel import force_locale, get_locale
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.i18n import DEFAULT, shipped
from portal.outbox.models import OutboxMessage
from portal.outbox.sealing import seal


def enqueue_email(session: Session, *, to: str, subject: str, template: str, context: dict,
                  now: datetime, dedupe_key: str | None = None,
                  secret_context: dict | None = None, deliver: bool = True,
                  expires_at: datetime | None = None,
                  locale: str | None = None,
                  fallback_locale: str | None = None) -> OutboxMessage:
    """Queue ``emails/<template>.txt`` and ``.html`` for ``to``; the caller commits it with
    the change it belongs to, and the worker sends it. ``context`` must be JSON: ids, strings
    and numbers (amounts in minor units), rendered when the email is sent.

    ``secret_context`` joins the context encrypted, and is erased once the email is sent or
    given up on (a passcode). ``deliver=False`` has the worker render the email and drop it,
    doing the same work as a real send (the login email to an address nobody has).
    ``expires_at``: not sent after then (a code that no longer works). With ``dedupe_key``,
    a second email for the same key is not stored: the first one is returned.

    ``locale`` is the language the email is written in; when None, the request's, or without
    a request ``fallback_locale`` (the customer's, for the billing engine) or English. A lazy
    ``subject`` is translated into it now, and the worker renders the body in it.
    """
    locale = locale or request_locale(fallback_locale)
    with force_locale(locale):
        subject = str(subject)
    payload = {"to": to, "subject": subject, "template": template, "context": context,
               "deliver": bool(deliver), "locale": locale}
    with_request_id(payload)
    if secret_context:
        payload["secret"] = seal(secret_context)
    if expires_at is not None:
        payload["expires_at"] = expires_at.isoformat()
    if dedupe_key is not None:
        earlier = _by_dedupe_key(session, dedupe_key)
        if earlier is not None:
            return earlier
    message = OutboxMessage(kind="email", created=now, available_at=now, dedupe_key=dedupe_key,
                            payload=payload)
    if dedupe_key is None:
        session.add(message)
        return message
    try:
        # A savepoint: when a parallel transaction stored the same key first, the unique index
        # refuses this copy and the caller's own transaction carries on.
        with session.begin_nested():
            session.add(message)
    except IntegrityError:
        earlier = _by_dedupe_key(session, dedupe_key)
        if earlier is None:
            raise
        return earlier
    return message


def with_request_id(payload: dict) -> dict:
    """Add the id of the request (or job) being served, so the worker that delivers the row
    logs under it (portal.ops.logs)."""
    from portal.ops.logs import request_id

    rid = request_id()
    if rid:
        payload["request_id"] = rid
    return payload


def _by_dedupe_key(session: Session, dedupe_key: str) -> OutboxMessage | None:
    return session.scalars(
        select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key)).first()


def request_locale(fallback: str | None = None) -> str:
    """The locale of the request being served, or ``fallback`` (else English) outside one."""
    if not has_request_context():
        return shipped(fallback) or DEFAULT
    return shipped(str(get_locale() or "")) or DEFAULT
