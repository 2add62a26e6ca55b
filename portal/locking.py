"""Row locks that make a rule checked before a write hold under parallel requests.

A rule such as "keep one card while a subscription is charged automatically" or "at most ten tax
IDs" reads rows, decides, then writes. Two requests can both read before either writes, and both
pass. Every operation that writes a customer's cards or tax IDs therefore first takes the
customer's lock, and only then reads what the rule needs: the second request waits for the first
to commit and reads what it wrote.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal.customers.models import Customer


def lock_customer(session: Session, customer: Customer) -> Customer:
    """Hold the customer's row lock until the transaction ends, and reload the customer, so the
    rules that follow read what any request that held the lock before committed."""
    if session.get_bind().dialect.name != "postgresql":
        # SQLite ignores FOR UPDATE, and its deferred transactions let two requests read before
        # either writes. A write is what takes its database lock, so write first: a no-op UPDATE
        # (the sqlite3 driver opens the transaction just before it) holds off every other writer
        # until this transaction commits or rolls back. Concurrent lockers wait up to the
        # driver's busy timeout (5 seconds by default).
        session.execute(
            update(Customer).where(Customer.id == customer.id)
            .values(deleted=Customer.deleted)
            .execution_options(synchronize_session=False)
        )
    # On PostgreSQL this waits for the lock; under READ COMMITTED every later statement sees
    # what the previous holder committed. populate_existing overwrites what this session had
    # loaded of the customer (the default card, for example) with the row as it is now.
    locked = session.scalars(
        select(Customer).where(Customer.id == customer.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return locked


def lock_subscription(session: Session, subscription_id: str):
    """Hold the subscription's row lock until the transaction ends and return it reloaded.

    Lock order, everywhere: subscription, then its customer (lock_customer), then an invoice.
    The engine and a customer's change both follow it, so they queue instead of deadlocking."""
    from portal.subscriptions.models import Subscription

    if session.get_bind().dialect.name != "postgresql":
        session.execute(
            update(Subscription).where(Subscription.id == subscription_id)
            .values(version=Subscription.version)
            .execution_options(synchronize_session=False)
        )
    return session.scalars(
        select(Subscription).where(Subscription.id == subscription_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
