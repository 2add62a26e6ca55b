"""indexes for customer pages: invoices by customer and date, tax rates, the default configuration

Issue 12. tests/production/test_index_scans.py EXPLAINs every query of the customer walk; these
are the ones that read a whole table (or sorted all of a customer's invoices) without them. A
plain CREATE INDEX blocks writes to the table while it builds: on a large invoice table, build
it beforehand with CREATE INDEX CONCURRENTLY under the same name, and this revision finds it and
leaves it.

Revision ID: 9c4e2a7b1d03
Revises: 5b1f0c2d9e47
Create Date: 2026-12-03 12:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9c4e2a7b1d03'
down_revision = '5b1f0c2d9e47'
branch_labels = None
depends_on = None

INDEXES = [
    ('invoice', 'ix_invoice_customer_created', ['customer_id', 'created', 'id']),
    ('tax_rate', 'ix_tax_rate_country', ['country']),
    ('portal_configuration', 'ix_portal_configuration_is_default', ['is_default']),
]


def upgrade():
    inspector = sa.inspect(op.get_bind())
    for table, name, columns in INDEXES:
        if name in {index['name'] for index in inspector.get_indexes(table)}:
            continue
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(name, columns, unique=False)


def downgrade():
    for table, name, _columns in reversed(INDEXES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(name)
