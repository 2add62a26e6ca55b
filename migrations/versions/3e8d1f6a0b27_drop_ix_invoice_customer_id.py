"""drop ix_invoice_customer_id: ix_invoice_customer_created starts with the same column

Issue 12. Every lookup of a customer's invoices (and the foreign key's checks when a customer
row changes) is served by ix_invoice_customer_created (customer_id, created, id), so the
single-column index only cost a write on every invoice the billing engine adds. The downgrade
builds it again.

Revision ID: 3e8d1f6a0b27
Revises: 9c4e2a7b1d03
Create Date: 2026-12-04 01:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3e8d1f6a0b27'
down_revision = '9c4e2a7b1d03'
branch_labels = None
depends_on = None


def upgrade():
    inspector = sa.inspect(op.get_bind())
    if 'ix_invoice_customer_id' in {index['name'] for index in inspector.get_indexes('invoice')}:
        with op.batch_alter_table('invoice', schema=None) as batch_op:
            batch_op.drop_index('ix_invoice_customer_id')


def downgrade():
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.create_index('ix_invoice_customer_id', ['customer_id'], unique=False)
