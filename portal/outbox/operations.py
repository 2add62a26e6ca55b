"""Writing side effects to the outbox, in the caller's transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from portal.outbox.models import OutboxMessage


def enqueue_email(session: Session, *, to: str, subject: str, template: str, context: dict,
                  now: datetime, dedupe_key: str | None = None) -> OutboxMessage:
    """Queue ``emails/<template>.txt`` and ``.html`` for ``to``; the caller commits it with
    the change it belongs to, and the worker sends it. ``context`` must be JSON: ids, strings
    and numbers (amounts in minor units), rendered when the email is sent."""
    message = OutboxMessage(kind="email", created=now, available_at=now, dedupe_key=dedupe_key,
                            payload={"to": to, "subject": subject, "template": template,
                                     "context": context})
    session.add(message)
    return message
