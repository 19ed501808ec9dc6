"""The background jobs of a worker process: reminders and the daily purge (each under a
database lease) and the outbox delivery worker, on APScheduler with interval triggers and an
in-memory job store."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from apscheduler.schedulers.background import BackgroundScheduler

from handlers.ports import Clock, Sender
from handlers.storage.db import UnitOfWork
from knowledge.programme import Programme
from scheduler.delivery import DeliveryWorker, RateLimiter
from scheduler.purge import PurgeJob
from scheduler.reminders import ReminderJob

TICK_SECONDS = 60
DELIVERY_SECONDS = 2


def start_jobs(uow: UnitOfWork, programme: Programme, clock: Clock,
               senders: Mapping[str, Sender], limiters: Mapping[str, RateLimiter],
               holder: str) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(
        timezone=dt.UTC,  # intervals in UTC: no local-time trigger to trip over clock changes
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60})
    first = dt.datetime.now(dt.UTC)
    reminders = ReminderJob(uow, programme, clock, holder)
    scheduler.add_job(reminders.tick, "interval", seconds=TICK_SECONDS, id="reminders",
                      next_run_time=first)
    housekeeping = PurgeJob(uow, programme, clock, holder)
    scheduler.add_job(housekeeping.run, "interval", hours=1, id="purge", next_run_time=first)
    if senders:
        delivery = DeliveryWorker(uow, senders, clock, limiters)
        scheduler.add_job(delivery.run_once, "interval", seconds=DELIVERY_SECONDS,
                          id="delivery", next_run_time=first)
    scheduler.start()
    return scheduler
