"""One router for every platform: who is this, may they, which feature, one transaction."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import traceback
import unicodedata
import uuid
from collections.abc import Callable, Iterable
from dataclasses import replace

from sqlalchemy import and_, bindparam, null, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, joinedload

from handlers.core import Context, Flow, Invalid, Route, said_yes
from handlers.identity import link_account, role_group
from handlers.messages import CANCEL, Choice, Incoming, Reply, reply_from_json, reply_to_json
from handlers.services import Services
from handlers.storage.models import Account, Conversation, Participant, ProcessedEvent

log = logging.getLogger("sps.router")

MAX_TEXT = 4000
FAILURES_BEFORE_HELP = 3
CANCEL_WORDS = {"cancel", "stop", "quit", "exit", "never mind", "nevermind"}
# Kept in a form's data while a reply beside it also offers buttons: a typed yes or no then
# could answer either question, and taking it as the form's could submit a claim the person
# meant to keep open, or drop one they meant to send.
ASIDE_CHOICES = "_aside_choices"
_NO_WORDS = {"no", "n", "nope", "nah"}
APOLOGY = (
    "Sorry, something went wrong on my side and nothing was changed. "
    "Please try again in a moment."
)


class Router:
    def __init__(
        self,
        services: Services,
        routes: Iterable[Route],
        flows: Iterable[Flow],
        fallback: Route,
        aside: Callable[[Context, str], list[Reply] | None] | None = None,
    ) -> None:
        """`fallback` takes free text outside a form; `aside` may answer a message that does
        not fit the form in progress (a question asked mid-form), returning None if not."""
        self.services = services
        self.routes = list(routes)
        self.flows = {flow.name: flow for flow in flows}
        self.fallback = fallback
        self.aside = aside
        self._commands = {r.command: r for r in self.routes if r.command}
        self._actions = [r for r in self.routes if r.action]
        self._intents = [r for r in self.routes if r.intent]

    # ------------------------------------------------------------------ entry point
    def handle(self, msg: Incoming, *, keep_until_sent: bool = False) -> list[Reply]:
        """Handle one message in one transaction; an unexpected error changes nothing.

        With `keep_until_sent` (and an event id), the replies are stored with the event
        record in that transaction, until the adapter calls `replies_sent`: a repeat of the
        event gets them again, and `unsent_replies` lists them after a crash."""
        request_id = uuid.uuid4().hex[:12]
        problem = _reject_input(msg)
        if problem:
            log.info("input refused", extra={"request_id": request_id, "reason": problem[0]})
            return [Reply(problem[1])]
        msg = _clean(msg)
        try:
            with self.services.uow() as db:
                now = self.services.clock.now()
                if msg.event_id and not _first_delivery(db, msg, now):
                    log.info("repeat ignored", extra={"request_id": request_id,
                                                      "platform": msg.platform})
                    if not keep_until_sent:
                        return []
                    record = db.get(ProcessedEvent, (msg.platform, msg.event_id))
                    return [reply_from_json(r) for _chat, r in (record.unsent_replies or [])] \
                        if record else []
                participant, conversation = self._identify(db, msg, now)
                ctx = Context(msg=msg, db=db, now=now, services=self.services,
                              participant=participant, conversation=conversation,
                              flows=self.flows)
                replies = self._dispatch(ctx)
                if msg.event_id and keep_until_sent and replies:
                    # Each with the chat it belongs in: a personal reply to something asked
                    # in a group goes to the private chat the handling moved to.
                    db.execute(update(ProcessedEvent).where(
                        ProcessedEvent.platform == msg.platform,
                        ProcessedEvent.event_id == msg.event_id).values(unsent_replies=[
                            [ctx.msg.chat_id if r.private_only else msg.chat_id,
                             reply_to_json(r)] for r in replies]))
            log.info("handled", extra={"request_id": request_id, "platform": msg.platform,
                                       "replies": len(replies)})
            return replies
        except Exception as exc:  # the user gets an apology; the log gets no personal data
            # Exception messages can quote SQL parameters or user text: log where, not what.
            log.error("handler failed", extra={"request_id": request_id,
                                               "error": type(exc).__name__,
                                               "where": _frames(exc)})
            return [Reply(APOLOGY)]

    def replies_sent(self, platform: str, event_id: str) -> None:
        """The adapter has sent an event's replies: forget them (they may hold personal
        data, and only unsent ones are worth keeping)."""
        with self.services.uow() as db:
            db.execute(update(ProcessedEvent).where(
                ProcessedEvent.platform == platform, ProcessedEvent.event_id == event_id)
                .values(unsent_replies=null()))  # SQL NULL, not JSON null

    def unsent_replies(self, platform: str) -> list[tuple[str, list[tuple[str, Reply]]]]:
        """(event id, [(chat id, reply)]) committed but never sent, e.g. before a crash."""
        with self.services.uow() as db:
            rows = db.scalars(select(ProcessedEvent).where(
                ProcessedEvent.platform == platform,
                ProcessedEvent.unsent_replies.is_not(None)).order_by(ProcessedEvent.handled_at))
            return [(r.event_id, [(chat, reply_from_json(data))
                                  for chat, data in r.unsent_replies or []]) for r in rows]

    # ------------------------------------------------------------------ identity
    def _identify(self, db: Session, msg: Incoming,
                  now: dt.datetime) -> tuple[Participant | None, Conversation | None]:
        """Who is writing, and their form in progress in this chat: one query for a linked
        account, as this runs for every message."""
        row = db.execute(_WHO_AND_FORM, {"platform": msg.platform, "account": msg.account_id,
                                         "chat": msg.chat_id}).first()
        if row is not None:
            account, form = row
            if msg.private and account.chat_id != msg.chat_id:
                account.chat_id = msg.chat_id  # their DM moved (e.g. a reinstalled app)
            return account.participant, form
        conversation = db.get(Conversation, (msg.platform, msg.account_id, msg.chat_id))
        if msg.verified_email:
            participant = db.scalars(
                select(Participant).where(Participant.email == msg.verified_email.lower())
            ).first()
            if participant is not None:
                link_account(db, participant, msg, now)
                return participant, conversation
        return None, conversation

    # ------------------------------------------------------------------ dispatch
    def _dispatch(self, ctx: Context) -> list[Reply]:
        msg = ctx.msg
        notes: list[Reply] = []
        ctx.conversation = self._unexpired(ctx, notes)

        if msg.action_id:
            return notes + self._on_action(ctx, msg.action_id, msg.action_value)

        text = msg.text
        if not text and msg.attachment:
            if ctx.conversation:
                return notes + self._continue_flow(ctx, "")
            # not read, let alone kept: nothing was asking for it
            return notes + [Reply("I wasn't expecting a file, so I haven't kept it. To add a "
                                  "receipt to a claim, open /claims and press Add receipt; to "
                                  "make a claim, send /claim.")]
        if text.startswith("/"):
            command, _, args = text.partition(" ")
            command = command.lower().split("@", 1)[0]  # Telegram's /cmd@botname
            if command == "/cancel":
                return notes + self._cancel(ctx)
            route = self._commands.get(command)
            if route is None:
                return notes + [Reply(f"I don't know the command {command[:40]}. "
                                      "Send /help to see what I can do.")]
            return notes + self._beside_form(ctx, route, args.strip())

        if ctx.conversation is not None:
            if text.lower().strip(" .!") in CANCEL_WORDS:
                return notes + self._cancel(ctx)
            return notes + self._continue_flow(ctx, text)

        for route in self._intents:
            assert route.intent is not None
            if route.intent.search(text) and self._allowed(ctx, route) is None:
                return notes + self._run(ctx, route, text)
        return notes + self._run(ctx, self.fallback, text)

    def _on_action(self, ctx: Context, action_id: str, value: str) -> list[Reply]:
        if action_id == "cancel":
            return self._cancel(ctx)
        if action_id == "answer":
            if ctx.conversation is None:
                return [Reply("That form has already finished or expired. To start again, "
                              "send its command (/help lists them).")]
            _settle_aside(ctx.conversation)  # the form's own button says which it answers
            return self._continue_flow(ctx, value)
        for route in self._actions:
            assert route.action is not None
            if action_id == route.action or action_id.startswith(route.action + "."):
                return self._beside_form(ctx, route, value)  # a button is a command
        return [Reply("That button is no longer active. Send /help to see what I can do.")]

    def _beside_form(self, ctx: Context, route: Route, args: str) -> list[Reply]:
        """A command or a button: run it, and if a form was open, it waits and is asked
        again after (see _after_command)."""
        if ctx.conversation is not None:
            _settle_aside(ctx.conversation)  # a button pressed says which question it answers
        form = _snapshot(ctx.conversation)
        chat = ctx.msg.chat_id
        replies = self._run(ctx, route, args)
        if form is None or ctx.msg.chat_id != chat:  # no form, or answered elsewhere
            return replies
        before, after = self._after_command(ctx, form)
        if after and (offered := [c for reply in replies for c in reply.choices]):
            assert ctx.conversation is not None
            ctx.conversation.data = {**ctx.conversation.data, ASIDE_CHOICES: [
                [c.label, c.action_id, c.value] for c in offered]}
        return before + replies + after

    def _run(self, ctx: Context, route: Route, args: str) -> list[Reply]:
        refusal = self._allowed(ctx, route)
        if refusal is not None:
            return [refusal]
        if route.personal and not ctx.msg.private:
            return self._in_private(ctx, route, args)
        return route.handler(ctx, args)

    def _in_private(self, ctx: Context, route: Route, args: str) -> list[Reply]:
        """Asked in a shared chat: handle it as if asked in the person's private chat (any
        form continues there), mark every reply for that chat, and say so where they asked."""
        # They were identified by this very account; its chat_id is their private chat (or,
        # if they have only ever written in shared chats, their user id, which adapters DM).
        account = ctx.db.scalars(select(Account).where(
            Account.participant_id == ctx.me.id, Account.platform == ctx.msg.platform)).one()
        ctx.msg = replace(ctx.msg, chat_id=account.chat_id, private=True)
        ctx.conversation = ctx.db.get(Conversation, (ctx.msg.platform, ctx.msg.account_id,
                                                     ctx.msg.chat_id))
        replies = route.handler(ctx, args)
        return [Reply("That involves personal details, so I've answered you in a private "
                      "message.")] + [replace(r, private_only=True) for r in replies]

    def _allowed(self, ctx: Context, route: Route) -> Reply | None:
        """The one place where access rules live: linked and role (the private-chat rule is
        in _run, which moves personal answers to the person's private chat)."""
        if ctx.participant is None and not route.public:
            return Reply(
                "I don't know who you are yet, so I can only answer questions about the "
                "programme. To use everything else, ask the programme team for a link code "
                "and send /link CODE."
            )
        if route.roles is not None and (ctx.participant is None
                                        or ctx.participant.role not in route.roles):
            return Reply(f"Sorry, only {role_group(route.roles)} can do that.")
        return None

    # ------------------------------------------------------------------ conversations
    def _unexpired(self, ctx: Context, notes: list[Reply]) -> Conversation | None:
        """The form in progress, unless it expired (then it is dropped, with a note)."""
        conversation = ctx.conversation
        if conversation is None:
            return None
        idle_limit = ctx.programme.retention.conversation_idle
        flow = self.flows.get(conversation.flow)
        if flow is None or ctx.now - conversation.updated_at > idle_limit:
            ctx.abandon_flow()
            what = flow.description if flow else "form"
            notes.append(Reply(f"(Your unfinished {what} had expired, so I set it aside. "
                               "Nothing from it was saved.)"))
            return None
        if flow.gone is not None and (reason := flow.gone(ctx, dict(conversation.data))):
            ctx.abandon_flow()
            notes.append(Reply(f"(I set your unfinished {flow.description} aside: {reason} "
                               "Nothing from it was saved.)"))
            return None
        return conversation

    def _continue_flow(self, ctx: Context, text: str) -> list[Reply]:
        conversation = ctx.conversation
        assert conversation is not None
        flow = self.flows[conversation.flow]
        step = flow.steps[conversation.step]
        if (offered := _settle_aside(conversation)) and _bare_yes_or_no(text):
            # "Cancel" beside "Yes, cancel it" must say what it cancels
            form_choices = tuple(
                replace(c, label=f"Cancel the {flow.description}")
                if c.action_id == CANCEL.action_id else c
                for c in step.ask(ctx, dict(conversation.data)).choices)
            conversation.data = {**conversation.data, ASIDE_CHOICES: offered}  # still open
            return [Reply("Two questions are waiting, so please press a button to say which "
                          "you mean.", choices=tuple(Choice(*c) for c in offered) + form_choices)]
        data = dict(conversation.data)  # a copy: a refused answer must leave no trace
        try:
            final = step.answer(ctx, data, text)
        except Invalid as problem:
            conversation.updated_at = ctx.now
            if problem.keep:
                conversation.data = {**conversation.data, **problem.keep}
            aside = self._intent_aside(ctx, text) or (self.aside(ctx, text) if self.aside
                                                        else None)
            if aside is not None:  # answered on the side; the form waits, nothing counted
                return [*aside, _back_to(ctx, flow, conversation)]
            conversation.failures += 1
            # The step's own buttons again ("Yes, send it", "Claim £100"), or at least Cancel.
            choices = step.ask(ctx, dict(conversation.data)).choices
            if not any(choice.action_id == CANCEL.action_id for choice in choices):
                choices += (CANCEL,)
            if conversation.failures >= FAILURES_BEFORE_HELP:
                return [Reply(f"{problem} Here is what I need: {step.example}\n"
                              "Or send /cancel to stop; nothing has been saved.",
                              choices=choices)]
            return [Reply(str(problem), choices=choices)]
        if final is not None:  # declined at a step ("no" to a read-back)
            ctx.abandon_flow()
            return final
        next_step = flow.first_open_step(ctx, data)
        if next_step is None:
            ctx.end_flow()
            return flow.finish(ctx, data)
        conversation.data = data
        conversation.step = next_step
        conversation.failures = 0
        conversation.updated_at = ctx.now
        return [flow.steps[next_step].ask(ctx, data)]

    def _intent_aside(self, ctx: Context, text: str) -> list[Reply] | None:
        """Plain words for something the form does not hold ("where's my claim?" while
        booking), when the step could not take them as its answer."""
        for route in self._intents:
            assert route.intent is not None
            if route.aside and route.intent.search(text) and self._allowed(ctx, route) is None:
                return self._run(ctx, route, text)
        return None

    def _cancel(self, ctx: Context) -> list[Reply]:
        if ctx.conversation is None:
            return [Reply("There is nothing to cancel.")]
        description = self.flows[ctx.conversation.flow].description
        ctx.abandon_flow()
        return [Reply(f"Cancelled your {description}. Nothing from it was saved.")]

    def _after_command(self, ctx: Context, form: tuple[str, str, str]
                       ) -> tuple[list[Reply], list[Reply]]:
        """A command sent mid-form leaves the form where it was and, after its own reply,
        asks the form's question again; only a command that starts another form replaces it
        (one form per chat), said before that form's first question."""
        flow = self.flows[form[0]]
        if ctx.conversation is None:  # the command closed it (erasure, say)
            return [], []
        if ctx.form_started:
            if _snapshot(ctx.conversation) == form:
                return [], []  # the same form afresh, where it already was: nothing lost
            return [Reply(f"(That replaces your unfinished {flow.description}: nothing from "
                          "it was saved.)")], []
        return [], [_back_to(ctx, flow, ctx.conversation)]

    def commands_for(self, participant: Participant | None) -> list[Route]:
        """The commands this person may use, for /help and platform command menus."""
        usable = []
        for route in self.routes:
            if not route.command or not route.help:
                continue
            if participant is None and not route.public:
                continue
            if route.roles is not None and (participant is None
                                            or participant.role not in route.roles):
                continue
            usable.append(route)
        return usable


# Built once: constructing a statement costs more than running it on this hot path.
_WHO_AND_FORM = (
    select(Account, Conversation).options(joinedload(Account.participant))
    .outerjoin(Conversation, and_(Conversation.platform == Account.platform,
                                  Conversation.account_id == Account.account_id,
                                  Conversation.chat_id == bindparam("chat")))
    .where(Account.platform == bindparam("platform"),
           Account.account_id == bindparam("account"))
)


def _back_to(ctx: Context, flow: Flow, conversation: Conversation) -> Reply:
    """The form's open question again, after a reply about something else."""
    again = flow.steps[conversation.step].ask(ctx, dict(conversation.data))
    return replace(again, text=f"Back to your {flow.description}: {again.text}")


def _settle_aside(conversation: Conversation) -> list[list[str]] | None:
    """Take the buttons a reply beside the form offered out of its data, returning them."""
    if ASIDE_CHOICES not in conversation.data:
        return None
    data = dict(conversation.data)
    offered = data.pop(ASIDE_CHOICES)
    conversation.data = data
    return offered


def _bare_yes_or_no(text: str) -> bool:
    return said_yes(text) or text.lower().strip(" .!") in _NO_WORDS


def _snapshot(conversation: Conversation | None) -> tuple[str, str, str] | None:
    """Which form, at which step, with which answers: enough to tell if a command changed it."""
    if conversation is None:
        return None
    return conversation.flow, conversation.step, json.dumps(conversation.data, sort_keys=True)


def _first_delivery(db: Session, msg: Incoming, now: dt.datetime) -> bool:
    """Record the event id; False if it was handled before. Committed with the handling, so
    a crash before commit lets the redelivery through and a crash after it does not."""
    assert msg.event_id is not None
    # ON CONFLICT DO NOTHING: on PostgreSQL a retry racing the original waits for its commit
    # and then inserts nothing, instead of failing on the unique key.
    insert = postgresql_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    inserted = db.execute(insert(ProcessedEvent).values(
        platform=msg.platform, event_id=msg.event_id, handled_at=now)
        .on_conflict_do_nothing().returning(ProcessedEvent.event_id)).scalar()
    return inserted is not None


# ---------------------------------------------------------------------- input hygiene
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def _reject_input(msg: Incoming) -> tuple[str, str] | None:
    """Input no handler should see, with the polite reply it gets instead."""
    text = msg.text
    if msg.action_id or msg.attachment:
        return None
    if not text.strip():
        return ("empty", "I didn't get any text. Please send that again, ask me a question, "
                "or send /help.")
    if len(text) > MAX_TEXT:
        return ("too_long", f"That message is too long for me ({len(text):,} characters). "
                f"Please keep it under {MAX_TEXT:,}.")
    unreadable = sum(1 for ch in text if _CONTROL.match(ch) or ch == "\ufffd")
    if unreadable > max(3, len(text) // 10):
        return ("binary", "I can only read plain text, and that looked like a file or "
                "garbled characters. Please type your message.")
    return None


def _clean(msg: Incoming) -> Incoming:
    text = unicodedata.normalize("NFC", _CONTROL.sub("", msg.text)).replace("\ufffd", "")
    return replace(msg, text=" ".join(text.split()) if "\n" not in text else text.strip())


def _frames(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)[-4:]
    return " < ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}:{f.name}"
                      for f in reversed(frames))
