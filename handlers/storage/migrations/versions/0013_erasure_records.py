"""erasure records: who was erased at their request, as a digest of their email

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 12:30:00
"""

from alembic import op
import sqlalchemy as sa

import handlers.storage.models


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'erasure_records',
        sa.Column('email_digest', sa.String(length=64), nullable=False),
        sa.Column('erased_at', handlers.storage.models.UTCDateTime(timezone=True),
                  nullable=False),
        sa.PrimaryKeyConstraint('email_digest'),
    )


def downgrade() -> None:
    op.drop_table('erasure_records')
