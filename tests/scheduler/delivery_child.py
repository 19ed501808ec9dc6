"""A delivery worker process for the kill test: sends every due outbox row on platform
"fake" by appending the chat id to a log file (flushed per message, like a platform that
received it). Usage: python -m tests.scheduler.delivery_child DATABASE_URL LOG NOW_ISO"""

from __future__ import annotations

import datetime as dt
import sys

from handlers.messages import Reply
from handlers.ports import Address, FixedClock
from handlers.storage.db import UnitOfWork, make_engine
from scheduler.delivery import DeliveryWorker


class AppendingSender:
    platform = "fake"

    def __init__(self, path: str) -> None:
        self.log = open(path, "a", buffering=1)  # open for the life of the process

    def send(self, address: Address, reply: Reply) -> None:
        self.log.write(address.chat_id + "\n")


def main() -> None:
    url, log, now = sys.argv[1:4]
    clock = FixedClock(dt.datetime.fromisoformat(now))
    worker = DeliveryWorker(UnitOfWork(make_engine(url)), {"fake": AppendingSender(log)}, clock,
                            batch=50)
    stats = worker.run_once()
    print(f"sent {stats.sent}")


if __name__ == "__main__":
    main()
