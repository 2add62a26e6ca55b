"""Sequential human invoice numbers (ACME-0001, ACME-0002, ...), never reused."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.invoices.models import InvoiceNumberSequence


def allocate_invoice_number(session: Session, prefix: str) -> str:
    """Take the next number for ``prefix``; the row lock keeps two finalizations apart."""
    row = session.scalars(
        select(InvoiceNumberSequence)
        .where(InvoiceNumberSequence.prefix == prefix)
        .with_for_update()
    ).first()
    if row is None:
        row = InvoiceNumberSequence(prefix=prefix, next_value=1)
        session.add(row)
        session.flush()
    value = row.next_value
    row.next_value = value + 1
    return f"{prefix}-{value:04d}"
