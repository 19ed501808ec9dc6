"""Telegram long polling: throughput, update-to-reply latency, and exactly-once handling.

    .venv/bin/python -m bench.telegram [--updates 1000]

The real polling loop (python-telegram-bot against the fake Bot API on 127.0.0.1, the real
router, a temporary migrated SQLite database with the demo cohort) runs twice:

1. backlog: all updates are queued before the poller starts; updates/s is measured from the
   first getUpdates to the last reply.
2. paced: updates arrive at half the backlog rate; latency is from the moment an update is
   queued on the fake to the moment its reply (sendMessage) reaches the fake.

Each update comes from its own chat and gets exactly one reply, so "answered exactly once"
is checked by counting replies per chat.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from bot.adapters.telegram import run_polling
from bot.app import App, build_app
from bot.config import Settings
from handlers.identity import import_participants
from tests.fakes.telegram_api import FakeTelegram, text_update

DEMO_CSV = Path(__file__).resolve().parents[1] / "knowledge" / "demo" / "cohort.csv"
MIX = [
    "Will my travel expenses be paid?",
    "/help",
    "How long does the SPS programme last?",
    "/whoami",
    "Where will the peer to peer sessions take place?",
    "What is the time commitment involved?",
    "hello",
    "How has my expert peer been chosen?",
]


async def no_sleep(_seconds: float) -> None:
    """Nothing fails in the benchmark; a retry would show up as a missing reply."""


def run_phase(app: App, fake: FakeTelegram, first_chat: int, count: int,
              rate: float | None) -> tuple[float, list[float]]:
    chats = {first_chat + n: MIX[n % len(MIX)] for n in range(count)}
    update_of: dict[int, int] = {}
    calls_before = len(fake.calls)

    def feed() -> None:
        start = time.monotonic()
        for n, (chat, text) in enumerate(chats.items()):
            if rate:
                time.sleep(max(0.0, start + n / rate - time.monotonic()))
            update_of[chat] = fake.push(text_update(chat, text))

    feeder = threading.Thread(target=feed) if rate else None
    if feeder is None:
        feed()
    else:
        feeder.start()
    handled = run_polling(app, stop_after=count, sleep=no_sleep, poll_timeout=1)
    if feeder is not None:
        feeder.join()
    assert handled == count, f"handled {handled} of {count}"

    calls = fake.calls[calls_before:]
    replies = [c for c in calls if c.method == "sendMessage"]
    per_chat = Counter(c.chat_id for c in replies)
    wrong = {chat: per_chat.get(chat, 0) for chat in chats if per_chat.get(chat, 0) != 1}
    assert not wrong, f"chats not answered exactly once: {dict(list(wrong.items())[:5])}"
    latencies = [c.at - fake.queued_at[update_of[c.chat_id]] for c in replies
                 if c.chat_id is not None]
    first_poll = next(c.at for c in calls if c.method == "getUpdates")
    return count / (replies[-1].at - first_poll), latencies


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 \
        else values[0]


def report(name: str, rate: float, latencies: list[float]) -> None:
    ms = [v * 1000 for v in latencies]
    print(f"{name:<8} {rate:8.0f} updates/s   latency p50 {percentile(ms, 50):7.1f} ms   "
          f"p99 {percentile(ms, 99):7.1f} ms   max {max(ms):7.1f} ms   "
          f"{len(ms)} replies, each update answered exactly once")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=1000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder, FakeTelegram() as fake:
        settings = Settings.from_env({"DATABASE_URL": f"sqlite:///{folder}/bench.db",
                                      "TELEGRAM_BOT_TOKEN": fake.token,
                                      "TELEGRAM_API_URL": fake.api_url})
        app = build_app(settings, serving=True)  # migrates the SQLite file
        with app.services.uow() as db:
            import_participants(db, DEMO_CSV.read_text(), app.services.clock.now())

        backlog_rate, backlog_latency = run_phase(app, fake, 10_000_000, args.updates, None)
        report("backlog", backlog_rate, backlog_latency)
        paced_rate = backlog_rate / 2
        _, paced_latency = run_phase(app, fake, 20_000_000, args.updates, paced_rate)
        report("paced", paced_rate, paced_latency)
        app.engine.dispose()


if __name__ == "__main__":
    main()
