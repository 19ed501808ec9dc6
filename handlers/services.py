"""The dependencies the core is given: built by bot.app (or a test), never at import."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from handlers.ports import Clock
from handlers.storage.db import UnitOfWork
from knowledge.base import KnowledgeBase
from knowledge.programme import Programme


@dataclass
class Services:
    programme: Programme
    load_knowledge: Callable[[], KnowledgeBase]
    clock: Clock
    uow: UnitOfWork

    @cached_property
    def knowledge(self) -> KnowledgeBase:
        """Built on first use: a command-line job that answers no question (an import, a
        report, the worker) never pays for indexing the documents."""
        return self.load_knowledge()
