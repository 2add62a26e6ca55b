"""Writing side effects to the outbox, in the caller's transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.outbox.models import OutboxMessage
from portal.outbox.sealing import seal


def enqueue_email(session: Session, *, to: str, subject: str, template: str, context: dict,
                  now: datetime, dedupe_key: str | None = None,
                  secret_context: dict | None = None, deliver: bool = True,
                  expires_at: datetime | None = None) -> OutboxMessage:
    """Queue ``emails/<template>.txt`` and ``.html`` for ``to``; the caller commits it with
    the change it belongs to, and the worker sends it. ``context`` must be JSON: ids, strings
    and numbers (amounts in minor units), rendered when the email is sent.

    ``secret_context`` joins the context encrypted, and is erased once the email is sent or
    given up on (a passcode). ``deliver=False`` has the worker render the email and drop it,
    doing the same work as a real send (the login email to an address nobody has).
    ``expires_at``: not sent after then (a code that no longer works). With ``dedupe_key``,
    a second email for the same key is not stored: the first one is returned.
    """
    subject = str(subject)  # a lazy subject (_l) is translated now: the payload is JSON
    payload = {"to": to, "subject": subject, "template": template, "context": context,
               "deliver": bool(deliver)}
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


def _by_dedupe_key(session: Session, dedupe_key: str) -> OutboxMessage | None:
    return session.scalars(
        select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key)).first()
