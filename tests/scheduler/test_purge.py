"""The daily purge job: once a day, one process at a time, audited with counts."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from handlers.storage.models import AuditEntry
from scheduler.purge import PurgeJob

pytestmark = pytest.mark.both_databases


def purges(services) -> int:
    with services.uow() as db:
        return len(db.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.purge"))
                   .all())


def test_purge_runs_once_a_day_under_the_lease(services, clock):
    first = PurgeJob(services.uow, services.programme, clock, "a")
    second = PurgeJob(services.uow, services.programme, clock, "b")
    assert first.run() is not None and second.run() is None
    clock.advance(hours=23)
    assert first.run() is None
    clock.advance(hours=2)
    assert first.run() is not None
    assert purges(services) == 2
