"""The delivery worker against a recording sender: sends once, retries, honours retry-after,
stops for blocked users, and recovers rows left in flight by a crash."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from handlers.core import enqueue
from handlers.messages import Reply, ReplyFile
from handlers.ports import Address, DeliveryError
from handlers.storage.models import Account, OutboxMessage, Participant
from scheduler.delivery import LEASE, DeliveryStats, DeliveryWorker, RateLimiter
from tests.conftest import AMIRA, JAMES

pytestmark = pytest.mark.both_databases


class RecordingSender:
    platform = "console"

    def __init__(self, failures: dict[str, list[DeliveryError]] | None = None) -> None:
        self.sent: list[tuple[str, str]] = []
        self.failures = failures or {}

    def send(self, address: Address, reply: Reply) -> None:
        queue = self.failures.get(address.chat_id)
        if queue:
            raise queue.pop(0)
        self.sent.append((address.chat_id, reply.text))


def queue(services, email: str, text: str, key: str) -> None:
    with services.uow() as db:
        person = db.scalars(select(Participant).where(Participant.email == email)).one()
        if not person.accounts:
            db.add(Account(participant=person, platform="console", account_id=f"console:{email}",
                           chat_id=f"console:{email}", linked_at=services.clock.now()))
            db.flush()
            db.refresh(person)
        enqueue(db, person, text, kind="test", key=key, now=services.clock.now())


def statuses(services) -> list[str]:
    with services.uow() as db:
        return [m.status for m in db.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]


def test_each_message_is_sent_once(services):
    queue(services, AMIRA, "hello", "k1")
    queue(services, AMIRA, "hello again", "k1")  # same key: never queued twice
    sender = RecordingSender()
    worker = DeliveryWorker(services.uow, {"console": sender}, services.clock)
    assert worker.run_once().sent == 1
    assert worker.run_once().sent == 0
    assert sender.sent == [(f"console:{AMIRA}", "hello")]


def test_a_file_goes_with_its_message_and_its_copy_is_dropped_once_sent(services):
    with services.uow() as db:
        person = db.scalars(select(Participant).where(Participant.email == AMIRA)).one()
        db.add(Account(participant=person, platform="console", account_id=f"console:{AMIRA}",
                       chat_id=f"console:{AMIRA}", linked_at=services.clock.now()))
        db.flush()
        enqueue(db, person, "Booked", kind="test", key="k1", now=services.clock.now(),
                file=ReplyFile("peer-session-1.ics", "text/calendar", b"BEGIN:VCALENDAR"))
    files: list[ReplyFile | None] = []
    sender = RecordingSender()
    sender.send = lambda address, reply: files.append(reply.file)  # type: ignore[method-assign]
    DeliveryWorker(services.uow, {"console": sender}, services.clock).run_once()
    assert files == [ReplyFile("peer-session-1.ics", "text/calendar", b"BEGIN:VCALENDAR")]
    with services.uow() as db:
        row = db.scalars(select(OutboxMessage)).one()
        assert row.status == "sent" and row.file_data is None


def test_transient_failure_retries_with_backoff_then_sends(services, clock):
    queue(services, AMIRA, "hello", "k1")
    sender = RecordingSender({f"console:{AMIRA}": [DeliveryError("timeout")]})
    worker = DeliveryWorker(services.uow, {"console": sender}, clock)
    assert worker.run_once().retried == 1 and statuses(services) == ["pending"]
    assert worker.run_once().sent == 0  # not due yet
    clock.advance(seconds=31)
    assert worker.run_once().sent == 1 and statuses(services) == ["sent"]


def test_retry_after_is_honoured(services, clock):
    queue(services, AMIRA, "hello", "k1")
    sender = RecordingSender({f"console:{AMIRA}": [DeliveryError("429", retry_after=120)]})
    worker = DeliveryWorker(services.uow, {"console": sender}, clock)
    worker.run_once()
    clock.advance(seconds=100)
    assert worker.run_once().sent == 0
    clock.advance(seconds=21)
    assert worker.run_once().sent == 1


def test_blocked_user_is_marked_and_not_retried(services, clock):
    queue(services, AMIRA, "one", "k1")
    queue(services, AMIRA, "two", "k2")
    queue(services, JAMES, "three", "k3")
    sender = RecordingSender({f"console:{AMIRA}": [DeliveryError("blocked", permanent=True)]})
    stats = DeliveryWorker(services.uow, {"console": sender}, clock).run_once()
    assert stats.failed == 2 and [t for _, t in sender.sent] == ["three"]
    assert statuses(services) == ["failed", "failed", "sent"]
    with services.uow() as db:
        account = db.scalars(select(Account).where(Account.chat_id == f"console:{AMIRA}")).one()
        assert account.blocked_at is not None


def test_message_left_in_flight_by_a_crash_is_sent_after_the_lease(services, clock):
    queue(services, AMIRA, "hello", "k1")
    crashed = DeliveryWorker(services.uow, {"console": RecordingSender()}, clock)
    crashed._claim(None, DeliveryStats())  # claimed, then the process died before sending
    sender = RecordingSender()
    worker = DeliveryWorker(services.uow, {"console": sender}, clock)
    assert worker.run_once().sent == 0
    clock.advance(seconds=LEASE.total_seconds() + 1)
    assert worker.run_once().sent == 1


def test_unknown_platform_rows_wait_for_a_process_that_has_the_sender(services):
    queue(services, AMIRA, "hello", "k1")
    assert DeliveryWorker(services.uow, {"slack": RecordingSender()},
                          services.clock).run_once().sent == 0
    assert statuses(services) == ["pending"]


def test_rate_limiter_spaces_messages_in_one_chat():
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(per_second=30, per_chat_gap=1.0, monotonic=lambda: now[0], sleep=sleep)
    for _ in range(3):
        limiter.wait("chat-1")
    assert now[0] >= 2.0  # three messages to one chat take at least two seconds
    start = now[0]
    for i in range(30):
        limiter.wait(f"chat-{i + 10}")
    assert now[0] - start < 1.5  # thirty different chats go at the platform's rate


class StrictPlatform:
    """Answers 429 (retry after 1 s) past 30 a second or one a second a chat, and records
    when each message arrived, on the injected clock."""

    platform = "console"

    def __init__(self, now) -> None:
        self.now = now
        self.arrivals: list[tuple[float, str]] = []
        self.rejected = 0

    def send(self, address: Address, reply: Reply) -> None:
        t = self.now()
        recent = [a for a, _ in self.arrivals if t - a < 1.0]
        same_chat = [a for a, chat in self.arrivals if chat == address.chat_id and t - a < 1.0]
        if len(recent) >= 30 or same_chat:
            self.rejected += 1
            raise DeliveryError("429", retry_after=1)
        self.arrivals.append((t, address.chat_id))


def test_rate_limit_respected_without_a_single_429(services, clock):
    with services.uow() as db:
        people = db.scalars(select(Participant).order_by(Participant.id)).all()
    for i in range(60):  # 60 messages to the first person and one each to the others
        queue(services, people[0].email, f"m{i}", f"k{i}")
    for person in people[1:]:
        queue(services, person.email, "hello", f"to-{person.id}")
    fake_time = [0.0]

    def sleep(seconds: float) -> None:
        fake_time[0] += seconds

    platform = StrictPlatform(lambda: fake_time[0])
    limiter = RateLimiter(per_second=30, per_chat_gap=1.0, monotonic=lambda: fake_time[0],
                          sleep=sleep)
    stats = DeliveryWorker(services.uow, {"console": platform}, clock,
                           {"console": limiter}).run_once()
    assert platform.rejected == 0 and stats.sent == 60 + len(people) - 1
    first_chat = [t for t, chat in platform.arrivals if chat == f"console:{people[0].email}"]
    assert all(b - a >= 1.0 for a, b in zip(first_chat, first_chat[1:], strict=False))


def test_a_429_pauses_the_platform_for_retry_after(services, clock):
    queue(services, AMIRA, "hello", "k1")
    fake_time = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        fake_time[0] += seconds

    limiter = RateLimiter(per_second=30, monotonic=lambda: fake_time[0], sleep=sleep)
    sender = RecordingSender({f"console:{AMIRA}": [DeliveryError("429", retry_after=5)]})
    worker = DeliveryWorker(services.uow, {"console": sender}, clock, {"console": limiter})
    worker.run_once()
    queue(services, JAMES, "next", "k2")
    worker.run_once()  # the next send on the platform waits out the 5 seconds first
    assert sum(slept) >= 5.0 and [t for _, t in sender.sent] == ["next"]
