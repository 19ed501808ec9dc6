"""A delivery worker killed in the middle of a 1,000-recipient broadcast loses nothing when
restarted, and sends again at most the one message that was in flight."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from handlers.broadcast import create_broadcast
from handlers.storage.models import Account, OutboxMessage, Participant
from scheduler.delivery import LEASE

pytestmark = pytest.mark.both_databases
ROOT = Path(__file__).resolve().parents[2]
RECIPIENTS = 1000


def run_child(db_url: str, log: Path, now: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tests.scheduler.delivery_child", db_url,
                             str(log), now], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_killed_worker_loses_nothing_and_repeats_at_most_one(services, db_url, tmp_path):
    now = services.clock.now()
    with services.uow() as db:
        db.execute(insert(Participant), [
            {"name": f"Recipient {i}", "email": f"r{i}@example.org", "role": "peer",
             "organisation": "", "region": "crash-test", "created_at": now}
            for i in range(RECIPIENTS)])
        people = db.scalars(select(Participant).where(Participant.region == "crash-test"))
        db.execute(insert(Account), [
            {"participant_id": p.id, "platform": "fake", "account_id": f"a{p.id}",
             "chat_id": f"chat-{p.id}", "linked_at": now} for p in people])
        create_broadcast(db, services.programme, None, "region crash-test", "Hello all", None,
                         now)
    log = tmp_path / "sent.log"
    child = run_child(db_url, log, now.isoformat())
    deadline = time.monotonic() + 60
    while len(lines(log)) < RECIPIENTS // 3:
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, "the worker did not get going"
        time.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(10)
    before_restart = len(lines(log))
    assert before_restart < RECIPIENTS  # killed mid-stream

    # The restarted worker waits out the lease on rows claimed by the dead one, then sends.
    after_lease = (now + LEASE).isoformat()
    restarted = run_child(db_url, log, after_lease)
    assert restarted.wait(120) == 0, restarted.communicate()
    sent = collections.Counter(lines(log))
    assert len(sent) == RECIPIENTS  # nobody lost
    assert sum(n - 1 for n in sent.values()) <= 1  # at most the one in flight, twice
    with services.uow() as db:
        assert db.scalar(select(func.count()).where(OutboxMessage.status != "sent")) == 0
