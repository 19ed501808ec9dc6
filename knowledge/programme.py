"""The programme configuration: one human-edited TOML file per cohort.

Everything the bot says or enforces about dates, venues, caps and rules is read from here, so a
new cohort is a new file. Loading validates every field and names the one that is wrong.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_PROGRAMME_FILE = Path(__file__).with_name("programme.toml")

EVENT_KINDS = ("orientation", "launch", "development_day", "celebration", "other")


class ProgrammeConfigError(ValueError):
    """The programme file is invalid; the message names the field."""


@dataclass(frozen=True)
class Contact:
    name: str
    email: str = ""
    phone: str = ""

    def describe(self) -> str:
        ways = " or ".join(part for part in (self.email, self.phone) if part)
        return f"{self.name} ({ways})" if ways else self.name


@dataclass(frozen=True)
class Event:
    id: str
    kind: str
    title: str
    date: dt.date
    starts: dt.datetime | None  # local, naive; None for an all-day event
    ends: dt.datetime | None
    place: str
    venue: str
    london: bool

    def describe(self) -> str:
        """`Development day 2: Wednesday 8 July 2015, The Met Hotel, Leeds`."""
        when = format_date(self.date)
        if self.starts and self.ends:
            when += f", {self.starts:%H:%M} to {self.ends:%H:%M}"
        where = self.venue or self.place
        return f"{self.title}: {when}, {where}" if where else f"{self.title}: {when}"


@dataclass(frozen=True)
class SessionRules:
    min_count: int
    max_count: int
    min_hours: Decimal
    max_hours: Decimal
    modes: tuple[str, ...]
    proposal_expires_hours: int


@dataclass(frozen=True)
class ExpensePolicy:
    cap_london_pence: int
    cap_elsewhere_pence: int
    nights_per_development_day: int
    peer_session_accommodation: str
    travel_covered: bool
    receipt_max_bytes: int
    receipt_types: tuple[str, ...]

    def cap_for(self, event: Event) -> int:
        """The accommodation cap for one development day: the nightly cap for its place,
        times the nights the programme pays for each day."""
        nightly = self.cap_london_pence if event.london else self.cap_elsewhere_pence
        return nightly * self.nights_per_development_day


@dataclass(frozen=True)
class ReminderPolicy:
    event_offsets_days: tuple[int, ...]
    session_offsets_hours: tuple[int, ...]
    grace_period: dt.timedelta
    note_destruction_every: dt.timedelta


@dataclass(frozen=True)
class RetentionPolicy:
    conversation_idle: dt.timedelta
    unanswered_question: dt.timedelta
    # who asked a question they did not pass to the programme team: only as long as the
    # "Ask the programme team" button may still be pressed
    question_asker: dt.timedelta
    delivery_log: dt.timedelta
    receipts_after_paid: dt.timedelta
    cohort_after_end: dt.timedelta


@dataclass(frozen=True)
class Programme:
    name: str
    short_name: str
    cohort: str
    timezone: ZoneInfo
    starts: dt.date
    ends: dt.date
    contact: Contact
    other_contacts: tuple[Contact, ...]
    events: tuple[Event, ...]
    sessions: SessionRules
    expenses: ExpensePolicy
    reminders: ReminderPolicy
    retention: RetentionPolicy

    @property
    def development_days(self) -> tuple[Event, ...]:
        return tuple(e for e in self.events if e.kind == "development_day")

    def event(self, event_id: str) -> Event | None:
        return next((e for e in self.events if e.id == event_id), None)

    def events_on(self, day: dt.date) -> list[Event]:
        return [e for e in self.events if e.date == day]

    def next_event(self, today: dt.date, kind: str | None = None) -> Event | None:
        upcoming = [e for e in self.events if e.date >= today and (kind is None or e.kind == kind)]
        return min(upcoming, key=lambda e: e.date, default=None)


def format_date(day: dt.date) -> str:
    """British long form: `Wednesday 8 July 2015`."""
    return f"{day:%A} {day.day} {day:%B %Y}"


def format_pence(pence: int) -> str:
    """`£1,234.50`; whole pounds without pence: `£150`."""
    sign = "-" if pence < 0 else ""
    pounds, rest = divmod(abs(pence), 100)
    return f"{sign}£{pounds:,}" + (f".{rest:02d}" if rest else "")


def load_programme(path: Path | str | None = None) -> Programme:
    source = Path(path) if path else DEFAULT_PROGRAMME_FILE
    try:
        raw = tomllib.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ProgrammeConfigError(f"programme file not found: {source}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ProgrammeConfigError(f"{source}: not valid TOML: {exc}") from exc
    try:
        return _parse(raw)
    except ProgrammeConfigError as exc:
        raise ProgrammeConfigError(f"{source}: {exc}") from None


_REQUIRED = object()


class _Fields:
    """Typed reads from one TOML table that name the field when something is wrong."""

    def __init__(self, table: Any, where: str) -> None:
        if not isinstance(table, dict):
            raise ProgrammeConfigError(f"[{where}] is missing or not a table")
        self.table = table
        self.where = where

    def _get(self, key: str, default: Any) -> Any:
        if key not in self.table:
            if default is _REQUIRED:
                raise ProgrammeConfigError(f"{self.where}.{key} is required")
            return default
        return self.table[key]

    def fail(self, key: str, expected: str) -> ProgrammeConfigError:
        return ProgrammeConfigError(
            f"{self.where}.{key} must be {expected}, not {self.table.get(key)!r}"
        )

    def text(self, key: str, default: Any = None) -> str:
        value = self._get(key, _REQUIRED if default is None else default)
        if not isinstance(value, str) or (default is None and not value.strip()):
            raise self.fail(key, "a non-empty string")
        return value

    def integer(self, key: str, minimum: int = 0, default: Any = _REQUIRED) -> int:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(key, f"a whole number of at least {minimum}")
        return value

    def flag(self, key: str, default: Any = _REQUIRED) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, "true or false")
        return value

    def date(self, key: str) -> dt.date:
        value = self._get(key, _REQUIRED)
        if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
            raise self.fail(key, "a date like 2015-03-18")
        return value

    def local_datetime(self, key: str) -> dt.datetime | None:
        value = self._get(key, None)
        if value is None:
            return None
        if not isinstance(value, dt.datetime) or value.tzinfo is not None:
            raise self.fail(key, "a local date and time like 2015-01-28T14:00:00")
        return value

    def pence(self, key: str) -> int:
        value = self._get(key, _REQUIRED)
        try:
            amount = Decimal(str(value)) if isinstance(value, str | int) else None
        except InvalidOperation:
            amount = None
        if amount is None or amount < 0 or amount != amount.quantize(Decimal("0.01")):
            raise self.fail(key, 'an amount in pounds like "150.00"')
        return int(amount * 100)

    def list_of(self, key: str, kind: type) -> tuple[Any, ...]:
        value = self._get(key, _REQUIRED)
        if not isinstance(value, list) or not value or not all(
            isinstance(item, kind) and not isinstance(item, bool) for item in value
        ):
            raise self.fail(key, f"a non-empty list of {kind.__name__}")
        return tuple(value)


def _parse(raw: dict[str, Any]) -> Programme:
    prog = _Fields(raw.get("programme"), "programme")
    try:
        zone = ZoneInfo(prog.text("timezone", "Europe/London"))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise prog.fail("timezone", "a time zone name like Europe/London") from exc
    starts, ends = prog.date("starts"), prog.date("ends")
    if ends < starts:
        raise prog.fail("ends", f"on or after programme.starts ({starts})")

    contact = _contact(_Fields(raw.get("contact"), "contact"))
    others = raw.get("contacts", [])
    if not isinstance(others, list):
        raise ProgrammeConfigError("[[contacts]] must be a list of tables")
    other_contacts = tuple(_contact(_Fields(c, f"contacts[{i}]")) for i, c in enumerate(others))

    raw_events = raw.get("events")
    if not isinstance(raw_events, list) or not raw_events:
        raise ProgrammeConfigError("[[events]] is required: at least one event")
    events = tuple(_event(_Fields(e, f"events[{i}]")) for i, e in enumerate(raw_events))
    ids = [e.id for e in events]
    if len(set(ids)) != len(ids):
        raise ProgrammeConfigError("events: every event id must be unique")

    s = _Fields(raw.get("sessions"), "sessions")
    sessions = SessionRules(
        min_count=s.integer("min_count", 1),
        max_count=s.integer("max_count", 1),
        min_hours=Decimal(s.integer("min_hours", 1)),
        max_hours=Decimal(s.integer("max_hours", 1)),
        modes=s.list_of("modes", str),
        proposal_expires_hours=s.integer("proposal_expires_hours", 1),
    )
    if sessions.max_count < sessions.min_count:
        raise s.fail("max_count", "at least sessions.min_count")
    if sessions.max_hours < sessions.min_hours:
        raise s.fail("max_hours", "at least sessions.min_hours")

    x = _Fields(raw.get("expenses"), "expenses")
    expenses = ExpensePolicy(
        cap_london_pence=x.pence("accommodation_cap_london"),
        cap_elsewhere_pence=x.pence("accommodation_cap_elsewhere"),
        nights_per_development_day=x.integer("nights_per_development_day", 0),
        peer_session_accommodation=x.text("peer_session_accommodation"),
        travel_covered=x.flag("travel_covered"),
        receipt_max_bytes=x.integer("receipt_max_mb", 1) * 1024 * 1024,
        receipt_types=x.list_of("receipt_types", str),
    )

    r = _Fields(raw.get("reminders"), "reminders")
    reminders = ReminderPolicy(
        event_offsets_days=r.list_of("event_offsets_days", int),
        session_offsets_hours=r.list_of("session_offsets_hours", int),
        grace_period=dt.timedelta(hours=r.integer("grace_period_hours", 0)),
        note_destruction_every=dt.timedelta(days=r.integer("note_destruction_every_days", 1)),
    )

    k = _Fields(raw.get("retention"), "retention")
    retention = RetentionPolicy(
        conversation_idle=dt.timedelta(minutes=k.integer("conversation_idle_minutes", 1)),
        unanswered_question=dt.timedelta(days=k.integer("unanswered_question_days", 1)),
        question_asker=dt.timedelta(hours=k.integer("question_asker_hours", 1, default=24)),
        delivery_log=dt.timedelta(days=k.integer("delivery_log_days", 1)),
        receipts_after_paid=dt.timedelta(days=k.integer("receipts_after_paid_days", 1)),
        cohort_after_end=dt.timedelta(days=k.integer("cohort_after_end_days", 1)),
    )

    return Programme(
        name=prog.text("name"),
        short_name=prog.text("short_name", prog.text("name")),
        cohort=prog.text("cohort"),
        timezone=zone,
        starts=starts,
        ends=ends,
        contact=contact,
        other_contacts=other_contacts,
        events=tuple(sorted(events, key=lambda e: e.date)),
        sessions=sessions,
        expenses=expenses,
        reminders=reminders,
        retention=retention,
    )


def _contact(c: _Fields) -> Contact:
    return Contact(name=c.text("name"), email=c.text("email", ""), phone=c.text("phone", ""))


def _event(e: _Fields) -> Event:
    kind = e.text("kind")
    if kind not in EVENT_KINDS:
        raise e.fail("kind", "one of " + ", ".join(EVENT_KINDS))
    starts, ends = e.local_datetime("starts"), e.local_datetime("ends")
    if (starts is None) != (ends is None):
        raise e.fail("ends", "given together with starts")
    if starts and ends and ends <= starts:
        raise e.fail("ends", "after starts")
    day = starts.date() if starts else e.date("date")
    return Event(
        id=e.text("id"),
        kind=kind,
        title=e.text("title"),
        date=day,
        starts=starts,
        ends=ends,
        place=e.text("place", ""),
        venue=e.text("venue", ""),
        london=e.flag("london", False),
    )
