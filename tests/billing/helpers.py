"""Dates, card numbers and queries the billing tests share. Not a test module."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

# Named by its full dotted path, as tests/invoices/conftest.py does.
GATEWAY_SPEC = "tests.invoices.counting_gateway:CountingGateway"
DECLINED = "4000000000000002"
INSUFFICIENT_FUNDS = "4000000000009995"

# Fixed dates read better than offsets from the real time; the test cards expire years later.
JAN_1 = datetime(2027, 1, 1, tzinfo=UTC)
FEB_1 = datetime(2027, 2, 1, tzinfo=UTC)
MAR_1 = datetime(2027, 3, 1, tzinfo=UTC)
APR_1 = datetime(2027, 4, 1, tzinfo=UTC)
MAY_1 = datetime(2027, 5, 1, tzinfo=UTC)


def invoices_of(session, subscription):
    """The subscription's invoices, in period order."""
    from portal.invoices.models import Invoice

    return session.scalars(select(Invoice).where(Invoice.subscription_id == subscription.id)
                           .order_by(Invoice.period_start)).all()


def payments_of(session, invoice):
    from portal.payments.models import Payment

    return session.scalars(select(Payment).where(Payment.invoice_id == invoice.id)
                           .order_by(Payment.created, Payment.idempotency_key)).all()


def events_of(session, type_):
    from portal.events import AuditEvent

    return session.scalars(select(AuditEvent).where(AuditEvent.type == type_)
                           .order_by(AuditEvent.created)).all()


def outbox(session):
    from portal.outbox.models import OutboxMessage

    return session.scalars(select(OutboxMessage).order_by(OutboxMessage.created,
                                                          OutboxMessage.dedupe_key)).all()


def snapshot(session) -> dict[str, list[dict]]:
    """Every row of every table, column by column, in primary-key order."""
    from portal.extensions import db

    session.expire_all()
    tables = {}
    for table in db.metadata.sorted_tables:
        rows = session.execute(select(table).order_by(*table.primary_key.columns)).mappings()
        tables[table.name] = [dict(row) for row in rows]
    return tables
