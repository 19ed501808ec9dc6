"""Reminder rules for programme events, peer sessions and claims, read from the programme
configuration and the database, and `/reminders` to turn optional kinds off."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers.core import Context, Flow, Route, ScheduledMessage
from handlers.messages import Choice, Reply, button_label, counted
from handlers.storage.models import Claim, Participant, PeerSession, ReminderOptOut
from handlers.when import localise
from knowledge.programme import Event, Programme, format_pence

SEND_AT = dt.time(9, 0)  # day-based reminders go out at 09:00 local, never in a DST gap
PAIRED = ("peer", "expert_peer")
OPTIONAL_KINDS = {
    "event_reminder": "development days and other programme events",
    "session_reminder": "your peer sessions",
    "claim_reminder": "claiming accommodation after a development day",
}


def without_opt_outs(db: Session, due: list[ScheduledMessage]) -> list[ScheduledMessage]:
    opted_out = set(db.execute(select(ReminderOptOut.participant_id, ReminderOptOut.kind)))
    return [m for m in due if not (m.optional and (m.to.id, m.kind) in opted_out)]


def _at_nine(programme: Programme, day: dt.date) -> dt.datetime:
    return localise(day, SEND_AT, programme.timezone)


def _paired(db: Session) -> list[Participant]:
    return list(db.scalars(select(Participant).where(Participant.role.in_(PAIRED))))


def _event_reminders(db: Session, programme: Programme, since: dt.datetime,
                     until: dt.datetime) -> list[ScheduledMessage]:
    result = []
    people: list[Participant] | None = None
    for event in programme.events:
        for days in programme.reminders.event_offsets_days:
            due = _at_nine(programme, event.date - dt.timedelta(days=days))
            if not since < due <= until:
                continue
            people = _paired(db) if people is None else people
            when = "tomorrow" if days == 1 else f"in {days} days"
            for person in people:
                result.append(ScheduledMessage(
                    key=f"event:{event.id}:{days}d:to:{person.id}", to=person,
                    text=f"Reminder: {event.describe()} ({when}).", due_at=due,
                    kind="event_reminder", pointless_after=_at_nine(programme, event.date)))
    return result


def _session_reminders(db: Session, programme: Programme, since: dt.datetime,
                       until: dt.datetime) -> list[ScheduledMessage]:
    from handlers.booking import describe

    offsets = programme.reminders.session_offsets_hours
    sessions = db.scalars(select(PeerSession).where(
        PeerSession.status == "booked",
        PeerSession.starts_at > since + dt.timedelta(hours=min(offsets)),
        PeerSession.starts_at <= until + dt.timedelta(hours=max(offsets)))).all()
    result = []
    for session in sessions:
        for hours in offsets:
            due = session.starts_at - dt.timedelta(hours=hours)
            if not since < due <= until:
                continue
            for person, other in ((session.proposer, session.partner),
                                  (session.partner, session.proposer)):
                result.append(ScheduledMessage(
                    key=f"session:{session.id}:seq{session.sequence}:{hours}h:to:{person.id}",
                    to=person, due_at=due, kind="session_reminder",
                    pointless_after=session.starts_at,
                    text=f"Reminder: peer session with {other.name} in "
                         f"{counted(hours, 'hour')}: {describe(programme, session)}."))
    return result


def _claim_reminders(db: Session, programme: Programme, since: dt.datetime,
                     until: dt.datetime) -> list[ScheduledMessage]:
    result = []
    for event in programme.development_days:
        due = _at_nine(programme, event.date + dt.timedelta(days=1))
        if not since < due <= until:
            continue
        claimed = set(db.scalars(select(Claim.participant_id).where(Claim.event_id == event.id)))
        for person in _paired(db):
            if person.id in claimed:
                continue
            result.append(ScheduledMessage(
                key=f"claim:{event.id}:to:{person.id}", to=person, due_at=due,
                kind="claim_reminder", text=_claim_text(programme, event),
                choices=(Choice("Start a claim", "claims.start"),)))
    return result


def _claim_text(programme: Programme, event: Event) -> str:
    cap = format_pence(programme.expenses.cap_for(event))
    where = "in London" if event.london else "outside London"
    return (f"If you stayed overnight for {event.title} ({event.place}), you can claim bed and "
            f"breakfast up to {cap} ({where}). Send /claim to start.")


# ---------------------------------------------------------------- /reminders
def reminders(ctx: Context, args: str) -> list[Reply]:
    """Which optional reminders are on, with a button to set each; `/reminders off|on` sets
    them all. (Free text such as "stop sending me reminders" shows the menu.)"""
    word = args.strip().lower()
    if ctx.msg.text.startswith("/") and word in ("off", "on"):
        return _set(ctx, list(OPTIONAL_KINDS), word)
    notes = []
    if ctx.msg.text.startswith("/") and word:
        notes.append(Reply(f"I didn't understand \u201c{args.strip()[:40]}\u201d: send "
                           "/reminders off or /reminders on, or use the buttons."))
    return notes + [_menu(ctx)]


def _menu(ctx: Context) -> Reply:
    off = set(ctx.db.scalars(select(ReminderOptOut.kind).where(
        ReminderOptOut.participant_id == ctx.me.id)))
    lines = ["*Your reminders* (broadcasts and note-destruction requests always come):"]
    choices = []
    for kind, label in OPTIONAL_KINDS.items():
        state = "off" if kind in off else "on"
        lines.append(f"- {label}: {state}")
        wanted = "on" if state == "off" else "off"
        # The button names the state it sets, so an old one tapped again changes nothing.
        choices.append(Choice(button_label(f"Turn {wanted}: {label}"), "reminders.toggle",
                              f"{kind}:{wanted}"))
    if not off:
        choices.append(Choice("Turn all off", "reminders.toggle", "all:off"))
    return Reply("\n".join(lines), choices=tuple(choices))


def toggle(ctx: Context, value: str) -> list[Reply]:
    """A menu button: `KIND:on|off`, or `all:on|off`."""
    kind, _, wanted = value.partition(":")
    kinds = list(OPTIONAL_KINDS) if kind == "all" else [kind]
    if not all(k in OPTIONAL_KINDS for k in kinds):
        return [Reply("That kind of reminder doesn't exist.")]
    if wanted not in ("on", "off"):  # a button from before buttons named their state
        return [Reply("That button is from an older menu. Here is where your reminders "
                      "stand:"), _menu(ctx)]
    return _set(ctx, kinds, wanted)


def _set(ctx: Context, kinds: list[str], wanted: str) -> list[Reply]:
    for kind in kinds:
        existing = ctx.db.get(ReminderOptOut, (ctx.me.id, kind))
        if wanted == "off" and existing is None:
            ctx.db.add(ReminderOptOut(participant_id=ctx.me.id, kind=kind))
        elif wanted == "on" and existing is not None:
            ctx.db.delete(existing)
    ctx.db.flush()
    which = "All optional reminders are" if len(kinds) > 1 else \
        f"Reminders about {OPTIONAL_KINDS[kinds[0]]} are"
    return [Reply(f"{which} {wanted}."), _menu(ctx)]


SCHEDULED = [_event_reminders, _session_reminders, _claim_reminders]
ROUTES = [
    Route("reminders", reminders, command="/reminders",
          help="choose which reminders you get",
          intent=re.compile(r"\b(stop|turn off|switch off|pause|mute|no more|fewer|change|"
                            r"manage|unsubscribe)\b.*\b(reminders?|notifications?)\b"
                            r"|\b(reminders?|notifications?)\b.*\b(off|settings)\b",
                            re.IGNORECASE), aside=True),
    Route("reminders-toggle", toggle, action="reminders.toggle"),
]
FLOWS: list[Flow] = []
