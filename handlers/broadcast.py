"""Broadcasts: the programme team sends one message to an audience (everyone, a role, a region
or a challenge team), now or at a set time, after a preview; and can see or cancel it."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from handlers.core import YES, Context, Flow, Invalid, Route, Step, enqueue_each
from handlers.identity import TEAM
from handlers.messages import Choice, Reply
from handlers.notes import NotesError, find_challenge
from handlers.storage.models import (
    ERASED_ROLE,
    ROLES,
    UNLINKED,
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
CANCEL = Choice("Cancel", "cancel")
_EVERYONE = {"everyone", "everybody", "all", "all participants", "the whole cohort"}
_ROLE_NAMES = {"peer": "peers", "expert_peer": "expert peers",
               "challenge_manager": "challenge managers", "programme_team": "programme team"}
_KINDS = {"role": "role", "region": "region", "challenge": "challenge", "team": "challenge"}


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
    db.add(AuditEntry(at=now, actor_id=broadcast.created_by, action="broadcast.create",
                      subject=f"broadcast:{broadcast.id}",
                      detail={"audience": chosen.key, "recipients": len(people),
                              "scheduled_for": broadcast.scheduled_for.isoformat()}))
    return broadcast, len(people)


def _row_counts(db: Session, broadcast_ids: list[int]) -> dict[int, Counter[str]]:
    """Per broadcast, its rows by status; someone with no chat account yet is counted as
    "unlinked", not failed: they get it when they link."""
    counts: dict[int, Counter[str]] = {i: Counter() for i in broadcast_ids}
    rows = db.execute(select(OutboxMessage.broadcast_id, OutboxMessage.status,
                             OutboxMessage.last_error, func.count())
                      .where(OutboxMessage.broadcast_id.in_(broadcast_ids))
                      .group_by(OutboxMessage.broadcast_id, OutboxMessage.status,
                                OutboxMessage.last_error))
    for broadcast_id, status, error, n in rows:
        unlinked = status == "failed" and error == UNLINKED
        counts[broadcast_id]["unlinked" if unlinked else status] += n
    return counts


def status_lines(db: Session, programme: Programme, limit: int = 10) -> list[str]:
    """Recent broadcasts with their sent, pending and failed counts, newest first. A
    scheduled broadcast with nothing left to send is marked sent here: the delivery worker
    knows nothing of broadcasts, only of outbox rows."""
    broadcasts = db.scalars(select(Broadcast).order_by(Broadcast.id.desc()).limit(limit)).all()
    counts = _row_counts(db, [b.id for b in broadcasts])
    lines = []
    for b in broadcasts:
        c = counts[b.id]
        if b.status == "scheduled" and c["sent"] and not c["pending"] + c["sending"]:
            b.status = "sent"
        preview = b.text if len(b.text) <= 60 else b.text[:57] + "..."
        waiting = f", {c['unlinked']} waiting until they link" if c["unlinked"] else ""
        lines.append(f"- #{b.id} to {describe_audience(db, b.audience)}, "
                     f"{_format_when(programme, b.scheduled_for)}, {b.status}: "
                     f"{c['sent']} sent, {c['pending'] + c['sending']} pending{waiting}, "
                     f"{c['failed']} failed \u2013 \u201c{preview}\u201d")
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
    `/broadcast AUDIENCE` starts the form with the audience chosen."""
    sub, _, rest = args.strip().partition(" ")
    number = rest.strip().lstrip("#")
    # "Status update: ..." and "Cancel your hotel ..." are messages, not these subcommands.
    if sub.lower() == "status" and not rest.strip():
        lines = status_lines(ctx.db, ctx.programme)
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
        return [Reply(f"Cancelled broadcast #{number}; none of its {stopped} messages will "
                      "be sent.")]
    if not args.strip():
        return ctx.start_flow(BROADCAST)
    try:
        data = _audience_data(ctx, args)
    except Invalid as problem:
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
    lines = [f"*Preview*: to {chosen.label}, {len(people)} "
             f"{'person' if len(people) == 1 else 'people'}"
             + (f" ({unlinked} not linked to a chat account yet: they get it when they link)"
                if unlinked else "") + ", "
             + ("now." if at is None else f"at {_format_when(ctx.programme, at)}."),
             "It will read exactly:", "", data["text"], "", "Send it?"]
    return Reply("\n".join(lines), choices=(Choice("Yes, send it", "answer", "yes"), CANCEL))


def _take_confirm(ctx: Context, data: dict[str, Any], text: str) -> list[Reply] | None:
    answer = text.strip().lower()
    if answer in ("no", "n"):
        return [Reply("Nothing was sent.")]
    if answer not in YES | {"yes, send it", "send"}:
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
    return [Reply(f"Broadcast #{broadcast.id} to {count} "
                  f"{'person' if count == 1 else 'people'} is queued {when}. "
                  f"/broadcast status shows its progress; /broadcast cancel {broadcast.id} "
                  "stops it before it goes.")]


BROADCAST = Flow(
    name="broadcast",
    description="broadcast",
    steps={
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
