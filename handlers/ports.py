"""The core's ports: time and outgoing delivery. Implementations are injected."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from handlers.messages import Reply


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current instant, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class FixedClock:
    """A clock that only moves when told: tests, and the console's `--today`."""

    def __init__(self, at: dt.datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._at = at.astimezone(dt.UTC)

    def now(self) -> dt.datetime:
        return self._at

    def set(self, at: dt.datetime) -> None:
        self._at = at.astimezone(dt.UTC)

    def advance(self, **delta: float) -> None:
        self._at += dt.timedelta(**delta)


class OffsetClock:
    """Real time moved to another day: `--today 2015-04-01` keeps the time of day ticking."""

    def __init__(self, today: dt.date, zone: dt.tzinfo) -> None:
        real = dt.datetime.now(zone)
        self._offset = dt.datetime.combine(today, real.timetz()) - real

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self._offset


class DeliveryError(Exception):
    """A send failed. `permanent` failures (blocked, unknown chat) are never retried."""

    def __init__(self, reason: str, *, permanent: bool = False,
                 retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after


@dataclass(frozen=True)
class Address:
    platform: str
    chat_id: str


class Sender(Protocol):
    """Sends one message to one address on one platform; raises DeliveryError on failure."""

    platform: str

    def send(self, address: Address, reply: Reply) -> None: ...
