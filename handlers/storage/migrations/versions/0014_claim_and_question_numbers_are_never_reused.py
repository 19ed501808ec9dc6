"""claim and question numbers are never reused (SQLite AUTOINCREMENT)

Erasure deletes claims that never moved money, and /reply deletes the question it answers.
Without AUTOINCREMENT, SQLite gives the highest deleted number to the next row, so "#5"
(and the audit rows about claim:5) would name two different people's claims. PostgreSQL
sequences never reuse a number, so there is nothing to do there.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 11:20:00
"""

from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

TABLES = ('claims', 'unanswered_questions')


def _rebuild(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != 'sqlite':
        return
    for table in TABLES:
        # The copy keeps the indexes, the partial unique one on claims included.
        with op.batch_alter_table(table, recreate='always',
                                  table_kwargs={'sqlite_autoincrement': autoincrement}):
            pass


def upgrade() -> None:
    _rebuild(True)


def downgrade() -> None:
    _rebuild(False)
