"""The dependencies the core is given: built by bot.app (or a test), never at import."""

from __future__ import annotations

from dataclasses import dataclass

from handlers.ports import Clock
from handlers.storage.db import UnitOfWork
from knowledge.base import KnowledgeBase
from knowledge.programme import Programme


@dataclass
class Services:
    programme: Programme
    knowledge: KnowledgeBase
    clock: Clock
    uow: UnitOfWork
