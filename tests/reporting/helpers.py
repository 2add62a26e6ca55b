"""Shared by the reporting and dashboard tests: a fixed moment (15 March 2026, noon UTC, so
the 12 months are April 2025 to March 2026) and payments and events made to order."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


def add_payment(session, customer, amount=2900, *, status="succeeded", currency="usd",
                created=None, completed_at=None):
    """A Payment row as a charge leaves it (completed when it is created, unless given)."""
    from portal.payments.models import Payment

    created = created or NOW
    if completed_at is None and status != "processing":
        completed_at = created
    payment = Payment(idempotency_key=secrets.token_hex(8), customer_id=customer.id,
                      amount=amount, currency=currency, status=status, created=created,
                      completed_at=completed_at)
    session.add(payment)
    session.commit()
    return payment


def add_event(session, type="customer.updated", *, created=None, actor="system",
              customer_id=None, object_id=None, ip_address=None, data=None):
    """An audit event written as raise_event writes it."""
    from portal.events import raise_event

    event = raise_event(session, type, now=created or NOW, actor=actor, customer_id=customer_id,
                        object_id=object_id, ip_address=ip_address, data=data)
    session.commit()
    return event
