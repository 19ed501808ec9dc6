"""The composition root: builds the real engine, knowledge, router and clock, on request."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from sqlalchemy import Engine, inspect

from bot.config import Settings
from handlers.app import build_router
from handlers.ports import Clock, Sender, SystemClock
from handlers.router import Router
from handlers.services import Services
from handlers.storage.db import UnitOfWork, make_engine, upgrade
from knowledge.base import KnowledgeBase
from knowledge.corpus import DEFAULT_DOCS
from knowledge.programme import load_programme
from scheduler.delivery import RateLimiter


class NotMigrated(RuntimeError):
    pass


@dataclass
class App:
    settings: Settings
    engine: Engine
    services: Services
    router: Router


def build_app(settings: Settings, clock: Clock | None = None, *, migrate: bool = True,
              serving: bool = False) -> App:
    """Everything the bot needs. SQLite upgrades itself; PostgreSQL needs `sps-bot db upgrade`
    (the Procfile's release step), so two starting processes never race to migrate. A
    `serving` (long-running) process checkpoints SQLite's log off the request path."""
    programme = load_programme(settings.programme_file)
    engine = make_engine(settings.database_url, background_checkpoints=serving)
    if migrate and engine.dialect.name == "sqlite":
        upgrade(engine)
    elif "alembic_version" not in inspect(engine).get_table_names():
        raise NotMigrated("the database has no tables yet: run `sps-bot db upgrade` first")
    services = Services(programme=programme,
                        load_knowledge=partial(KnowledgeBase.load,
                                               settings.docs_folder or DEFAULT_DOCS),
                        clock=clock or SystemClock(), uow=UnitOfWork(engine))
    return App(settings, engine, services, build_router(services))


def build_senders(app: App) -> tuple[dict[str, Sender], dict[str, RateLimiter]]:
    """A Sender (and the platform's rate limit) for every platform configured here."""
    senders: dict[str, Sender] = {}
    limiters: dict[str, RateLimiter] = {}
    settings = app.settings
    if settings.slack_bot_token:
        from bot.adapters.slack import SlackSender

        senders["slack"] = SlackSender.from_settings(settings)
        limiters["slack"] = RateLimiter(per_second=20, per_chat_gap=1.0)  # ~1 a second a channel
    if settings.telegram_bot_token:
        from bot.adapters.telegram import TelegramSender

        senders["telegram"] = TelegramSender(settings)
        limiters["telegram"] = RateLimiter(per_second=30, per_chat_gap=1.0)
    return senders, limiters
