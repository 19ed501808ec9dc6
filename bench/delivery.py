"""Outbox figures: enqueueing a 10,000-recipient broadcast, draining it through a fake
platform, and the rate achieved against Telegram's 30 messages a second.

Run: .venv/bin/python bench/delivery.py
"""

from __future__ import annotations

import collections
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402

from handlers.broadcast import create_broadcast  # noqa: E402
from handlers.messages import Reply  # noqa: E402
from handlers.ports import Address, DeliveryError, SystemClock  # noqa: E402
from handlers.storage.db import UnitOfWork, make_engine, upgrade  # noqa: E402
from handlers.storage.models import Account, Participant  # noqa: E402
from knowledge.programme import load_programme  # noqa: E402
from scheduler.delivery import DeliveryWorker, RateLimiter  # noqa: E402


class FakePlatform:
    """Records send times; answers 429 past `limit` a second overall or one a second a chat,
    as Telegram does."""

    platform = "fake"

    def __init__(self, limit: float | None = None) -> None:
        self.limit = limit
        self.times: list[float] = []
        self.last_in_chat: dict[str, float] = {}
        self.rejected = 0

    def send(self, address: Address, reply: Reply) -> None:
        now = time.monotonic()
        if self.limit is not None:
            recent = [t for t in self.times[-int(self.limit) - 1:] if now - t < 1.0]
            if len(recent) >= self.limit or now - self.last_in_chat.get(address.chat_id,
                                                                        -9.0) < 1.0:
                self.rejected += 1
                raise DeliveryError("429 Too Many Requests", retry_after=1)
        self.times.append(now)
        self.last_in_chat[address.chat_id] = now


def database(folder: str, people: int) -> UnitOfWork:
    engine = make_engine(f"sqlite:///{folder}/bench.db")
    upgrade(engine)
    uow = UnitOfWork(engine)
    now = dt.datetime.now(dt.UTC)
    with uow() as db:
        db.execute(insert(Participant), [
            {"name": f"P{i}", "email": f"p{i}@example.org", "role": "peer", "organisation": "",
             "region": "bench", "created_at": now} for i in range(people)])
        ids = list(db.scalars(select(Participant.id)))
        db.execute(insert(Account), [
            {"participant_id": i, "platform": "fake", "account_id": f"a{i}",
             "chat_id": f"c{i}", "linked_at": now} for i in ids])
    return uow


def broadcast(uow: UnitOfWork, audience: str = "everyone") -> float:
    started = time.perf_counter()
    with uow() as db:
        create_broadcast(db, load_programme(), None, audience, "Bench broadcast", None,
                         dt.datetime.now(dt.UTC))
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        uow = database(folder, 10_000)
        took = broadcast(uow)
        print(f"enqueue a 10,000-recipient broadcast: {took:.2f} s (target < 2 s)")
        platform = FakePlatform()
        worker = DeliveryWorker(uow, {"fake": platform}, SystemClock(),
                                {"fake": RateLimiter(per_second=100_000)})
        started = time.perf_counter()
        stats = worker.run_once()
        took = time.perf_counter() - started
        print(f"drain through a fake platform, rate limiter set high: {stats.sent} sent in "
              f"{took:.2f} s = {stats.sent / took:,.0f} messages/s (target >= 500/s on SQLite)")

    with tempfile.TemporaryDirectory() as folder:
        uow = database(folder, 300)
        broadcast(uow)
        platform = FakePlatform(limit=30)
        worker = DeliveryWorker(uow, {"fake": platform}, SystemClock(),
                                {"fake": RateLimiter(per_second=30, per_chat_gap=1.0)})
        started = time.perf_counter()
        stats = worker.run_once()
        took = time.perf_counter() - started
        per_second = collections.Counter(int(t - platform.times[0]) for t in platform.times)
        print(f"at Telegram's 30 messages/s: {stats.sent} sent in {took:.2f} s = "
              f"{stats.sent / took:.1f} messages/s ({stats.sent / took / 30:.0%} of the limit, "
              f"target >= 90%); 429 answers: {platform.rejected} (target 0); busiest second: "
              f"{max(per_second.values())} messages")


if __name__ == "__main__":
    main()
