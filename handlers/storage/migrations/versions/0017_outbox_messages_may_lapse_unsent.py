"""outbox messages may lapse unsent

A message that would be wrong once its moment has passed (a reminder for a session already
begun, a proposal that lapsed) records when, so it is skipped rather than sent to someone who
links late or after a platform outage. Existing rows have no such time and are sent as before.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 17:00:00
"""

from alembic import op
import sqlalchemy as sa

import handlers.storage.models


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pointless_after',
                                      handlers.storage.models.UTCDateTime(timezone=True),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('pointless_after')
