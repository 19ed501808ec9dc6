"""Peer sessions: a pair proposes, the partner accepts; either asks to move it (the other
agrees) or cancels; progress."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, bindparam, or_, select, union
from sqlalchemy.orm import Session

from handlers.core import (
    Context,
    Flow,
    Invalid,
    Route,
    ScheduledMessage,
    Step,
    by_number,
    enqueue,
    said_yes,
)
from handlers.identity import PAIRED_ROLES, TEAM
from handlers.messages import CANCEL, Choice, Reply, ReplyFile, counted, csv_file
from handlers.storage.models import ERASED_ROLE, AuditEntry, Participant, PeerSession
from handlers.when import (
    WhenError,
    localise,
    parse_date,
    parse_length,
    rota_time,
    split_span,
)
from knowledge.programme import Programme, format_date

ACTIVE = ("proposed", "booked")
COUNTED = ("proposed", "booked", "held")
# What stays someone's record after their pair parts: what they held or didn't, and what is
# still to confirm (future sessions are cancelled, and a proposal never happened).
RECORDED = ("booked", "held", "not_held")
_FACE = re.compile(r"\b(face[\s-]*to[\s-]*face|f2f|in person)\b", re.IGNORECASE)
_VIRTUAL = re.compile(r"\b(virtual(ly)?|online|video|zoom|teams call|(on|via|over) teams"
                      r"|remote(ly)?)\b",
                      re.IGNORECASE)
_LINK = re.compile(r"https?://\S+")


# ---------------------------------------------------------------- rules
def pair_key(a: int, b: int) -> str:
    return f"{min(a, b)}-{max(a, b)}"


def lock_pair(db: Session, *people: Participant) -> None:
    """Serialise bookings of the same people. SQLite's BEGIN IMMEDIATE already holds the only
    write lock; on PostgreSQL the participants' rows are locked in id order, so two proposals
    that could overlap wait for each other and the second sees the first."""
    if db.get_bind().dialect.name == "postgresql":
        ids = sorted(p.id for p in people)
        db.execute(select(Participant.id).where(Participant.id.in_(ids))
                   .order_by(Participant.id).with_for_update())


_COLUMNS = (PeerSession.id, PeerSession.pair_key, PeerSession.status, PeerSession.starts_at,
            PeerSession.ends_at, PeerSession.expires_at, PeerSession.move_starts_at,
            PeerSession.move_ends_at, PeerSession.move_expires_at)
# The live sessions of either of two people, built once as it runs inside every proposal. A
# UNION of the two indexed lookups: written as one OR, SQLite scans by status instead.
_SESSIONS_OF = union(*(
    select(*_COLUMNS).where(side.in_(bindparam("people", expanding=True)),
                            PeerSession.status.in_(COUNTED))
    for side in (PeerSession.proposer_id, PeerSession.partner_id)))


def slot_problem(ctx: Context, me: Participant, partner: Participant, starts: dt.datetime,
                 ends: dt.datetime, moving: PeerSession | None = None) -> str | None:
    """Why this slot cannot be booked, in words for the user, or None if it can."""
    programme = ctx.programme
    rules = programme.sessions
    local_start = starts.astimezone(programme.timezone)
    hours = Decimal((ends - starts).total_seconds()) / 3600
    if starts <= ctx.now:
        return "That time has already passed. Please choose a time in the future."
    if problem := _day_problem(ctx, local_start.date()):
        return problem
    if not rules.min_hours <= hours <= rules.max_hours:
        return (f"Sessions last {rules.min_hours} to {rules.max_hours} hours "
                f"(that was {_hours(hours)}).")
    if ends.astimezone(programme.timezone).date() != local_start.date():
        return "A session must start and finish on the same day."
    events = programme.events_on(local_start.date())
    if events:
        return (f"That day is a programme event ({events[0].describe()}). "
                "Please choose another day.")
    theirs = _live_sessions(ctx, me, partner)
    moving_id = moving.id if moving else None
    for row in theirs:
        if row.status not in ACTIVE or row.id == moving_id:
            continue
        # A requested move holds its slot as a proposal does, so accepting it can't clash.
        requested = (_move_open(row, ctx.now) and row.move_starts_at < ends
                     and row.move_ends_at > starts)
        if requested or (row.starts_at < ends and row.ends_at > starts):
            session = ctx.db.get(PeerSession, row.id)
            assert session is not None
            if requested:
                return ("That overlaps a time already asked for in a request to move another "
                        f"session: {describe(programme, _requested(session))}.")
            return f"That overlaps another session: {describe(programme, session)}."
    # A move leaves the pair's count as it is, so the maximum is only for a new session.
    return None if moving is not None else _pair_full(ctx, me, partner, theirs)


def _move_open(s: PeerSession | Row[Any], now: dt.datetime) -> bool:
    """Whether a request to move this session waits for an answer (a lapsed one no longer
    does, even before the worker clears it)."""
    return s.status == "booked" and s.move_expires_at is not None and s.move_expires_at > now


def proposal_open(s: PeerSession | Row[Any], now: dt.datetime) -> bool:
    """Whether a proposal waits for the partner's answer (one nobody answered in time has
    lapsed, even before the worker marks it expired)."""
    return s.status == "proposed" and s.expires_at > now


def awaiting_confirmation(s: PeerSession | Row[Any], now: dt.datetime) -> bool:
    """Booked and over, and nobody has said yet whether it took place."""
    return s.status == "booked" and s.ends_at <= now


def _requested(s: PeerSession) -> PeerSession:
    """The session as its move request would have it, unsaved, for describe()."""
    return PeerSession(starts_at=s.move_starts_at, ends_at=s.move_ends_at, mode=s.mode,
                       place=s.place, link=s.link)


def _mover(s: PeerSession) -> Participant:
    return s.proposer if s.move_by_id == s.proposer_id else s.partner


def _live_sessions(ctx: Context, me: Participant, partner: Participant) -> list[Row[Any]]:
    """Either person's sessions held, booked or proposed (a proposal only until it expires,
    even before the worker marks it so): one small query, plain columns, as this runs inside
    every proposal."""
    return [row for row in ctx.db.execute(_SESSIONS_OF, {"people": [me.id, partner.id]})
            if row.status != "proposed" or proposal_open(row, ctx.now)]


def _pair_full(ctx: Context, me: Participant, partner: Participant,
               theirs: list[Row[Any]]) -> str | None:
    """Why the pair can't add a session, if they are at the programme's maximum."""
    rules = ctx.programme.sessions
    key = pair_key(me.id, partner.id)
    counted = sum(1 for row in theirs if row.pair_key == key and row.status in COUNTED)
    if counted < rules.max_count:
        return None
    return (f"Your pair already has {counted} sessions, the programme's maximum of "
            f"{rules.max_count}. Another needs the programme team's agreement: "
            f"{ctx.programme.contact.describe()}.")


def _hours(hours: Decimal) -> str:
    minutes = int(hours * 60)
    if minutes % 60 == 0:
        return f"{minutes // 60} hour" + ("s" if minutes != 60 else "")
    return f"{minutes // 60}h{minutes % 60:02d}" if minutes >= 60 else f"{minutes} minutes"


def _day_and_time(programme: Programme, at: dt.datetime) -> str:
    """`Friday 10 April 2015 at 14:00`: a session named by when it starts."""
    local = at.astimezone(programme.timezone)
    return f"{format_date(local.date())} at {local:%H:%M}"


def _button_when(programme: Programme, s: PeerSession) -> str:
    """`10/04 14:00`: buttons name the session, as a pair may have several open at once."""
    return f"{s.starts_at.astimezone(programme.timezone):%d/%m %H:%M}"


def describe(programme: Programme, s: PeerSession) -> str:
    """`Friday 10 April 2015, 14:00 to 17:00, virtual`."""
    start = s.starts_at.astimezone(programme.timezone)
    end = s.ends_at.astimezone(programme.timezone)
    where = "virtual" if s.mode != "face to face" else (
        f"face to face at {s.place}" if s.place else "face to face")  # erasure clears a place
    if s.mode != "face to face" and s.link:
        where += f" ({s.link})"
    return f"{format_date(start.date())}, {start:%H:%M} to {end:%H:%M}, {where}"


# ---------------------------------------------------------------- the proposal form
def _partner(ctx: Context) -> Participant | None:
    me = ctx.me
    return me.partner if me.role in PAIRED_ROLES else None


def start_booking(ctx: Context, args: str) -> list[Reply]:
    partner = _partner(ctx)
    if partner is None:
        # not "yet": someone whose partner left or was re-paired has been in a pair before
        return [Reply("You're not in a pair at the moment, so there's nobody to book with. The "
                      f"programme team can help: {ctx.programme.contact.describe()}.")]
    if ctx.today > ctx.programme.ends:
        return [Reply(f"The programme ended on {format_date(ctx.programme.ends)}, so there are "
                      "no more sessions to book.")]
    if full := _pair_full(ctx, ctx.me, partner, _live_sessions(ctx, ctx.me, partner)):
        return [Reply(full)]  # said now, not after every date they try
    data: dict[str, Any] = {}
    if args.strip():
        try:
            read_one_line(ctx, args, data)
        except Invalid as problem:  # the rest of the line is kept: only the day is asked
            kept = {**{k: v for k, v in data.items() if k != "date"}, **problem.keep}
            return [Reply(str(problem))] + ctx.start_flow(BOOKING, kept)
        try:
            _check_slot_so_far(ctx, data)
        except Invalid as problem:
            kept = {k: v for k, v in data.items() if k not in ("date", "time", "hours")}
            return [Reply(str(problem))] + ctx.start_flow(BOOKING, kept)
    return ctx.start_flow(BOOKING, data)


def read_one_line(ctx: Context, text: str, data: dict[str, Any]) -> None:
    """Put into `data` what a one-line `/book 10 April 2pm 3h virtual` gives; each part is
    optional. If a part can't be read (Invalid), what was read before it is in `data`: the
    day comes last."""
    link = _LINK.search(text)
    if link:
        data["link"] = link.group(0)
        text = text.replace(link.group(0), " ")
    face = _FACE.search(text)
    if face:
        data["mode"] = "face to face"
        place = re.sub(r"^\s*(at|in)\s+", "", text[face.end():], flags=re.IGNORECASE)
        if place.strip(" ,."):
            data["place"] = place.strip(" ,.")
        text = text[: face.start()]
    elif _VIRTUAL.search(text):
        data["mode"] = "virtual"
        text = _VIRTUAL.sub(" ", text)
    hours, text = parse_length(text)
    if hours is not None:
        _take_hours(ctx, data, f"{hours}h")
    _take_when(ctx, data, text)


def _day_problem(ctx: Context, day: dt.date) -> str | None:
    """What rules the day out whatever the time, so it is refused at the day step."""
    programme = ctx.programme
    if day < ctx.today:
        return f"{format_date(day)} has passed. Please choose a day from today on."
    if not programme.starts <= day <= programme.ends:
        return (f"Sessions must be within the programme, {format_date(programme.starts)} to "
                f"{format_date(programme.ends)}.")
    return None


def _check_slot_so_far(ctx: Context, data: dict[str, Any]) -> None:
    """Refuse a broken rule as soon as the answers show it, not after the read-back."""
    if "date" in data and (problem := _day_problem(ctx, dt.date.fromisoformat(data["date"]))):
        raise Invalid(problem)
    if "date" not in data or "time" not in data:
        return
    partner = _partner(ctx)
    assert partner is not None
    rules = ctx.programme.sessions
    starts, ends = _slot(ctx, {"hours": str(rules.min_hours), **data})
    problem = slot_problem(ctx, ctx.me, partner, starts, ends)
    if problem:
        raise Invalid(problem)


_NAMED_DAY = re.compile(r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b"
                        r"|\b(mon|tue|wed|thu|fri|sat|sun)[a-z]*\b|\btomorrow\b|\d/\d",
                        re.IGNORECASE)


def _take_when(ctx: Context, data: dict[str, Any], text: str) -> None:
    """The day and the time (and a length, from a range). The day is read last: one to be
    asked again ("next Tuesday": this week's or next?) leaves what else was given in `data`,
    and the form keeps it (Invalid.keep) for the answer, with the week asked about."""
    try:
        # with a day known or named, "11-1" is a time ("10 April 11-1")
        time, hours, rest = split_span(rota_time(text, ctx.today), day_known="date" in data
                                       or bool(_NAMED_DAY.search(text)))
    except WhenError as problem:
        raise Invalid(str(problem)) from None
    if time is not None:
        data["time"] = time.strftime("%H:%M")
    if hours is not None:
        _take_hours(ctx, data, f"{hours}h")
    week_of = dt.date.fromisoformat(data["week_of"]) if "week_of" in data else None
    try:
        day = parse_date(rest, ctx.today, week_of)
    except WhenError as problem:
        asked = {"week_of": problem.week_of.isoformat()} if problem.week_of else {}
        raise Invalid(str(problem), keep={**data, **asked}) from None
    if day is not None:
        data["date"] = day.isoformat()
        data.pop("week_of", None)


def _ask_date(ctx: Context, data: dict[str, Any]) -> Reply:
    return Reply("Which day? For example 10 April, next Tuesday or 10/04/2015.",
                 choices=(CANCEL,))


def _take_date(ctx: Context, data: dict[str, Any], text: str) -> None:
    found = {k: data[k] for k in ("week_of",) if k in data}  # the week a question asked about
    read_one_line(ctx, text, found)  # "Friday 2pm 3h virtual" answers the later steps too
    if "date" not in found:
        raise Invalid(f"I couldn't read a date in \u201c{text[:60]}\u201d.")
    data.pop("week_of", None)
    data.update(found)
    _check_slot_so_far(ctx, data)


def _ask_time(ctx: Context, data: dict[str, Any]) -> Reply:
    return Reply(f"What time on {format_date(dt.date.fromisoformat(data['date']))}? "
                 "For example 2pm or 14:00.")


def _take_time(ctx: Context, data: dict[str, Any], text: str) -> None:
    try:
        text = rota_time(text, ctx.today)
        time, hours, rest = split_span(text if re.search(r"[a-z:.-]", text, re.I)
                                       else f"at {text}", day_known=True)
        day = parse_date(rest, ctx.today) if rest.strip() else None
    except WhenError as problem:
        raise Invalid(str(problem)) from None
    if day is not None:  # "10 April" or "10 April 3pm": another day after all
        data["date"] = day.isoformat()
    elif time is None:
        raise Invalid(f"I couldn't read a time in \u201c{text[:60]}\u201d.")
    if time is not None:
        data["time"] = time.strftime("%H:%M")
    if hours is not None:  # "14:00-16:30" answers "How long?" too
        _take_hours(ctx, data, f"{hours}h")
    _check_slot_so_far(ctx, data)


def _ask_hours(ctx: Context, data: dict[str, Any]) -> Reply:
    rules = ctx.programme.sessions
    options = [Decimal(rules.min_hours) + Decimal("0.5") * i
               for i in range(int((rules.max_hours - rules.min_hours) * 2) + 1)]
    return Reply(f"How long? Sessions last {rules.min_hours} to {rules.max_hours} hours.",
                 choices=tuple(Choice(_hours(h), "answer", f"{h}h") for h in options))


def _take_hours(ctx: Context, data: dict[str, Any], text: str) -> None:
    hours, _rest = parse_length(text)
    if hours is None and re.fullmatch(r"\s*\d+(\.\d+)?\s*", text):
        hours = Decimal(text.strip())
    if hours is None:
        raise Invalid("Please give a length in hours, like 2.5h or 3 hours.")
    rules = ctx.programme.sessions
    if not rules.min_hours <= hours <= rules.max_hours:
        raise Invalid(f"Sessions last {rules.min_hours} to {rules.max_hours} hours "
                      f"(that was {_hours(hours)}).")
    data["hours"] = str(hours)
    if "confirmed" not in data:
        _check_slot_so_far(ctx, data)


def _ask_mode(ctx: Context, data: dict[str, Any]) -> Reply:
    return Reply("Face to face or virtual?",
                 choices=tuple(Choice(m.capitalize(), "answer", m)
                               for m in ctx.programme.sessions.modes))


def _take_mode(ctx: Context, data: dict[str, Any], text: str) -> None:
    if _FACE.search(text) or text.strip().lower() == "face to face":
        data["mode"] = "face to face"
    elif _VIRTUAL.search(text):
        data["mode"] = "virtual"
    else:
        raise Invalid("Please answer face to face or virtual.")


def _ask_place(ctx: Context, data: dict[str, Any]) -> Reply:
    return Reply("Where will you meet? For example: Leeds General Infirmary, meeting room 2.")


def _take_place(ctx: Context, data: dict[str, Any], text: str) -> None:
    place = text.strip()
    if len(place) < 3 or len(place) > 300:
        raise Invalid("Please give the place in a few words (up to 300 characters).")
    data["place"] = place


def _slot(ctx: Context, data: dict[str, Any]) -> tuple[dt.datetime, dt.datetime]:
    day = dt.date.fromisoformat(data["date"])
    time = dt.time.fromisoformat(data["time"])
    try:
        starts = localise(day, time, ctx.programme.timezone)
    except WhenError as problem:
        raise Invalid(str(problem)) from None
    ends = starts + dt.timedelta(hours=float(Decimal(data["hours"])))
    return starts, ends


def _ask_confirm(ctx: Context, data: dict[str, Any]) -> Reply:
    starts, ends = _slot(ctx, data)
    draft = PeerSession(starts_at=starts, ends_at=ends, mode=data["mode"],
                        place=data.get("place", ""), link=data.get("link", ""))
    partner = _partner(ctx)
    assert partner is not None
    return Reply(f"Propose to {partner.name}: {describe(ctx.programme, draft)}?",
                 choices=(Choice("Yes, send it", "answer", "yes"),
                          Choice("Change the time", "answer", "change"),
                          CANCEL))


def _take_confirm(ctx: Context, data: dict[str, Any], text: str) -> list[Reply] | None:
    answer = text.strip().lower()
    if answer in ("change", "change the time", "no"):
        for key in ("date", "time", "confirmed"):
            data.pop(key, None)
        return None
    if not said_yes(answer):
        raise Invalid("Please answer yes to send it, change, or cancel.")
    data["confirmed"] = True
    return None


def _finish(ctx: Context, data: dict[str, Any]) -> list[Reply]:
    me = ctx.me
    partner = _partner(ctx)
    if partner is None:
        return [Reply("You're no longer in a pair, so nothing was booked.")]
    starts, ends = _slot(ctx, data)
    lock_pair(ctx.db, me, partner)
    problem = slot_problem(ctx, me, partner, starts, ends)
    if problem:
        data = {k: v for k, v in data.items() if k not in ("date", "time", "confirmed")}
        return [Reply(f"{problem} Nothing was booked.")] + ctx.start_flow(BOOKING, data)
    session = PeerSession(
        uid=f"{uuid.uuid4()}@sps-bot", pair_key=pair_key(me.id, partner.id),
        proposer_id=me.id, partner_id=partner.id, starts_at=starts, ends_at=ends,
        mode=data["mode"], place=data.get("place", ""), link=data.get("link", ""),
        status="proposed", sequence=0, created_at=ctx.now, updated_at=ctx.now,
        # Never later than the session itself: an answer after it starts is no answer.
        expires_at=min(starts, ctx.now + dt.timedelta(
            hours=ctx.programme.sessions.proposal_expires_hours)),
    )
    ctx.db.add(session)
    ctx.db.flush()
    ctx.audit("session.propose", f"session:{session.id}", starts=starts.isoformat())
    expires = session.expires_at.astimezone(ctx.programme.timezone)
    ctx.notify(partner, f"{me.name} proposes a peer session: {describe(ctx.programme, session)}."
               f"\nPlease accept or decline by {format_date(expires.date())} {expires:%H:%M}.",
               kind="session_request", key=f"session:{session.id}:proposed",
               pointless_after=session.expires_at,
               choices=(Choice("Accept", "booking.accept", str(session.id)),
                        Choice("Decline", "booking.decline", str(session.id))))
    return [Reply(f"Sent to {partner.name}: {describe(ctx.programme, session)}. "
                  "I'll tell you when they answer.")]


# Their partner left (erased) while they were filling in the form.
UNPAIRED_MID_FORM = "you are no longer in a pair, so there is nobody to send it to."
BOOKING = Flow(
    name="booking",
    description="session booking",
    steps={
        "date": Step(_ask_date, _take_date, "10 April", lambda d: "date" not in d),
        "time": Step(_ask_time, _take_time, "2pm", lambda d: "time" not in d),
        "hours": Step(_ask_hours, _take_hours, "2.5h", lambda d: "hours" not in d),
        "mode": Step(_ask_mode, _take_mode, "virtual", lambda d: "mode" not in d),
        "place": Step(_ask_place, _take_place, "Leeds General Infirmary",
                      lambda d: d.get("mode") == "face to face" and not d.get("place")),
        "confirm": Step(_ask_confirm, _take_confirm, "yes", lambda d: not d.get("confirmed")),
    },
    finish=_finish,
    gone=lambda ctx, data: None if _partner(ctx) else UNPAIRED_MID_FORM,
)


# ---------------------------------------------------------------- answering and changing
def _own_session(ctx: Context, value: str) -> PeerSession | None:
    session = by_number(ctx.db, PeerSession, value)
    if session is None or ctx.me.id not in (session.proposer_id, session.partner_id):
        return None
    return session


def _other(session: PeerSession, me: Participant) -> Participant:
    return session.partner if session.proposer_id == me.id else session.proposer


def _open_proposal(ctx: Context, value: str) -> PeerSession | list[Reply]:
    """The proposal this person was asked to answer, or why it can't be answered now."""
    session = _own_session(ctx, value)
    if session is None or session.partner_id != ctx.me.id:
        return [Reply("I can't find that proposal.")]
    if not proposal_open(session, ctx.now):
        return [Reply(f"That proposal is no longer open (it is {state(ctx, session)}).")]
    return session


def accept(ctx: Context, value: str) -> list[Reply]:
    session = _open_proposal(ctx, value)
    if isinstance(session, list):
        return session
    lock_pair(ctx.db, session.proposer, session.partner)
    problem = slot_problem(ctx, session.partner, session.proposer, session.starts_at,
                           session.ends_at, moving=session)
    if problem:
        return [Reply(f"{problem} Nothing was booked; you could propose another time.")]
    session.status = "booked"
    session.updated_at = ctx.now
    ctx.audit("session.accept", f"session:{session.id}")
    file = calendar_file(ctx, session)  # both diaries get every version of the event
    ctx.notify(session.proposer, f"{ctx.me.name} accepted: {describe(ctx.programme, session)}."
               " Here is a calendar file.",
               kind="session_update", key=f"session:{session.id}:booked", file=file)
    return [Reply(f"Booked: {describe(ctx.programme, session)}. Here is a calendar file.",
                  file=file)]


def decline(ctx: Context, value: str) -> list[Reply]:
    session = _open_proposal(ctx, value)
    if isinstance(session, list):  # a lapsed one stays "expired": its proposer was told so
        return session
    session.status = "declined"
    session.updated_at = ctx.now
    ctx.audit("session.decline", f"session:{session.id}")
    ctx.notify(session.proposer, f"{ctx.me.name} declined {describe(ctx.programme, session)}."
               " Send /book to propose another time.",
               kind="session_update", key=f"session:{session.id}:declined")
    return [Reply("Declined. I've told your partner.")]


def cancel(ctx: Context, value: str) -> list[Reply]:
    """Withdraw a proposal at once; a booked session is in two diaries, so ask first (a
    one-question form, so a typed "yes" or "keep it" answers as the buttons do)."""
    session = _cancellable(ctx, value)
    if session is None:
        return [Reply(CANNOT_CANCEL)]
    if session.status != "booked":
        return _cancel(ctx, session)
    if ctx.conversation is not None:  # mid-form: the buttons ask, and the form is kept
        return [_ask_cancel(ctx, {"session": session.id})]
    return ctx.start_flow(CANCEL_SESSION, {"session": session.id})


def _ask_cancel(ctx: Context, data: dict[str, Any]) -> Reply:
    session = _own_session(ctx, str(data["session"]))
    assert session is not None  # the form is set aside (CANCEL_SESSION.gone) once it is not
    request = " The request to move it goes too." if _move_open(session, ctx.now) else ""
    return Reply(f"Cancel the peer session {describe(ctx.programme, session)}? I'll tell "
                 f"{_other(session, ctx.me).name} and take it out of both diaries.{request}",
                 choices=(Choice("Yes, cancel it", "booking.cancel_confirmed", str(session.id)),
                          Choice("Keep it", "booking.keep", str(session.id))))


_KEEP = frozenset({"no", "n", "nope", "keep", "keep it", "no keep it", "dont cancel it",
                   "dont cancel", "no dont cancel it"})


def _take_cancel(ctx: Context, data: dict[str, Any], text: str) -> list[Reply] | None:
    answer = " ".join(re.sub(r"[^a-z ]", "", text.lower()).split())  # "No, keep it!"
    if answer in _KEEP:
        return _kept(ctx, str(data["session"]))
    if not said_yes(answer, also=("cancel",)) and answer != "cancel it":
        raise Invalid("Please answer yes to cancel it, or keep it.")
    data["confirmed"] = True
    return None


def cancel_confirmed(ctx: Context, value: str) -> list[Reply]:
    _close_cancel_question(ctx, value)
    session = _cancellable(ctx, value)
    return [Reply(CANNOT_CANCEL)] if session is None else _cancel(ctx, session)


def keep(ctx: Context, value: str) -> list[Reply]:
    _close_cancel_question(ctx, value)
    return _kept(ctx, value)


def _kept(ctx: Context, value: str) -> list[Reply]:
    session = _own_session(ctx, value)
    if session is None or session.status != "booked":
        return [Reply("Nothing changed.")]
    return [Reply(f"Kept: {describe(ctx.programme, session)}.")]


def _close_cancel_question(ctx: Context, value: str) -> None:
    """A button answered the question the form holds open: the form is done."""
    form = ctx.conversation
    if form is not None and form.flow == CANCEL_SESSION.name \
            and str(form.data.get("session")) == value:
        ctx.end_flow()


CANCEL_SESSION = Flow(
    name="cancel_session",
    # as the router names it: "Cancelled your request to cancel a session", which keeps it
    description="request to cancel a session",
    steps={"confirm": Step(_ask_cancel, _take_cancel, "yes",
                           lambda d: not d.get("confirmed"))},
    finish=lambda ctx, data: cancel_confirmed(ctx, str(data["session"])),
    gone=lambda ctx, data: None if _cancellable(ctx, str(data["session"])) else (
        "that session has started, or is over or cancelled, so it can't be cancelled now."),
)


CANNOT_CANCEL = "That session can't be cancelled (it may already be over or cancelled)."


def _cancellable(ctx: Context, value: str) -> PeerSession | None:
    session = _own_session(ctx, value)
    if session is None or session.status not in ACTIVE or session.starts_at <= ctx.now:
        return None  # a session under way or over is recorded as held or not, not cancelled
    return session


def _cancel(ctx: Context, session: PeerSession) -> list[Reply]:
    was = session.status
    request = ""
    if _move_open(session, ctx.now):
        assert session.move_starts_at is not None
        request = (" The request to move it to "
                   f"{_day_and_time(ctx.programme, session.move_starts_at)} is cancelled too.")
    session.cancel(ctx.now)
    ctx.audit("session.cancel", f"session:{session.id}", was=was)
    booked = was == "booked"
    file = calendar_file(ctx, session) if booked else None  # takes it out of both diaries
    ctx.notify(_other(session, ctx.me), f"{ctx.me.name} cancelled "
               f"{'the' if booked else 'the proposed'} peer session "
               f"{describe(ctx.programme, session)}.{request}",
               kind="session_update", key=f"session:{session.id}:cancelled", file=file)
    if not booked:
        return [Reply(f"Withdrawn: {describe(ctx.programme, session)}. I've told your partner.")]
    return [Reply(f"Cancelled {describe(ctx.programme, session)}.{request} I've told your "
                  "partner.", file=file)]


# ---------------------------------------------------------------- moving: a request to agree
def _movable(ctx: Context, session: PeerSession) -> bool:
    # one under way or over is recorded as held or not, not moved
    return session.status == "booked" and session.starts_at > ctx.now


def _still_movable(ctx: Context, data: dict[str, Any]) -> bool:
    session = _own_session(ctx, str(data["session"]))
    return session is not None and _movable(ctx, session)


def start_move(ctx: Context, value: str) -> list[Reply]:
    session = _own_session(ctx, value)
    if session is None or not _movable(ctx, session):
        return [Reply("Only a booked session that hasn't started yet can be moved.")]
    return ctx.start_flow(MOVE, {"session": session.id})


def _ask_new_when(ctx: Context, data: dict[str, Any]) -> Reply:
    text = "When should it be instead? For example 17 April 2pm."
    session = _own_session(ctx, str(data["session"]))
    if session is not None:
        text += (f" I'll ask {_other(session, ctx.me).name} to agree; until they do, it stays "
                 "as it is.")
        if _move_open(session, ctx.now):
            assert session.move_starts_at is not None
            text += (" A new time replaces the open request to move it to "
                     f"{_day_and_time(ctx.programme, session.move_starts_at)}.")
    return Reply(text, choices=(CANCEL,))


def _new_slot(ctx: Context, session: PeerSession,
              data: dict[str, Any]) -> tuple[dt.datetime, dt.datetime]:
    """The new day and time, for as long as a range given with it says ("2-4pm"), or else as
    long as the session lasts now."""
    hours = Decimal((session.ends_at - session.starts_at).total_seconds()) / 3600
    return _slot(ctx, {"hours": str(hours), **data})


def _take_new_when(ctx: Context, data: dict[str, Any], text: str) -> None:
    session = _own_session(ctx, str(data["session"]))
    # "12 March 2pm virtual": how they meet, said again with the time, is not part of it
    said = "face to face" if _FACE.search(text) else "virtual" if _VIRTUAL.search(text) else None
    if session is not None and said not in (None, session.mode):
        raise Invalid(f"A move changes the day and time only; this session is {session.mode}. "
                      "To meet another way, cancel it and book a new one.")
    hours, text = parse_length(_VIRTUAL.sub(" ", _FACE.sub(" ", text)))
    if hours is not None:  # "12 March 2pm 3h": the new length, as a range would give it
        _take_hours(ctx, data, f"{hours}h")
    _take_when(ctx, data, text)
    if "date" not in data or "time" not in data:
        raise Invalid("Please give the new day and time together, like 17 April 2pm.")
    if session is None:
        return  # _finish_move says so
    starts, ends = _new_slot(ctx, session, data)
    if starts == session.starts_at:
        raise Invalid("It is already booked for then. Please give another day or time.")
    if _move_open(session, ctx.now) and starts == session.move_starts_at:
        if session.move_by_id == ctx.me.id:
            raise Invalid("You've already asked to move it to then; "
                          f"{_other(session, ctx.me).name} hasn't answered yet.")
        raise Invalid(f"{_mover(session).name} has already asked to move it to then: press "
                      "Accept move to agree.")
    problem = slot_problem(ctx, session.proposer, session.partner, starts, ends,
                           moving=session)
    if problem:
        raise Invalid(problem)


def _ask_move_confirm(ctx: Context, data: dict[str, Any]) -> Reply:
    """Read back before the partner is asked: on a phone a slip of the thumb would otherwise
    reach them at once."""
    session = _own_session(ctx, str(data["session"]))
    assert session is not None  # the form is set aside (MOVE.gone) once it is not
    starts, ends = _new_slot(ctx, session, data)
    moved = PeerSession(starts_at=starts, ends_at=ends, mode=session.mode, place=session.place,
                        link=session.link)
    return Reply(f"Ask {_other(session, ctx.me).name} to move the peer session on "
                 f"{_day_and_time(ctx.programme, session.starts_at)} to "
                 f"{describe(ctx.programme, moved)}?",
                 choices=(Choice("Yes, ask", "answer", "yes"),
                          Choice("Change the time", "answer", "change"),
                          CANCEL))


def _take_move_confirm(ctx: Context, data: dict[str, Any], text: str) -> list[Reply] | None:
    """As booking's read-back; "change" asks for the new time afresh, length included (the
    booking form asks its length apart, so keeps it)."""
    final = _take_confirm(ctx, data, text)
    if not data.get("confirmed"):
        data.pop("hours", None)
    return final


def _finish_move(ctx: Context, data: dict[str, Any]) -> list[Reply]:
    session = _own_session(ctx, str(data["session"]))
    if session is not None:
        _lock_session(ctx, session)
    if session is None or not _movable(ctx, session):
        return [Reply("That session is no longer booked, or has started, so nothing was "
                      "asked.")]
    starts, ends = _new_slot(ctx, session, data)
    problem = slot_problem(ctx, session.proposer, session.partner, starts, ends,
                           moving=session)
    if problem:
        return [Reply(f"{problem} The session stays as it was.")]
    return _request_move(ctx, session, starts, ends)


def _request_move(ctx: Context, session: PeerSession, starts: dt.datetime,
                  ends: dt.datetime) -> list[Reply]:
    """Ask the partner to agree to the new time; the session itself stays as it is."""
    me, other = ctx.me, _other(session, ctx.me)
    # One open request per session, and the latest word stands: asking again (a change of
    # mind, or the partner's counter-offer instead of an answer) replaces the open request.
    # Refusing would only make them withdraw or decline it first, to the same end.
    replaced = session.move_starts_at if _move_open(session, ctx.now) else None
    replaced_own = session.move_by_id == me.id
    session.move_by_id = me.id
    session.move_starts_at, session.move_ends_at = starts, ends
    # It lapses as a proposal does, and once the session itself is due: by then it is moot.
    session.move_expires_at = min(starts, session.starts_at, ctx.now + dt.timedelta(
        hours=ctx.programme.sessions.proposal_expires_hours))
    session.move_number += 1
    session.updated_at = ctx.now
    ctx.audit("session.move_request", f"session:{session.id}", starts=starts.isoformat())
    old = _day_and_time(ctx.programme, session.starts_at)
    new = describe(ctx.programme, _requested(session))
    expires = session.move_expires_at.astimezone(ctx.programme.timezone)
    told = (f"{me.name} asks to move your peer session on {old} to {new}. It stays as it is "
            f"unless you accept. Please answer by {format_date(expires.date())} {expires:%H:%M}.")
    mine = ""
    if replaced is not None:
        earlier = _day_and_time(ctx.programme, replaced)
        if replaced_own:
            told += f" This replaces their request to move it to {earlier}, which is withdrawn."
            mine = f" It replaces your earlier request to move it to {earlier}."
        else:
            told += f" They ask this instead of the move to {earlier} you asked for."
            mine = f" It replaces {other.name}'s request to move it to {earlier}."
    value = f"{session.id}:{session.move_number}"
    ctx.notify(other, told, kind="session_request",
               key=f"session:{session.id}:move{session.move_number}",
               pointless_after=session.move_expires_at,
               choices=(Choice("Accept move", "booking.move_accept", value),
                        Choice(f"Keep {_button_when(ctx.programme, session)}",
                               "booking.move_keep", value)))
    return [Reply(f"Sent to {other.name}: your request to move the peer session on {old} to "
                  f"{new}.{mine} It stays as it is until they accept; I'll tell you when they "
                  "answer.")]


MOVE = Flow(
    name="move",
    description="session move",
    steps={"when": Step(_ask_new_when, _take_new_when, "17 April 2pm",
                        lambda d: "time" not in d),
           "confirm": Step(_ask_move_confirm, _take_move_confirm, "yes",
                           lambda d: not d.get("confirmed"))},
    finish=_finish_move,
    gone=lambda ctx, data: None if _still_movable(ctx, data) else (
        "that session is no longer booked, or has started, so it can't be moved."),
)


def _lock_session(ctx: Context, session: PeerSession) -> None:
    """Wait for any other change to this pair's sessions, then read the session afresh, so a
    request answered or replaced meanwhile is seen as it now is."""
    lock_pair(ctx.db, session.proposer, session.partner)
    ctx.db.refresh(session)


def _open_move(ctx: Context, value: str, *, by_mover: bool) -> PeerSession | list[Reply]:
    """The session whose move request this button (`session:number`) names, if that request
    is still open and is this person's to act on: the partner answers, the mover withdraws."""
    session_id, _, number = value.partition(":")
    session = _own_session(ctx, session_id)
    if session is None:
        return [Reply("I can't find that move request.")]
    _lock_session(ctx, session)
    if not _move_open(session, ctx.now) or number != str(session.move_number):
        # with what can be done about the session now (a request that replaced it, say)
        return [Reply("That move request is no longer open: it was answered, withdrawn or "
                      "replaced, or it lapsed. The session is "
                      f"{describe(ctx.programme, session)} ({state(ctx, session, ctx.me)}).",
                      choices=tuple(session_choices(ctx, session, ctx.me)))]
    if by_mover and session.move_by_id != ctx.me.id:
        return [Reply(f"Only {_mover(session).name}, who asked, can withdraw that request; "
                      "you can accept it or keep the current time.")]
    if not by_mover and session.move_by_id == ctx.me.id:
        return [Reply(f"That is your own request: it waits for "
                      f"{_other(session, ctx.me).name}'s answer.")]
    return session


def _close_move(ctx: Context, session: PeerSession, action: str) -> tuple[str, str, str]:
    """Close the open move request, unmoved, with its audit row. Returns what the messages
    about it need: the time it asked for, the session as it stays, and its message key."""
    assert session.move_starts_at is not None
    asked = _day_and_time(ctx.programme, session.move_starts_at)
    key = f"session:{session.id}:move{session.move_number}"
    ctx.audit(action, f"session:{session.id}", starts=session.move_starts_at.isoformat())
    session.drop_move()
    session.updated_at = ctx.now
    return asked, describe(ctx.programme, session), key


def accept_move(ctx: Context, value: str) -> list[Reply]:
    session = _open_move(ctx, value, by_mover=False)
    if isinstance(session, list):
        return session
    mover = _mover(session)
    starts, ends = session.move_starts_at, session.move_ends_at
    assert starts is not None and ends is not None
    # Checked again: the programme's dates and events, or either diary, may have changed.
    problem = slot_problem(ctx, ctx.me, mover, starts, ends, moving=session)
    if problem:  # it can never be accepted now, so nobody should wait on it
        asked, kept, key = _close_move(ctx, session, "session.move_unfit")
        ctx.notify(mover, f"{ctx.me.name} couldn't accept your request to move the peer "
                   f"session to {asked}: {problem} It stays as it is: {kept}.",
                   kind="session_update", key=f"{key}:unfit")
        return [Reply(f"{problem} So it can't move there, and it stays as it is: {kept}. "
                      f"I've told {mover.name}.")]
    old = describe(ctx.programme, session)
    session.starts_at, session.ends_at = starts, ends
    session.drop_move()
    session.sequence += 1
    session.updated_at = ctx.now
    ctx.audit("session.move", f"session:{session.id}", starts=starts.isoformat())
    file = calendar_file(ctx, session)  # both diaries get every version of the event
    ctx.notify(mover, f"{ctx.me.name} accepted: the peer session moves from {old} to "
               f"{describe(ctx.programme, session)}. Here is the updated calendar file.",
               kind="session_update", key=f"session:{session.id}:moved:{session.sequence}",
               file=file)
    return [Reply(f"Moved to {describe(ctx.programme, session)}. Here is the updated "
                  "calendar file.", file=file)]


def keep_move(ctx: Context, value: str) -> list[Reply]:
    """The partner declines a move: the session stays where it is."""
    session = _open_move(ctx, value, by_mover=False)
    if isinstance(session, list):  # a lapsed one: its mover is told so by _lapsed_moves
        return session
    mover = _mover(session)
    asked, kept, key = _close_move(ctx, session, "session.move_decline")
    ctx.notify(mover, f"{ctx.me.name} declined your request to move the peer session to "
               f"{asked}, so it stays as it is: {kept}.", kind="session_update",
               key=f"{key}:declined")
    return [Reply(f"Kept: {kept}. I've told {mover.name}.")]


def withdraw_move(ctx: Context, value: str) -> list[Reply]:
    session = _open_move(ctx, value, by_mover=True)
    if isinstance(session, list):
        return session
    other = _other(session, ctx.me)
    asked, kept, key = _close_move(ctx, session, "session.move_withdraw")
    ctx.notify(other, f"{ctx.me.name} withdrew their request to move the peer session to "
               f"{asked}, so it stays as it is: {kept}.", kind="session_update",
               key=f"{key}:withdrawn")
    return [Reply(f"Withdrawn: your request to move it to {asked}. It stays as it is: {kept}. "
                  f"I've told {other.name}.")]


def took_place(ctx: Context, value: str) -> list[Reply]:
    """`booking.held.<yes|no>`: after its time, a member says whether the session happened.
    A "no" is told to the partner with a button to say it did (and the one who said it can
    take it back): it takes a session off both people's count."""
    session_id, _, answer = value.partition(":")
    session = _own_session(ctx, session_id)
    if session is None or session.status not in ("booked", "held", "not_held"):
        return [Reply("I can't find that session.")]
    if session.ends_at > ctx.now:
        return [Reply("That session hasn't finished yet.")]
    was, now = session.status, "held" if answer == "yes" else "not_held"
    if was == now:
        return [Reply(_noted(ctx, session))]
    said_by = _outcome_said_by(ctx, session) if was != "booked" else None
    session.status = now
    session.updated_at = ctx.now
    ctx.audit("session.outcome", f"session:{session.id}", status=now)
    partner = _other(session, ctx.me)
    day = format_date(session.starts_at.astimezone(ctx.programme.timezone).date())
    it_did = Choice("It took place", "booking.held", f"{session.id}:yes")
    if said_by is not None and said_by != ctx.me.id:  # the partner had said otherwise
        told = (f"{ctx.me.name} says your peer session on {day} "
                f"{'took place' if now == 'held' else 'did not take place'}, and I've "
                "recorded it so. You had said otherwise: if that is wrong, please agree it "
                "between you and tell the programme team.")
    elif now == "not_held":
        told = (f"{ctx.me.name} says your peer session on {day} did not take place, so it "
                "doesn't count towards your sessions. If it did, press It took place.")
    elif was == "not_held":  # taking back their own "didn't happen"
        told = (f"{ctx.me.name} has corrected it: your peer session on {day} did take place, "
                "and it counts.")
    else:
        told = ""
    if told and partner.role != ERASED_ROLE:  # an erased partner has nowhere to be told
        ctx.notify(partner, told, kind="session_update",
                   choices=(it_did,) if now == "not_held" and said_by is None else (),
                   key=f"session:{session.id}:{now}:{ctx.now.timestamp():.0f}")
    noted = _noted(ctx, session)
    if now == "not_held":  # a mis-tap is one tap to undo
        return [Reply(noted + "\nPressed by mistake?", choices=(it_did,))]
    return [Reply(noted)]


def _noted(ctx: Context, session: PeerSession) -> str:
    """Thanks, with the pair's progress when the session counts towards the current pair (one
    with an earlier partner counts for that pair)."""
    return "Thanks, noted. " + progress_line(ctx, ctx.me) if _is_current(session, ctx.me) \
        else "Thanks, noted."


def _outcome_said_by(ctx: Context, session: PeerSession) -> int | None:
    """Who last said whether the session took place (the audit log keeps it)."""
    return ctx.db.scalar(select(AuditEntry.actor_id).where(
        AuditEntry.action == "session.outcome", AuditEntry.subject == f"session:{session.id}")
        .order_by(AuditEntry.id.desc()).limit(1))


# ---------------------------------------------------------------- progress
@dataclass(frozen=True)
class Progress:
    held: int
    booked: int  # still to come (or under way)
    awaiting: int  # over, and nobody has said whether it took place
    behind: bool
    pair: str

    def counts(self) -> str:
        """`1 held, 2 booked, 1 awaiting confirmation` (the last only when there is one)."""
        return (f"{self.held} held, {self.booked} booked"
                + (f", {self.awaiting} awaiting confirmation" if self.awaiting else ""))


def _progress(programme: Programme, now: dt.datetime, person: Participant,
              sessions: list[Row[Any]]) -> Progress:
    """Held, booked and unconfirmed counts of the person's pair, and whether it is behind a
    straight-line pace to the minimum number of sessions by the end of the programme."""
    partner = person.partner
    assert partner is not None
    held = sum(1 for s in sessions if s.status == "held")
    awaiting = sum(1 for s in sessions if awaiting_confirmation(s, now))
    booked = sum(1 for s in sessions if s.status == "booked") - awaiting
    today = now.astimezone(programme.timezone).date()
    total_days = max((programme.ends - programme.starts).days, 1)
    elapsed = min(max((today - programme.starts).days, 0), total_days)
    expected_by_now = programme.sessions.min_count * elapsed // total_days
    # One awaiting confirmation most likely took place: it wants an answer, not another
    # booking, so it keeps the pair on pace.
    return Progress(held, booked, awaiting, held + booked + awaiting < expected_by_now,
                    f"{person.name} & {partner.name}")


def progress_line(ctx: Context, person: Participant) -> str:
    if person.partner is None:
        return ""
    rows = ctx.db.execute(select(PeerSession.status, PeerSession.expires_at,
                                 PeerSession.ends_at).where(
        PeerSession.pair_key == pair_key(person.id, person.partner.id))).all()
    p = _progress(ctx.programme, ctx.now, person, list(rows))
    # a proposal counts towards the maximum while it is open, so it is shown beside it
    waiting = sum(1 for row in rows if proposal_open(row, ctx.now))
    rules = ctx.programme.sessions
    ends = ctx.programme.ends
    line = (p.counts()
            + (f" (and {waiting} proposed, waiting for an answer)" if waiting else "")
            + f", {rules.min_count} to {rules.max_count} expected, "
            f"{_time_left(ctx.today, ends)}.")
    if p.behind and ctx.today <= ends:  # once it is over, booking is no answer
        line += (f" You're behind the pace needed to reach {rules.min_count} by "
                 f"{format_date(ctx.programme.ends)}: /book the next one now?")
    return line


def _time_left(today: dt.date, ends: dt.date) -> str:
    """'5 months left'; in the last month the days ('29 days left'); or that it has ended."""
    if today > ends:
        return f"the programme ended on {format_date(ends)}"
    months = (ends.year - today.year) * 12 + ends.month - today.month - (ends.day < today.day)
    if months >= 1:
        return f"{counted(months, 'month')} left"
    return f"{counted((ends - today).days + 1, 'day')} left"


def my_sessions(ctx: Context, args: str) -> list[Reply]:
    """The current pair's sessions and progress, then those with any earlier partner: they
    stay the person's record, and one still to confirm can be confirmed from here."""
    me = ctx.me
    partner = me.partner
    # One read of everything of theirs: a proposal only counts for the current pair (an
    # earlier pair's was withdrawn when it parted); one said not to have taken place stays
    # listed, so it can be put right.
    mine = ctx.db.scalars(select(PeerSession).where(
        or_(PeerSession.proposer_id == me.id, PeerSession.partner_id == me.id),
        PeerSession.status.in_(("proposed", *RECORDED))).order_by(PeerSession.starts_at)).all()
    current = [s for s in mine if _is_current(s, me)]
    earlier: dict[int, tuple[Participant, list[PeerSession]]] = {}  # by partner, first met first
    for s in mine:
        if not _is_current(s, me) and s.status in RECORDED:
            other = _other(s, me)
            earlier.setdefault(other.id, (other, []))[1].append(s)
    if partner is None and not earlier:
        return [Reply("You're not in a pair at the moment, so you have no peer sessions.")]
    lines = [f"*Your sessions with {partner.name}*" if partner is not None
             else "You're not in a pair at the moment."]
    choices: list[Choice] = []
    for s in current:
        lines.append(session_line(ctx, s, me))
        choices += session_choices(ctx, s, me)
    if partner is not None and not current:
        lines.append("- none yet: send /book to propose one")
    for other, theirs in earlier.values():
        lines.append(f"Earlier, with {_partner_name(other)}:")
        for s in theirs:
            lines.append(session_line(ctx, s, me))
            choices += session_choices(ctx, s, me)
    if partner is not None:
        # the programme counts each pair's own sessions, so earlier ones are not in it
        lines.append((f"For your pair with {partner.name}: " if earlier else "")
                     + progress_line(ctx, me))
    return [Reply("\n".join(lines), choices=tuple(choices), private_only=True)]


def _partner_name(p: Participant) -> str:
    """Who a session was with: an erased partner's anonymised row is no name to show."""
    return "a partner who has left the programme" if p.role == ERASED_ROLE else p.name


def _is_current(s: PeerSession, me: Participant) -> bool:
    """Whether the session is one of the person's current pair."""
    return me.partner_id is not None and s.pair_key == pair_key(me.id, me.partner_id)


def session_line(ctx: Context, s: PeerSession, me: Participant, *, named: bool = False) -> str:
    """One session as a list shows it; `named` adds who it was with when that is not the
    current partner (for a list that mixes pairs)."""
    with_whom = "" if not named or _is_current(s, me) else \
        f", with {_partner_name(_other(s, me))}"
    return f"- {describe(ctx.programme, s)}{with_whom} ({state(ctx, s, me)})"


def session_choices(ctx: Context, s: PeerSession, me: Participant) -> list[Choice]:
    """What this person can do about the session now. Buttons name the day and time: a pair
    may have several open at once."""
    when = _button_when(ctx.programme, s)
    if proposal_open(s, ctx.now):
        if s.partner_id == me.id:
            return [Choice(f"Accept {when}", "booking.accept", str(s.id)),
                    Choice(f"Decline {when}", "booking.decline", str(s.id))]
        return [Choice(f"Withdraw {when}", "booking.cancel", str(s.id))]
    if s.status == "booked" and s.starts_at > ctx.now:
        move = Choice(f"Move {when}", "booking.move", str(s.id))
        cancel = Choice(f"Cancel {when}", "booking.cancel", str(s.id))
        if not _move_open(s, ctx.now):
            return [move, cancel]
        # The partner answers the request (or cancels); the mover may ask for another time
        # instead, or withdraw it.
        asked_by_me = s.move_by_id == me.id
        return [*([move] if asked_by_me else []), *move_choices(ctx, s, me), cancel]
    if s.status == "booked" and s.ends_at <= ctx.now:  # the question, if missed
        return [Choice(f"Held {when}", "booking.held", f"{s.id}:yes"),
                Choice(f"Didn't happen {when}", "booking.held", f"{s.id}:no")]
    if s.status == "not_held":
        return [Choice(f"It took place {when}", "booking.held", f"{s.id}:yes")]
    return []


def move_choices(ctx: Context, s: PeerSession, me: Participant) -> list[Choice]:
    """The buttons for a session's open move request: the partner accepts it or keeps the
    session as it is; the one who asked may withdraw it."""
    if not _move_open(s, ctx.now):
        return []
    when = _button_when(ctx.programme, s)
    value = f"{s.id}:{s.move_number}"
    if s.move_by_id == me.id:
        return [Choice(f"Withdraw request for {when}", "booking.move_withdraw", value)]
    return [Choice(f"Accept move of {when}", "booking.move_accept", value),
            Choice(f"Keep {when}", "booking.move_keep", value)]


def state(ctx: Context, s: PeerSession, viewer: Participant | None = None) -> str:
    if s.status == "proposed" and not proposal_open(s, ctx.now):
        return "expired"
    if awaiting_confirmation(s, ctx.now):
        return "awaiting confirmation that it took place"
    if viewer is not None and _move_open(s, ctx.now):
        assert s.move_starts_at is not None
        if s.move_by_id == viewer.id:
            by, waiting = "you", f"{_other(s, viewer).name}'s answer"
        else:
            by, waiting = _mover(s).name, "your answer"
        return (f"booked; move to {_day_and_time(ctx.programme, s.move_starts_at)} requested "
                f"by {by}, waiting for {waiting}")
    if s.status == "proposed" and viewer is not None:
        return ("waiting for your answer" if s.partner_id == viewer.id
                else f"waiting for {s.partner.name}'s answer")
    return {"proposed": "waiting for an answer", "not_held": "did not take place"}.get(
        s.status, s.status)


def pairs_report(db: Session, programme: Programme,
                 now: dt.datetime) -> list[tuple[Progress, Participant]]:
    """Every pair (listed by its peer), behind pace first: the programme team's overview."""
    by_pair: dict[str, list[Row[Any]]] = {}
    for row in db.execute(select(PeerSession.pair_key, PeerSession.status, PeerSession.ends_at)):
        by_pair.setdefault(row.pair_key, []).append(row)
    people = db.scalars(select(Participant).where(Participant.role == "peer",
                                                  Participant.partner_id.is_not(None)))
    rows = [(_progress(programme, now, p, by_pair.get(pair_key(p.id, p.partner_id or 0), [])),
             p) for p in people]
    rows.sort(key=lambda row: (not row[0].behind,
                               row[0].held + row[0].booked + row[0].awaiting, row[0].pair))
    return rows


def pairs_csv(rows: list[tuple[Progress, Participant]]) -> bytes:
    # awaiting_confirmation comes last, so a spreadsheet reading the first columns still works
    return csv_file([["pair", "held", "booked", "behind_pace", "awaiting_confirmation"],
                     *([progress.pair, progress.held, progress.booked,
                        "yes" if progress.behind else "no", progress.awaiting]
                       for progress, _person in rows)])


def parted_awaiting(db: Session, now: dt.datetime,
                    rows: list[tuple[Progress, Participant]]) -> list[PeerSession]:
    """Past sessions of pairs parted since that nobody has confirmed: a parted pair keeps
    its record, and these still want an answer."""
    current = {pair_key(p.id, p.partner_id or 0) for _, p in rows}
    return list(db.scalars(select(PeerSession).where(
        PeerSession.status == "booked", PeerSession.ends_at <= now,
        PeerSession.pair_key.not_in(current)).order_by(PeerSession.starts_at)))


def parted_line(programme: Programme, sessions: list[PeerSession]) -> str:
    return "Earlier pairs, awaiting confirmation that a session took place: " + "; ".join(
        f"{_partner_name(s.proposer)} & {_partner_name(s.partner)}, {describe(programme, s)}"
        for s in sessions)


def unpaired(db: Session) -> list[Participant]:
    """Peers and expert peers with no partner (never paired, or their partner left): the
    programme team pairs them."""
    return list(db.scalars(select(Participant).where(
        Participant.role.in_(PAIRED_ROLES), Participant.partner_id.is_(None))
        .order_by(Participant.name)))


def pairs(ctx: Context, args: str) -> list[Reply]:
    rows = pairs_report(ctx.db, ctx.programme, ctx.now)
    alone = unpaired(ctx.db)
    if not rows and not alone:
        return [Reply("No pairs are registered yet.")]
    lines = ["*Pairs' progress* (behind pace first)"]
    lines += [f"- {p.pair}: {p.counts()}" + (" \u2013 behind pace" if p.behind else "")
              for p, _ in rows]
    if alone:
        lines.append(f"Not in a pair: {', '.join(p.name for p in alone)}")
    if parted := parted_awaiting(ctx.db, ctx.now, rows):
        lines.append(parted_line(ctx.programme, parted))
    file = ReplyFile("pairs-progress.csv", "text/csv", pairs_csv(rows)) \
        if "csv" in args.lower() else None
    return [Reply("\n".join(lines), file=file, private_only=True)]


# ---------------------------------------------------------------- calendar files
def calendar_file(ctx: Context, session: PeerSession) -> ReplyFile:
    """The event for both diaries, named for the pair."""
    return calendar_event(session, ctx.now, f"{ctx.programme.short_name} peer session: "
                                            f"{session.proposer.name} & {session.partner.name}")


def calendar_event(session: PeerSession, now: dt.datetime, summary: str) -> ReplyFile:
    """Every version of the session's one calendar event (its UID), a cancelled one as
    METHOD:CANCEL, which takes it out of the diary it was added to."""
    from icalendar import Calendar, Event

    calendar = Calendar()
    calendar.add("prodid", "-//sps-bot//peer sessions//EN")
    calendar.add("version", "2.0")
    cancelled = session.status == "cancelled"
    calendar.add("method", "CANCEL" if cancelled else "REQUEST")
    event = Event()
    event.add("uid", session.uid)
    event.add("sequence", session.sequence)
    event.add("dtstamp", now)
    event.add("dtstart", session.starts_at)
    event.add("dtend", session.ends_at)
    event.add("summary", summary)
    event.add("location", session.place if session.mode == "face to face"
              else (session.link or "Virtual"))
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    calendar.add_component(event)
    return ReplyFile(f"peer-session-{session.id}.ics", "text/calendar", calendar.to_ical())


def cancel_parted_pair(db: Session, programme: Programme, a: int, b: int,
                       now: dt.datetime) -> int:
    """The programme team re-paired these two: their future sessions are cancelled, each told
    with a calendar cancellation, as neither can hold or move them with the other now. A
    proposal was never in a diary: it is withdrawn, with no calendar file."""
    sessions = db.scalars(select(PeerSession).where(
        PeerSession.pair_key == pair_key(a, b), PeerSession.status.in_(ACTIVE),
        PeerSession.starts_at > now)).all()
    for s in sessions:
        booked = s.status == "booked"
        s.cancel(now)
        db.add(AuditEntry(at=now, actor_id=None, action="session.cancel",
                          subject=f"session:{s.id}", detail={"why": "pairs changed"}))
        file = calendar_event(s, now, f"{programme.short_name} peer session (cancelled)") \
            if booked else None
        for person, other in ((s.proposer, s.partner), (s.partner, s.proposer)):
            what = (f"Your peer session with {other.name}, {describe(programme, s)}, is "
                    "cancelled" if booked else
                    f"The proposed peer session with {other.name}, {describe(programme, s)}, "
                    "is withdrawn")
            enqueue(db, person, f"{what}: the programme team has changed the pairs.",
                    kind="session_update", key=f"session:{s.id}:parted", now=now, file=file)
    return len(sessions)


# ---------------------------------------------------------------- jobs for the scheduler
def expire_proposals(db: Session, now: dt.datetime) -> int:
    """Mark unanswered proposals expired and close unanswered move requests (the proposer
    or mover is told by _lapsed_proposals or _lapsed_moves). Returns how many."""
    stale = db.scalars(select(PeerSession).where(PeerSession.status == "proposed",
                                                 PeerSession.expires_at <= now)).all()
    for session in stale:
        session.status = "expired"
        session.updated_at = now
    lapsed = db.scalars(select(PeerSession).where(PeerSession.move_expires_at <= now)).all()
    for session in lapsed:
        session.drop_move()
        session.updated_at = now
    return len(stale) + len(lapsed)


def _lapsed_proposals(db: Session, programme: Programme, since: dt.datetime,
                      until: dt.datetime) -> list[ScheduledMessage]:
    """A proposal still unanswered at its expiry: the proposer is told it lapsed."""
    sessions = db.scalars(select(PeerSession).where(
        PeerSession.status == "proposed", PeerSession.expires_at > since,
        PeerSession.expires_at <= until)).all()
    return [ScheduledMessage(
        key=f"session:{s.id}:expired", to=s.proposer, due_at=s.expires_at,
        kind="session_update", optional=False,
        text=f"{s.partner.name} didn't answer your proposal for {describe(programme, s)}, so "
             "it has lapsed. Send /book to try another time.") for s in sessions]


def _lapsed_moves(db: Session, programme: Programme, since: dt.datetime,
                  until: dt.datetime) -> list[ScheduledMessage]:
    """A move request still unanswered at its expiry: the one who asked is told it lapsed."""
    sessions = db.scalars(select(PeerSession).where(
        PeerSession.status == "booked", PeerSession.move_expires_at > since,
        PeerSession.move_expires_at <= until)).all()
    messages = []
    for s in sessions:
        assert s.move_starts_at is not None and s.move_expires_at is not None
        mover = _mover(s)
        messages.append(ScheduledMessage(
            key=f"session:{s.id}:move{s.move_number}:lapsed", to=mover, due_at=s.move_expires_at,
            kind="session_update", optional=False,
            text=f"{_other(s, mover).name} didn't answer your request to move the peer session "
                 f"to {_day_and_time(programme, s.move_starts_at)}, so it has lapsed. It stays "
                 f"as it is: {describe(programme, s)}."))
    return messages


def _outcome_questions(db: Session, programme: Programme, since: dt.datetime,
                       until: dt.datetime) -> list[ScheduledMessage]:
    """After a booked session's time, both members are asked whether it took place."""
    sessions = db.scalars(select(PeerSession).where(
        PeerSession.status == "booked", PeerSession.ends_at > since,
        PeerSession.ends_at <= until)).all()
    return [ScheduledMessage(
        key=f"session:{s.id}:held?:{person.id}", to=person, due_at=s.ends_at,
        kind="session_outcome", optional=False,
        text=f"Did your peer session on {describe(programme, s)} take place?",
        choices=(Choice("Yes", "booking.held", f"{s.id}:yes"),
                 Choice("No", "booking.held", f"{s.id}:no")))
        for s in sessions for person in (s.proposer, s.partner)]


SCHEDULED = [_lapsed_proposals, _lapsed_moves, _outcome_questions]


ROUTES = [
    Route("book", start_booking, command="/book", personal=True,
          roles=frozenset(PAIRED_ROLES), help="propose a peer session to your partner",
          usage="/book [10 April 2pm 3h virtual]",
          intent=re.compile(r"^\s*(i want to |let'?s |please )?book (a |our )?"
                            r"(peer )?sessions?\b(?!.*\?\s*$)", re.IGNORECASE)),
    Route("book-button", start_booking, action="booking.start", personal=True,
          roles=frozenset(PAIRED_ROLES)),
    Route("sessions", my_sessions, command="/sessions", personal=True,
          roles=frozenset(PAIRED_ROLES),
          help="your peer sessions and progress",
          intent=re.compile(r"\bhow many (peer )?sessions\b.*\b(left|to go|remaining|done|"
                            r"held|had)\b|\bsessions? (have i got |do we have )?left\b"
                            r"|\b(next|upcoming|booked) (peer |pair )?sessions?\b"
                            r"|\bwhat (peer )?sessions (have|do|did) (i|we)\b"
                            r"|\bsessions? (have i|do we have|have we) (got )?booked\b"
                            r"|\b(cancel|move|rearrange|reschedule) (my|our|the|a|this) "
                            r"(next )?(peer )?session\b",
                            re.IGNORECASE), aside=True),
    Route("accept", accept, action="booking.accept", personal=True),
    Route("decline", decline, action="booking.decline", personal=True),
    Route("cancel-session", cancel, action="booking.cancel", personal=True),
    Route("cancel-session-confirmed", cancel_confirmed, action="booking.cancel_confirmed",
          personal=True),
    Route("keep-session", keep, action="booking.keep", personal=True),
    Route("move-session", start_move, action="booking.move", personal=True),
    Route("accept-move", accept_move, action="booking.move_accept", personal=True),
    Route("keep-move", keep_move, action="booking.move_keep", personal=True),
    Route("withdraw-move", withdraw_move, action="booking.move_withdraw", personal=True),
    Route("held", took_place, action="booking.held", personal=True),
    Route("pairs", pairs, command="/pairs", roles=TEAM, personal=True,
          help="every pair's progress (add csv for a file)", usage="/pairs [csv]",
          intent=re.compile(r"\b(how are|progress of|show me) (the |all |our )?pairs\b"
                            r"|\bpairs'? progress\b|\bbehind pace\b|\b(who|pairs?)\b.*\bbehind\b"
                            r"|\bwho (hasn'?t|has not|hasnt) (booked|held|had)\b",
                            re.IGNORECASE),
          aside=True),
]
FLOWS = [BOOKING, MOVE, CANCEL_SESSION]
