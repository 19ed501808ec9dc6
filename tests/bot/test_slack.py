"""The Slack adapter end to end: signed requests through the real Starlette route into the
real bolt app and router, replies to a fake Slack Web API on 127.0.0.1.

Scenarios are built from `event`/`command`/`press`/`submit` payloads, `deliver()` (the real
delivery worker draining the outbox through SlackSender) and assertions on what the fake
Slack recorded.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import select
from starlette.applications import Starlette

from bot.adapters import slack
from bot.app import App
from bot.config import Settings
from handlers.app import build_router
from handlers.broadcast import create_broadcast
from handlers.messages import Choice, Incoming, Reply, ReplyFile
from handlers.ports import Address, DeliveryError
from handlers.services import Services
from handlers.storage.models import Account, Claim, OutboxMessage, Participant, PeerSession
from scheduler.delivery import DeliveryStats, DeliveryWorker
from tests.conftest import AMIRA, GARETH, JAMES, local
from tests.fakes.slack_api import (
    BOT_USER_ID,
    FakeSlack,
    FakeSocketMode,
    LocalAsgiServer,
    dm_for,
)

SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-bot-token"
APP_TOKEN = "xapp-test-app-token"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "slack"
GUEST = "U0GUEST"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


class Work(ThreadPoolExecutor):
    """Bolt's listener executor, made waitable: `settle()` returns once all work is done."""

    def __init__(self) -> None:
        super().__init__(max_workers=4)
        self._futures: list[Future[Any]] = []
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future = super().submit(fn, *args, **kwargs)
        with self._lock:
            self._futures.append(future)
        return future

    def settle(self, timeout: float = 10.0) -> None:
        with self._lock:
            pending = [f for f in self._futures if not f.done()]
        done, not_done = wait(pending, timeout)
        assert not not_done, "Slack listeners did not finish"


class Spy:
    """Wraps the router to see exactly which Incoming the adapter built."""

    def __init__(self, router: Any) -> None:
        self.router = router
        self.seen: list[Incoming] = []

    def handle(self, msg: Incoming) -> list[Reply]:
        self.seen.append(msg)
        return self.router.handle(msg)


class Harness:
    def __init__(self, fake: FakeSlack, services: Services, db_url: str) -> None:
        self.fake = fake
        self.settings = Settings.from_env({
            "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_APP_TOKEN": APP_TOKEN, "SLACK_API_URL": fake.api_url,
            "DATABASE_URL": db_url})
        self.router = Spy(build_router(services))
        self.app = App(self.settings, services.uow.engine, services, self.router)  # type: ignore[arg-type]
        self.work = Work()
        self.bolt = slack.build_slack_app(self.app, executor=self.work)
        self.web = LocalAsgiServer(Starlette(routes=slack.web_routes(self.app,
                                                                     slack_app=self.bolt)))
        self.http = httpx.Client()
        self._ids = 0

    # ------------------------------------------------------------------ requests
    def post(self, body: str, content_type: str, *, secret: str = SECRET,
             timestamp: int | None = None, headers: dict[str, str] | None = None
             ) -> httpx.Response:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
        response = self.http.post(self.web.url + "/slack/events", content=body.encode(), headers={
            "Content-Type": content_type, "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": signature, **(headers or {})})
        self.work.settle()
        return response

    def event(self, name: str, *, text: str | None = None, user: str | None = None,
              event_id: str | None = None, **post: Any) -> httpx.Response:
        return self.post(json.dumps(self.event_body(name, text=text, user=user,
                                                    event_id=event_id)),
                         "application/json", **post)

    def event_body(self, name: str, *, text: str | None = None, user: str | None = None,
                   event_id: str | None = None) -> dict[str, Any]:
        body = fixture(name)
        self._ids += 1
        body["event_id"] = event_id or f"Ev0TEST{self._ids:05d}"
        event = body["event"]
        if text is not None:
            event["text"] = text
        if user is not None:
            event["user"] = user
            if event.get("channel", "").startswith("D"):
                event["channel"] = dm_for(user)
        return body

    def command(self, text: str, *, user: str = "U0AMIRA", channel: str | None = None
                ) -> httpx.Response:
        form = fixture("command_sps")
        self._ids += 1
        form.update(text=text, user_id=user, channel_id=channel or dm_for(user),
                    trigger_id=f"1425290800.{self._ids}.trigger",
                    response_url=self.fake.response_url(f"command-{self._ids}"))
        return self.post(urlencode(form), "application/x-www-form-urlencoded")

    def press(self, posted: dict[str, Any], label: str, *, user: str = "U0AMIRA"
              ) -> httpx.Response:
        """Press the button with this label on a message the bot posted."""
        payload = fixture("block_actions")
        self._ids += 1
        button = next(element for block in posted["blocks"] if block["type"] == "actions"
                      for element in block["elements"] if element["text"]["text"] == label)
        channel = posted["channel"]
        payload["user"]["id"] = user
        payload["channel"]["id"] = channel
        payload["container"].update(channel_id=channel, message_ts="1425283200.000009")
        payload["message"].update(ts="1425283200.000009", text=posted["text"],
                                  blocks=posted["blocks"])
        payload["trigger_id"] = f"1425290900.{self._ids}.trigger"
        payload["response_url"] = self.fake.response_url(f"action-{self._ids}")
        payload["actions"] = [{**payload["actions"][0], **{
            k: button[k] for k in ("action_id", "value", "text")}}]
        return self.post(urlencode({"payload": json.dumps(payload)}),
                         "application/x-www-form-urlencoded")

    def submit(self, opened: dict[str, Any], answers: dict[str, str], *,
               user: str = "U0AMIRA") -> httpx.Response:
        """Fill in and submit a modal the bot opened, the way Slack reports its state."""
        payload = fixture("view_submission")
        values: dict[str, Any] = {}
        for block in opened["blocks"]:
            name = block.get("block_id")
            if block["type"] != "input" or name not in answers:
                continue
            kind, answer = block["element"]["type"], answers[name]
            if kind == "static_select":
                option = next(o for o in block["element"]["options"] if o["value"] == answer)
                state = {"selected_option": option}
            else:
                state = {{"datepicker": "selected_date", "timepicker": "selected_time"}.get(
                    kind, "value"): answer}
            values[name] = {name: {"type": kind, **state}}
        payload["user"]["id"] = user
        payload["view"].update(id=opened["id"], callback_id=opened["callback_id"],
                               blocks=opened["blocks"], state={"values": values})
        return self.post(urlencode({"payload": json.dumps(payload)}),
                         "application/x-www-form-urlencoded")

    def deliver(self) -> DeliveryStats:
        """One run of the real delivery worker, sending due outbox rows to the fake Slack."""
        sender = slack.SlackSender.from_settings(self.settings)
        services = self.app.services
        return DeliveryWorker(services.uow, {"slack": sender}, services.clock).run_once()

    # ------------------------------------------------------------------ replies
    def posted(self, count: int = 1) -> list[dict[str, Any]]:
        return [call.args for call in self.fake.wait_for("chat.postMessage", count)]

    def in_dm(self, user: str) -> list[dict[str, Any]]:
        """What the bot has posted in this user's DM so far (listeners have settled)."""
        return [call.args for call in self.fake.calls_to("chat.postMessage")
                if call.args["channel"] == dm_for(user)]

    def opened_view(self) -> dict[str, Any]:
        [view] = self.fake.views
        return view


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        server.add_user("U0AMIRA", AMIRA, "Dr Amira Khan")
        server.add_user("U0JAMES", JAMES, "Dr James Okafor")
        server.add_user("U0GARETH", GARETH, "Gareth Davies")
        server.add_user(GUEST, "someone@elsewhere.example", "Sam Guest")
        yield server


@pytest.fixture
def harness(fake: FakeSlack, services: Services, db_url: str) -> Iterator[Harness]:
    h = Harness(fake, services, db_url)
    with h.web, h.http:
        yield h
    h.work.shutdown(wait=True)


# ---------------------------------------------------------------------- conversations
def test_unknown_member_asks_in_dm_and_gets_an_answer_with_its_source(harness: Harness):
    response = harness.event("event_message_im", user=GUEST, text="Will expenses be paid?")

    assert response.status_code == 200
    [reply] = harness.posted()
    assert reply["channel"] == dm_for(GUEST)
    assert "Source:" in reply["text"]
    [seen] = harness.router.seen
    assert (seen.platform, seen.account_id, seen.chat_id, seen.private) == (
        "slack", GUEST, dm_for(GUEST), True)
    assert seen.verified_email == "someone@elsewhere.example"
    assert seen.event_id and seen.event_id.startswith("Ev0TEST")
    [lookup] = harness.fake.calls_to("users.info")
    assert lookup.headers["Authorization"] == f"Bearer {BOT_TOKEN}"


def test_member_with_registered_slack_email_is_linked_on_first_contact(harness: Harness):
    assert harness.command("whoami").status_code == 200
    [reply] = harness.posted()
    assert reply["channel"] == dm_for("U0AMIRA")
    assert "You're Dr Amira Khan" in reply["text"]

    with harness.app.services.uow() as db:
        account = db.scalars(select(Account).where(Account.account_id == "U0AMIRA")).one()
        assert (account.platform, account.chat_id) == ("slack", dm_for("U0AMIRA"))
        assert account.participant.email == AMIRA

    harness.command("")  # `/sps` alone is help; the email lookup is cached
    assert harness.router.seen[-1].text == "/help"
    assert len(harness.fake.calls_to("users.info")) == 1
    assert len(harness.fake.calls_to("conversations.open")) == 1


def test_a_mention_in_a_channel_is_answered_in_its_thread(harness: Harness):
    harness.event("event_app_mention")

    [reply] = harness.posted()
    assert reply["channel"] == "C0GENERAL"
    assert reply["thread_ts"] == "1425290500.000200"
    seen = harness.router.seen[-1]
    assert seen.text == "when is the next development day?"
    assert seen.private is False
    assert "development day" in reply["text"].lower()


def test_a_personal_question_in_a_channel_is_answered_in_the_dm(harness: Harness):
    harness.event("event_app_mention", text="<@U0SPSBOT> /sessions")
    notice, private = harness.posted(2)
    assert notice["channel"] == "C0GENERAL" and "private message" in notice["text"]
    assert private["channel"] == dm_for("U0AMIRA") and private.get("thread_ts") is None
    assert "Your sessions with Dr James Okafor" in private["text"]


def test_a_button_press_round_trips_to_the_router(harness: Harness):
    harness.event("event_message_im", text="what is the wifi password")
    [fallback] = harness.posted()
    assert any(block["type"] == "actions" for block in fallback["blocks"])

    assert harness.press(fallback, "Ask the programme team").status_code == 200

    replies = harness.posted(2)
    assert "passed your question to the programme team" in replies[1]["text"]
    seen = harness.router.seen[-1]
    assert seen.action_id == "faq.escalate" and seen.action_value.isdigit()
    [update] = harness.fake.calls_to("chat.update")  # the pressed row is replaced in the DM
    assert not any(block["type"] == "actions" for block in update.args["blocks"])


def test_a_command_outside_the_dm_answers_privately_through_the_response_url(
        harness: Harness):
    harness.command("help", channel="C0GENERAL")

    [answer] = harness.fake.wait_for("response_url")
    body = json.loads(answer.body)
    assert body["response_type"] == "ephemeral"
    assert "/sps ask QUESTION" in body["text"]  # commands shown the way Slack users type them
    assert not harness.fake.calls_to("chat.postMessage")
    assert harness.router.seen[-1].private is False


def test_the_home_tab_is_published(harness: Harness):
    harness.event("event_app_home_opened")

    [published] = harness.fake.wait_for("views.publish")
    view = published.args["view"]
    assert published.args["user_id"] == "U0AMIRA"
    assert view["type"] == "home" and view["blocks"]
    assert harness.router.seen[-1].text == "/home"
    assert "Next: Development day 1: Wednesday 18 March 2015" in json.dumps(view)


def test_a_shared_file_becomes_an_attachment_fetched_with_the_bot_token(
        harness: Harness, fake: FakeSlack):
    body = harness.event_body("event_file_share")
    url = fake.add_file("receipt.pdf", b"%PDF-1.4 receipt")
    body["event"]["files"][0].update(url_private=url, url_private_download=url, size=16)
    harness.post(json.dumps(body), "application/json")

    attachment = harness.router.seen[-1].attachment
    assert attachment is not None
    assert (attachment.name, attachment.content_type, attachment.size) == (
        "receipt.pdf", "application/pdf", 16)
    assert attachment.fetch() == b"%PDF-1.4 receipt"
    [download] = fake.calls_to("download")
    assert download.headers["Authorization"] == f"Bearer {BOT_TOKEN}"


def test_a_file_over_10_mb_is_refused_before_fetching(harness: Harness, fake: FakeSlack):
    body = harness.event_body("event_file_share")
    body["event"]["files"][0].update(url_private=fake.add_file("big.pdf", b"x"),
                                     size=11 * 1024 * 1024)
    body["event"]["files"][0].pop("url_private_download")
    harness.post(json.dumps(body), "application/json")

    attachment = harness.router.seen[-1].attachment
    assert attachment is not None
    with pytest.raises(ValueError, match="too large"):
        attachment.fetch()
    assert not fake.calls_to("download")


# ---------------------------------------------------------------------- delivery guarantees
def test_a_retried_event_is_acknowledged_and_answered_once(harness: Harness):
    body = json.dumps(harness.event_body("event_message_im"))
    first = harness.post(body, "application/json")
    retry = harness.post(body, "application/json",
                         headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "timeout"})

    assert (first.status_code, retry.status_code) == (200, 200)
    assert len(harness.router.seen) == 2
    assert len(harness.fake.calls_to("chat.postMessage")) == 1


def test_the_request_url_challenge_is_answered(harness: Harness):
    response = harness.post(json.dumps({"token": "legacy", "challenge": "c0ffee",
                                        "type": "url_verification"}), "application/json")
    assert response.status_code == 200 and response.json() == {"challenge": "c0ffee"}


@pytest.mark.parametrize("change", ["forged", "stale"])
def test_forged_or_stale_requests_are_rejected_and_nothing_runs(harness: Harness, change: str):
    body = json.dumps(harness.event_body("event_message_im"))
    if change == "forged":
        response = harness.post(body, "application/json", secret="not-the-secret")
    else:
        response = harness.post(body, "application/json", timestamp=int(time.time()) - 600)

    assert response.status_code == 401
    assert harness.router.seen == []
    assert not [c for c in harness.fake.calls if c.method != "auth.test"]


def test_live_replies_retry_rate_limits_and_connection_errors(harness: Harness):
    # Not exercised over HTTP: the SDK adds up to a second of jitter to every Retry-After.
    kinds = {type(handler) for handler in harness.bolt.client.retry_handlers}
    assert kinds == {RateLimitErrorRetryHandler, ConnectionErrorRetryHandler}
    sender_client = slack.web_client(harness.settings, retry_rate_limits=False)
    assert {type(h) for h in sender_client.retry_handlers} == {ConnectionErrorRetryHandler}
    assert harness.bolt.client.base_url == harness.fake.api_url


def test_no_token_reaches_the_logs(harness: Harness, caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.DEBUG):
        harness.event("event_message_im")
        harness.command("whoami")
    assert BOT_TOKEN not in caplog.text and SECRET not in caplog.text


# ---------------------------------------------------------------------- the Sender port
def test_sender_opens_the_dm_and_sends_buttons_and_files(harness: Harness, fake: FakeSlack):
    sender = slack.SlackSender.from_settings(harness.settings)
    reply = Reply("*Your sessions*\n- Monday\n- Tuesday", choices=(Choice("Cancel", "cancel"),),
                  file=ReplyFile("sessions.ics", "text/calendar", b"BEGIN:VCALENDAR"))
    sender.send(Address("slack", "U0AMIRA"), reply)

    [opened] = fake.calls_to("conversations.open")
    assert opened.args["users"] == "U0AMIRA"
    [message] = fake.calls_to("chat.postMessage")
    assert message.args["channel"] == dm_for("U0AMIRA")
    assert message.args["text"] == "*Your sessions*\n\u2022 Monday\n\u2022 Tuesday"
    button = message.args["blocks"][-1]["elements"][0]
    assert button["action_id"] == "sps:0" and json.loads(button["value"]) == ["cancel", ""]
    [upload] = fake.calls_to("upload")
    assert upload.body == b"BEGIN:VCALENDAR"
    [complete] = fake.calls_to("files.completeUploadExternal")
    assert complete.args["channel_id"] == dm_for("U0AMIRA")


def test_sender_maps_slack_errors_to_delivery_errors(harness: Harness, fake: FakeSlack):
    sender = slack.SlackSender.from_settings(harness.settings)
    address = Address("slack", "D0AMIRA")

    fake.rate_limit_next("chat.postMessage", retry_after=7)
    with pytest.raises(DeliveryError) as limited:
        sender.send(address, Reply("hello"))
    assert limited.value.retry_after == 7.0 and not limited.value.permanent

    for error in ("account_inactive", "channel_not_found", "is_archived", "cannot_dm_bot"):
        fake.fail_next("chat.postMessage", error)
        with pytest.raises(DeliveryError) as gone:
            sender.send(address, Reply("hello"))
        assert gone.value.permanent, error

    fake.fail_next("chat.postMessage", "internal_error")
    with pytest.raises(DeliveryError) as flaky:
        sender.send(address, Reply("hello"))
    assert not flaky.value.permanent and flaky.value.retry_after is None
    assert len(fake.calls_to("chat.postMessage")) == 6  # no hidden retries or sleeps


def test_sender_reports_network_errors_as_transient(fake: FakeSlack):
    with FakeSlack() as gone:
        url = gone.api_url  # a port that will be closed
    sender = slack.SlackSender(WebClient(token=BOT_TOKEN, base_url=url, retry_handlers=[]))
    with pytest.raises(DeliveryError) as failed:
        sender.send(Address("slack", "D0AMIRA"), Reply("hello"))
    assert not failed.value.permanent and BOT_TOKEN not in failed.value.reason


# ---------------------------------------------------------------------- Socket Mode
def test_socket_mode_acknowledges_the_envelope_and_replies(harness: Harness, fake: FakeSlack):
    with FakeSocketMode() as socket_mode:
        fake.socket_url = socket_mode.url
        handler = slack.socket_mode_handler(harness.app, slack_app=harness.bolt)
        handler.connect()
        try:
            envelope_id = socket_mode.send_events_api(harness.event_body("event_message_im"))
            ack = socket_mode.wait_for_ack(envelope_id)
            [reply] = fake.wait_for("chat.postMessage")
        finally:
            handler.close()

    assert ack == {"envelope_id": envelope_id}
    assert reply.args["channel"] == "D0AMIRA" and "Source:" in reply.args["text"]
    [opened] = fake.calls_to("apps.connections.open")
    assert opened.headers["Authorization"] == f"Bearer {APP_TOKEN}"


# ---------------------------------------------------------------------- translation
def test_light_markup_becomes_mrkdwn():
    assert slack.mrkdwn("*Sessions*\n- one\n- two <!channel> & co") == (
        "*Sessions*\n\u2022 one\n\u2022 two &lt;!channel&gt; &amp; co")
    assert slack.mrkdwn("Send /help, or /link CODE. See https://x.org/a and 24/7") == (
        "Send /sps help, or /sps link CODE. See https://x.org/a and 24/7")


@pytest.mark.parametrize(("typed", "command"), [
    ("", "/help"), ("help", "/help"), ("ask will I be paid?", "/ask will I be paid?"),
    ("book", "/book"), ("answer 3 yes", "/answer 3 yes"), ("/whoami", "/whoami"),
])
def test_sps_subcommands_map_to_router_commands(typed: str, command: str):
    assert slack.command_text(typed) == command


def test_slack_text_is_read_as_typed():
    assert slack.plain_text(f"<@{BOT_USER_ID}> hi <@U0JAMES> see <https://x.org|the site> "
                            "&lt;3 &amp; <#C0GENERAL|general>", BOT_USER_ID) == (
        "hi @U0JAMES see the site <3 & #general")


def test_long_replies_are_split_into_sections_within_slack_limits():
    reply = Reply("\n".join(f"line {n} " + "x" * 90 for n in range(100)),
                  choices=tuple(Choice(f"Choice {n}", "pick", str(n)) for n in range(30)))
    blocks = slack.blocks_for(reply)
    sections = [b for b in blocks if b["type"] == "section"]
    actions = [b for b in blocks if b["type"] == "actions"]
    assert all(len(b["text"]["text"]) <= 3000 for b in sections) and len(sections) >= 4
    assert [len(b["elements"]) for b in actions] == [25, 5]
    ids = [e["action_id"] for b in actions for e in b["elements"]]
    assert len(set(ids)) == 30


# ---------------------------------------------------------------------- scenarios
def test_a_booking_reaches_the_partner_through_the_outbox_and_comes_back_accepted(
        harness: Harness, fake: FakeSlack):
    harness.command("whoami", user="U0JAMES")  # James links by his Slack email
    harness.command("book 10 April 2pm 3h virtual")
    [proposal] = harness.in_dm("U0AMIRA")
    assert "Propose to Dr James Okafor: Friday 10 April 2015, 14:00 to 17:00" in proposal["text"]
    harness.press(proposal, "Yes, send it")
    assert "Sent to Dr James Okafor" in harness.in_dm("U0AMIRA")[-1]["text"]
    assert len(harness.in_dm("U0JAMES")) == 1  # the proposal is not a reply to Amira

    assert harness.deliver().sent == 1
    request = harness.in_dm("U0JAMES")[-1]
    assert "Dr Amira Khan proposes a peer session" in request["text"]
    harness.press(request, "Accept", user="U0JAMES")

    booked = harness.in_dm("U0JAMES")[-1]
    assert booked["text"].startswith("Booked: Friday 10 April 2015")
    [upload] = fake.calls_to("upload")
    assert upload.body.startswith(b"BEGIN:VCALENDAR")
    [complete] = fake.calls_to("files.completeUploadExternal")
    assert complete.args["channel_id"] == dm_for("U0JAMES")
    assert json.loads(complete.args["files"])[0]["title"].endswith(".ics")

    before = len(harness.in_dm("U0AMIRA"))
    assert harness.deliver().sent == 1
    [accepted] = harness.in_dm("U0AMIRA")[before:]
    assert accepted["text"].startswith("Dr James Okafor accepted: Friday 10 April 2015")
    assert harness.deliver().sent == 0
    with harness.app.services.uow() as db:
        assert db.scalars(select(PeerSession.status)).all() == ["booked"]


def test_a_claim_over_the_cap_through_the_form_continues_with_buttons_in_the_dm(
        harness: Harness, fake: FakeSlack):
    harness.app.services.clock.set(local(2015, 9, 17))  # after every development day
    harness.command("claim")

    [opened] = fake.calls_to("views.open")
    assert opened.args["trigger_id"].endswith(".trigger")
    view = harness.opened_view()
    assert view["callback_id"] == "sps:form:claim" and not harness.router.seen
    days = next(b for b in view["blocks"] if b.get("block_id") == "day")["element"]["options"]
    assert [(o["text"]["text"], o["value"]) for o in days] == [
        (f"{e.place}, {e.date.day} {e.date:%B}", f"{e.date.day} {e.date:%B}")
        for e in harness.app.services.programme.development_days]

    assert harness.submit(view, {"day": "8 July", "amount": "150"}).status_code == 200
    seen = harness.router.seen[-1]
    assert (seen.text, seen.chat_id, seen.private) == ("/claim 8 July £150", "D0AMIRA", True)
    [over] = harness.in_dm("U0AMIRA")
    assert "£150 is over the £100 cap" in over["text"]
    labels = [e["text"]["text"] for b in over["blocks"] if b["type"] == "actions"
              for e in b["elements"]]
    assert labels == ["Claim £100", "Ask for an exception", "Cancel"]

    harness.press(over, "Claim £100")
    harness.press(harness.in_dm("U0AMIRA")[-1], "Skip")  # the receipt can come later
    confirm = harness.in_dm("U0AMIRA")[-1]
    assert confirm["text"].startswith("Claim £100 for accommodation for Development day 2")
    harness.press(confirm, "Yes, submit")

    assert harness.in_dm("U0AMIRA")[-1]["text"].startswith("Submitted: #")
    with harness.app.services.uow() as db:
        [claim] = db.scalars(select(Claim)).all()
        assert (claim.amount_pence, claim.event_id, claim.exceptional) == (
            10000, "dev-day-leeds", False)


def test_the_booking_form_becomes_the_one_line_command(harness: Harness):
    harness.command("book")
    view = harness.opened_view()
    lengths = next(b for b in view["blocks"] if b.get("block_id") == "length")
    rules = harness.app.services.programme.sessions
    values = [o["value"] for o in lengths["element"]["options"]]
    assert (values[0], values[-1]) == (f"{rules.min_hours.normalize():f}h",
                                       f"{rules.max_hours.normalize():f}h")

    harness.submit(view, {"date": "2015-04-10", "time": "14:00", "length": "3h",
                          "mode": "face to face", "place": "Leeds General\nInfirmary"})

    assert harness.router.seen[-1].text == (
        "/book 10 April 2015 14:00 3h face to face at Leeds General Infirmary")
    [proposal] = harness.in_dm("U0AMIRA")
    assert "Friday 10 April 2015, 14:00 to 17:00, face to face at Leeds General Infirmary" \
        in proposal["text"]


@pytest.mark.parametrize(("typed", "channel"), [
    ("claim 8 July £95", None),  # a command with its details needs no form
    ("claim", "C0GENERAL"),  # outside the DM the router says where to claim
])
def test_forms_open_only_for_the_bare_command_in_the_dm(
        harness: Harness, fake: FakeSlack, typed: str, channel: str | None):
    harness.command(typed, channel=channel)
    assert not fake.calls_to("views.open")
    assert harness.router.seen[-1].text == f"/{typed}"


def test_a_form_that_cannot_open_falls_back_to_the_conversation(
        harness: Harness, fake: FakeSlack):
    harness.app.services.clock.set(local(2015, 9, 17))  # after every development day
    fake.fail_next("views.open", "expired_trigger_id")
    harness.command("claim")

    assert harness.router.seen[-1].text == "/claim"
    assert harness.in_dm("U0AMIRA")[-1]["text"] == "Which development day is the claim for?"


def test_a_broadcast_reaches_each_slack_member_once(harness: Harness):
    for user in ("U0AMIRA", "U0JAMES", "U0GARETH"):
        harness.command("whoami", user=user)
    sent_before = len(harness.fake.calls_to("chat.postMessage"))
    services = harness.app.services
    with services.uow() as db:
        gareth = db.scalars(select(Participant).where(Participant.email == GARETH)).one()
        _, people = create_broadcast(db, services.programme, gareth, "everyone",
                                     "Development day 2 moves to the Leeds Met Hotel.", None,
                                     services.clock.now())
    assert people == 7

    stats = harness.deliver()

    posts = harness.fake.calls_to("chat.postMessage")[sent_before:]
    assert sorted(p.args["channel"] for p in posts) == ["D0AMIRA", "D0GARETH", "D0JAMES"]
    assert {p.args["text"] for p in posts} == {"Development day 2 moves to the Leeds Met Hotel."}
    assert (stats.sent, stats.failed) == (3, 0)
    assert harness.deliver().sent == 0
    assert len(harness.fake.calls_to("chat.postMessage")) == sent_before + 3
    with services.uow() as db:
        statuses = db.scalars(select(OutboxMessage.status)
                              .where(OutboxMessage.kind == "broadcast")).all()
        assert Counter(statuses) == {"sent": 3, "failed": 4}  # four people never linked


def test_form_answers_become_one_line_commands():
    def state(**answers: dict[str, Any]) -> dict[str, Any]:
        return {name: {name: answer} for name, answer in answers.items()}

    assert slack.claim_line(state(
        day={"type": "static_select", "selected_option": {"value": "8 July"}},
        amount={"type": "plain_text_input", "value": " £95.50 "})) == "/claim 8 July £95.50"
    assert slack.book_line(state(
        date={"type": "datepicker", "selected_date": "2015-04-10"},
        time={"type": "timepicker", "selected_time": "14:00"},
        length={"type": "static_select", "selected_option": {"value": "2.5h"}},
        mode={"type": "static_select", "selected_option": {"value": "virtual"}},
        place={"type": "plain_text_input", "value": None})) == (
        "/book 10 April 2015 14:00 2.5h virtual")
