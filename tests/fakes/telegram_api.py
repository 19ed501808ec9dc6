"""A fake Telegram Bot API on 127.0.0.1 that speaks the real HTTP/JSON protocol.

It answers `/bot<TOKEN>/<method>` and `/file/bot<TOKEN>/<path>` the way api.telegram.org does
(the `{"ok": ..., "result": ...}` envelope, form-encoded or multipart requests), keeps a queue
of scripted updates confirmed by getUpdates' `offset`, records every call, and can be told to
fail: 429 with `retry_after`, 403 for a blocked chat, a dropped connection, or a call held
open so a test can kill the client in the middle of it.
"""

from __future__ import annotations

import copy
import email.parser
import email.policy
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "telegram"
BOT_USER = {"id": 7000000001, "is_bot": True, "first_name": "SPS assistant",
            "username": "sps_test_bot", "can_join_groups": True,
            "can_read_all_group_messages": False, "supports_inline_queries": False}
BLOCKED = "Forbidden: bot was blocked by the user"


@dataclass
class Call:
    method: str
    params: dict[str, str]  # form values as sent: JSON-encoded where not plain strings
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # field: (name, bytes)
    at: float = field(default_factory=time.monotonic)

    def json(self, name: str) -> Any:
        return json.loads(self.params[name])

    @property
    def chat_id(self) -> int | None:
        return int(self.params["chat_id"]) if "chat_id" in self.params else None


@dataclass
class _Failure:
    method: str
    chat_id: int | None
    times: int | None  # None: for ever
    status: int
    description: str
    retry_after: int | None = None
    drop: bool = False  # close the connection without answering: a network error


class FakeTelegram:
    def __init__(self, token: str = "123456:TEST-token-for-the-fake", *,
                 first_update_id: int = 990, poll_wait: float = 0.05) -> None:
        self.token = token
        self.poll_wait = poll_wait  # how long an empty getUpdates waits for a new update
        self.calls: list[Call] = []
        self.queued_at: dict[int, float] = {}  # update_id -> when the test queued it
        self.webhook: str | None = None
        self._updates: list[dict[str, Any]] = []
        self._ids = itertools.count(first_update_id)
        self._message_ids = itertools.count(1000)
        self._files: dict[str, tuple[str, bytes]] = {}
        self._failures: list[_Failure] = []
        self._holds: dict[tuple[str, int], tuple[threading.Event, threading.Event]] = {}
        self._changed = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> FakeTelegram:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        for _reached, release in self._holds.values():
            release.set()
        self._server.shutdown()
        self._server.server_close()

    @property
    def api_url(self) -> str:
        """What TELEGRAM_API_URL would be: the token and method are appended to it."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/bot"

    # ------------------------------------------------------------------ scripting
    def push(self, update: dict[str, Any]) -> int:
        """Queue an update (its update_id is assigned here) and return its id."""
        with self._changed:
            update_id = next(self._ids)
            update = {**update, "update_id": update_id}
            self._updates.append(update)
            self.queued_at[update_id] = time.monotonic()
            self._changed.notify_all()
            return update_id

    def add_file(self, data: bytes, file_path: str) -> str:
        file_id = f"file-{len(self._files) + 1}"
        self._files[file_id] = (file_path, data)
        return file_id

    def fail(self, method: str, *, status: int, description: str,
             chat_id: int | None = None, times: int | None = 1,
             retry_after: int | None = None) -> None:
        self._failures.append(_Failure(method, chat_id, times, status, description,
                                       retry_after))

    def block(self, chat_id: int) -> None:
        """The user behind this chat blocked the bot: every send there fails with 403."""
        for method in ("sendMessage", "sendDocument"):
            self.fail(method, status=403, description=BLOCKED, chat_id=chat_id, times=None)

    def flood(self, method: str, retry_after: int, times: int = 1) -> None:
        self.fail(method, status=429, description=f"Too Many Requests: retry after "
                  f"{retry_after}", retry_after=retry_after, times=times)

    def drop(self, method: str, times: int = 1) -> None:
        self._failures.append(_Failure(method, None, times, 0, "", drop=True))

    def hold(self, method: str, nth: int) -> threading.Event:
        """Record the nth call of `method`, then keep it unanswered until `release()`.
        The returned event is set once that call has arrived."""
        reached, release = threading.Event(), threading.Event()
        self._holds[(method, nth)] = (reached, release)
        return reached

    def release(self) -> None:
        for _reached, release in self._holds.values():
            release.set()

    # ------------------------------------------------------------------ inspection
    def calls_to(self, method: str) -> list[Call]:
        with self._changed:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Wait (bounded) until `condition()` holds; re-checked after every call."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 0.1))
        return True

    def pending(self) -> list[int]:
        with self._changed:
            return [u["update_id"] for u in self._updates]

    # ------------------------------------------------------------------ the API
    def _record(self, call: Call) -> None:
        with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    def _failure_for(self, call: Call) -> _Failure | None:
        with self._changed:
            for failure in self._failures:
                if failure.method != call.method or failure.times == 0:
                    continue
                if failure.chat_id is not None and failure.chat_id != call.chat_id:
                    continue
                if failure.times is not None:
                    failure.times -= 1
                return failure
        return None

    def _hold_for(self, call: Call) -> threading.Event | None:
        nth = sum(1 for c in self.calls_to(call.method))
        pair = self._holds.get((call.method, nth))
        if pair is None:
            return None
        pair[0].set()
        return pair[1]

    def answer(self, call: Call) -> Any:
        """The `result` for a successful call (raises _ApiError for an API error)."""
        method, p = call.method, call.params
        if method == "getMe":
            return BOT_USER
        if method == "getUpdates":
            return self._get_updates(call)
        if method in ("sendMessage", "sendDocument"):
            message: dict[str, Any] = {
                "message_id": next(self._message_ids), "date": int(time.time()),
                "from": BOT_USER, "chat": _chat(int(p["chat_id"]))}
            if method == "sendMessage":
                message["text"] = p["text"]
            else:
                name, data = call.files["document"]
                message["document"] = {"file_id": f"sent-{len(data)}",
                                       "file_unique_id": "sent", "file_name": name,
                                       "file_size": len(data)}
            return message
        if method == "getFile":
            if p["file_id"] not in self._files:
                raise _ApiError(400, "Bad Request: invalid file_id")
            path, data = self._files[p["file_id"]]
            return {"file_id": p["file_id"], "file_unique_id": p["file_id"],
                    "file_size": len(data), "file_path": path}
        if method == "setWebhook":
            self.webhook = p["url"]
            return True
        if method == "deleteWebhook":
            self.webhook = None
            return True
        if method in ("answerCallbackQuery", "setMyCommands", "editMessageReplyMarkup"):
            return True
        raise _ApiError(404, "Not Found")

    def _get_updates(self, call: Call) -> list[dict[str, Any]]:
        if self.webhook is not None:
            raise _ApiError(409, "Conflict: can't use getUpdates method while webhook is "
                            "active; use deleteWebhook to delete the webhook first")
        offset = int(call.params.get("offset", "0"))
        limit = int(call.params.get("limit", "100"))
        # Telegram's long poll, kept short: a test never waits out the client's timeout.
        wait = min(float(call.params.get("timeout", "0")), self.poll_wait)
        deadline = time.monotonic() + wait
        with self._changed:
            # Asking from `offset` confirms everything before it: it is never sent again.
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while not self._updates and time.monotonic() < deadline:
                self._changed.wait(deadline - time.monotonic())
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            return copy.deepcopy(self._updates[:limit])

    def download(self, path: str) -> bytes | None:
        for file_path, data in self._files.values():
            if file_path == path:
                return data
        return None


class _ApiError(Exception):
    def __init__(self, status: int, description: str,
                 parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


def _chat(chat_id: int) -> dict[str, Any]:
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": "Someone"}
    return {"id": chat_id, "type": "supergroup", "title": "SPS cohort 2015"}


def _handler_for(fake: FakeTelegram) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like the real API and httpx's pool
        disable_nagle_algorithm = True  # headers and body go out separately: no 40 ms stalls

        def log_message(self, format: str, *args: Any) -> None:  # quiet: no stderr noise
            pass

        def do_GET(self) -> None:
            prefix = f"/file/bot{fake.token}/"
            path = unquote(urlsplit(self.path).path)  # PTB sends the token's ":" as %3A
            data = fake.download(path[len(prefix):]) if path.startswith(prefix) else None
            if data is None:
                self._send(404, b"Not Found", "text/plain")
            else:
                self._send(200, data, "application/octet-stream")

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            path = urlsplit(self.path).path
            prefix = f"/bot{fake.token}/"
            if not path.startswith(prefix):
                self._envelope(_ApiError(401, "Unauthorized"))
                return
            params, files = _parse_body(self.headers.get("Content-Type", ""), body)
            call = Call(path[len(prefix):], params, files)
            failure = fake._failure_for(call)
            fake._record(call)
            release = fake._hold_for(call)
            if release is not None:
                release.wait(timeout=30)
            if failure is not None and failure.drop:
                self.close_connection = True
                self.connection.close()
                return
            if failure is not None:
                parameters = {"retry_after": failure.retry_after} if failure.retry_after \
                    else None
                self._envelope(_ApiError(failure.status, failure.description, parameters))
                return
            try:
                self._envelope(fake.answer(call))
            except _ApiError as error:
                self._envelope(error)

        def _envelope(self, result: Any) -> None:
            if isinstance(result, _ApiError):
                payload: dict[str, Any] = {"ok": False, "error_code": result.status,
                                           "description": result.description}
                if result.parameters:
                    payload["parameters"] = result.parameters
                status = result.status
            else:
                payload, status = {"ok": True, "result": result}, 200
            self._send(status, json.dumps(payload).encode(), "application/json")

        def _send(self, status: int, data: bytes, content_type: str) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client was killed while we held its call
                self.close_connection = True

    return Handler


def _parse_body(content_type: str, body: bytes
                ) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    if content_type.startswith("multipart/form-data"):
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body)
        params: dict[str, str] = {}
        files: dict[str, tuple[str, bytes]] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            data = part.get_payload(decode=True) or b""
            filename = part.get_filename()
            if filename is not None:
                files[str(name)] = (filename, data)
            else:
                params[str(name)] = data.decode()
        return params, files
    if content_type.startswith("application/json"):
        raw = json.loads(body or b"{}")
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}, {}
    return dict(parse_qsl(body.decode(), keep_blank_values=True)), {}


# ---------------------------------------------------------------------- recorded updates
def recorded(name: str, *, user_id: int, chat_id: int | None = None,
             **fields: Any) -> dict[str, Any]:
    """A recorded update from tests/fixtures/telegram/NAME.json with its people and the
    given message fields (text, caption, data, ...) filled in. `chat_id` defaults to the
    user's private chat, whose id Telegram makes equal to the user id."""
    update = json.loads((FIXTURES / f"{name}.json").read_text())
    body = update.get("message") or update["callback_query"]
    message = body.get("message", body)
    body["from"]["id"] = user_id
    message["chat"]["id"] = chat_id if chat_id is not None else user_id
    target = body if "callback_query" in update else message
    for key, value in fields.items():
        target[key] = value
    return update


def text_update(user_id: int, text: str, *, chat_id: int | None = None,
                first_name: str = "Amira") -> dict[str, Any]:
    group = chat_id is not None and chat_id < 0
    update = recorded("message_group" if group else "message_private", user_id=user_id,
                      chat_id=chat_id, text=text)
    update["message"]["from"]["first_name"] = first_name
    return update


def button_update(user_id: int, data: str, *, chat_id: int | None = None) -> dict[str, Any]:
    return recorded("callback_query", user_id=user_id, chat_id=chat_id, data=data)
