"""The daily retention purge, run by whichever worker holds its lease."""

from __future__ import annotations

import datetime as dt

from handlers.ports import Clock
from handlers.privacy import purge
from handlers.storage.db import UnitOfWork, checkpoint_wal
from knowledge.programme import Programme
from scheduler.reminders import acquire_lease

EVERY = dt.timedelta(days=1)


class PurgeJob:
    def __init__(self, uow: UnitOfWork, programme: Programme, clock: Clock, holder: str) -> None:
        self.uow = uow
        self.programme = programme
        self.clock = clock
        self.holder = holder

    def run(self) -> dict[str, int] | None:
        """Purge if a day has passed since the last purge; None when not this process's turn."""
        now = self.clock.now()
        with self.uow() as db:
            lease = acquire_lease(db, "purge", self.holder, now)
            if lease is None or (lease.last_run_at and now - lease.last_run_at < EVERY):
                return None
            counts = purge(db, self.programme, now)
            lease.last_run_at = now
        checkpoint_wal(self.uow.engine)  # erased pages must not linger in the WAL either
        return counts
