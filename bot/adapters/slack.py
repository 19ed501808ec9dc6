"""Slack: Events API over HTTP or Socket Mode, the `/sps` command, buttons, modals, files,
App Home.

Only translation lives here: Slack payloads become `Incoming`, `Reply`s become Slack messages.
Every listener acknowledges first and works after (bolt's `process_before_response=False`):
events are acknowledged by bolt itself, commands and buttons call `ack()` before anything else.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
import urllib.request
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any
from urllib.parse import urlparse

from slack_bolt import App as BoltApp
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.webhook import WebhookClient
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.adapters.text import split_text
from bot.app import App
from bot.config import Settings
from handlers.claims import claimable_days
from handlers.messages import Attachment, Incoming, Reply
from handlers.ports import Address, DeliveryError
from knowledge.programme import Programme

log = logging.getLogger("sps.slack")

PLATFORM = "slack"
SLACK_API_URL = "https://slack.com/api/"
COMMAND = "/sps"
MAX_FILE_BYTES = 10 * 1024 * 1024
BUTTON_ACTION = re.compile(r"^sps:\d+$")
FORM_VIEW = re.compile(r"^sps:form:(?P<command>[a-z]+)$")
# Errors that will not go away by trying again later (the person left, the DM is gone).
PERMANENT_ERRORS = frozenset({"account_inactive", "user_not_found", "channel_not_found",
                              "is_archived", "cannot_dm_bot"})
SECTION_LIMIT = 3000  # Block Kit: characters in one section's text
BUTTONS_PER_BLOCK = 25  # Block Kit: elements in one actions block
BUTTON_LABEL_LIMIT = 75

_SLACK_MARKUP = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")  # <@U1>, <#C1|name>, <url|label>
_COMMAND_MENTION = re.compile(r"(?<![\w/.:])/([a-z][a-z_]*)\b")
_BULLET = re.compile(r"^- ", re.MULTILINE)


# ---------------------------------------------------------------------- clients
def web_client(settings: Settings, *, retry_rate_limits: bool = True) -> WebClient:
    if not settings.slack_bot_token:
        raise ValueError("SLACK_BOT_TOKEN is not set")
    handlers: list[RetryHandler] = [ConnectionErrorRetryHandler()]
    if retry_rate_limits:
        handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
    base_url = settings.slack_api_url or SLACK_API_URL
    return WebClient(token=settings.slack_bot_token.reveal(),
                     base_url=base_url if base_url.endswith("/") else base_url + "/",
                     retry_handlers=handlers)


class _Directory:
    """Who a Slack user is, and the bot's DM with them: asked once per process, then cached."""

    def __init__(self, client: WebClient) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._emails: dict[str, str | None] = {}
        self._dms: dict[str, str] = {}

    def email(self, user_id: str) -> str | None:
        """The member's email as Slack vouches for it; None for bots, deleted members and
        unconfirmed addresses (and only the email: the bot needs nothing else about them)."""
        with self._lock:
            if user_id in self._emails:
                return self._emails[user_id]
        try:
            user: dict[str, Any] = self._client.users_info(user=user_id)["user"]
        except (SlackApiError, SlackClientError, OSError) as exc:
            # Not cached: the next message asks again. Meanwhile they are an unknown guest.
            log.warning("users.info failed", extra={"error": _error_code(exc)})
            return None
        profile = user.get("profile") or {}
        trusted = (not user.get("deleted") and not user.get("is_bot")
                   and user.get("is_email_confirmed", True))
        email = (profile.get("email") or "").lower() or None if trusted else None
        with self._lock:
            self._emails[user_id] = email
        return email

    def dm(self, user_id: str) -> str:
        with self._lock:
            known = self._dms.get(user_id)
        if known is not None:
            return known
        channel: str = self._client.conversations_open(users=user_id)["channel"]["id"]
        with self._lock:
            self._dms[user_id] = channel
        return channel


def _error_code(exc: BaseException) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error") or exc.response.status_code)
    return type(exc).__name__


# ---------------------------------------------------------------------- rendering
def mrkdwn(text: str) -> str:
    """Light markup to Slack mrkdwn. `&<>` are escaped so echoed text cannot ping `<!channel>`;
    Slack's composer takes `/help` for its own command, so commands are shown as `/sps help`."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _COMMAND_MENTION.sub(rf"{COMMAND} \1", text)
    return _BULLET.sub("\u2022 ", text)


def blocks_for(reply: Reply) -> list[dict[str, Any]]:
    """Sections for the text, then buttons. Slack wants action_ids unique within a message,
    so the Choice's own action and value travel in the button's value."""
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": chunk}}
        for chunk in split_text(mrkdwn(reply.text), SECTION_LIMIT)
    ]
    buttons = [
        {"type": "button", "action_id": f"sps:{n}",
         "text": {"type": "plain_text", "text": choice.label[:BUTTON_LABEL_LIMIT]},
         "value": json.dumps([choice.action_id, choice.value])}
        for n, choice in enumerate(reply.choices)
    ]
    for start in range(0, len(buttons), BUTTONS_PER_BLOCK):
        blocks.append({"type": "actions", "elements": buttons[start:start + BUTTONS_PER_BLOCK]})
    return blocks


def plain_text(text: str, bot_user_id: str | None) -> str:
    """Slack message text to what the user typed: the bot's own mention dropped, links and
    mentions to their labels, and Slack's `&amp;` escapes undone."""

    def swap(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if bot_user_id and target == f"@{bot_user_id}":
            return ""
        if label:
            return target[0] + label if target[:1] in ("@", "#") else label
        return target

    text = _SLACK_MARKUP.sub(swap, text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()


def command_text(text: str) -> str:
    """`/sps ask X` -> `/ask X`; `/sps` alone -> `/help`."""
    words = text.strip().lstrip("/")
    return f"/{words}" if words else "/help"


# ---------------------------------------------------------------------- posting
@dataclass(frozen=True)
class _Where:
    """Where replies go. Commands and buttons outside the bot's DM answer through the
    response URL (ephemeral: the bot may not be in that channel); files cannot go there, so
    they go to `channel`, which is then the user's DM."""

    channel: str
    thread_ts: str | None = None
    response_url: str | None = None


def _post(client: WebClient, where: _Where, reply: Reply) -> None:
    if reply.text:
        blocks = blocks_for(reply) if reply.choices else None
        if where.response_url:
            sent = WebhookClient(where.response_url, retry_handlers=client.retry_handlers).send(
                text=mrkdwn(reply.text), blocks=blocks, response_type="ephemeral")
            if sent.status_code != 200:
                log.warning("response_url failed", extra={"status": sent.status_code})
        else:
            client.chat_postMessage(channel=where.channel, thread_ts=where.thread_ts,
                                    text=mrkdwn(reply.text), blocks=blocks)
    if reply.file is not None:
        client.files_upload_v2(channel=where.channel, thread_ts=where.thread_ts,
                               file=reply.file.data, filename=reply.file.name,
                               title=reply.file.name)


class SlackSender:
    """The delivery worker's way into Slack (handlers.ports.Sender)."""

    platform = PLATFORM

    def __init__(self, client: WebClient) -> None:
        self._client = client
        self._directory = _Directory(client)

    @classmethod
    def from_settings(cls, settings: Settings) -> SlackSender:
        # The worker reschedules on `retry_after` itself; the SDK must not sleep on a 429.
        return cls(web_client(settings, retry_rate_limits=False))

    def send(self, address: Address, reply: Reply) -> None:
        try:
            channel = address.chat_id
            if channel.startswith(("U", "W")):  # a user id: their DM with us is opened first
                channel = self._directory.dm(channel)
            _post(self._client, _Where(channel), reply)
        except SlackApiError as exc:
            raise _delivery_error(exc) from exc
        except (SlackClientError, OSError) as exc:
            raise DeliveryError(f"slack: {type(exc).__name__}") from exc


def _delivery_error(exc: SlackApiError) -> DeliveryError:
    error = _error_code(exc)
    if exc.response.status_code == 429 or error == "ratelimited":
        headers = {k.lower(): v for k, v in (exc.response.headers or {}).items()}
        try:
            seconds = float(headers.get("retry-after", 1))
        except ValueError:
            seconds = 1.0
        return DeliveryError("slack: ratelimited", retry_after=seconds)
    return DeliveryError(f"slack: {error}", permanent=error in PERMANENT_ERRORS)


# ---------------------------------------------------------------------- files
def _download(client: WebClient, url: str, declared_size: int) -> bytes:
    if declared_size > MAX_FILE_BYTES:
        raise ValueError(f"file too large ({declared_size:,} bytes; the limit is "
                         f"{MAX_FILE_BYTES:,})")
    host = urlparse(url).hostname or ""
    api_host = urlparse(client.base_url).hostname or ""
    # The bot token goes only to Slack (or the Web API host it is configured to use).
    if not (host == "slack.com" or host.endswith(".slack.com") or host == api_host):
        raise ValueError("file URL is not on Slack")
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {client.token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        data: bytes = response.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"file too large (over {MAX_FILE_BYTES:,} bytes)")
    return data


def _attachment(client: WebClient, event: dict[str, Any]) -> Attachment | None:
    files = event.get("files") or []
    if not files:
        return None
    shared = files[0]  # Incoming carries one file; Slack rarely sends more from a DM
    size = int(shared.get("size") or 0)
    url = shared.get("url_private_download") or shared.get("url_private") or ""
    return Attachment(name=shared.get("name") or "file",
                      content_type=shared.get("mimetype") or "application/octet-stream",
                      size=size, fetch=partial(_download, client, url, size))


# ---------------------------------------------------------------------- forms (modals)
# A form is another way to type a one-line command: its answers become the line the router
# already reads, and every rule stays in the router (it re-asks in the DM when a part is wrong).
def _input(name: str, label: str, element: dict[str, Any], *, optional: bool = False,
           hint: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "input", "block_id": name, "optional": optional,
                             "label": {"type": "plain_text", "text": label},
                             "element": {**element, "action_id": name}}
    if hint:
        block["hint"] = {"type": "plain_text", "text": hint}
    return block


def _select(options: list[tuple[str, str]]) -> dict[str, Any]:
    return {"type": "static_select", "options": [
        {"text": {"type": "plain_text", "text": label[:BUTTON_LABEL_LIMIT]}, "value": value}
        for label, value in options]}


def _modal(command: str, title: str, submit: str, blocks: list[dict[str, Any]]
           ) -> dict[str, Any]:
    return {"type": "modal", "callback_id": f"sps:form:{command}",
            "title": {"type": "plain_text", "text": title},
            "submit": {"type": "plain_text", "text": submit},
            "close": {"type": "plain_text", "text": "Cancel"}, "blocks": blocks}


def claim_form(programme: Programme, today: dt.date) -> dict[str, Any] | None:
    """The days already reached (accommodation is claimed after the stay); None before the
    first, when the conversation says from when a claim can be made."""
    days = [(f"{e.place}, {e.date.day} {e.date:%B}", f"{e.date.day} {e.date:%B}")
            for e in claimable_days(programme, today)]
    if not days:
        return None
    return _modal("claim", "Expense claim", "Next", [
        _input("day", "Development day", _select(days)),
        _input("amount", "One night's bed and breakfast (£)",
               {"type": "plain_text_input", "placeholder": {"type": "plain_text",
                                                            "text": "95.50"}}),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": (
            "I'll answer in our messages, and ask there for anything more (a receipt, or "
            "a reason if you need an exception).")}]},
    ])


def book_form(programme: Programme, today: dt.date) -> dict[str, Any] | None:
    rules = programme.sessions
    steps = int((rules.max_hours - rules.min_hours) * 2) + 1  # half-hour steps
    lengths = [f"{(rules.min_hours + Decimal('0.5') * n).normalize():f}" for n in range(steps)]
    return _modal("book", "Peer session", "Next", [
        _input("date", "Date", {"type": "datepicker"}),
        _input("time", "Start time", {"type": "timepicker"}),
        _input("length", "Length", _select([(f"{h} hour{'' if h == '1' else 's'}", f"{h}h")
                                            for h in lengths])),
        _input("mode", "How", _select([(m.capitalize(), m) for m in rules.modes])),
        _input("place", "Where (face to face)", {"type": "plain_text_input"}, optional=True,
               hint="For example: Leeds General Infirmary, meeting room 2"),
    ])


def _answer_of(values: dict[str, Any], name: str) -> str:
    state = (values.get(name) or {}).get(name) or {}
    chosen = state.get("selected_option") or {}
    answer = (state.get("value") or chosen.get("value") or state.get("selected_date")
              or state.get("selected_time") or "")
    return " ".join(str(answer).split())  # one line: a newline would end the command


def claim_line(values: dict[str, Any]) -> str:
    """`/claim 8 July £150`; the amount box is in pounds, so "150" and "£150" read alike."""
    amount = _answer_of(values, "amount").removeprefix("£").strip()
    return f"/claim {_answer_of(values, 'day')} £{amount}"


def book_line(values: dict[str, Any]) -> str:
    """`/book 10 April 2015 14:00 3h face to face at Leeds General Infirmary`."""
    day = dt.date.fromisoformat(_answer_of(values, "date"))
    parts = ["/book", f"{day.day} {day:%B %Y}", _answer_of(values, "time"),
             _answer_of(values, "length"), _answer_of(values, "mode")]
    place = _answer_of(values, "place")
    if place:
        parts.append(f"at {place}")
    return " ".join(parts)


FORMS: dict[str, tuple[Callable[[Programme, dt.date], dict[str, Any] | None],
                       Callable[[dict[str, Any]], str]]] = {
    "/claim": (claim_form, claim_line),
    "/book": (book_form, book_line),
}


# ---------------------------------------------------------------------- the bolt app
def build_slack_app(app: App, *, client: WebClient | None = None,
                    executor: Executor | None = None) -> BoltApp:
    """The bolt app. `executor` runs the work after each ack (bolt's default: 5 threads);
    tests pass one they can wait on."""
    settings = app.settings
    if not settings.slack_signing_secret:
        raise ValueError("SLACK_SIGNING_SECRET is not set")
    client = client or web_client(settings)
    directory = _Directory(client)
    bolt = BoltApp(name="sps-bot", client=client,
                   signing_secret=settings.slack_signing_secret.reveal(),
                   process_before_response=False, listener_executor=executor)

    def incoming(user_id: str, chat_id: str, private: bool, event_id: str | None,
                 **content: Any) -> Incoming:
        return Incoming(platform=PLATFORM, account_id=user_id, chat_id=chat_id,
                        private=private, verified_email=directory.email(user_id),
                        event_id=event_id, **content)

    def answer(msg: Incoming, where: _Where) -> None:
        for reply in app.router.handle(msg):
            # Personal answers to something asked in a channel go to the person's DM.
            target = _Where(directory.dm(msg.account_id)) \
                if reply.private_only and not msg.private else where
            try:
                _post(client, target, reply)
            except (SlackApiError, SlackClientError, OSError) as exc:
                log.error("reply failed", extra={"error": _error_code(exc)})

    @bolt.event("message")
    def on_direct_message(event: dict[str, Any], body: dict[str, Any],
                          context: dict[str, Any]) -> None:
        # message.im only; edits, deletions and other bots' posts are not messages to us.
        if (event.get("channel_type") != "im" or event.get("bot_id")
                or event.get("subtype") not in (None, "file_share") or not event.get("user")):
            return
        msg = incoming(event["user"], event["channel"], True, body.get("event_id"),
                       text=plain_text(event.get("text") or "", context.get("bot_user_id")),
                       attachment=_attachment(client, event))
        answer(msg, _Where(event["channel"], event.get("thread_ts")))

    @bolt.event("app_mention")
    def on_mention(event: dict[str, Any], body: dict[str, Any],
                   context: dict[str, Any]) -> None:
        if event["channel"].startswith("D") or not event.get("user"):
            return  # a mention in our DM also arrives as message.im
        msg = incoming(event["user"], event["channel"], False, body.get("event_id"),
                       text=plain_text(event.get("text") or "", context.get("bot_user_id")))
        answer(msg, _Where(event["channel"], event.get("thread_ts") or event["ts"]))

    @bolt.command(COMMAND)
    def on_command(ack: Callable[..., None], command: dict[str, Any]) -> None:
        ack()
        user_id = command["user_id"]
        dm = directory.dm(user_id)
        private = command.get("channel_id") == dm
        text = command_text(plain_text(command.get("text") or "", None))
        form = FORMS.get(text.lower())
        programme = app.services.programme
        view = form[0](programme, app.services.clock.now().astimezone(programme.timezone)
                       .date()) if private and form is not None else None
        if view is not None:
            try:
                client.views_open(trigger_id=command["trigger_id"], view=view)
                return
            except (SlackApiError, SlackClientError, OSError) as exc:
                # e.g. the trigger expired: the router asks step by step in the DM instead.
                log.warning("views.open failed", extra={"error": _error_code(exc)})
        msg = incoming(user_id, dm if private else command["channel_id"], private,
                       f"command:{command['trigger_id']}", text=text)
        answer(msg, _Where(dm) if private else _Where(dm, response_url=command["response_url"]))

    @bolt.view(FORM_VIEW)
    def on_form(ack: Callable[..., None], body: dict[str, Any],
                view: dict[str, Any]) -> None:
        ack()  # closes the modal; the router's replies arrive in the DM
        found = FORM_VIEW.match(view.get("callback_id") or "")
        form = FORMS.get(f"/{found['command']}") if found else None
        if form is None:
            return
        user_id = body["user"]["id"]
        dm = directory.dm(user_id)
        msg = incoming(user_id, dm, True, f"view:{view['id']}",
                       text=form[1](view["state"]["values"]))
        answer(msg, _Where(dm))

    @bolt.action(BUTTON_ACTION)
    def on_button(ack: Callable[..., None], body: dict[str, Any],
                  action: dict[str, Any]) -> None:
        ack()
        try:
            action_id, value = json.loads(action.get("value") or "")
        except (ValueError, TypeError):
            log.warning("button without a choice value")
            return
        user_id = body["user"]["id"]
        dm = directory.dm(user_id)
        container = body.get("container") or {}
        channel = (body.get("channel") or {}).get("id") or dm  # the Home tab has no channel
        private = channel == dm
        message = body.get("message") or {}
        if container.get("is_ephemeral"):
            where = _Where(dm, response_url=body.get("response_url"))
        else:
            where = _Where(channel, message.get("thread_ts"))
        if private and message.get("ts") and not container.get("is_ephemeral"):
            _mark_chosen(client, channel, message, action)
        msg = incoming(user_id, channel, private, f"action:{body['trigger_id']}",
                       action_id=str(action_id), action_value=str(value))
        answer(msg, where)

    @bolt.event("app_home_opened")
    def on_home(event: dict[str, Any], body: dict[str, Any]) -> None:
        if event.get("tab") != "home":
            return
        user_id = event["user"]
        channel = event.get("channel") or directory.dm(user_id)
        replies = app.router.handle(incoming(user_id, channel, True, body.get("event_id"),
                                             text="/home"))
        if not replies:
            return  # a repeated delivery
        blocks = [block for reply in replies for block in blocks_for(reply)]
        try:
            client.views_publish(user_id=user_id, view={"type": "home", "blocks": blocks})
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.error("views.publish failed", extra={"error": _error_code(exc)})

    @bolt.error
    def on_error(error: Exception) -> None:
        # Bolt's own handler logs the exception text, which can quote user data.
        log.error("slack listener failed", extra={"error": type(error).__name__})

    return bolt


def _mark_chosen(client: WebClient, channel: str, message: dict[str, Any],
                 action: dict[str, Any]) -> None:
    """In the DM, a pressed button's row is replaced by what was chosen: no second press."""
    label = (action.get("text") or {}).get("text") or "chosen"
    blocks = [b for b in message.get("blocks") or [] if b.get("type") != "actions"]
    blocks.append({"type": "context",
                   "elements": [{"type": "plain_text", "text": f"\u2192 {label}"}]})
    try:
        client.chat_update(channel=channel, ts=message["ts"], text=message.get("text") or label,
                           blocks=blocks)
    except (SlackApiError, SlackClientError, OSError) as exc:
        log.warning("chat.update failed", extra={"error": _error_code(exc)})


# ---------------------------------------------------------------------- transports
def web_routes(app: App, *, slack_app: BoltApp | None = None) -> list[Route]:
    """POST /slack/events for events, commands and interactivity; bolt checks signatures."""
    bolt = slack_app or build_slack_app(app)

    async def events(request: Request) -> Response:
        body = await request.body()
        # dispatch blocks (middleware, waiting for a command's ack): keep it off the loop.
        response = await run_in_threadpool(bolt.dispatch, to_bolt_request(request, body))
        return to_starlette_response(response)

    return [Route("/slack/events", events, methods=["POST"])]


def socket_mode_handler(app: App, *, slack_app: BoltApp | None = None) -> SocketModeHandler:
    if not app.settings.slack_app_token:
        raise ValueError("SLACK_APP_TOKEN is not set (Socket Mode needs an xapp- token)")
    bolt = slack_app or build_slack_app(app)
    return SocketModeHandler(bolt, app.settings.slack_app_token.reveal())


def run_socket_mode(app: App) -> None:
    """Connect out to Slack over a WebSocket and serve until the process is stopped."""
    socket_mode_handler(app).start()
