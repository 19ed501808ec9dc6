"""The Telegram adapter end to end: real python-telegram-bot code, the real router and a
migrated SQLite database, against a fake Bot API server on 127.0.0.1 (tests/fakes).

Each scenario is one test built from the same few helpers (`push`, `poll`, `replies_to`);
test_telegram_scenarios.py uses them for the booking, claim and broadcast scenarios that also
run the delivery worker.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.adapters.telegram import (
    EXPIRED_ACTION,
    MAX_TEXT,
    ChoiceCodec,
    TelegramSender,
    TelegramSetupError,
    file_url,
    render,
    run_polling,
)
from bot.adapters.text import split_text
from bot.app import App
from bot.config import Settings
from bot.web import build_web_app
from handlers.identity import issue_invite, link_account
from handlers.messages import Choice, Incoming, Reply, ReplyFile
from handlers.ports import Address, DeliveryError
from handlers.storage.models import Account, Participant, ProcessedEvent
from tests.conftest import AMIRA, GARETH
from tests.fakes.telegram_api import (
    FakeTelegram,
    button_update,
    text_update,
)

ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_URL = "https://sps.example.org/telegram/webhook"
WEBHOOK_SECRET = "s3cret-Token_for-tests"
AMIRA_TG = 501  # a Telegram user id, which is also the id of their private chat with us
GROUP = -1001234567890


# ---------------------------------------------------------------------- helpers
@pytest.fixture
def fake():
    with FakeTelegram() as server:
        yield server


def settings_for(fake: FakeTelegram, db_url: str = "sqlite://", token: str | None = None,
                 **extra: str) -> Settings:
    return Settings.from_env({"DATABASE_URL": db_url,
                              "TELEGRAM_BOT_TOKEN": token or fake.token,
                              "TELEGRAM_API_URL": fake.api_url, **extra})


@pytest.fixture
def app(fake, services, router, db_url) -> App:
    return App(settings_for(fake, db_url), services.uow.engine, services, router)


class Sleeps(list):
    """An injected sleep that records instead of waiting."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def poll(app: App, count: int, sleep: Sleeps | None = None, timeout: float = 15) -> int:
    """Run the real polling loop until it has handled `count` updates (bounded)."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["handled"] = run_polling(app, stop_after=count,
                                             sleep=Sleeps() if sleep is None else sleep,
                                             poll_timeout=1)
        except BaseException as exc:  # re-raised in the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"the poller did not handle {count} updates in {timeout}s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["handled"]


def replies_to(fake: FakeTelegram, chat_id: int) -> list[str]:
    return [c.params["text"] for c in fake.calls_to("sendMessage") if c.chat_id == chat_id]


def buttons(fake: FakeTelegram, chat_id: int) -> dict[str, str]:
    """Label -> callback_data of the buttons on the last message to this chat."""
    last = [c for c in fake.calls_to("sendMessage") if c.chat_id == chat_id][-1]
    keyboard = last.json("reply_markup")["inline_keyboard"]
    return {b["text"]: b["callback_data"] for row in keyboard for b in row}


def link_code(services, email: str) -> str:
    with services.uow() as db:
        person = db.scalars(select(Participant).where(Participant.email == email)).one()
        return issue_invite(db, person, services.clock.now())


def link_directly(services, email: str, user_id: int) -> None:
    with services.uow() as db:
        person = db.scalars(select(Participant).where(Participant.email == email)).one()
        link_account(db, person, Incoming(platform="telegram", account_id=str(user_id),
                                          chat_id=str(user_id), private=True),
                     services.clock.now())


def handled_ids(services) -> list[int]:
    with services.uow() as db:
        return sorted(int(e) for e in db.scalars(
            select(ProcessedEvent.event_id).where(ProcessedEvent.platform == "telegram")))


# ---------------------------------------------------------------------- conversations
def test_faq_question_in_a_private_chat(app, fake):
    fake.push(text_update(AMIRA_TG, "Will my travel expenses be paid?"))
    assert poll(app, 1) == 1
    [call] = fake.calls_to("sendMessage")
    assert call.chat_id == AMIRA_TG and call.params["parse_mode"] == "HTML"
    assert "one night accommodation" in call.params["text"]
    assert "Source: The Strategic Peer Support" in call.params["text"]


def test_faq_question_in_a_group_mentioning_the_bot(app, fake):
    fake.push(text_update(AMIRA_TG, "@sps_test_bot will expenses be paid?", chat_id=GROUP))
    fake.push(text_update(AMIRA_TG, "/whoami@sps_test_bot", chat_id=GROUP))
    poll(app, 2)
    answer, refusal = replies_to(fake, GROUP)
    assert "one night accommodation" in answer
    assert "I don't know who you are yet" in refusal
    assert replies_to(fake, AMIRA_TG) == []  # nothing leaks to the private chat


def test_personal_question_in_a_group_is_answered_in_the_private_chat(app, fake, services):
    link_directly(services, AMIRA, AMIRA_TG)
    fake.push(text_update(AMIRA_TG, "/sessions@sps_test_bot", chat_id=GROUP))
    poll(app, 1)
    [notice] = replies_to(fake, GROUP)
    assert "answered you in a private message" in notice
    [private] = replies_to(fake, AMIRA_TG)
    assert "Your sessions with Dr James Okafor" in private


def test_deep_link_start_code_links_the_account(app, fake, services):
    code = link_code(services, AMIRA)
    fake.push(text_update(AMIRA_TG, f"/start {code}"))  # what t.me/<bot>?start=CODE sends
    fake.push(text_update(AMIRA_TG, "/whoami"))
    fake.push(text_update(AMIRA_TG + 1, f"/start {code}", first_name="Mallory"))
    poll(app, 3)
    welcome, whoami = replies_to(fake, AMIRA_TG)
    assert welcome.startswith("Welcome, ")
    assert "Amira Khan" in whoami
    assert "isn't valid" in replies_to(fake, AMIRA_TG + 1)[0]  # one-time: used up
    with services.uow() as db:
        account = db.scalars(select(Account).where(Account.platform == "telegram")).one()
        assert (account.account_id, account.chat_id) == (str(AMIRA_TG), str(AMIRA_TG))


def test_button_press_is_answered_and_the_spinner_stopped(app, fake, services):
    fake.push(text_update(AMIRA_TG, "What colour is the moon cheese?"))
    poll(app, 1)
    data = buttons(fake, AMIRA_TG)["Ask the programme team"]
    assert data.startswith("faq.escalate|")
    press = button_update(AMIRA_TG, data)
    fake.push(press)
    poll(app, 1)
    [answered] = fake.calls_to("answerCallbackQuery")
    assert answered.params["callback_query_id"] == press["callback_query"]["id"]
    assert fake.calls_to("editMessageReplyMarkup")  # one-shot buttons
    assert "passed your question to the programme team" in replies_to(fake, AMIRA_TG)[-1]


def test_a_button_from_before_a_restart_with_a_long_value_is_reported_stale(app, fake):
    fake.push(button_update(AMIRA_TG, ChoiceCodec().encode(Choice("x", "faq.section",
                                                                  "s" * 80))))
    poll(app, 1)
    assert fake.calls_to("answerCallbackQuery")
    assert "no longer active" in replies_to(fake, AMIRA_TG)[0]


# ---------------------------------------------------------------------- reliability
def test_restart_refetches_unconfirmed_updates_and_handles_each_once(services, router,
                                                                     db_url):
    # Ids cross 999 -> 1000: the next offset must be a numeric maximum, not a string one.
    with FakeTelegram(first_update_id=998) as fake:
        app = App(settings_for(fake, db_url), services.uow.engine, services, router)
        ids = [fake.push(text_update(800 + n, "/help")) for n in range(5)]
        assert poll(app, 3) == 3  # then "crash": the batch's last two are never confirmed
        assert fake.pending() == ids  # Telegram still holds all five
        before = len(fake.calls_to("getUpdates"))
        assert poll(app, 2) == 2  # a new process
        assert fake.calls_to("getUpdates")[before].params["offset"] == str(ids[2] + 1)
        for n in range(5):
            assert len(replies_to(fake, 800 + n)) == 1
        assert handled_ids(services) == ids


def test_restart_in_the_middle_of_a_booking_form(app, fake, services):
    code = link_code(services, AMIRA)
    fake.push(text_update(AMIRA_TG, f"/start {code}"))
    fake.push(text_update(AMIRA_TG, "/book"))
    poll(app, 2)
    assert "Which day?" in replies_to(fake, AMIRA_TG)[-1]
    fake.push(text_update(AMIRA_TG, "10 April"))  # answered by a freshly started poller
    poll(app, 1)
    assert "What time on Friday 10 April 2015" in replies_to(fake, AMIRA_TG)[-1]


def test_network_errors_and_flood_control_are_retried_with_backoff(app, fake):
    fake.drop("getUpdates", times=2)
    fake.flood("sendMessage", retry_after=3)
    fake.push(text_update(AMIRA_TG, "/help"))
    sleeps = Sleeps()
    poll(app, 1, sleep=sleeps)
    assert sleeps == [1.0, 2.0, 3]
    assert len(fake.calls_to("sendMessage")) == 2  # refused once, then sent
    assert len(replies_to(fake, AMIRA_TG)) == 2


def test_the_token_never_reaches_the_logs_or_errors(app, fake, caplog, services, db_url):
    caplog.set_level(logging.DEBUG)
    fake.drop("getUpdates")
    fake.flood("sendMessage", retry_after=1)
    fake.push(text_update(AMIRA_TG, "/help"))
    poll(app, 1)
    wrong = "999999:WRONG-token-rejected-by-telegram"
    bad = App(settings_for(fake, db_url, token=wrong), services.uow.engine, services,
              app.router)
    with pytest.raises(TelegramSetupError) as raised:
        poll(bad, 1)
    shown = "".join(traceback.format_exception(raised.value))
    assert "rejected" in shown and wrong not in shown
    for record in caplog.records:
        line = record.getMessage() + repr(record.__dict__)
        assert fake.token not in line and wrong not in line


def test_kill_9_mid_stream_then_restart_handles_each_update_once_and_loses_no_reply(fake, services,
                                                                          db_url):
    users = list(range(900, 908))
    questions = ["/help", "Will my travel expenses be paid?"]
    ids = [fake.push(text_update(u, questions[n % 2])) for n, u in enumerate(users)]
    reached = fake.hold("sendMessage", nth=4)  # the 4th reply hangs: kill -9 right then
    env = {**os.environ, "DATABASE_URL": db_url, "TELEGRAM_BOT_TOKEN": fake.token,
           "TELEGRAM_API_URL": fake.api_url, "LOG_LEVEL": "WARNING"}
    script = ("import sys\nfrom bot.adapters.telegram import run_polling\n"
              "from bot.app import build_app\nfrom bot.config import Settings\n"
              "run_polling(build_app(Settings.from_env(), serving=True), "
              "stop_after=int(sys.argv[1]) or None, poll_timeout=1)\n")

    def start(stop_after: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-c", script, str(stop_after)], cwd=ROOT,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    first = start(0)
    try:
        assert reached.wait(timeout=20), first.stderr.read().decode() if first.poll() else ""
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        fake.release()
    assert first.returncode == -signal.SIGKILL
    assert handled_ids(services) == ids[:4]  # the 4th committed before its reply went out
    assert fake.pending() == ids  # fetched, but nothing confirmed to Telegram
    before = len(fake.calls_to("getUpdates"))

    second = start(len(ids) - 4)
    _out, err = second.communicate(timeout=30)
    assert second.returncode == 0, err.decode()
    assert fake.calls_to("getUpdates")[before].params["offset"] == str(ids[3] + 1)
    # The 4th reply was committed but its sending was cut short: the restart sends it again
    # (Telegram may or may not have taken the first try). Nobody misses a reply, and only
    # that one in-flight reply can arrive twice.
    counts = {u: len(replies_to(fake, u)) for u in users}
    assert counts == {u: 2 if u == users[3] else 1 for u in users}
    assert handled_ids(services) == ids


# ---------------------------------------------------------------------- webhook
def webhook_app(fake, services, router, db_url) -> App:
    settings = settings_for(fake, db_url, TELEGRAM_WEBHOOK_URL=WEBHOOK_URL,
                            TELEGRAM_WEBHOOK_SECRET=WEBHOOK_SECRET)
    return App(settings, services.uow.engine, services, router)


def test_webhook_needs_the_secret_and_ignores_redelivery(fake, services, router, db_url):
    app = webhook_app(fake, services, router, db_url)
    update = text_update(AMIRA_TG, "/help") | {"update_id": 4242}
    right = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}

    async def scenario() -> list[int]:
        transport = httpx.ASGITransport(app=build_web_app(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://sps") as client:
            async def post(headers: dict[str, str] | None = None, **body: Any) -> int:
                response = await client.post("/telegram/webhook", headers=headers,
                                             **(body or {"json": update}))
                return response.status_code

            statuses = [await post(), await post({"X-Telegram-Bot-Api-Secret-Token": "guess"})]
            assert fake.calls == [] and handled_ids(services) == []  # nothing ran
            return statuses + [await post(right), await post(right),
                               await post(right, content=b"[1]")]

    assert asyncio.run(scenario()) == [403, 403, 200, 200, 400]
    assert len(replies_to(fake, AMIRA_TG)) == 1  # Telegram's retry was recognised
    assert handled_ids(services) == [4242]


def test_web_process_start_registers_url_secret_and_menus(fake, services, router, db_url):
    web = build_web_app(webhook_app(fake, services, router, db_url))

    async def start_and_stop() -> None:
        async with web.router.lifespan_context(web):
            pass

    asyncio.run(start_and_stop())
    [call] = fake.calls_to("setWebhook")
    assert call.params["url"] == WEBHOOK_URL
    assert call.params["secret_token"] == WEBHOOK_SECRET
    assert call.json("allowed_updates") == ["message", "callback_query"]
    assert fake.calls_to("setMyCommands")


# ---------------------------------------------------------------------- command menus
def test_command_menu_has_team_commands_only_in_team_chats(app, fake, services):
    link_directly(services, GARETH, 701)  # programme team
    link_directly(services, AMIRA, AMIRA_TG)  # a peer
    poll(app, 0)
    menus = {c.json("scope")["type"] + str(c.json("scope").get("chat_id", "")):
             [cmd["command"] for cmd in c.json("commands")]
             for c in fake.calls_to("setMyCommands")}
    assert set(menus) == {"default", "chat701"}
    assert {"help", "ask", "link", "whoami"} <= set(menus["default"])
    assert "answer" not in menus["default"] and "answer" in menus["chat701"]
    assert {"help", "ask", "whoami"} <= set(menus["chat701"])


# ---------------------------------------------------------------------- outbox sender
@pytest.fixture
def sender(fake):
    sender = TelegramSender(settings_for(fake))
    yield sender
    sender.close()


def test_sender_renders_text_buttons_and_files(sender, fake):
    sender.send(Address("telegram", "502"), Reply(
        "*Reminder*: your session is tomorrow\n- bring <notes> & questions",
        choices=(Choice("It took place", "booking.held", "12"),),
        file=ReplyFile("session.ics", "text/calendar", b"BEGIN:VCALENDAR\r\n")))
    [message] = fake.calls_to("sendMessage")
    assert message.params["text"] == ("<b>Reminder</b>: your session is tomorrow\n"
                                      "\u2022 bring &lt;notes&gt; &amp; questions")
    assert message.json("reply_markup") == {"inline_keyboard": [[
        {"text": "It took place", "callback_data": "booking.held|12"}]]}
    [document] = fake.calls_to("sendDocument")
    assert document.files["document"] == ("session.ics", b"BEGIN:VCALENDAR\r\n")


@pytest.mark.parametrize("arrange, permanent, retry_after", [
    (lambda fake: fake.block(502), True, None),
    (lambda fake: fake.fail("sendMessage", status=403,
                            description="Forbidden: user is deactivated"), True, None),
    (lambda fake: fake.fail("sendMessage", status=400,
                            description="Bad Request: chat not found"), True, None),
    (lambda fake: fake.flood("sendMessage", retry_after=7), False, 7),
    (lambda fake: fake.drop("sendMessage"), False, None),
    (lambda fake: fake.fail("sendMessage", status=502, description="Bad Gateway"),
     False, None),
], ids=["blocked", "deactivated", "chat-not-found", "flood", "network", "bad-gateway"])
def test_sender_maps_failures_to_delivery_errors(sender, fake, arrange, permanent,
                                                 retry_after):
    arrange(fake)
    with pytest.raises(DeliveryError) as raised:
        sender.send(Address("telegram", "502"), Reply("Your session is tomorrow"))
    assert raised.value.permanent is permanent
    assert raised.value.retry_after == retry_after
    assert fake.token not in raised.value.reason
    sender.send(Address("telegram", "503"), Reply("the sender still works afterwards"))


# ---------------------------------------------------------------------- pure translation
def test_render_escapes_everything_then_applies_light_markup():
    assert render("*Q3* <b>not bold</b> a*b & c") == \
        "<b>Q3</b> &lt;b&gt;not bold&lt;/b&gt; a*b &amp; c"
    assert render("Steps:\n- one\n- two") == "Steps:\n\u2022 one\n\u2022 two"
    assert render("2 * 3 * 4") == "2 * 3 * 4"


def test_long_text_is_split_at_lines_under_the_limit():
    text = "\n".join(f"line {n} " + "x" * 90 for n in range(100))
    pieces = split_text(text, MAX_TEXT)
    assert len(pieces) == 3 and all(len(p) <= 4000 for p in pieces)
    assert "\n".join(pieces) == text
    assert split_text("y" * 9000, MAX_TEXT) == ["y" * 4000, "y" * 4000, "y" * 1000]


def test_choice_codec_is_compact_and_survives_restarts_when_it_fits():
    codec = ChoiceCodec()
    short = Choice("Accept", "booking.accept", "12")
    assert codec.encode(short) == "booking.accept|12"
    assert ChoiceCodec().decode("booking.accept|12") == ("booking.accept", "12")
    long = Choice("Expenses", "faq.section", "expenses-policy/" + "claiming-travel" * 6)
    data = codec.encode(long)
    assert len(data.encode()) <= 64 and data.startswith("#")
    assert codec.decode(data) == ("faq.section", long.value)
    assert ChoiceCodec().decode(data) == (EXPIRED_ACTION, "")
    assert codec.encode(Choice("odd", "a|b")) != "a|b|"  # a separator in the id: hashed


def test_file_url_follows_telegrams_layout():
    assert file_url("https://api.telegram.org/bot") == "https://api.telegram.org/file/bot"
    assert file_url("http://127.0.0.1:8081/bot/") == "http://127.0.0.1:8081/file/bot"

