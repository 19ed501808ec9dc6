"""Throughput and latency of the handler layer on SQLite, and `sps-bot --help` start-up.

Run: .venv/bin/python bench/handler.py [MESSAGES]
"""

from __future__ import annotations

import datetime as dt
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from handlers.app import build_router  # noqa: E402
from handlers.identity import import_participants  # noqa: E402
from handlers.messages import Incoming  # noqa: E402
from handlers.ports import FixedClock  # noqa: E402
from handlers.services import Services  # noqa: E402
from handlers.storage.db import UnitOfWork, make_engine, upgrade  # noqa: E402
from knowledge.base import KnowledgeBase  # noqa: E402
from knowledge.programme import load_programme  # noqa: E402

MIX = [
    ("amira.khan@example.nhs.uk", "will expenses be paid?"),
    ("james.okafor@example.nhs.uk", "/whoami"),
    ("amira.khan@example.nhs.uk", "/sessions"),
    (None, "where are the development days?"),
    ("gareth.davies@example.org", "/help"),
    ("priya.nair@example.nhs.uk", "/frobnicate"),
    (None, "what is the weather like in leeds"),
    ("sian.roberts@example.nhs.uk", "when is the next development day?"),
]


def main(count: int = 10_000) -> None:
    programme = load_programme()
    with tempfile.TemporaryDirectory() as folder:
        # as bot.app does: checkpoints off the request path
        engine = make_engine(f"sqlite:///{folder}/bench.db", background_checkpoints=True)
        upgrade(engine)
        clock = FixedClock(dt.datetime(2015, 3, 2, 9, tzinfo=programme.timezone))
        uow = UnitOfWork(engine)
        with uow() as db:
            import_participants(db, (ROOT / "knowledge/demo/cohort.csv").read_text(),
                                clock.now())
        router = build_router(Services(programme, KnowledgeBase.load, clock, uow))
        latencies = []
        started = time.perf_counter()
        for i in range(count):
            who, text = MIX[i % len(MIX)]
            account = f"console:{who or f'guest{i % 50}'}"
            msg = Incoming("console", account, account, True, text=text, verified_email=who)
            t0 = time.perf_counter()
            router.handle(msg)
            latencies.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - started
        engine.dispose()
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    print(f"handler layer, SQLite: {count} mixed messages in {elapsed:.2f} s = "
          f"{count / elapsed:,.0f} messages/s; p50 {statistics.median(latencies) * 1000:.2f} ms,"
          f" p99 {p99:.2f} ms (targets: >= 1,000/s, p99 < 10 ms)")

    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        subprocess.run([str(ROOT / ".venv/bin/sps-bot"), "--help"], capture_output=True,
                       check=True)
        runs.append(time.perf_counter() - t0)
    print(f"sps-bot --help: median {statistics.median(runs):.3f} s over 5 runs (target < 0.5 s)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
