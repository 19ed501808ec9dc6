"""Telegram: Bot API updates in, Replies out. Translation only; the core decides everything.

Three doors, one translation:
- `run_polling`: our own getUpdates loop (the worker process). It confirms an update to
  Telegram only after the router has committed its handling, so a crash loses nothing.
- `web_routes`: the webhook (the web process), guarded by Telegram's secret-token header.
- `TelegramSender`: the delivery worker's way out (reminders, partner messages, broadcasts).

The bot token is part of every Bot API URL. It is never logged here: log lines carry
exception type names only, errors that leave this module are re-raised with the token
scrubbed and without their original context, and the library's DEBUG logging (which prints
URLs and message bodies) is kept off.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import html
import logging
import re
import threading
import warnings
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from sqlalchemy import BigInteger, cast, func, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    Update,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import Application, CallbackQueryHandler, ContextTypes, MessageHandler, filters
from telegram.warnings import PTBDeprecationWarning

from bot.adapters.text import split_text
from bot.app import App
from bot.config import Settings
from handlers.messages import Attachment, Choice, Incoming, Reply
from handlers.ports import Address, DeliveryError
from handlers.storage.models import ROLES, Account, Participant, ProcessedEvent

log = logging.getLogger("sps.telegram")

PLATFORM = "telegram"
DEFAULT_API_URL = "https://api.telegram.org/bot"
ALLOWED_UPDATES = ("message", "callback_query")  # the only kinds we translate
POLL_TIMEOUT = 30  # seconds Telegram holds an empty getUpdates open (long polling)
MAX_ATTACHMENT = 10 * 1024 * 1024
FETCH_TIMEOUT = 60.0
MAX_TEXT = 4000  # Telegram allows 4096 characters a message; the margin covers emoji
CALLBACK_DATA_LIMIT = 64  # bytes, Telegram's limit
SEPARATOR = "|"
OVERFLOW = "#"
EXPIRED_ACTION = "telegram.expired"  # no route has it: the router says the button is stale
SEND_ATTEMPTS = 5  # a reply that still fails after these is logged and given up
_COMMAND_NAME = re.compile(r"^[a-z0-9_]{1,32}$")  # what setMyCommands accepts
_BOLD = re.compile(r"\*(\S(?:[^*\n]*\S)?)\*")

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


class TelegramSetupError(RuntimeError):
    """Telegram is misconfigured (no or rejected token, missing webhook settings)."""


class AttachmentTooLarge(ValueError):
    pass


# ---------------------------------------------------------------------- building the bot
def file_url(api_url: str) -> str:
    """Where Telegram serves files for this API URL: `.../bot` becomes `.../file/bot` (the
    same layout on api.telegram.org and on a self-hosted Bot API server)."""
    head, slash, last = api_url.rstrip("/").rpartition("/")
    if not slash:
        raise TelegramSetupError("TELEGRAM_API_URL must look like https://host/bot")
    return f"{head}/file/{last}"


def _token(settings: Settings) -> str:
    if not settings.telegram_bot_token:
        raise TelegramSetupError("TELEGRAM_BOT_TOKEN is not set")
    return settings.telegram_bot_token.reveal()


def _api_url(settings: Settings) -> str:
    return settings.telegram_api_url or DEFAULT_API_URL


def _quiet_library_logs() -> None:
    # python-telegram-bot logs every request URL (with the token) and body at DEBUG, and
    # httpx logs URLs at INFO; keep both above that whatever LOG_LEVEL says.
    for name, floor in (("telegram", logging.INFO), ("httpx", logging.WARNING),
                        ("httpcore", logging.WARNING)):
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < floor:
            logger.setLevel(floor)


BRIDGE = "sps.bridge"  # where the Application keeps our bridge, for the poller


def build_telegram_application(app: App, *, sleep: Sleep = asyncio.sleep) -> Application:
    """The python-telegram-bot Application with our handlers; no Updater (see run_polling).

    Nothing touches the network until it is initialised."""
    _quiet_library_logs()
    api_url = _api_url(app.settings)
    application = (Application.builder().token(_token(app.settings)).base_url(api_url)
                   .base_file_url(file_url(api_url)).updater(None).build())
    bridge = _Bridge(app, ChoiceCodec(), Backoff(sleep, attempts=SEND_ATTEMPTS))
    user_content = filters.TEXT | filters.PHOTO | filters.Document.ALL
    # In a private chat anything else (a sticker, a voice note) gets the router's "I didn't
    # get any text"; in a group only text and files reach the router, never service notices.
    private_other = filters.ChatType.PRIVATE & ~filters.StatusUpdate.ALL
    application.add_handler(MessageHandler(
        filters.UpdateType.MESSAGE & (user_content | private_other), bridge.on_message))
    application.add_handler(CallbackQueryHandler(bridge.on_button))
    application.add_error_handler(bridge.on_error)
    application.bot_data[BRIDGE] = bridge
    return application


def _scrubbed(exc: BaseException, token: str) -> str:
    return (str(exc) or type(exc).__name__).replace(token, "**********")[:200]


@asynccontextmanager
async def _running(application: Application) -> AsyncIterator[Application]:
    """Initialise (getMe) and always shut down; a rejected token is reported without it
    (python-telegram-bot puts the token in InvalidToken's message)."""
    try:
        await application.initialize()
    except InvalidToken:
        raise TelegramSetupError("Telegram rejected TELEGRAM_BOT_TOKEN") from None
    try:
        yield application
    finally:
        await application.shutdown()


# ---------------------------------------------------------------------- buttons
class ChoiceCodec:
    """A Choice as callback_data, which Telegram caps at 64 bytes.

    `action_id|value` is used whenever it fits, so the button works in any process and
    after any restart. A longer pair is replaced by `#` + a hash kept in this process's
    bounded memory; pressing such a button after a restart (or one sent by another process)
    reaches the router as an unknown action, which answers that the button is no longer
    active. We chose this over a shared table because the core decides the values and most
    fit; the fix for the rest is shorter values in the core (e.g. a short id for an FAQ
    section), not a second store for the adapter.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._overflow: OrderedDict[str, tuple[str, str]] = OrderedDict()

    def encode(self, choice: Choice) -> str:
        data = f"{choice.action_id}{SEPARATOR}{choice.value}"
        if (len(data.encode()) <= CALLBACK_DATA_LIMIT and SEPARATOR not in choice.action_id
                and not data.startswith(OVERFLOW)):
            return data
        digest = base64.urlsafe_b64encode(hashlib.sha256(data.encode()).digest())
        key = OVERFLOW + digest[:22].decode()  # 132 bits: collisions are not a concern
        self._overflow[key] = (choice.action_id, choice.value)
        self._overflow.move_to_end(key)
        while len(self._overflow) > self.capacity:
            self._overflow.popitem(last=False)
        return key

    def decode(self, data: str) -> tuple[str, str]:
        if data.startswith(OVERFLOW):
            return self._overflow.get(data, (EXPIRED_ACTION, ""))
        action_id, _, value = data.partition(SEPARATOR)
        return action_id, value


# ---------------------------------------------------------------------- replies out
def render(text: str) -> str:
    """Light markup to Telegram HTML: everything escaped first, so no text (a user's
    question quoted back, a name) can break the parse mode; then *bold* and `- ` bullets."""
    lines = []
    for line in html.escape(text, quote=False).split("\n"):
        if line.startswith("- "):
            line = "\u2022 " + line[2:]
        lines.append(_BOLD.sub(r"<b>\1</b>", line))
    return "\n".join(lines)


Attempt = Callable[[Callable[[], Awaitable[object]], str], Awaitable[object]]


async def _once(call: Callable[[], Awaitable[object]], _what: str) -> object:
    return await call()


async def send_reply(bot: Bot, codec: ChoiceCodec, chat_id: int | str, reply: Reply,
                     attempt: Attempt = _once) -> None:
    """One Reply as Telegram messages: text pieces (buttons on the last), then any file.
    `attempt` wraps each API call, so a retry never repeats a piece already sent."""
    markup = InlineKeyboardMarkup(
        [[InlineKeyboardButton(c.label, callback_data=codec.encode(c))] for c in reply.choices]
    ) if reply.choices else None
    pieces = split_text(reply.text, MAX_TEXT)
    for number, piece in enumerate(pieces, start=1):
        await attempt(functools.partial(
            bot.send_message, chat_id, render(piece), parse_mode=ParseMode.HTML,
            reply_markup=markup if number == len(pieces) else None), "sendMessage")
    if reply.file is not None:
        document = InputFile(reply.file.data, filename=reply.file.name)
        await attempt(functools.partial(
            bot.send_document, chat_id, document,
            reply_markup=markup if not pieces else None), "sendDocument")


def _retry_after(exc: RetryAfter) -> float:
    # v22 warns that this becomes a timedelta; accept both without the warning.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value if isinstance(value, int | float) else value.total_seconds()


class Backoff:
    """Retries an API call on network errors (doubling waits up to `cap`) and on flood
    control (waiting what Telegram asks). `sleep` is injected so tests never wait."""

    def __init__(self, sleep: Sleep, *, first: float = 1.0, cap: float = 60.0,
                 attempts: int | None = None,
                 transient: tuple[type[TelegramError], ...] = (NetworkError,)) -> None:
        self.sleep = sleep
        self.first = first
        self.cap = cap
        self.attempts = attempts  # None: for ever (the poller must outlive an outage)
        self.transient = transient

    async def run(self, call: Callable[[], Awaitable[T]], what: str) -> T:
        delay, tries = self.first, 0
        while True:
            try:
                return await call()
            except BadRequest:  # a NetworkError subclass, yet retrying cannot help
                raise
            except (RetryAfter, *self.transient) as exc:
                tries += 1
                if self.attempts is not None and tries >= self.attempts:
                    raise
                if isinstance(exc, RetryAfter):
                    wait = _retry_after(exc)
                else:
                    wait, delay = delay, min(delay * 2, self.cap)
                log.warning("telegram call failed; retrying", extra={
                    "call": what, "error": type(exc).__name__, "wait": wait, "tries": tries})
            await self.sleep(wait)


# ---------------------------------------------------------------------- updates in
class _Bridge:
    """The Application's handlers: translate, hand to the core (in a thread: the core is
    synchronous), send what it returns."""

    def __init__(self, app: App, codec: ChoiceCodec, backoff: Backoff) -> None:
        self.app = app
        self.codec = codec
        self.backoff = backoff

    async def on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        incoming = self.incoming_message(update, context.bot)
        if incoming is not None:
            await self.handle(context.bot, incoming)

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        # Answer first, whatever follows: the user's client spins until we do.
        await self._best_effort(query.answer, "answerCallbackQuery")
        message = query.message
        chat = message.chat if message is not None else None
        action_id, value = self.codec.decode(query.data or "")
        incoming = Incoming(
            platform=PLATFORM, account_id=str(query.from_user.id),
            chat_id=str(chat.id if chat else query.from_user.id),
            private=chat is None or chat.type == ChatType.PRIVATE,
            action_id=action_id, action_value=value, event_id=str(update.update_id))
        if isinstance(message, Message) and message.reply_markup is not None:
            # Buttons are one-shot, as on Slack: a second press cannot repeat the action.
            await self._best_effort(functools.partial(message.edit_reply_markup, None),
                                    "editMessageReplyMarkup")
        await self.handle(context.bot, incoming)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        error = context.error
        log.error("telegram update failed", extra={
            "error": type(error).__name__,
            "update_id": update.update_id if isinstance(update, Update) else None})

    async def handle(self, bot: Bot, incoming: Incoming) -> None:
        # The replies are committed with the handling and forgotten only once sent: a crash
        # in between re-sends them at the next start (send_unsent) or on Telegram's retry.
        replies = await asyncio.to_thread(
            functools.partial(self.app.router.handle, incoming, keep_until_sent=True))
        await self.send_all(bot, incoming.chat_id, incoming.account_id, replies)
        if incoming.event_id:
            await asyncio.to_thread(self.app.router.replies_sent, PLATFORM, incoming.event_id)

    async def send_all(self, bot: Bot, chat_id: str, user_id: str,
                       replies: list[Reply]) -> None:
        for reply in replies:
            # A personal answer to something asked in a group goes to the person's private
            # chat, whose id on Telegram is their user id.
            target = user_id if reply.private_only else chat_id
            try:
                await send_reply(bot, self.codec, target, reply, self.backoff.run)
            except TelegramError as exc:
                # Telegram refused it for good (e.g. blocked); retrying would not help.
                log.error("telegram reply not delivered", extra={"error": type(exc).__name__})

    async def send_unsent(self, bot: Bot) -> None:
        """Replies committed before a crash but never sent: send them now, then forget."""
        for event_id, kept in await asyncio.to_thread(self.app.router.unsent_replies,
                                                      PLATFORM):
            for chat_id, reply in kept:  # each kept with the chat it belongs in
                await self.send_all(bot, chat_id, chat_id, [reply])
            await asyncio.to_thread(self.app.router.replies_sent, PLATFORM, event_id)

    def incoming_message(self, update: Update, bot: Bot) -> Incoming | None:
        message = update.message
        user = message.from_user if message is not None else None
        if message is None or user is None or user.is_bot:
            return None
        private = message.chat.type == ChatType.PRIVATE
        text = message.text or message.caption or ""
        mention = f"@{bot.username}"
        if not private and text.lower().startswith(mention.lower()):
            text = text[len(mention):].lstrip(" ,:")  # "@sps_bot when is..." in a group
        return Incoming(
            platform=PLATFORM, account_id=str(user.id), chat_id=str(message.chat.id),
            private=private, text=text, attachment=self.attachment(message, bot),
            event_id=str(update.update_id))

    def attachment(self, message: Message, bot: Bot) -> Attachment | None:
        if message.photo:
            photo = message.photo[-1]  # the largest size Telegram made
            return Attachment(name=f"photo-{photo.file_unique_id}.jpg",
                              content_type="image/jpeg", size=photo.file_size or 0,
                              fetch=self._fetcher(bot, photo.file_id, photo.file_size or 0))
        document = message.document
        if document is not None:
            return Attachment(name=document.file_name or f"file-{document.file_unique_id}",
                              content_type=document.mime_type or "application/octet-stream",
                              size=document.file_size or 0,
                              fetch=self._fetcher(bot, document.file_id,
                                                  document.file_size or 0))
        return None

    def _fetcher(self, bot: Bot, file_id: str, declared: int) -> Callable[[], bytes]:
        """Bytes on demand, from the core's thread, on the adapter's loop (the bot's HTTP
        client belongs to it). Too large by the declared size: refused before any request."""
        loop = asyncio.get_running_loop()

        def fetch() -> bytes:
            if declared > MAX_ATTACHMENT:
                raise AttachmentTooLarge(f"{declared:,} bytes is over the 10 MB limit")
            future = asyncio.run_coroutine_threadsafe(self._download(bot, file_id), loop)
            return future.result(timeout=FETCH_TIMEOUT)

        return fetch

    async def _download(self, bot: Bot, file_id: str) -> bytes:
        file = await self.backoff.run(functools.partial(bot.get_file, file_id), "getFile")
        if (file.file_size or 0) > MAX_ATTACHMENT:
            raise AttachmentTooLarge(f"{file.file_size:,} bytes is over the 10 MB limit")
        data = bytes(await self.backoff.run(file.download_as_bytearray, "downloadFile"))
        if len(data) > MAX_ATTACHMENT:
            raise AttachmentTooLarge(f"{len(data):,} bytes is over the 10 MB limit")
        return data

    async def _best_effort(self, call: Callable[[], Awaitable[object]], what: str) -> None:
        try:
            await call()
        except TelegramError as exc:  # e.g. "query is too old" after a restart
            log.info("telegram call skipped", extra={"call": what,
                                                     "error": type(exc).__name__})


# ---------------------------------------------------------------------- command menu
def command_menus(app: App) -> tuple[list[BotCommand], dict[str, list[BotCommand]]]:
    """The default menu (what a guest or an ordinary linked participant can use) and, for
    each linked private chat whose person can do more or other (the programme team), theirs.
    Everything comes from the router's own access rules."""
    router = app.router

    def menu(*people: Participant | None) -> list[BotCommand]:
        routes = {r.command: r for who in people for r in router.commands_for(who)}
        commands = []
        for command, route in routes.items():
            name = (command or "").lstrip("/")
            if _COMMAND_NAME.match(name):
                commands.append(BotCommand(name, route.help[:256]))
        return commands

    base = Participant(role=ROLES[0])  # transient, never added: a plain linked peer
    default = menu(None, base)
    per_chat: dict[str, list[BotCommand]] = {}
    with app.services.uow() as db:
        for account in db.scalars(select(Account).where(Account.platform == PLATFORM)):
            own = menu(None, account.participant)
            if own != default:
                per_chat[account.chat_id] = own
    return default, per_chat


async def publish_commands(application: Application, app: App) -> None:
    """setMyCommands for the default scope and each chat whose menu differs. A person who
    links later gets their menu at the next start (or webhook registration)."""
    default, per_chat = await asyncio.to_thread(command_menus, app)
    bot = application.bot
    await bot.set_my_commands(default, scope=BotCommandScopeDefault())
    for chat_id, commands in per_chat.items():
        try:
            await bot.set_my_commands(commands, scope=BotCommandScopeChat(int(chat_id)))
        except TelegramError as exc:  # e.g. the person blocked the bot
            log.warning("command menu not set for a chat", extra={"error": type(exc).__name__})


# ---------------------------------------------------------------------- long polling
def next_offset(app: App) -> int | None:
    """One past the highest update already handled, as recorded by the router in the same
    transaction as the handling; None (everything unconfirmed) for a fresh database."""
    with app.services.uow() as db:
        highest = db.scalar(select(func.max(cast(ProcessedEvent.event_id, BigInteger)))
                            .where(ProcessedEvent.platform == PLATFORM))
    return None if highest is None else int(highest) + 1


def run_polling(app: App, *, stop_after: int | None = None, sleep: Sleep = asyncio.sleep,
                poll_timeout: int = POLL_TIMEOUT) -> int:
    """Poll Telegram until stopped (or `stop_after` updates are handled); returns the count.

    PTB's Updater confirms a batch as soon as it asks for the next one, whether or not the
    batch was handled, so a process killed in between silently drops updates. Here each
    update is handled to the end (router commit, replies sent) before the next getUpdates,
    and the first offset comes from the database, not from memory: after a crash Telegram
    re-sends whatever was not handled, and the router ignores what was.
    """
    token = _token(app.settings)
    try:
        return asyncio.run(_poll(app, stop_after, sleep, poll_timeout))
    except TelegramError as exc:  # fatal (e.g. Forbidden): say why, never with the token
        raise TelegramSetupError(_scrubbed(exc, token)) from None


async def _poll(app: App, stop_after: int | None, sleep: Sleep, poll_timeout: int) -> int:
    application = build_telegram_application(app, sleep=sleep)
    # Conflict: a webhook is still set or another poller runs; both clear up, so keep trying.
    backoff = Backoff(sleep, transient=(NetworkError, Conflict))
    handled = 0
    async with _running(application):
        bot = application.bot
        await backoff.run(functools.partial(bot.delete_webhook, drop_pending_updates=False),
                          "deleteWebhook")
        try:
            await publish_commands(application, app)
        except TelegramError as exc:  # a menu is a nicety: never a reason not to start
            log.warning("command menu not set", extra={"error": type(exc).__name__})
        await application.bot_data[BRIDGE].send_unsent(bot)
        offset = await asyncio.to_thread(next_offset, app)
        log.info("telegram polling", extra={"offset": offset})
        while stop_after is None or handled < stop_after:
            updates = await backoff.run(functools.partial(
                bot.get_updates, offset=offset, timeout=poll_timeout,
                allowed_updates=ALLOWED_UPDATES), "getUpdates")
            for update in updates:
                # process_update awaits our (blocking) handlers: when it returns, the update
                # is handled and its replies sent; handler errors go to on_error.
                await application.process_update(update)
                offset = update.update_id + 1
                handled += 1
                if stop_after is not None and handled >= stop_after:
                    break
    return handled


# ---------------------------------------------------------------------- webhook
def web_routes(app: App) -> list[Route]:
    """POST /telegram/webhook: Telegram's secret-token header checked (403 otherwise, and
    nothing runs), then the update handled before answering 200. A redelivery by Telegram
    is recognised by its update_id and ignored by the router."""
    application = build_telegram_application(app)
    secret = app.settings.telegram_webhook_secret
    expected = secret.reveal().encode() if secret else None
    # The first request initialises the bot (getMe), on the server's own event loop.
    starting = asyncio.Lock()
    started = False

    async def webhook(request: Request) -> Response:
        nonlocal started
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "").encode()
        if expected is None or not hmac.compare_digest(given, expected):
            return Response(status_code=403)
        try:
            data = await request.json()
            if not isinstance(data, dict):
                raise ValueError("not an update")
            async with starting:
                if not started:
                    await application.initialize()
                    started = True
            update = Update.de_json(data, application.bot)
        except (ValueError, KeyError, TypeError):  # not JSON, or not an update
            return Response(status_code=400)
        await application.process_update(update)
        return Response(status_code=200)

    return [Route("/telegram/webhook", webhook, methods=["POST"])]


def register_webhook(app: App) -> None:
    """setWebhook (with the secret) and the command menus; run when the web process starts."""
    settings = app.settings
    if not settings.telegram_webhook_url or not settings.telegram_webhook_secret:
        raise TelegramSetupError("TELEGRAM_WEBHOOK_URL and TELEGRAM_WEBHOOK_SECRET are needed")
    token = _token(settings)

    async def register() -> None:
        application = build_telegram_application(app)
        async with _running(application):
            assert settings.telegram_webhook_url and settings.telegram_webhook_secret
            await application.bot.set_webhook(
                settings.telegram_webhook_url, allowed_updates=ALLOWED_UPDATES,
                secret_token=settings.telegram_webhook_secret.reveal())
            await publish_commands(application, app)

    try:
        asyncio.run(register())
    except TelegramError as exc:
        raise TelegramSetupError(_scrubbed(exc, token)) from None


# ---------------------------------------------------------------------- outbox delivery
_GONE = ("chat not found", "user not found", "peer_id_invalid")


class TelegramSender:
    """The Sender port for the delivery worker: synchronous `send`, DeliveryError on failure.

    It owns a Bot and an event loop of its own (the bot's HTTP client belongs to one loop),
    so it can be called from any thread; calls are serialised. Rate limits are the worker's
    job (its RateLimiter: 30 a second, one a second a chat); this only reports Telegram's
    `retry_after` when Telegram says to slow down.
    """

    platform = PLATFORM

    def __init__(self, settings: Settings) -> None:
        _quiet_library_logs()
        self._token = _token(settings)
        api_url = _api_url(settings)
        self._bot = Bot(self._token, base_url=api_url, base_file_url=file_url(api_url))
        self._codec = ChoiceCodec()
        self._loop = asyncio.new_event_loop()
        self._lock = threading.Lock()

    def send(self, address: Address, reply: Reply) -> None:
        with self._lock:
            try:
                self._loop.run_until_complete(self._send(address.chat_id, reply))
            except RetryAfter as exc:
                raise DeliveryError("Telegram flood control",
                                    retry_after=_retry_after(exc)) from None
            except Forbidden as exc:  # blocked, deactivated, kicked: never going to work
                raise DeliveryError(_scrubbed(exc, self._token), permanent=True) from None
            except BadRequest as exc:
                gone = any(words in str(exc).lower() for words in _GONE)
                raise DeliveryError(_scrubbed(exc, self._token), permanent=gone) from None
            except TelegramError as exc:  # network, timeouts, Telegram's own trouble
                raise DeliveryError(_scrubbed(exc, self._token)) from None

    async def _send(self, chat_id: str, reply: Reply) -> None:
        await self._bot.initialize()  # once: later calls return at once
        await send_reply(self._bot, self._codec, chat_id, reply)

    def close(self) -> None:
        with self._lock:
            self._loop.run_until_complete(self._bot.shutdown())
            self._loop.close()
