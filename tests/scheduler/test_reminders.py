"""Reminders at the right local time, once, across restarts, clock changes and processes."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from handlers.app import due_between
from handlers.storage.db import UnitOfWork, make_engine
from handlers.storage.models import Account, OutboxMessage, Participant, PeerSession
from scheduler.delivery import DeliveryWorker
from scheduler.reminders import ReminderJob
from tests.conftest import AMIRA, JAMES, LONDON, local
from tests.scheduler.test_delivery import RecordingSender

pytestmark = pytest.mark.both_databases

ROOT = Path(__file__).resolve().parents[2]


def rows(services, kind: str | None = None) -> list[OutboxMessage]:
    with services.uow() as db:
        query = select(OutboxMessage).order_by(OutboxMessage.due_at, OutboxMessage.id)
        if kind:
            query = query.where(OutboxMessage.kind == kind)
        return list(db.scalars(query))


def job(services, holder: str = "worker-1") -> ReminderJob:
    return ReminderJob(services.uow, services.programme, services.clock, holder)


def run_minutes(services, clock, minutes: int, holder: str = "worker-1") -> None:
    worker = job(services, holder)
    for _ in range(minutes):
        clock.advance(minutes=1)
        worker.tick()


def book(services, starts: dt.datetime, hours: int = 2) -> PeerSession:
    with services.uow() as db:
        amira = db.scalars(select(Participant).where(Participant.email == AMIRA)).one()
        james = db.scalars(select(Participant).where(Participant.email == JAMES)).one()
        for person in (amira, james):
            db.add(Account(participant=person, platform="console", account_id=person.email,
                           chat_id=person.email, linked_at=starts))
        session = PeerSession(uid="u1", pair_key=f"{amira.id}-{james.id}", proposer_id=amira.id,
                              partner_id=james.id, starts_at=starts,
                              ends_at=starts + dt.timedelta(hours=hours), mode="virtual",
                              status="booked", created_at=starts, expires_at=starts,
                              updated_at=starts)
        db.add(session)
        return session


def test_development_day_reminders_at_nine_local_in_winter_and_summer(services, clock):
    # 18 March is GMT (09:00 = 09:00 UTC); 8 July is BST (09:00 = 08:00 UTC).
    with services.uow() as db:
        due = due_between(db, services.programme, local(2015, 3, 1), local(2015, 7, 8))
    london = [m for m in due if m.kind == "event_reminder" and "18 March" in m.text]
    leeds = [m for m in due if m.kind == "event_reminder" and "8 July" in m.text]
    assert {m.due_at for m in london} == {dt.datetime(2015, 3, 4, 9, tzinfo=dt.UTC),
                                          dt.datetime(2015, 3, 17, 9, tzinfo=dt.UTC)}
    assert {m.due_at for m in leeds} == {dt.datetime(2015, 6, 24, 8, tzinfo=dt.UTC),
                                         dt.datetime(2015, 7, 7, 8, tzinfo=dt.UTC)}
    assert "Ambassadors Hotel, Bloomsbury, London (in 14 days)" in london[0].text


def test_tick_queues_each_reminder_once(services, clock):
    clock.set(local(2015, 3, 4, 8, 58))
    run_minutes(services, clock, 5)
    queued = rows(services, "event_reminder")
    assert len(queued) == 5  # the four paired peers and expert peers, plus Priya
    assert all(m.due_at == local(2015, 3, 4, 9) for m in queued)
    run_minutes(services, clock, 5)
    assert len(rows(services, "event_reminder")) == 5


def test_session_reminders_24h_and_1h_before_to_both(services, clock):
    book(services, local(2015, 4, 10, 14))
    clock.set(local(2015, 4, 9, 13, 59))
    run_minutes(services, clock, 2)
    day_before = rows(services, "session_reminder")
    assert len(day_before) == 2 and "in 24 hours" in day_before[0].text
    clock.set(local(2015, 4, 10, 12, 59))
    run_minutes(services, clock, 2)
    assert len(rows(services, "session_reminder")) == 4


def test_restart_after_outage_sends_missed_useful_and_skips_stale(services, clock):
    book(services, local(2015, 4, 10, 14))
    clock.set(local(2015, 4, 9, 6, 0))
    job(services).tick()  # running, then down from 06:00 ...
    clock.set(local(2015, 4, 10, 13, 30))  # ... back up 31.5 hours later
    job(services, "worker-after-restart").tick()
    sessions = rows(services, "session_reminder")
    by_status = sorted((m.status, m.text.split(" in ")[1][:8]) for m in sessions)
    # the 1-hour reminder (13:00) is within the 6-hour grace: sent; the 24-hour one is stale
    assert by_status == [("pending", "1 hour: "), ("pending", "1 hour: "),
                         ("skipped", "24 hours"), ("skipped", "24 hours")]
    job(services, "worker-after-restart").tick()
    assert len(rows(services, "session_reminder")) == 4


def test_a_reminder_for_a_session_already_begun_is_never_sent(services, clock):
    book(services, local(2015, 4, 10, 14))
    clock.set(local(2015, 4, 10, 11, 0))
    job(services).tick()  # down from 11:00 until after the session has begun
    clock.set(local(2015, 4, 10, 14, 30))
    job(services, "worker-after-restart").tick()
    assert {m.status for m in rows(services, "session_reminder")} == {"skipped"}


def test_a_reminder_held_up_by_an_outage_until_the_session_began_is_not_sent(services,
                                                                             clock):
    book(services, local(2015, 4, 10, 14))
    clock.set(local(2015, 4, 10, 12, 59))
    run_minutes(services, clock, 2)  # the 1-hour reminders are queued on time ...
    clock.set(local(2015, 4, 10, 14, 5))  # ... but the platform was down until after 14:00
    sender = RecordingSender()
    stats = DeliveryWorker(services.uow, {"console": sender}, clock).run_once()
    assert (stats.sent, stats.overtaken, sender.sent) == (0, 2, [])
    reminders = rows(services, "session_reminder")
    assert {(m.status, m.last_error) for m in reminders} == {
        ("skipped", "its time passed before it could be sent")}


def test_two_schedulers_sharing_the_database_fire_once(services, clock):
    clock.set(local(2015, 3, 4, 8, 59))
    first, second = job(services, "a"), job(services, "b")
    clock.advance(minutes=2)
    assert first.tick().ran and not second.tick().ran
    assert len(rows(services, "event_reminder")) == 5
    clock.advance(minutes=10)  # the lease lapses when its holder stops ticking
    assert second.tick().ran


def test_autumn_repeated_hour_fires_once(services, clock):
    # 25 October 2015: 01:00-02:00 happens twice. A session at 02:30 GMT has its 1-hour
    # reminder at the second 01:30; a local-time cron trigger would fire at both 01:30s.
    book(services, dt.datetime(2015, 10, 25, 2, 30, tzinfo=dt.UTC))
    clock.set(dt.datetime(2015, 10, 24, 23, 0, tzinfo=dt.UTC))
    run_minutes(services, clock, 4 * 60)
    one_hour = [m for m in rows(services, "session_reminder") if "in 1 hour" in m.text]
    assert len(one_hour) == 2  # once to each member
    assert {m.due_at for m in one_hour} == {dt.datetime(2015, 10, 25, 1, 30, tzinfo=dt.UTC)}
    assert one_hour[0].due_at.astimezone(LONDON).fold == 1


def test_spring_forward_day_reminder_still_sent(services, clock):
    # 29 March 2015 has no 01:00-02:00 local; reminders at 09:00 that day come at 08:00 UTC.
    with services.uow() as db:
        assert due_between(db, services.programme, local(2015, 3, 28),
                           local(2015, 3, 30)) == []
    book(services, local(2015, 3, 30, 9))
    clock.set(local(2015, 3, 29, 8, 59))
    run_minutes(services, clock, 2)
    assert rows(services, "session_reminder")[0].due_at == dt.datetime(2015, 3, 29, 8,
                                                                        tzinfo=dt.UTC)


def test_claim_reminder_after_a_development_day_names_the_cap(services, clock):
    clock.set(local(2015, 3, 19, 8, 59))
    run_minutes(services, clock, 2)
    claim = rows(services, "claim_reminder")
    assert len(claim) == 5 and "up to £150 (in London)" in claim[0].text


def test_opted_out_optional_reminders_are_not_queued(door, services, clock):
    door.text(AMIRA, "/reminders")
    door.press(AMIRA, "Turn off: development days")
    assert "other programme events: off" in door.text(AMIRA, "/reminders")
    clock.set(local(2015, 3, 4, 8, 59))
    run_minutes(services, clock, 2)
    with services.uow() as db:
        amira = db.scalars(select(Participant).where(Participant.email == AMIRA)).one()
        assert db.scalar(select(func.count()).where(OutboxMessage.kind == "event_reminder",
                                                    OutboxMessage.participant_id == amira.id)) == 0


def test_a_reminder_button_sets_the_state_it_names(door):
    [menu] = door.send(AMIRA, "/reminders")
    turn_off = next(c for c in menu.choices if c.label.startswith("Turn off: development"))
    for _ in range(2):  # an old button tapped again, or delivered twice, changes nothing
        door.router.handle(door.incoming(AMIRA, action_id=turn_off.action_id,
                                         action_value=turn_off.value))
    assert "other programme events: off" in door.text(AMIRA, "/reminders")


def test_reminders_off_and_on_set_them_all(door):
    assert door.text(AMIRA, "/reminders off").startswith("All optional reminders are off.")
    assert ": on" not in door.text(AMIRA, "/reminders")
    assert door.text(AMIRA, "/reminders on").startswith("All optional reminders are on.")
    assert door.text(AMIRA, "/reminders banana").startswith(
        "I didn't understand \u201cbanana\u201d: send /reminders off or /reminders on")
    assert "Turn all off" in [c.label for c in door.send(AMIRA, "stop sending me reminders")[0]
                              .choices]


def test_sqlite_runs_in_wal_with_a_busy_timeout(migrated_template):
    engine = make_engine(f"sqlite:///{migrated_template}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 30000
    engine.dispose()


def test_two_worker_processes_never_double_fire(services, db_url):
    """Two real processes tick at the same moment against one database."""
    del services  # imports the demo cohort into db_url
    env = {**os.environ, "DATABASE_URL": db_url}
    processes = [subprocess.Popen([sys.executable, "-m", "bot.cli", "reminders", "run-once",
                                   "--now", "2015-03-04T09:05"], cwd=ROOT, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
    outputs = [p.communicate(timeout=60)[0] for p in processes]
    assert sum("Queued" in out for out in outputs) == 1, outputs
    engine = make_engine(db_url)
    with UnitOfWork(engine)() as db:
        keys = list(db.scalars(select(OutboxMessage.idempotency_key)))
    engine.dispose()
    assert len(keys) == len(set(keys)) > 0
