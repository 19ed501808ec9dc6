"""Engine, unit of work and migrations. The only place that knows which database we run on."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger("sps.storage")
MIGRATIONS = Path(__file__).with_name("migrations")
DEFAULT_DATABASE_URL = "sqlite:///sps-bot.db"


def make_engine(url: str = DEFAULT_DATABASE_URL, *, background_checkpoints: bool = False,
                **options: Any) -> Engine:
    """The engine for a database URL. `background_checkpoints` (SQLite, long-running
    processes) moves write-ahead-log checkpoints off the request path; see WalCheckpointer."""
    if url.startswith("postgres://"):  # the form Heroku-style platforms hand out
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        # A web and a worker process share the file: wait for the lock rather than fail.
        options.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
        engine = create_engine(url, **options)
        event.listen(engine, "connect", _sqlite_pragmas)
        if background_checkpoints:
            event.listen(engine, "connect", _no_automatic_checkpoints)
            WalCheckpointer(engine).start()
        return engine
    return create_engine(url, pool_pre_ping=True, **options)


class WalCheckpointer:
    """Copies the SQLite write-ahead log back into the database file from a background
    thread. Left to SQLite, the commit that fills the log pays for that copy and its fsync
    (several milliseconds, every few hundred commits); here no request waits for it.
    PASSIVE checkpoints never block readers or writers. Stops when the engine is disposed."""

    def __init__(self, engine: Engine, every: float = 1.0) -> None:
        self.engine = engine
        self.every = every
        self._stop = threading.Event()
        event.listen(engine, "engine_disposed", lambda _connection: self._stop.set())

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name="sqlite-checkpoints", daemon=True)
        thread.start()
        return thread

    def checkpoint(self) -> tuple[int, int]:
        """One passive checkpoint: (frames in the log, frames copied to the database)."""
        with self.engine.connect() as connection:
            _busy, frames, copied = connection.exec_driver_sql(
                "PRAGMA wal_checkpoint(PASSIVE)").one()
        return frames, copied

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.checkpoint()
            except Exception as exc:  # a busy or vanished file: try again next time
                log.warning("checkpoint failed", extra={"error": type(exc).__name__})


def _no_automatic_checkpoints(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Erased personal data must not linger in freed pages of the file.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute("PRAGMA journal_size_limit=0")  # shrink the WAL after each checkpoint
    cursor.close()


class UnitOfWork:
    """One transaction: everything inside commits together or not at all."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def __call__(self) -> Iterator[Session]:
        session = self._sessions()
        try:
            if self.engine.dialect.name == "sqlite":
                # Take the write lock up front so two writers queue instead of deadlocking
                # on a read-then-write upgrade; this is what makes overlap checks atomic.
                session.connection().exec_driver_sql("BEGIN IMMEDIATE")
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


def checkpoint_wal(engine: Engine) -> None:
    """Fold the SQLite write-ahead log into the file and truncate it. secure_delete zeroes
    erased rows in the database file, but the WAL is reused, not wiped: old page images can
    sit in it until overwritten. Run after an erasure or a purge has committed."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply Alembic migrations up to `revision`."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
