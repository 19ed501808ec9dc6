"""Turning time into outbox rows, once, whichever process is running.

Design, and the APScheduler traps it avoids:
- One interval job ("tick") instead of a cron trigger per reminder. Each tick asks the rules
  what fell due in (last run, now] and queues it. Instants are computed in UTC from local
  times, so the autumn repeated hour cannot fire anything twice and the spring gap cannot
  swallow anything.
- The last run time lives in the database (job_leases), not in APScheduler's job store: a
  restart after an outage queues what it missed (if still useful within the grace period,
  otherwise records it as skipped), which a fixed-id job re-added with replace_existing
  would silently drop.
- APScheduler's job store cannot be shared by two running schedulers, so every process
  keeps its own in memory and a database lease decides which one ticks.
- The whole tick is one transaction: the rows and the new last-run time commit together.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from handlers.app import due_between
from handlers.booking import expire_proposals
from handlers.core import ScheduledMessage, enqueue
from handlers.ports import Clock
from handlers.storage.db import UnitOfWork
from handlers.storage.models import JobLease
from knowledge.programme import Programme

log = logging.getLogger("sps.reminders")

JOB = "reminders"
LEASE_FOR = dt.timedelta(minutes=3)


def acquire_lease(db: Session, name: str, holder: str, now: dt.datetime,
                  duration: dt.timedelta = LEASE_FOR) -> JobLease | None:
    """The lease row if `holder` may run the job now (taking or renewing it), else None."""
    query = select(JobLease).where(JobLease.name == name)
    if db.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    lease = db.scalars(query).first()
    if lease is None:
        try:
            with db.begin_nested():  # two processes may race to create it
                lease = JobLease(name=name, holder=holder, expires_at=now + duration,
                                 last_run_at=None)
                db.add(lease)
        except IntegrityError:
            return None
        return lease
    if lease.holder != holder and lease.expires_at > now:
        return None
    lease.holder = holder
    lease.expires_at = now + duration
    return lease


@dataclass(frozen=True)
class TickResult:
    ran: bool
    queued: int = 0
    skipped: int = 0


class ReminderJob:
    def __init__(self, uow: UnitOfWork, programme: Programme, clock: Clock, holder: str) -> None:
        self.uow = uow
        self.programme = programme
        self.clock = clock
        self.holder = holder

    def tick(self) -> TickResult:
        now = self.clock.now()
        grace = self.programme.reminders.grace_period
        with self.uow() as db:
            lease = acquire_lease(db, JOB, self.holder, now)
            if lease is None:
                return TickResult(ran=False)
            # The first tick ever looks back one grace period, so a fresh install still
            # sends what is due this morning; later ticks start where the last one ended.
            since = lease.last_run_at or now - grace
            queued = skipped = 0
            for message in due_between(db, self.programme, since, now):
                stale = message.due_at < now - grace or (
                    message.pointless_after is not None and now >= message.pointless_after)
                queued_rows = _queue(db, message, now, stale)
                skipped += queued_rows if stale else 0
                queued += 0 if stale else queued_rows
            expire_proposals(db, now)  # after due_between, which tells the proposers
            lease.last_run_at = now
        if queued or skipped:
            log.info("reminders queued", extra={"queued": queued, "skipped": skipped})
        return TickResult(ran=True, queued=queued, skipped=skipped)


def _queue(db: Session, message: ScheduledMessage, now: dt.datetime, stale: bool) -> int:
    return enqueue(db, message.to, message.text, kind=message.kind, key=message.key, now=now,
                   choices=message.choices, due_at=max(message.due_at, now),
                   pointless_after=message.pointless_after,
                   skipped="missed while the bot was not running" if stale else None)

