"""The delivery worker: drains the outbox through the platforms' Senders, reliably.

Rows are claimed with a short lease (status "sending", due_at = lease end) in one transaction
and each send is recorded in its own, so a worker killed mid-batch re-sends at most the one
message in flight once the lease runs out; nothing is lost and nothing is sent twice otherwise.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from handlers.messages import Choice, Reply, ReplyFile
from handlers.ports import Address, Clock, DeliveryError, Sender
from handlers.storage.db import UnitOfWork
from handlers.storage.models import Account, OutboxMessage

log = logging.getLogger("sps.delivery")

LEASE = dt.timedelta(minutes=5)
OVERTAKEN = "its time passed before it could be sent"  # a skipped row's last_error
MAX_ATTEMPTS = 8
FIRST_RETRY = dt.timedelta(seconds=30)


class RateLimiter:
    """A token bucket per platform plus a minimum gap per chat (Telegram: 30/s, 1/s a chat).

    The bucket holds `burst` tokens: 1 spaces messages evenly, which is what keeps a platform
    that counts over any sliding second (Telegram) from ever answering 429.
    `monotonic` and `sleep` are injected so tests and benchmarks control time."""

    def __init__(self, per_second: float, per_chat_gap: float = 0.0, burst: int = 1,
                 monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.per_second = per_second
        self.per_chat_gap = per_chat_gap
        self.burst = burst
        self._monotonic = monotonic
        self._sleep = sleep
        self._tokens = float(burst)
        self._last = monotonic()
        self._chat_last: dict[str, float] = {}

    def wait(self, chat_id: str) -> None:
        while True:
            now = self._monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.per_second)
            self._last = now
            chat_wait = self._chat_last.get(chat_id, -1e18) + self.per_chat_gap - now
            if self._tokens >= 1 and chat_wait <= 0:
                self._tokens -= 1
                self._chat_last[chat_id] = now
                return
            self._sleep(max(chat_wait, (1 - self._tokens) / self.per_second, 0.001))

    def pause(self, seconds: float) -> None:
        """A platform said "retry after": everyone on it waits."""
        self._tokens = -seconds * self.per_second


@dataclass
class DeliveryStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    overtaken: int = 0  # skipped: their time passed while they waited (an outage)
    reasons: list[str] = field(default_factory=list)


class DeliveryWorker:
    def __init__(self, uow: UnitOfWork, senders: Mapping[str, Sender], clock: Clock,
                 limiters: Mapping[str, RateLimiter] | None = None, batch: int = 200) -> None:
        self.uow = uow
        self.senders = senders
        self.clock = clock
        self.limiters = dict(limiters or {})
        self.batch = batch
        self._blocked: set[tuple[str, str]] = set()  # found blocked during this process

    def run_once(self, chat_id: str | None = None) -> DeliveryStats:
        """Send everything due now on the platforms this process has senders for."""
        stats = DeliveryStats()
        while True:
            claimed = self._claim(chat_id, stats)
            for message_id, platform, chat, reply in claimed:
                self._send_one(message_id, platform, chat, reply, stats)
            if len(claimed) < self.batch:
                return stats

    def _claim(self, chat_id: str | None,
               stats: DeliveryStats) -> list[tuple[int, str, str, Reply]]:
        now = self.clock.now()
        due = (OutboxMessage.platform.in_(list(self.senders)),
               or_(OutboxMessage.status == "pending", OutboxMessage.status == "sending"),
               OutboxMessage.due_at <= now,
               *([OutboxMessage.chat_id == chat_id] if chat_id is not None else []))
        with self.uow() as db:
            overtaken = db.execute(update(OutboxMessage)
                                   .where(*due, OutboxMessage.pointless_after <= now)
                                   .values(status="skipped", last_error=OVERTAKEN))
            if overtaken.rowcount:
                stats.overtaken += overtaken.rowcount
                log.info("skipped messages whose time passed",
                         extra={"count": overtaken.rowcount})
            query = (select(OutboxMessage).where(*due)
                     .order_by(OutboxMessage.due_at, OutboxMessage.id).limit(self.batch))
            if db.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = db.scalars(query).all()
            if not rows:
                return []
            db.execute(update(OutboxMessage).where(OutboxMessage.id.in_([r.id for r in rows]))
                       .values(status="sending", due_at=now + LEASE))
            return [(r.id, r.platform, r.chat_id,
                     Reply(r.text, choices=tuple(Choice(*c) for c in r.choices),
                           file=ReplyFile(r.file_name or "file", r.file_type or "", r.file_data)
                           if r.file_data is not None else None))
                    for r in rows]

    def _send_one(self, message_id: int, platform: str, chat: str, reply: Reply,
                  stats: DeliveryStats) -> None:
        if (platform, chat) in self._blocked:
            self._record_failure(message_id, DeliveryError("recipient blocked the bot",
                                                           permanent=True), stats)
            return
        limiter = self.limiters.get(platform)
        if limiter is not None:
            limiter.wait(chat)
        try:
            self.senders[platform].send(Address(platform, chat), reply)
        except DeliveryError as error:
            if limiter is not None and error.retry_after:
                limiter.pause(error.retry_after)
            self._record_failure(message_id, error, stats)
            return
        with self.uow() as db:
            db.execute(update(OutboxMessage).where(OutboxMessage.id == message_id)
                       .values(status="sent", sent_at=self.clock.now(),
                               attempts=OutboxMessage.attempts + 1, last_error="",
                               file_data=None))  # a sent file's copy is no longer needed
        stats.sent += 1

    def _record_failure(self, message_id: int, error: DeliveryError,
                        stats: DeliveryStats) -> None:
        now = self.clock.now()
        with self.uow() as db:
            row = db.get(OutboxMessage, message_id)
            if row is None:
                return
            row.attempts += 1
            row.last_error = error.reason[:300]
            if error.permanent or row.attempts >= MAX_ATTEMPTS:
                row.status = "failed"
                stats.failed += 1
                stats.reasons.append(error.reason)
                if error.permanent:
                    self._blocked.add((row.platform, row.chat_id))
                    self._mark_blocked(db, row, now)
                log.warning("delivery failed", extra={"outbox_id": row.id,
                                                      "platform": row.platform,
                                                      "permanent": error.permanent})
                return
            wait = dt.timedelta(seconds=error.retry_after) if error.retry_after else \
                FIRST_RETRY * (2 ** (row.attempts - 1))
            row.status = "pending"
            row.due_at = now + wait
            stats.retried += 1

    @staticmethod
    def _mark_blocked(db: Session, row: OutboxMessage, now: dt.datetime) -> None:
        """A user who blocked the bot: their other pending messages there fail at once."""
        db.execute(update(Account).where(Account.platform == row.platform,
                                         Account.chat_id == row.chat_id)
                   .values(blocked_at=now))
        db.execute(update(OutboxMessage).where(OutboxMessage.platform == row.platform,
                                               OutboxMessage.chat_id == row.chat_id,
                                               OutboxMessage.status.in_(("pending",
                                                                         "sending")))
                   .values(status="failed", last_error=row.last_error))
