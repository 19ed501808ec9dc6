"""Broadcasts: the programme team sends one message to an audience (everyone, a role, a region
or a challenge team), now or at a set time, after a preview; and can see or cancel it."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass
from itertools import islice
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from handlers.core import Context, Flow, Invalid, Route, Step, enqueue_each, said_yes
from handlers.identity import BROADCAST_WAIT, LAPSED, TEAM, waited_too_long
from handlers.messages import CANCEL, Choice, Reply, counted
from handlers.notes import NotesError, find_challenge
from handlers.storage.models import (
    ERASED_ROLE,
    ROLES,
    UNLINKED,
    UNREACHABLE,
    AuditEntry,
    Broadcast,
    Challenge,
    ChallengeMember,
    OutboxMessage,
    Participant,
)
from handlers.when import WhenError, localise, parse_when
from knowledge.programme import Programme, format_date

MAX_TEXT = 3000
_EVERYONE = {"everyone", "everybody", "all", "all participants", "the whole cohort"}
_ROLE_NAMES = {"peer": "peers", "expert_peer": "expert peers",
               "challenge_manager": "challenge managers", "programme_team": "programme team"}
_KINDS = {"role": "role", "region": "region", "challenge": "challenge", "team": "challenge"}
# Where an audience typed before the message may end: punctuation, a spaced dash, or a space.
_AUDIENCE_END = re.compile(r"\s*[:,;]\s*|\s+[-\u2013\u2014]\s+|\s+")
_AUDIENCE_WORDS = 4  # places to cut tried: enough for "region: North East", "the whole cohort"


class BroadcastError(ValueError):
    """A broadcast that cannot be made or changed; the message says why, for the user."""


@dataclass(frozen=True)
class Audience:
    key: str  # what the Broadcast row stores: "everyone", "role:peer", "region:North", ...
    label: str  # for people: "everyone", "peers", "region North", "challenge team stp-north"


# ---------------------------------------------------------------- audiences
def _role(text: str) -> str | None:
    word = "_".join(text.lower().replace("-", " ").split())
    for role in ROLES:
        if word in (role, role + "s", _ROLE_NAMES[role].replace(" ", "_")):
            return role
    return None


def _regions(db: Session) -> list[str]:
    return sorted(r for r in db.scalars(select(Participant.region).distinct()) if r)


def parse_audience(db: Session, text: str) -> Audience:
    """`everyone`, a role (`peers`, `role:expert_peer`), a region (`North`, `region North`) or
    a challenge team (`challenge stp-north`); a bare word is tried in that order."""
    cleaned = " ".join(text.split())
    if cleaned.lower() in _EVERYONE:
        return Audience("everyone", "everyone")
    kind, value = "", cleaned
    for separator in (":", " "):
        head, found, tail = cleaned.partition(separator)
        if found and head.lower() in _KINDS:
            kind, value = _KINDS[head.lower()], tail.strip()
            break
    if kind in ("", "role") and (role := _role(value)) is not None:
        return Audience(f"role:{role}", _ROLE_NAMES[role])
    if kind in ("", "region"):
        region = next((r for r in _regions(db) if r.lower() == value.lower()), None)
        if region is not None:
            return Audience(f"region:{region}", f"region {region}")
    if kind in ("", "challenge"):
        try:
            challenge = find_challenge(db, value)
        except NotesError as problem:
            if kind:
                raise BroadcastError(str(problem)) from None
        else:
            return Audience(f"challenge:{challenge.name}", f"challenge team {challenge.name}")
    raise BroadcastError(
        f"I don't know the audience \u201c{cleaned[:60]}\u201d. Choose everyone, a role "
        f"(peers, expert peers, challenge managers, programme team), a region "
        f"({', '.join(_regions(db)) or 'none registered'}) or a challenge team "
        "(challenge NAME).")


def recipients(db: Session, audience: Audience) -> list[Participant]:
    kind, _, value = audience.key.partition(":")
    query = select(Participant).where(Participant.role != ERASED_ROLE).order_by(Participant.id)
    if kind == "role":
        query = query.where(Participant.role == value)
    elif kind == "region":
        query = query.where(func.lower(Participant.region) == value.lower())
    elif kind == "challenge":
        query = query.join(ChallengeMember, ChallengeMember.participant_id == Participant.id) \
            .join(Challenge).where(Challenge.name == value)
    return list(db.scalars(query))


def describe_audience(db: Session, key: str) -> str:
    try:
        return parse_audience(db, key).label
    except BroadcastError:  # e.g. a region nobody is in any more
        return key


# ---------------------------------------------------------------- the broadcast itself
def _format_when(programme: Programme, at: dt.datetime) -> str:
    local = at.astimezone(programme.timezone)
    return f"{format_date(local.date())} {local:%H:%M}"


def _dated(programme: Programme, at: dt.datetime, text: str) -> str:
    day = format_date(at.astimezone(programme.timezone).date())
    return f"Announcement from the programme team, sent {day}:\n{text}"


def _short(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


def _check_text(text: str) -> str:
    text = text.strip()
    if not text:
        raise BroadcastError("The message is empty.")
    if len(text) > MAX_TEXT:
        raise BroadcastError(f"That message is {len(text):,} characters; please keep a "
                             f"broadcast under {MAX_TEXT:,}.")
    return text


def create_broadcast(db: Session, programme: Programme, actor: Participant | None,
                     audience: str, text: str, at: dt.datetime | None,
                     now: dt.datetime) -> tuple[Broadcast, int]:
    """Record the broadcast and queue it to every linked account of every recipient, due at
    `at` (or now), all in this transaction. Returns it and how many people it goes to.
    People with no linked account get a failed row, so the status shows them."""
    chosen = parse_audience(db, audience)
    text = _check_text(text)
    if at is not None and at <= now:
        raise BroadcastError("That time has already passed. Please choose a later one.")
    people = recipients(db, chosen)
    if not people:
        raise BroadcastError(f"Nobody is in the audience {chosen.label}, so nothing was sent.")
    broadcast = Broadcast(audience=chosen.key, text=text, created_by=actor.id if actor else None,
                          created_at=now, scheduled_for=at or now, status="scheduled")
    db.add(broadcast)
    db.flush()
    enqueue_each(db, [(person, f"broadcast:{broadcast.id}:to:{person.id}") for person in people],
                 text, kind="broadcast", now=now, due_at=broadcast.scheduled_for,
                 broadcast_id=broadcast.id)
    # Someone with no chat account gets it when they link, so late: it says when it went out.
    db.execute(update(OutboxMessage).where(OutboxMessage.broadcast_id == broadcast.id,
                                           OutboxMessage.platform == UNREACHABLE)
               .values(text=_dated(programme, broadcast.scheduled_for, text)))
    db.add(AuditEntry(at=now, actor_id=broadcast.created_by, action="broadcast.create",
                      subject=f"broadcast:{broadcast.id}",
                      detail={"audience": chosen.key, "recipients": len(people),
                              "scheduled_for": broadcast.scheduled_for.isoformat()}))
    return broadcast, len(people)


def _row_counts(db: Session, broadcast_ids: list[int],
                now: dt.datetime) -> dict[int, Counter[str]]:
    """Per broadcast, its rows by status; someone with no chat account yet is counted as
    "unlinked", not failed: they get it when they link, unless it has waited too long for
    them, and then it is "lapsed", as it is once they link."""
    counts: dict[int, Counter[str]] = {i: Counter() for i in broadcast_ids}
    too_long = case((waited_too_long(now), True), else_=False)
    rows = db.execute(select(OutboxMessage.broadcast_id, OutboxMessage.status,
                             OutboxMessage.last_error, too_long, func.count())
                      .where(OutboxMessage.broadcast_id.in_(broadcast_ids))
                      .group_by(OutboxMessage.broadcast_id, OutboxMessage.status,
                                OutboxMessage.last_error, too_long))
    for broadcast_id, status, error, lapsed, n in rows:
        if status == "failed" and error == UNLINKED:
            status = "lapsed" if lapsed else "unlinked"
        elif error == LAPSED:
            status = "lapsed"
        counts[broadcast_id][status] += n
    return counts


def status_lines(db: Session, programme: Programme, now: dt.datetime,
                 limit: int = 10) -> list[str]:
    """Recent broadcasts with their sent, pending and failed counts, newest first. A
    scheduled broadcast with nothing left to send is marked sent here: the delivery worker
    knows nothing of broadcasts, only of outbox rows. `now` decides which waits have lapsed."""
    broadcasts = db.scalars(select(Broadcast).order_by(Broadcast.id.desc()).limit(limit)).all()
    counts = _row_counts(db, [b.id for b in broadcasts], now)
    lines = []
    for b in broadcasts:
        c = counts[b.id]
        if b.status == "scheduled" and c["sent"] and not c["pending"] + c["sending"]:
            b.status = "sent"
        waiting = f", {c['unlinked']} waiting until they link" if c["unlinked"] else ""
        lapsed = f", {c['lapsed']} lapsed (never linked within {BROADCAST_WAIT.days} days)" \
            if c["lapsed"] else ""
        lines.append(f"- #{b.id} to {describe_audience(db, b.audience)}, "
                     f"{_format_when(programme, b.scheduled_for)}, {b.status}: "
                     f"{c['sent']} sent, {c['pending'] + c['sending']} pending{waiting}{lapsed}, "
                     f"{c['failed']} failed \u2013 \u201c{_short(b.text)}\u201d")
    return lines


def cancel_broadcast(db: Session, broadcast_id: int, actor: Participant | None,
                     now: dt.datetime) -> int:
    """Cancel a broadcast none of which has gone out yet; returns how many rows it stopped."""
    broadcast = db.get(Broadcast, broadcast_id)
    if broadcast is None:
        raise BroadcastError(f"There is no broadcast #{broadcast_id}.")
    if broadcast.status == "cancelled":
        raise BroadcastError(f"Broadcast #{broadcast_id} is already cancelled.")
    query = select(OutboxMessage).where(OutboxMessage.broadcast_id == broadcast_id)
    if db.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()  # the worker skips locked rows, so none slips out
    rows = db.scalars(query).all()
    gone = sum(1 for r in rows if r.status in ("sent", "sending"))
    if gone:
        raise BroadcastError(f"Broadcast #{broadcast_id} has already started going out "
                             f"({gone} sent), so it can't be cancelled.")
    # Failed rows too: a "no linked account" row would otherwise go out when they link.
    db.execute(update(OutboxMessage).where(OutboxMessage.broadcast_id == broadcast_id)
               .values(status="cancelled"))
    broadcast.status = "cancelled"
    db.add(AuditEntry(at=now, actor_id=actor.id if actor else None, action="broadcast.cancel",
                      subject=f"broadcast:{broadcast_id}", detail={"rows": len(rows)}))
    return len(rows)


# ---------------------------------------------------------------- chat: /broadcast
def broadcast_command(ctx: Context, args: str) -> list[Reply]:
    """`/broadcast` starts the form; `/broadcast status`; `/broadcast cancel N`;
    `/broadcast AUDIENCE` starts the form with the audience chosen, `/broadcast AUDIENCE TEXT`
    with the message too, and `/broadcast TEXT` with the message alone."""
    sub, _, rest = args.strip().partition(" ")
    number = rest.strip().lstrip("#")
    # "Status update: ..." and "Cancel your hotel ..." are messages, not these subcommands.
    if sub.lower() == "status" and not rest.strip():
        lines = status_lines(ctx.db, ctx.programme, ctx.now)
        return [Reply("\n".join(["*Recent broadcasts*"] + lines) if lines
                      else "No broadcasts yet. Send /broadcast to make one.")]
    # "/broadcast cancel abc" is a mistyped number; "Cancel your hotel if..." is a message
    if sub.lower() == "cancel" and number and " " not in number and not number.isdigit() \
            and not _is_audience(ctx, args):
        return [Reply("To cancel a broadcast, send /broadcast cancel N with its number (see "
                      "/broadcast status).")]
    if sub.lower() == "cancel" and (number.isdigit() or not number):
        if not number:
            return [Reply("Which broadcast? Send /broadcast cancel N (see /broadcast status).")]
        try:
            stopped = cancel_broadcast(ctx.db, int(number), ctx.me, ctx.now)
        except BroadcastError as problem:
            return [Reply(str(problem))]
        return [Reply(f"Cancelled broadcast #{number}; nothing will be sent "
                      f"({counted(stopped, 'message')} stopped).")]
    if not args.strip():
        return ctx.start_flow(BROADCAST)
    try:
        data = _audience_data(ctx, args)
    except Invalid as problem:
        if (split := _leading_audience(ctx, args)) is not None:
            return _audience_and_text(ctx, args, *split)
        if len(args.split()) < 3:  # a mistyped audience
            return [Reply(str(problem))] + ctx.start_flow(BROADCAST)
        # "/broadcast Reminder: the dev day is on Wednesday": the message itself
        draft: dict[str, Any] = {}
        try:
            _take_text(ctx, draft, args)
        except Invalid as unusable:
            return [Reply(str(unusable))] + ctx.start_flow(BROADCAST)
        return [Reply("I'll send that as the message.")] + ctx.start_flow(BROADCAST, draft)
    return ctx.start_flow(BROADCAST, data)


def _leading_audience(ctx: Context, text: str) -> tuple[Audience, str, bool] | None:
    """The audience the first words name, the message after them, and whether the two are
    plainly apart (a colon, a dash, a new line, or a capital starting the message). The
    longest run of words that names one wins: "expert peers ..." is not "expert" + "peers ..."."""
    for cut in reversed(list(islice(_AUDIENCE_END.finditer(text), _AUDIENCE_WORDS))):
        message = text[cut.end():]
        if cut.start() == 0 or not message:
            continue
        try:
            audience = parse_audience(ctx.db, text[:cut.start()])
        except BroadcastError:
            continue
        return audience, message, bool(cut.group().strip(" \t")) or message[0].isupper()
    return None


def _audience_and_text(ctx: Context, whole: str, audience: Audience, message: str,
                       apart: bool) -> list[Reply]:
    """`/broadcast peers Please check your email`: on to the time, as if the form had been
    given both. "everyone is welcome at the launch" may be the message itself: ask which."""
    draft: dict[str, Any] = {}
    try:
        _take_text(ctx, draft, message)
        if not apart:
            return ctx.start_flow(BROADCAST, {"unsure": [audience.key, draft["text"], whole]})
        _take_audience(ctx, draft, audience.key)
    except Invalid as problem:  # too long, or nobody is in that audience: ask again
        return [Reply(str(problem))] + ctx.start_flow(BROADCAST, draft)
    return [Reply(f"To {audience.label}: \u201c{_short(draft['text'])}\u201d")] + \
        ctx.start_flow(BROADCAST, draft)


def _ask_unsure(ctx: Context, data: dict[str, Any]) -> Reply:
    key, message, _whole = data["unsure"]
    label = describe_audience(ctx.db, key)
    return Reply(f"Is it for {label}, with the message \u201c{_short(message)}\u201d? Or is "
                 "all of it the message?",
                 choices=(Choice(f"Yes, for {label}", "answer", "yes"),
                          Choice("No, all of it is the message", "answer", "no"), CANCEL))


def _take_unsure(ctx: Context, data: dict[str, Any], text: str) -> None:
    answer = text.strip().lower()
    key, message, whole = data.pop("unsure")
    if said_yes(answer, also=f"for {describe_audience(ctx.db, key)}".split()):
        data["text"] = message
        _take_audience(ctx, data, key)
    elif answer in ("no", "n", "no, all of it is the message"):
        _take_text(ctx, data, whole)
    else:
        raise Invalid("Please answer yes if it is for them, no if all of it is the message, "
                      "or cancel.")


def _is_audience(ctx: Context, text: str) -> bool:
    try:
        parse_audience(ctx.db, text)
    except BroadcastError:
        return False
    return True


def _audience_data(ctx: Context, text: str) -> dict[str, Any]:
    try:
        chosen = parse_audience(ctx.db, text)
    except BroadcastError as problem:
        raise Invalid(str(problem)) from None
    if not recipients(ctx.db, chosen):
        raise Invalid(f"Nobody is in the audience {chosen.label}. Please choose another.")
    return {"audience": chosen.key}


def _ask_audience(ctx: Context, data: dict[str, Any]) -> Reply:
    options = [Choice("Everyone", "answer", "everyone")]
    options += [Choice(label.capitalize(), "answer", f"role:{role}")
                for role, label in _ROLE_NAMES.items()]
    options += [Choice(f"Region: {r}", "answer", f"region:{r}") for r in _regions(ctx.db)]
    options += [Choice(f"Team: {name}", "answer", f"challenge:{name}")
                for name in ctx.db.scalars(select(Challenge.name).order_by(Challenge.name))]
    return Reply("Who is the broadcast for? Choose, or type a role, a region or "
                 "challenge NAME.", choices=tuple(options[:11]) + (CANCEL,))


def _take_audience(ctx: Context, data: dict[str, Any], text: str) -> None:
    data.update(_audience_data(ctx, text))


def _ask_text(ctx: Context, data: dict[str, Any]) -> Reply:
    return Reply(f"What should it say? Send the message exactly as it should read "
                 f"(up to {MAX_TEXT:,} characters).", choices=(CANCEL,))


def _take_text(ctx: Context, data: dict[str, Any], text: str) -> None:
    try:
        data["text"] = _check_text(text)
    except BroadcastError as problem:
        raise Invalid(str(problem)) from None


def _ask_when(ctx: Context, data: dict[str, Any]) -> Reply:
    return Reply("Send it now, or at a set time? For example: now, or 10 April 9am.",
                 choices=(Choice("Now", "answer", "now"), CANCEL))


def _take_when(ctx: Context, data: dict[str, Any], text: str) -> None:
    if text.strip().lower() in ("now", "straight away", "immediately"):
        data["at"] = "now"
        return
    try:
        parsed = parse_when(text, ctx.today)
        if parsed.time is None:
            raise Invalid("Please give a time as well, like 10 April 9am, or answer now.")
        at = localise(parsed.date or ctx.today, parsed.time, ctx.programme.timezone)
    except WhenError as problem:
        raise Invalid(str(problem)) from None
    if at <= ctx.now:
        raise Invalid("That time has already passed. Please choose a later one, or now.")
    data["at"] = at.isoformat()


def _at(data: dict[str, Any]) -> dt.datetime | None:
    return None if data["at"] == "now" else dt.datetime.fromisoformat(data["at"])


def _ask_confirm(ctx: Context, data: dict[str, Any]) -> Reply:
    chosen = parse_audience(ctx.db, data["audience"])
    people = recipients(ctx.db, chosen)
    unlinked = sum(1 for p in people if not p.accounts)
    at = _at(data)
    lines = [f"*Preview*: to {chosen.label}, {counted(len(people), 'person', 'people')}"
             + (f" ({unlinked} not linked to a chat account yet: they get it, dated, if they "
                f"link within {BROADCAST_WAIT.days} days)" if unlinked else "") + ", "
             + ("now." if at is None else f"at {_format_when(ctx.programme, at)}."),
             "It will read exactly:", "", data["text"], "", "Send it?"]
    return Reply("\n".join(lines), choices=(Choice("Yes, send it", "answer", "yes"), CANCEL))


def _take_confirm(ctx: Context, data: dict[str, Any], text: str) -> list[Reply] | None:
    answer = text.strip().lower()
    if answer in ("no", "n"):
        return [Reply("Nothing was sent.")]
    if not said_yes(answer):
        raise Invalid("Please answer yes to send it, or cancel.")
    data["confirmed"] = True
    return None


def _finish(ctx: Context, data: dict[str, Any]) -> list[Reply]:
    try:
        broadcast, count = create_broadcast(ctx.db, ctx.programme, ctx.me, data["audience"],
                                            data["text"], _at(data), ctx.now)
    except BroadcastError as problem:  # e.g. the time passed while the preview waited
        return [Reply(f"{problem} Nothing was sent.")]
    when = "now" if _at(data) is None else \
        f"for {_format_when(ctx.programme, broadcast.scheduled_for)}"
    return [Reply(f"Broadcast #{broadcast.id} to {counted(count, 'person', 'people')} is queued "
                  f"{when}. "
                  f"/broadcast status shows its progress; /broadcast cancel {broadcast.id} "
                  "stops it before it goes.")]


BROADCAST = Flow(
    name="broadcast",
    description="broadcast",
    steps={
        "unsure": Step(_ask_unsure, _take_unsure, "yes, or no", lambda d: "unsure" in d),
        "audience": Step(_ask_audience, _take_audience, "everyone, peers, North or "
                         "challenge stp-north", lambda d: "audience" not in d),
        "text": Step(_ask_text, _take_text, "the message itself", lambda d: "text" not in d),
        "when": Step(_ask_when, _take_when, "now, or 10 April 9am", lambda d: "at" not in d),
        "confirm": Step(_ask_confirm, _take_confirm, "yes", lambda d: not d.get("confirmed")),
    },
    finish=_finish,
)

ROUTES = [
    Route("broadcast", broadcast_command, command="/broadcast", roles=TEAM,
          help="message everyone, a role, a region or a challenge team; status; cancel",
          usage="/broadcast [AUDIENCE | status | cancel N]"),
]
FLOWS = [BROADCAST]
