"""Issue #8's end-to-end scenarios on Telegram: real python-telegram-bot code, the real router,
a migrated SQLite database, the fake Bot API on 127.0.0.1, and the real delivery worker for
everything the bot sends on its own. Other platforms take part where a scenario needs them
(the partner on the console)."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from bot.adapters.console import ConsoleChat, ConsoleSender
from bot.adapters.telegram import MAX_ATTACHMENT, TelegramSender
from bot.app import App
from handlers.broadcast import create_broadcast
from handlers.core import enqueue
from handlers.messages import Reply
from handlers.ports import Address, Sender
from handlers.storage.models import (
    Account,
    Claim,
    OutboxMessage,
    Participant,
    PeerSession,
    Receipt,
)
from scheduler.delivery import DeliveryWorker, RateLimiter
from tests.bot.test_telegram import (
    AMIRA_TG,
    buttons,
    link_code,
    link_directly,
    poll,
    replies_to,
    settings_for,
)
from tests.conftest import AMIRA, GARETH, JAMES, SIAN, local
from tests.fakes.telegram_api import BLOCKED, FakeTelegram, button_update, recorded, text_update

JAMES_TG = 502
SIAN_TG = 503


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


@pytest.fixture
def app(fake, services, router, db_url) -> App:
    return App(settings_for(fake, db_url), services.uow.engine, services, router)


@pytest.fixture
def sender(fake) -> Iterator[TelegramSender]:
    sender = TelegramSender(settings_for(fake))
    yield sender
    sender.close()


def outbox(services, email: str) -> list[OutboxMessage]:
    with services.uow() as db:
        person = db.scalars(select(Participant).where(Participant.email == email)).one()
        return list(db.scalars(select(OutboxMessage).where(
            OutboxMessage.participant_id == person.id).order_by(OutboxMessage.id)))


def person(db, email: str) -> Participant:
    return db.scalars(select(Participant).where(Participant.email == email)).one()


# ---------------------------------------------------------------------- 1. booking
def test_booking_by_inline_buttons_with_the_partner_on_the_console(app, fake, services,
                                                                   router, sender, tmp_path):
    console = io.StringIO()
    james = ConsoleChat(router.handle, console, as_email=JAMES, files_folder=tmp_path)
    james.say("/whoami")  # the console trusts --as, so this links James there
    fake.push(text_update(AMIRA_TG, f"/start {link_code(services, AMIRA)}"))
    fake.push(text_update(AMIRA_TG, "/book 10 April 2pm 3h virtual"))
    poll(app, 2)
    assert replies_to(fake, AMIRA_TG)[-1] == ("Propose to Dr James Okafor: Friday 10 April "
                                              "2015, 14:00 to 17:00, virtual?")
    confirm = buttons(fake, AMIRA_TG)
    assert list(confirm) == ["Yes, send it", "Change the time", "Cancel"]
    fake.push(button_update(AMIRA_TG, confirm["Yes, send it"]))
    poll(app, 1)
    assert replies_to(fake, AMIRA_TG)[-1].startswith("Sent to Dr James Okafor: ")
    assert fake.calls_to("answerCallbackQuery") and fake.calls_to("editMessageReplyMarkup")

    [proposal] = outbox(services, JAMES)
    with services.uow() as db:
        session = db.scalars(select(PeerSession)).one()
        assert session.status == "proposed"
    assert (proposal.platform, proposal.chat_id) == ("console", f"console:{JAMES}")
    assert proposal.choices == [["Accept", "booking.accept", str(session.id)],
                                ["Decline", "booking.decline", str(session.id)]]

    worker = DeliveryWorker(services.uow, {"console": ConsoleSender(james),
                                           "telegram": sender}, services.clock)
    assert worker.run_once().sent == 1
    shown = console.getvalue()
    assert "(message) Dr Amira Khan proposes a peer session: Friday 10 April 2015" in shown
    assert "[1] Accept" in shown and "[2] Decline" in shown
    [booked] = james.say("1")  # the console answers a numbered choice by its number
    assert booked.text.startswith("Booked: Friday 10 April 2015, 14:00 to 17:00")
    assert booked.file is not None and (tmp_path / booked.file.name).read_bytes() == \
        booked.file.data  # the console saves the calendar file

    before = len(replies_to(fake, AMIRA_TG))
    assert worker.run_once().sent == 1
    [accepted] = replies_to(fake, AMIRA_TG)[before:]
    assert accepted == ("Dr James Okafor accepted: Friday 10 April 2015, 14:00 to 17:00, "
                        "virtual. Here is a calendar file.")
    [document] = fake.calls_to("sendDocument")  # the proposer's diary gets the event too
    assert document.chat_id == AMIRA_TG
    assert document.files["document"] == (booked.file.name, booked.file.data)
    with services.uow() as db:
        assert db.get(PeerSession, session.id).status == "booked"
    assert worker.run_once().sent == 0  # nothing is delivered twice


# ---------------------------------------------------------------------- 2. claims
def test_claim_with_a_receipt_photo_after_an_oversized_pdf(app, fake, services):
    link_directly(services, AMIRA, AMIRA_TG)
    services.clock.set(local(2015, 7, 9))  # accommodation is claimed after the stay
    fake.push(text_update(AMIRA_TG, "/claim 8 July £95"))
    poll(app, 1)
    assert "Please send the receipt as a photo or PDF (up to 10 MB)" in \
        replies_to(fake, AMIRA_TG)[-1]

    pdf = recorded("document", user_id=AMIRA_TG)
    pdf["message"]["document"].update(file_name="scan.pdf", file_size=MAX_ATTACHMENT + 1,
                                      file_id=fake.add_file(b"%PDF-1.4", "documents/f.pdf"))
    fake.push(pdf)
    poll(app, 1)
    assert "larger than 10 MB" in replies_to(fake, AMIRA_TG)[-1]  # refused, then re-asked
    assert fake.calls_to("getFile") == []  # by its declared size, before any download

    jpeg = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 64
    photo = recorded("photo", user_id=AMIRA_TG)
    largest = photo["message"]["photo"][-1]
    largest.update(file_id=fake.add_file(jpeg, "photos/file_9.jpg"), file_size=len(jpeg))
    fake.push(photo)
    poll(app, 1)
    assert replies_to(fake, AMIRA_TG)[-1].endswith("Receipt attached. Submit it?")
    fake.push(button_update(AMIRA_TG, buttons(fake, AMIRA_TG)["Yes, submit"]))
    poll(app, 1)
    assert replies_to(fake, AMIRA_TG)[-1].startswith("Submitted: #1 Development day 2")

    assert [c.params["file_id"] for c in fake.calls_to("getFile")] == [largest["file_id"]]
    with services.uow() as db:
        claim = db.scalars(select(Claim)).one()
        assert (claim.amount_pence, claim.event_id, claim.status) == \
            (9500, "dev-day-leeds", "submitted")
        receipt = db.get(Receipt, claim.receipt_id)
        assert receipt is not None and receipt.data == jpeg
        assert (receipt.content_type, receipt.size) == ("image/jpeg", len(jpeg))


# ---------------------------------------------------------------------- 3. broadcast
def test_broadcast_marks_a_blocked_recipient_and_never_retries(fake, services, sender):
    link_directly(services, AMIRA, AMIRA_TG)
    link_directly(services, JAMES, JAMES_TG)
    fake.block(JAMES_TG)
    now = services.clock.now()
    with services.uow() as db:
        create_broadcast(db, services.programme, person(db, GARETH), "everyone",
                         "Development day 2 is at The Met Hotel, Leeds.", None, now)

    stats = DeliveryWorker(services.uow, {"telegram": sender}, services.clock).run_once()
    assert (stats.sent, stats.failed, stats.reasons) == (1, 1, [BLOCKED])
    assert replies_to(fake, AMIRA_TG) == ["Development day 2 is at The Met Hotel, Leeds."]
    [to_james] = outbox(services, JAMES)
    assert (to_james.status, to_james.last_error, to_james.attempts) == ("failed", BLOCKED, 1)
    with services.uow() as db:
        blocked = {a.chat_id: a.blocked_at for a in db.scalars(
            select(Account).where(Account.platform == "telegram"))}
    assert blocked[str(JAMES_TG)] == now and blocked[str(AMIRA_TG)] is None

    # A restarted worker (no memory of the block) finds nothing left to try.
    again = DeliveryWorker(services.uow, {"telegram": sender}, services.clock).run_once()
    assert (again.sent, again.failed, again.retried) == (0, 0, 0)
    assert len([c for c in fake.calls_to("sendMessage") if c.chat_id == JAMES_TG]) == 1


# ---------------------------------------------------------------------- 4. rate limits
class FakeTime:
    """The RateLimiter's injected clock: sleeping moves it on at once."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class TimedSender:
    """Wraps the real sender and notes, on the fake clock, when each message got through."""

    platform = "telegram"

    def __init__(self, inner: Sender, time: FakeTime) -> None:
        self.inner = inner
        self.time = time
        self.attempts: list[tuple[str, float]] = []
        self.delivered: list[tuple[str, float]] = []

    def send(self, address: Address, reply: Reply) -> None:
        self.attempts.append((address.chat_id, self.time.now))
        self.inner.send(address, reply)
        self.delivered.append((address.chat_id, self.time.now))


def test_flood_control_and_per_chat_gap_on_a_fake_clock(fake, services, sender):
    for email, chat in ((AMIRA, AMIRA_TG), (JAMES, JAMES_TG), (SIAN, SIAN_TG)):
        link_directly(services, email, chat)
    now = services.clock.now()
    with services.uow() as db:
        for n, email in enumerate([AMIRA, AMIRA, AMIRA, JAMES, JAMES, SIAN]):
            enqueue(db, person(db, email), f"Reminder {n}", kind="test", key=f"r{n}", now=now)
    fake.flood("sendMessage", retry_after=5)  # the very first call is told to wait 5 s
    time = FakeTime()
    timed = TimedSender(sender, time)
    worker = DeliveryWorker(
        services.uow, {"telegram": timed}, services.clock,
        {"telegram": RateLimiter(per_second=30, per_chat_gap=1.0, monotonic=time.monotonic,
                                 sleep=time.sleep)})

    stats = worker.run_once()
    assert (stats.sent, stats.retried) == (5, 1)
    [flooded] = [r for r in outbox(services, AMIRA) if r.status == "pending"]
    assert flooded.text == "Reminder 0" and flooded.attempts == 1
    assert flooded.due_at == now + dt.timedelta(seconds=5)  # moved by exactly retry_after
    first_attempt = timed.attempts[0][1]
    assert all(at >= first_attempt + 5 for _chat, at in timed.delivered)  # everyone waited

    assert worker.run_once().sent == 0  # not due before retry_after has passed
    services.clock.advance(seconds=5)
    assert worker.run_once().sent == 1
    assert [c.params["text"] for c in fake.calls_to("sendMessage")
            if c.chat_id == AMIRA_TG] == ["Reminder 0", "Reminder 1", "Reminder 2",
                                          "Reminder 0"]  # the refused one, then the retry

    by_chat: dict[str, list[float]] = {}
    for chat, at in timed.delivered:
        by_chat.setdefault(chat, []).append(at)
    assert sorted(len(times) for times in by_chat.values()) == [1, 2, 3]
    for times in by_chat.values():
        assert all(later - earlier >= 1.0 for earlier, later in zip(times, times[1:],
                                                                    strict=False))
