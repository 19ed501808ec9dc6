"""a booked session moves only when the partner agrees

Moving a booked session becomes a request the partner accepts or declines; until then the
session stays where it is and the requested slot is held like a proposal. Existing sessions
have no open request (the new columns are empty) and have made none (move_number 0).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 10:00:00
"""

from alembic import op
import sqlalchemy as sa

import handlers.storage.models


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('peer_sessions', schema=None) as batch_op:
        # Named as PostgreSQL would name it: SQLite's table copy needs a name.
        batch_op.add_column(sa.Column('move_by_id', sa.Integer(),
                                      sa.ForeignKey('participants.id',
                                                    name='peer_sessions_move_by_id_fkey'),
                                      nullable=True))
        batch_op.add_column(sa.Column('move_starts_at',
                                      handlers.storage.models.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('move_ends_at',
                                      handlers.storage.models.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('move_expires_at',
                                      handlers.storage.models.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('move_number', sa.Integer(), server_default='0',
                                      nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('peer_sessions', schema=None) as batch_op:
        batch_op.drop_column('move_number')
        batch_op.drop_column('move_expires_at')
        batch_op.drop_column('move_ends_at')
        batch_op.drop_column('move_starts_at')
        batch_op.drop_column('move_by_id')
