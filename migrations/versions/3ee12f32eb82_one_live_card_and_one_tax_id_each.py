"""one live copy of a card and one of each tax ID per customer

Revision ID: 3ee12f32eb82
Revises: d679826ba79d
Create Date: 2026-12-01 20:10:10.500582

Before this revision parallel requests could save one card, or one tax ID, several times. The
unique indexes cannot be built over such copies, so the upgrade first keeps the oldest of each
and takes the others away, as the portal would: a copied card is detached (its row stays for
the payments that name it; whatever pointed at it points at the card kept), a copied tax ID is
deleted. Each change is recorded as an audit event by "system".
"""
from datetime import UTC, datetime
import secrets
import string

from alembic import op
import sqlalchemy as sa

import portal.dbtypes


# revision identifiers, used by Alembic.
revision = '3ee12f32eb82'
down_revision = 'd679826ba79d'
branch_labels = None
depends_on = None

LIVE_CARD_WHERE = 'customer_id IS NOT NULL AND detached_at IS NULL'
# As portal.ids makes them, copied so this revision does not change if that module does.
ID_ALPHABET = string.ascii_letters + string.digits

# The columns this revision reads and writes, as they are at this revision (not the models,
# which may have moved on by the time it runs).
payment_method = sa.table(
    'payment_method',
    sa.column('id', sa.String), sa.column('customer_id', sa.String),
    sa.column('fingerprint', sa.String), sa.column('card_exp_month', sa.Integer),
    sa.column('card_exp_year', sa.Integer), sa.column('card_brand', sa.String),
    sa.column('card_last4', sa.String), sa.column('created', portal.dbtypes.UTCDateTime),
    sa.column('detached_at', portal.dbtypes.UTCDateTime),
)
customer = sa.table('customer', sa.column('id', sa.String),
                    sa.column('default_payment_method_id', sa.String))
subscription = sa.table('subscription', sa.column('id', sa.String),
                        sa.column('default_payment_method_id', sa.String))
tax_id = sa.table(
    'tax_id',
    sa.column('id', sa.String), sa.column('customer_id', sa.String), sa.column('type', sa.String),
    sa.column('value', sa.String), sa.column('country', sa.String),
    sa.column('created', portal.dbtypes.UTCDateTime),
)
audit_event = sa.table(
    'audit_event',
    sa.column('id', sa.String), sa.column('type', sa.String), sa.column('customer_id', sa.String),
    sa.column('actor', sa.String), sa.column('object_id', sa.String),
    sa.column('data', sa.JSON), sa.column('created', portal.dbtypes.UTCDateTime),
)


def upgrade():
    conn = op.get_bind()
    now = datetime.now(UTC).replace(microsecond=0)
    _detach_copied_cards(conn, now)
    _delete_copied_tax_ids(conn, now)

    with op.batch_alter_table('payment_method', schema=None) as batch_op:
        batch_op.create_index('uq_payment_method_live_card', ['customer_id', 'fingerprint', 'card_exp_month', 'card_exp_year'], unique=True, postgresql_where=sa.text(LIVE_CARD_WHERE), sqlite_where=sa.text(LIVE_CARD_WHERE))

    with op.batch_alter_table('tax_id', schema=None) as batch_op:
        batch_op.create_index('uq_tax_id_customer_type_value', ['customer_id', 'type', 'value'], unique=True)


def downgrade():
    # The copies the upgrade took away stay away: they were never meant to be there.
    with op.batch_alter_table('tax_id', schema=None) as batch_op:
        batch_op.drop_index('uq_tax_id_customer_type_value')

    with op.batch_alter_table('payment_method', schema=None) as batch_op:
        batch_op.drop_index('uq_payment_method_live_card', postgresql_where=sa.text(LIVE_CARD_WHERE), sqlite_where=sa.text(LIVE_CARD_WHERE))


def _copied_groups(conn, table, columns, *where):
    """The key of each group of rows that the new unique index would refuse."""
    keys = [table.c[name] for name in columns]
    return conn.execute(
        sa.select(*keys).where(*where).group_by(*keys).having(sa.func.count() > 1)
    ).all()


def _detach_copied_cards(conn, now):
    pm = payment_method.c
    live = (pm.customer_id.isnot(None), pm.detached_at.is_(None), pm.fingerprint.isnot(None))
    columns = ('customer_id', 'fingerprint', 'card_exp_month', 'card_exp_year')
    for group in _copied_groups(conn, payment_method, columns, *live):
        cards = conn.execute(
            sa.select(payment_method).where(
                *live, *(pm[name] == value for name, value in zip(columns, group)))
            .order_by(pm.created, pm.id)
        ).all()
        kept, copies = cards[0], cards[1:]
        copy_ids = [card.id for card in copies]
        conn.execute(sa.update(customer)
                     .where(customer.c.default_payment_method_id.in_(copy_ids))
                     .values(default_payment_method_id=kept.id))
        conn.execute(sa.update(subscription)
                     .where(subscription.c.default_payment_method_id.in_(copy_ids))
                     .values(default_payment_method_id=kept.id))
        conn.execute(sa.update(payment_method).where(pm.id.in_(copy_ids))
                     .values(customer_id=None, detached_at=now))
        for card in copies:
            _event(conn, 'payment_method.detached', card.customer_id, card.id, now, {
                'type': 'card', 'brand': card.card_brand, 'last4': card.card_last4,
                'exp_month': card.card_exp_month, 'exp_year': card.card_exp_year,
                'reason': 'duplicate', 'duplicate_of': kept.id})


def _delete_copied_tax_ids(conn, now):
    columns = ('customer_id', 'type', 'value')
    for group in _copied_groups(conn, tax_id, columns):
        rows = conn.execute(
            sa.select(tax_id).where(*(tax_id.c[name] == value
                                      for name, value in zip(columns, group)))
            .order_by(tax_id.c.created, tax_id.c.id)
        ).all()
        kept, copies = rows[0], rows[1:]
        conn.execute(sa.delete(tax_id).where(tax_id.c.id.in_([row.id for row in copies])))
        for row in copies:
            _event(conn, 'customer.tax_id.deleted', row.customer_id, row.id, now, {
                'type': row.type, 'value': row.value, 'country': row.country,
                'reason': 'duplicate', 'duplicate_of': kept.id})


def _event(conn, event_type, customer_id, object_id, now, data):
    conn.execute(sa.insert(audit_event).values(
        id='evt_' + ''.join(secrets.choice(ID_ALPHABET) for _ in range(24)),
        type=event_type, customer_id=customer_id, actor='system', object_id=object_id,
        data=data, created=now))
