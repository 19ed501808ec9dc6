"""Shared fixtures: a real migrated database, new or emptied, for each test (SQLite; also
PostgreSQL for modules marked `both_databases` when SPS_TEST_POSTGRES_URL is set, as .ci/run
does), a fixed clock,
and a front door that sends messages through the real router as a given participant."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from handlers.app import build_router
from handlers.identity import import_participants
from handlers.messages import Choice, Incoming, Reply
from handlers.ports import FixedClock
from handlers.router import Router
from handlers.services import Services
from handlers.storage.db import UnitOfWork, make_engine, upgrade
from handlers.storage.models import Base
from knowledge.base import KnowledgeBase
from knowledge.programme import load_programme

LONDON = load_programme().timezone
DEMO_CSV = (Path(__file__).parent.parent / "knowledge" / "demo" / "cohort.csv").read_text()
AMIRA = "amira.khan@example.nhs.uk"  # peer, paired with JAMES
JAMES = "james.okafor@example.nhs.uk"  # expert peer
SIAN = "sian.roberts@example.nhs.uk"
PRIYA = "priya.nair@example.nhs.uk"  # unpaired peer
GARETH = "gareth.davies@example.org"  # programme team
HELEN = "helen.price@example.org"  # challenge manager


def local(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=LONDON)


@pytest.fixture(scope="session")
def knowledge() -> KnowledgeBase:
    return KnowledgeBase.load()


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


POSTGRES_URL = os.environ.get("SPS_TEST_POSTGRES_URL", "")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
            "both_databases"):
        if os.environ.get("SPS_REQUIRE_POSTGRES") and not POSTGRES_URL:
            raise pytest.UsageError("SPS_REQUIRE_POSTGRES is set but SPS_TEST_POSTGRES_URL "
                                    "is not")
        metafunc.parametrize("backend", ["sqlite", "postgresql"] if POSTGRES_URL
                             else ["sqlite"], indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    return getattr(request, "param", "sqlite")


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """One migrated PostgreSQL database for the run, emptied after each test (far quicker
    than a database per test, which costs a CREATE DATABASE each time)."""
    admin = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql("DROP DATABASE IF EXISTS sps_test WITH (FORCE)")
        connection.exec_driver_sql("CREATE DATABASE sps_test")
    url = POSTGRES_URL.rsplit("/", 1)[0] + "/sps_test"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as connection:
        connection.exec_driver_sql("DROP DATABASE IF EXISTS sps_test WITH (FORCE)")
    admin.dispose()


def _empty(url: str) -> None:
    """Every table emptied and every id counter back at 1, as in a new database. Connections
    a test left behind (a killed worker's, say) are ended first so that none holds a lock."""
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
        connection.exec_driver_sql(
            "SELECT setval(oid::regclass, 1, false) FROM pg_class WHERE relkind = 'S'")
    engine.dispose()


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        path = tmp_path / "sps.db"
        shutil.copy(request.getfixturevalue("migrated_template"), path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_database")
    yield url
    _empty(url)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(local(2015, 3, 2, 9, 0))


@pytest.fixture
def services(db_url: str, clock: FixedClock, knowledge: KnowledgeBase) -> Iterator[Services]:
    engine = make_engine(db_url)
    uow = UnitOfWork(engine)
    with uow() as db:
        import_participants(db, DEMO_CSV, clock.now())
    # Each test gets its own copy so programme-team answers never leak between tests.
    kb = knowledge.fresh_copy()
    yield Services(programme=load_programme(), load_knowledge=lambda: kb, clock=clock, uow=uow)
    engine.dispose()


class FrontDoor:
    """Talks to the real router the way an adapter does."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.last: dict[str, list[Reply]] = {}

    def incoming(self, who: str | None, text: str = "", platform: str = "console",
                 private: bool = True, **extra: object) -> Incoming:
        account = f"{platform}:{who or 'guest'}"
        chat = account if private else "group-chat"
        return Incoming(platform=platform, account_id=account, chat_id=chat, private=private,
                        text=text, verified_email=who if platform == "console" else None,
                        **extra)  # type: ignore[arg-type]

    def send(self, who: str | None, text: str, **extra: object) -> list[Reply]:
        replies = self.router.handle(self.incoming(who, text, **extra))
        self.last[who or "guest"] = replies
        return replies

    def text(self, who: str | None, text: str, **extra: object) -> str:
        return "\n".join(r.text for r in self.send(who, text, **extra))

    def press(self, who: str | None, label: str, **extra: object) -> list[Reply]:
        """Press the button with this label among the last replies to `who`."""
        choice = self.choice(who, label)
        replies = self.router.handle(self.incoming(who, action_id=choice.action_id,
                                                   action_value=choice.value, **extra))
        self.last[who or "guest"] = replies
        return replies

    def book(self, proposer: str, partner: str, line: str) -> None:
        """`proposer` proposes the session in one line and `partner` accepts it."""
        self.text(partner, "/whoami")
        self.text(proposer, f"/book {line}")
        self.text(proposer, "yes")
        self.send(partner, "/sessions")
        self.press(partner, "Accept")

    def choice(self, who: str | None, label: str) -> Choice:
        for reply in self.last.get(who or "guest", []):
            for choice in reply.choices:
                if choice.label.lower().startswith(label.lower()):
                    return choice
        raise AssertionError(f"no button {label!r} in {self.last.get(who or 'guest')}")


@pytest.fixture
def router(services: Services) -> Router:
    return build_router(services)


@pytest.fixture
def door(router: Router) -> FrontDoor:
    return FrontDoor(router)
