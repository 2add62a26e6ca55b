"""portal session URLs: the token's digest and when the deep-link flow was completed

Issue 11. Two nullable columns and a unique constraint on one of them: existing sessions
(none are reachable by URL before this revision) keep their rows, with no digest.

Revision ID: 5b1f0c2d9e47
Revises: 4b7468ca6376
Create Date: 2026-12-10 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

import portal.dbtypes


# revision identifiers, used by Alembic.
revision = '5b1f0c2d9e47'
down_revision = '4b7468ca6376'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('portal_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('token_digest', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('flow_completed_at',
                                      portal.dbtypes.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_portal_session_token_digest'),
                                          ['token_digest'])


def downgrade():
    with op.batch_alter_table('portal_session', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_portal_session_token_digest'), type_='unique')
        batch_op.drop_column('flow_completed_at')
        batch_op.drop_column('token_digest')
