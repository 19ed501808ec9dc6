"""team answers count their revisions

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 03:40:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('team_answers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revision', sa.Integer(), server_default='0',
                                      nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('team_answers', schema=None) as batch_op:
        batch_op.drop_column('revision')
