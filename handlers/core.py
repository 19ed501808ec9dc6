"""The building blocks every feature uses: context, routes, multi-step flows, audit, outbox."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session

from handlers.messages import Choice, Incoming, Reply, ReplyFile
from handlers.storage.models import (
    UNLINKED,
    UNREACHABLE,
    Account,
    AuditEntry,
    Conversation,
    OutboxMessage,
    Participant,
)

if TYPE_CHECKING:
    from handlers.services import Services
    from knowledge.programme import Programme


T = TypeVar("T")


class Invalid(Exception):
    """A step's input was not acceptable; the message says why, politely. `keep` is what the
    form holds on to all the same, for the answer to the question asked back: a time given
    with a day that has to be asked again, or which week "Tuesday" will mean."""

    def __init__(self, message: str, keep: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.keep = dict(keep or {})


# A read-back's "yes": a yes word first ("yes please", "Yes, ask", "ok send it", or the
# button's own verb alone), then nothing but these; "yes but change the time" is no yes.
_YES_WORDS = frozenset({"yes", "y", "ok", "okay", "yep", "yeah", "yup", "sure", "fine",
                        "correct", "go", "send", "submit", "ask", "continue"})
_YES_FILLER = frozenset({"please", "thanks", "thank", "you", "ta", "ahead", "do", "it", "that",
                         "thats", "send", "ask", "submit", "continue", "all", "good", "great",
                         "perfect", "lovely"})


def said_yes(text: str, also: Iterable[str] = ()) -> bool:
    """Whether a typed answer to a read-back is a yes; `also`: other words of the question's
    own yes button ("Yes, cancel it", "Yes, for peers")."""
    words = re.findall(r"[a-z]+", text.lower().replace("'", ""))
    allowed = _YES_FILLER | {w.lower() for w in also}
    return bool(words) and words[0] in _YES_WORDS and set(words[1:]) <= allowed


@dataclass
class Context:
    """Everything a handler may use while it handles one incoming message."""

    msg: Incoming
    db: Session
    now: dt.datetime  # UTC, read once per message so every rule sees the same instant
    services: Services
    participant: Participant | None
    conversation: Conversation | None = None
    form_started: bool = False  # start_flow opened (or restarted) a form for this message
    flows: Mapping[str, Flow] = field(default_factory=dict)  # every form, by name

    @classmethod
    def outside_chat(cls, db: Session, services: Services) -> Context:
        """For work done from the command line rather than for a chat message."""
        return cls(msg=Incoming(platform="cli", account_id="cli", chat_id="cli", private=False),
                   db=db, now=services.clock.now(), services=services, participant=None)

    @property
    def programme(self) -> Programme:
        return self.services.programme

    @property
    def local_now(self) -> dt.datetime:
        return self.now.astimezone(self.programme.timezone)

    @property
    def today(self) -> dt.date:
        return self.local_now.date()

    @property
    def me(self) -> Participant:
        if self.participant is None:  # the router never lets an unknown user this far
            raise RuntimeError("handler needs a linked participant")
        return self.participant

    def start_flow(self, flow: Flow, data: dict[str, Any] | None = None) -> list[Reply]:
        """Begin a multi-step form at its first step that still needs an answer."""
        data = dict(data or {})
        step = flow.first_open_step(self, data)
        if step is None:
            return flow.finish(self, data)
        if self.conversation is None:
            self.conversation = Conversation(
                platform=self.msg.platform,
                account_id=self.msg.account_id,
                chat_id=self.msg.chat_id,
            )
            self.db.add(self.conversation)
        else:
            self._discard()  # the form this one replaces ends unfinished
        self.form_started = True
        self.conversation.flow = flow.name
        self.conversation.step = step
        self.conversation.data = data
        self.conversation.failures = 0
        self.conversation.updated_at = self.now
        return [flow.steps[step].ask(self, data)]

    def end_flow(self) -> None:
        if self.conversation is not None:
            self.db.delete(self.conversation)
            self.conversation = None

    def abandon_flow(self) -> None:
        """End the form unfinished (cancelled, expired, or declined at a step), and undo what
        it kept outside itself."""
        self._discard()
        self.end_flow()

    def _discard(self) -> None:
        if self.conversation is not None:
            flow = self.flows.get(self.conversation.flow)
            if flow is not None and flow.discard is not None:
                flow.discard(self, dict(self.conversation.data))

    def audit(self, action: str, subject: str = "", **detail: Any) -> None:
        # A plain INSERT in this transaction: the ORM would track an object nobody reads.
        self.db.execute(insert(AuditEntry).values(
            at=self.now, actor_id=self.participant.id if self.participant else None,
            action=action, subject=subject, detail=detail))

    def notify(
        self,
        to: Participant,
        text: str,
        *,
        kind: str,
        key: str,
        choices: tuple[Choice, ...] = (),
        due_at: dt.datetime | None = None,
        file: ReplyFile | None = None,
        pointless_after: dt.datetime | None = None,
    ) -> int:
        """Queue a message to someone other than the sender, in this same transaction."""
        return enqueue(self.db, to, text, kind=kind, key=key, now=self.now, choices=choices,
                       due_at=due_at, file=file, pointless_after=pointless_after)


def enqueue(
    db: Session,
    to: Participant,
    text: str,
    *,
    kind: str,
    key: str,
    now: dt.datetime,
    choices: tuple[Choice, ...] = (),
    due_at: dt.datetime | None = None,
    broadcast_id: int | None = None,
    skipped: str | None = None,
    file: ReplyFile | None = None,
    pointless_after: dt.datetime | None = None,
) -> int:
    """Queue one message to one person: see enqueue_each."""
    return enqueue_each(db, [(to, key)], text, kind=kind, now=now, choices=choices,
                        due_at=due_at, broadcast_id=broadcast_id, skipped=skipped, file=file,
                        pointless_after=pointless_after)


_CHUNK = 2000  # stays under every database's limit on bound parameters
# Built once: every message to someone else runs them.
_ACCOUNTS_OF = select(Account.participant_id, Account.platform, Account.chat_id).where(
    Account.participant_id.in_(bindparam("ids", expanding=True)))
_QUEUED_KEYS = select(OutboxMessage.idempotency_key).where(
    OutboxMessage.idempotency_key.in_(bindparam("keys", expanding=True)))


def enqueue_each(
    db: Session,
    recipients: Sequence[tuple[Participant, str]],
    text: str,
    *,
    kind: str,
    now: dt.datetime,
    choices: tuple[Choice, ...] = (),
    due_at: dt.datetime | None = None,
    broadcast_id: int | None = None,
    skipped: str | None = None,
    file: ReplyFile | None = None,
    pointless_after: dt.datetime | None = None,
) -> int:
    """Write one outbox row per linked account of each (person, key); an existing key is
    never queued twice. A few queries for any number of people, so a broadcast to thousands
    is quick.

    Returns how many rows were added. Someone with no linked account gets one failed row,
    so the programme team can see who could not be reached. `skipped` records a message that
    is deliberately not sent (a reminder gone stale while the bot was down), with the reason.
    """
    ids = [person.id for person, _ in recipients]
    accounts: dict[int, list[tuple[str, str]]] = {}
    for start in range(0, len(ids), _CHUNK):
        for person_id, platform, chat in db.execute(_ACCOUNTS_OF,
                                                    {"ids": ids[start:start + _CHUNK]}):
            accounts.setdefault(person_id, []).append((platform, chat))
    wanted: dict[str, tuple[int, str, str]] = {}
    for person, key in recipients:
        for platform, chat in accounts.get(person.id) or [(UNREACHABLE, "")]:
            wanted[f"{key}@{platform}:{chat}"] = (person.id, platform, chat)
    keys = list(wanted)
    existing: set[str] = set()
    for start in range(0, len(keys), _CHUNK):
        existing.update(db.scalars(_QUEUED_KEYS, {"keys": keys[start:start + _CHUNK]}))
    stored_choices = [[c.label, c.action_id, c.value] for c in choices]
    rows = []
    for row_key, (person_id, platform, chat) in wanted.items():
        if row_key in existing:
            continue
        status, reason = ("failed", UNLINKED) if platform == UNREACHABLE \
            else ("pending", "")
        if skipped:
            status, reason = "skipped", skipped
        rows.append({"idempotency_key": row_key, "kind": kind, "participant_id": person_id,
                     "platform": platform, "chat_id": chat, "text": text,
                     "choices": stored_choices, "created_at": now, "due_at": due_at or now,
                     "status": status, "last_error": reason, "attempts": 0,
                     "broadcast_id": broadcast_id, "pointless_after": pointless_after,
                     "file_name": file.name if file else None,
                     "file_type": file.content_type if file else None,
                     "file_data": file.data if file else None})
    if rows:
        db.execute(insert(OutboxMessage), rows)
    return len(rows)


@dataclass(frozen=True)
class ScheduledMessage:
    """A message some rule says is due at a time: a reminder, a nudge. The scheduler turns
    the ones whose time has come into outbox rows; `sps-bot reminders preview` lists them."""

    key: str  # unique per reminder and recipient: the outbox never queues it twice
    to: Participant
    text: str
    due_at: dt.datetime  # UTC
    kind: str  # e.g. "event_reminder"; the opt-out unit for optional reminders
    optional: bool = True  # broadcasts and note-destruction requests cannot be turned off
    choices: tuple[Choice, ...] = ()
    # After this it would be wrong, not just late ("in 1 hour" once the session has begun).
    pointless_after: dt.datetime | None = None


def by_number(db: Session, model: type[T], text: str) -> T | None:
    """The row a user's number names ("12", "#12"); None for anything that is not one (too
    long a number would overflow the database's integer)."""
    number = text.strip().lstrip("#")
    if not (number.isascii() and number.isdigit()) or len(number) > 12:
        return None
    return db.get(model, int(number))


Handler = Callable[[Context, str], list[Reply]]


@dataclass(frozen=True)
class Route:
    """How a message is recognised (command, button or intent) and who may use it."""

    name: str
    handler: Handler
    command: str | None = None  # "/book"
    action: str | None = None  # button action id prefix, e.g. "booking.accept"
    intent: re.Pattern[str] | None = None  # free-text phrasing that means this route
    # The intent is answered in the middle of a form too ("where's my claim?" while booking):
    # only for a route that starts no form of its own, so the form waits where it was.
    aside: bool = False
    roles: frozenset[str] | None = None  # None: any linked participant
    public: bool = False  # usable by people not yet linked
    personal: bool = False  # shows personal data: only in a private chat
    help: str = ""  # one line for /help; empty keeps it out of the list
    usage: str = ""


@dataclass(frozen=True)
class Step:
    """One question of a form.

    `answer` validates the reply (raising Invalid) and records it in `data`; it returns None to
    go on to the next open step, or final replies to end the form there (e.g. "no" to a
    read-back). `needed` says whether the step still needs asking, so a one-line command that
    gave some answers up front skips those steps.
    """

    ask: Callable[[Context, dict[str, Any]], Reply]
    answer: Callable[[Context, dict[str, Any], str], list[Reply] | None]
    example: str
    needed: Callable[[dict[str, Any]], bool] = lambda data: True


@dataclass(frozen=True)
class Flow:
    """A named multi-step form: steps in order, each skipped once its answer is known.

    `finish` runs when no step is left; it does the work and returns the final replies.
    `discard` undoes what the form stored outside itself before it finished (a receipt
    uploaded at one step), when it ends unfinished: "nothing was saved" must be true.
    `gone` says why the form can no longer go on, if what it is about has gone meanwhile
    (the partner a booking is for was erased): checked before each message, it sets the form
    aside rather than let every step fail.
    """

    name: str
    description: str
    steps: dict[str, Step]
    finish: Callable[[Context, dict[str, Any]], list[Reply]]
    discard: Callable[[Context, dict[str, Any]], None] | None = None
    gone: Callable[[Context, dict[str, Any]], str | None] | None = None

    def first_open_step(self, ctx: Context, data: dict[str, Any]) -> str | None:
        return next((name for name, step in self.steps.items() if step.needed(data)), None)
