"""SQLite set-up that matters for a bot with a web and a worker process on one file."""

from __future__ import annotations

from sqlalchemy import insert, text

from handlers.storage.db import WalCheckpointer, make_engine
from handlers.storage.models import AuditEntry
from tests.conftest import local


def test_background_checkpoints_take_the_log_copy_off_the_request_path(db_url):
    engine = make_engine(db_url, background_checkpoints=True)
    with engine.begin() as connection:
        assert connection.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 0
        for n in range(300):  # enough for SQLite's own checkpoint to have fired otherwise
            connection.execute(insert(AuditEntry).values(at=local(2015, 3, 2), action=f"a{n}",
                                                         subject="", detail={}))
    frames, copied = WalCheckpointer(engine).checkpoint()
    assert frames > 0 and copied == frames
    engine.dispose()


def test_the_checkpoint_thread_stops_with_its_engine(db_url):
    engine = make_engine(db_url)
    thread = WalCheckpointer(engine, every=0.01).start()
    engine.dispose()
    thread.join(timeout=5)
    assert not thread.is_alive()
