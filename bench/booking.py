"""Proposal latency with a full cohort's history: 1,000 pairs and 8,000 sessions on SQLite.

Each sample is a pair member confirming a one-line `/book` through the real router: the
confirmation runs every rule (window, length, events, overlap for both members, the pair's
count), inserts the proposal and queues the partner's message, in one transaction.

Run: .venv/bin/python bench/booking.py
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402

from handlers.app import build_router  # noqa: E402
from handlers.messages import Incoming  # noqa: E402
from handlers.ports import FixedClock  # noqa: E402
from handlers.services import Services  # noqa: E402
from handlers.storage.db import UnitOfWork, make_engine, upgrade  # noqa: E402
from handlers.storage.models import Account, Participant, PeerSession  # noqa: E402
from knowledge.base import KnowledgeBase  # noqa: E402
from knowledge.programme import load_programme  # noqa: E402

PAIRS = 1000
SESSIONS_PER_PAIR = 8  # 6 held or booked, 2 cancelled: 8,000 rows, 6 counted
SAMPLES = 500


def populate(uow: UnitOfWork, now: dt.datetime, zone: dt.tzinfo) -> list[str]:
    rng = random.Random(7)
    with uow() as db:
        db.execute(insert(Participant), [
            {"name": f"Person {i}", "email": f"p{i}@example.org",
             "role": "peer" if i % 2 == 0 else "expert_peer", "organisation": "", "region": "",
             "created_at": now} for i in range(PAIRS * 2)])
        ids = list(db.scalars(select(Participant.id).order_by(Participant.id)))
        for a, b in zip(ids[::2], ids[1::2], strict=True):
            db.get(Participant, a).partner_id = b  # type: ignore[union-attr]
            db.get(Participant, b).partner_id = a  # type: ignore[union-attr]
        db.execute(insert(Account), [
            {"participant_id": i, "platform": "console", "account_id": f"acc{i}",
             "chat_id": f"acc{i}", "linked_at": now} for i in ids])
        sessions = []
        for n, (a, b) in enumerate(zip(ids[::2], ids[1::2], strict=True)):
            for k in range(SESSIONS_PER_PAIR):
                day = dt.date(2015, 2, 2) + dt.timedelta(days=rng.randrange(0, 200))
                start = dt.datetime.combine(day, dt.time(8 + k)).replace(tzinfo=zone)
                sessions.append({
                    "uid": f"bench-{n}-{k}", "pair_key": f"{a}-{b}", "proposer_id": a,
                    "partner_id": b, "starts_at": start, "ends_at": start + dt.timedelta(hours=2),
                    "mode": "virtual", "place": "", "link": "",
                    "status": ("held", "booked", "cancelled")[0 if k < 3 else 1 if k < 6 else 2],
                    "sequence": 0, "created_at": now, "expires_at": now, "updated_at": now})
        db.execute(insert(PeerSession), sessions)
    return [f"acc{i}" for i in ids[::2]]


def main() -> None:
    programme = load_programme()
    zone = programme.timezone
    clock = FixedClock(dt.datetime(2015, 2, 1, 9, tzinfo=zone))
    with tempfile.TemporaryDirectory() as folder:
        # as bot.app does: checkpoints off the request path
        engine = make_engine(f"sqlite:///{folder}/bench.db", background_checkpoints=True)
        upgrade(engine)
        uow = UnitOfWork(engine)
        proposers = populate(uow, clock.now(), zone)
        router = build_router(Services(programme, lambda: KnowledgeBase([]), clock, uow))
        confirm_times = []
        for n, account in enumerate(proposers[:SAMPLES]):
            day = dt.date(2015, 9, 1) + dt.timedelta(days=n % 14)
            base = {"platform": "console", "account_id": account, "chat_id": account,
                    "private": True}
            router.handle(Incoming(**base, text=f"/book {day:%d %B} 19:00 2h virtual"))
            started = time.perf_counter()
            replies = router.handle(Incoming(**base, text="yes"))
            confirm_times.append(time.perf_counter() - started)
            assert replies[0].text.startswith("Sent to"), replies[0].text
        engine.dispose()
    confirm_times.sort()
    p99 = confirm_times[int(len(confirm_times) * 0.99)] * 1000
    print(f"{PAIRS} pairs, {PAIRS * SESSIONS_PER_PAIR} sessions on SQLite: a proposal with its "
          f"conflict checks (confirm step, {SAMPLES} samples) p50 "
          f"{statistics.median(confirm_times) * 1000:.2f} ms, p99 {p99:.2f} ms "
          "(target p99 < 5 ms)")


if __name__ == "__main__":
    main()
