"""challenge names use hyphens only

A challenge name is now one team however it is typed: `stp_north` and `stp.north` are read as
`stp-north`. Names stored with dots or underscores take the hyphen form, so they can still be
found; one whose hyphen form another challenge already has keeps its name (renaming it would
merge two teams), and is reported so the programme team can rename it by hand.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 10:00:00
"""

import logging
import re

from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    connection = op.get_bind()
    challenges = sa.table('challenges', sa.column('id', sa.Integer), sa.column('name', sa.String))
    names = dict(connection.execute(sa.select(challenges.c.id, challenges.c.name)).all())
    taken = set(names.values())
    for challenge_id, name in sorted(names.items()):
        hyphened = "-".join(part for part in re.split(r"[._]+", name) if part)
        if hyphened == name:
            continue
        if hyphened in taken:
            logging.getLogger("alembic.runtime.migration").warning(
                "challenge %r kept its name: %r is another challenge", name, hyphened)
            continue
        connection.execute(challenges.update().where(challenges.c.id == challenge_id)
                           .values(name=hyphened))
        taken.discard(name)
        taken.add(hyphened)


def downgrade() -> None:
    pass  # the hyphen form was always a valid name
