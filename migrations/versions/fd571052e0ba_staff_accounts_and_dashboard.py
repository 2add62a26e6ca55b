"""the merchant dashboard: staff accounts and sessions, branding font, product updated

The dashboard (issue 9). Only new tables, a nullable column, a column with a server default
and an index, so every existing row stays as it was: branding keeps the system font.

Revision ID: fd571052e0ba
Revises: 017e7303b83d
Create Date: 2026-12-02 04:22:08.934047

"""
from alembic import op
import sqlalchemy as sa

import portal.dbtypes


# revision identifiers, used by Alembic.
revision = 'fd571052e0ba'
down_revision = '017e7303b83d'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('staff_user',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('email_normalized', sa.String(length=320), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created', portal.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_sign_in_at', portal.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_user')),
    sa.UniqueConstraint('email_normalized', name=op.f('uq_staff_user_email_normalized'))
    )
    op.create_table('staff_session',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('staff_id', sa.String(length=40), nullable=False),
    sa.Column('created', portal.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen', portal.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', portal.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ip_address', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_user.id'], name=op.f('fk_staff_session_staff_id_staff_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_session'))
    )
    with op.batch_alter_table('staff_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_session_staff_id'), ['staff_id'], unique=False)

    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_event_actor'), ['actor'], unique=False)

    with op.batch_alter_table('branding', schema=None) as batch_op:
        batch_op.add_column(sa.Column('font', sa.String(length=20), server_default='system', nullable=False))

    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.add_column(sa.Column('updated', portal.dbtypes.UTCDateTime(timezone=True), nullable=True))



def downgrade():
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.drop_column('updated')

    with op.batch_alter_table('branding', schema=None) as batch_op:
        batch_op.drop_column('font')

    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_event_actor'))

    with op.batch_alter_table('staff_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_session_staff_id'))

    op.drop_table('staff_session')
    op.drop_table('staff_user')
