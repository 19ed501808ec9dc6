"""A fake Slack on 127.0.0.1: the Web API over real HTTP with Slack's JSON shapes, the file
upload and download URLs, response URLs, and a Socket Mode WebSocket server.

Every request is recorded. `fail_next` and `rate_limit_next` make the next calls to a method
answer `{"ok": false, "error": ...}` or HTTP 429 with Retry-After.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import uvicorn
from starlette.types import ASGIApp
from websockets.sync.server import Server, ServerConnection, serve

BOT_USER_ID = "U0SPSBOT"
BOT_ID = "B0SPSBOT"
TEAM_ID = "T0SPS"
APP_ID = "A0SPS"


@dataclass(frozen=True)
class Call:
    method: str  # the Web API method, or "upload", "download", "response_url"
    args: dict[str, Any]  # query, form or JSON fields merged
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class _Canned:
    status: int
    payload: dict[str, Any]
    headers: dict[str, str]


def dm_for(user_id: str) -> str:
    """The DM channel the fake opens with a user: U0AMIRA -> D0AMIRA."""
    return "D" + user_id[1:]


class FakeSlack:
    def __init__(self) -> None:
        self.users: dict[str, dict[str, Any]] = {}
        self.socket_url: str | None = None
        self.views: list[dict[str, Any]] = []  # modals opened, as Slack returned them
        self._calls: list[Call] = []
        self._files: dict[str, bytes] = {}
        self._canned: dict[str, list[_Canned]] = {}
        self._changed = threading.Condition()
        self._ts = itertools.count(1)
        self._views = itertools.count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        daemon=True)

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> FakeSlack:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    # ------------------------------------------------------------------ set-up
    def add_user(self, user_id: str, email: str | None, real_name: str,
                 **fields: Any) -> None:
        profile = {"real_name": real_name, "display_name": "", "email": email}
        self.users[user_id] = {"id": user_id, "team_id": TEAM_ID, "name": user_id.lower(),
                               "deleted": False, "real_name": real_name, "is_bot": False,
                               "is_email_confirmed": True, "profile": profile, **fields}

    def add_file(self, name: str, data: bytes) -> str:
        """Host a file the way Slack does; returns its url_private."""
        path = f"/files-pri/{TEAM_ID}-F{len(self._files) + 1:04d}/{name}"
        self._files[path] = data
        return self.url + path

    def fail_next(self, method: str, error: str, times: int = 1) -> None:
        self._queue(method, _Canned(200, {"ok": False, "error": error}, {}), times)

    def rate_limit_next(self, method: str, retry_after: int, times: int = 1) -> None:
        self._queue(method, _Canned(429, {"ok": False, "error": "ratelimited"},
                                    {"Retry-After": str(retry_after)}), times)

    def _queue(self, method: str, canned: _Canned, times: int) -> None:
        with self._changed:
            self._canned.setdefault(method, []).extend([canned] * times)

    # ------------------------------------------------------------------ inspection
    @property
    def calls(self) -> list[Call]:
        with self._changed:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 10.0) -> list[Call]:
        """Wait (bounded) until `count` calls to `method` have arrived."""
        with self._changed:
            self._changed.wait_for(
                lambda: sum(c.method == method for c in self._calls) >= count, timeout)
        calls = self.calls_to(method)
        assert len(calls) >= count, f"{len(calls)} calls to {method}, wanted {count}"
        return calls

    # ------------------------------------------------------------------ answers
    def _answer(self, method: str, args: dict[str, Any]) -> _Canned:
        with self._changed:
            queued = self._canned.get(method)
            if queued:
                return queued.pop(0)
        answer = self._methods().get(method)
        if answer is None:
            return _Canned(200, {"ok": False, "error": "unknown_method"}, {})
        return _Canned(200, {"ok": True, **answer(args)}, {})

    def _methods(self) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        return {
            "auth.test": lambda _a: {"url": "https://sps-test.slack.com/", "team": "SPS Test",
                                     "user": "sps-bot", "team_id": TEAM_ID,
                                     "user_id": BOT_USER_ID, "bot_id": BOT_ID,
                                     "is_enterprise_install": False},
            "users.info": self._users_info,
            "conversations.open": lambda a: {"no_op": True, "already_open": True,
                                             "channel": {"id": dm_for(str(a["users"]))}},
            "chat.postMessage": self._post_message,
            "chat.update": lambda a: {"channel": a.get("channel"), "ts": a.get("ts"),
                                      "text": a.get("text", "")},
            "views.publish": lambda a: {"view": {"id": "V0HOME", "team_id": TEAM_ID,
                                                 **_as_json(a.get("view"))}},
            "views.open": self._open_view,
            "files.getUploadURLExternal": self._upload_url,
            "files.completeUploadExternal": lambda a: {"files": [
                {"id": f["id"], "title": f.get("title", "")} for f in _as_json(a["files"])]},
            "apps.connections.open": lambda _a: {"url": self.socket_url},
        }

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user")))
        if user is None:
            raise _SlackError("user_not_found")
        return {"user": user}

    def _post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        ts = f"1425283200.{next(self._ts):06d}"
        message = {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "ts": ts,
                   "text": args.get("text", ""), "blocks": _as_json(args.get("blocks")) or []}
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
        return {"channel": args.get("channel"), "ts": ts, "message": message}

    def _open_view(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("trigger_id"):
            raise _SlackError("invalid_trigger_id")
        view = {"id": f"V0FORM{next(self._views):04d}", "team_id": TEAM_ID,
                "state": {"values": {}}, "hash": "1425290800.abc", **_as_json(args["view"])}
        with self._changed:
            self.views.append(view)
        return {"view": view}

    def _upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        file_id = f"F{uuid.uuid4().hex[:10].upper()}"
        return {"upload_url": f"{self.url}/upload/v1/{file_id}", "file_id": file_id}

    # ------------------------------------------------------------------ HTTP
    def _record(self, call: Call) -> None:
        with self._changed:
            self._calls.append(call)
            self._changed.notify_all()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                pass

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def _serve(self) -> None:
                url = urlparse(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                args = _parse(url.query, body, self.headers.get("Content-Type") or "")
                headers = {k: v for k, v in self.headers.items()}
                if url.path.startswith("/api/"):
                    method = url.path.removeprefix("/api/")
                    fake._record(Call(method, args, headers, body))
                    try:
                        canned = fake._answer(method, args)
                    except _SlackError as problem:
                        canned = _Canned(200, {"ok": False, "error": str(problem)}, {})
                    self._reply(canned.status, json.dumps(canned.payload).encode(),
                                "application/json; charset=utf-8", canned.headers)
                elif url.path.startswith("/upload/"):
                    fake._record(Call("upload", {}, headers, body))
                    self._reply(200, f"OK - {len(body)}".encode(), "text/plain")
                elif url.path.startswith("/respond/"):
                    fake._record(Call("response_url", args, headers, body))
                    self._reply(200, b"ok", "text/plain")
                elif url.path in fake._files:
                    fake._record(Call("download", {"path": url.path}, headers, body))
                    self._reply(200, fake._files[url.path], "application/octet-stream")
                else:
                    self._reply(404, b"not found", "text/plain")

            def _reply(self, status: int, payload: bytes, content_type: str,
                       headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

        return Handler

    def response_url(self, name: str = "1") -> str:
        return f"{self.url}/respond/{name}"


class _SlackError(Exception):
    pass


def _parse(query: str, body: bytes, content_type: str) -> dict[str, Any]:
    args: dict[str, Any] = {k: v[0] for k, v in parse_qs(query).items()}
    if content_type.startswith("application/json") and body:
        args.update(json.loads(body))
    elif content_type.startswith("application/x-www-form-urlencoded") and body:
        args.update({k: v[0] for k, v in parse_qs(body.decode()).items()})
    return args


def _as_json(value: Any) -> Any:
    """Form-encoded calls carry lists and objects as JSON strings; JSON calls as values."""
    return json.loads(value) if isinstance(value, str) else value


class FakeSocketMode:
    """Slack's Socket Mode side: says hello, sends envelopes, records the client's acks."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self._connections: list[ServerConnection] = []
        self._changed = threading.Condition()
        self._server: Server = serve(self._session, "127.0.0.1", 0)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeSocketMode:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        port = self._server.socket.getsockname()[1]
        return f"ws://127.0.0.1:{port}/link/?ticket=test-ticket&app_id={APP_ID}"

    def _session(self, connection: ServerConnection) -> None:
        connection.send(json.dumps({"type": "hello", "num_connections": 1,
                                    "debug_info": {"host": "fake-socket-mode"},
                                    "connection_info": {"app_id": APP_ID}}))
        with self._changed:
            self._connections.append(connection)
            self._changed.notify_all()
        for message in connection:
            with self._changed:
                self.received.append(json.loads(message))
                self._changed.notify_all()

    def send_events_api(self, payload: dict[str, Any], retry_attempt: int = 0,
                        timeout: float = 10.0) -> str:
        envelope_id = str(uuid.uuid4())
        with self._changed:
            assert self._changed.wait_for(lambda: self._connections, timeout), "no client"
            connection = self._connections[-1]
        connection.send(json.dumps({
            "envelope_id": envelope_id, "payload": payload, "type": "events_api",
            "accepts_response_payload": False, "retry_attempt": retry_attempt,
            "retry_reason": "timeout" if retry_attempt else "",
        }))
        return envelope_id

    def wait_for_ack(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        def acked() -> dict[str, Any] | None:
            return next((m for m in self.received if m.get("envelope_id") == envelope_id),
                        None)

        with self._changed:
            self._changed.wait_for(lambda: acked() is not None, timeout)
            ack = acked()
        assert ack is not None, f"envelope {envelope_id} was not acknowledged"
        return ack


class LocalAsgiServer:
    """Uvicorn on 127.0.0.1 (a free port) in a thread: the bot's web app over real HTTP."""

    def __init__(self, app: ASGIApp) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> LocalAsgiServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:  # bounded wait for the socket to be listening
            assert self._thread.is_alive() and time.monotonic() < deadline, "uvicorn failed"
            time.sleep(0.005)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    @property
    def url(self) -> str:
        port = self._server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"
