"""Broadcasts: audiences, the preview-then-confirm form, one row per linked account,
scheduling, cancelling before anything goes, and the status counts."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from handlers.broadcast import BroadcastError, create_broadcast
from handlers.messages import Reply
from handlers.ports import Address
from handlers.storage.models import Account, AuditEntry, Broadcast, OutboxMessage, Participant
from scheduler.delivery import DeliveryWorker
from tests.conftest import AMIRA, GARETH, SIAN, FrontDoor, local

TOM = "tom.hughes@example.nhs.uk"  # expert peer, region Midlands/South


class RecordingSender:
    def __init__(self, platform: str) -> None:
        self.platform = platform
        self.sent: list[tuple[str, str]] = []

    def send(self, address: Address, reply: Reply) -> None:
        self.sent.append((address.chat_id, reply.text))


def worker(services, *platforms: str) -> tuple[DeliveryWorker, dict[str, RecordingSender]]:
    senders = {p: RecordingSender(p) for p in platforms or ("console",)}
    return DeliveryWorker(services.uow, senders, services.clock), senders


def rows(services) -> list[OutboxMessage]:
    with services.uow() as db:
        return list(db.scalars(select(OutboxMessage).where(OutboxMessage.kind == "broadcast")
                               .order_by(OutboxMessage.id)))


def broadcast_row(services, broadcast_id: int = 1) -> Broadcast:
    with services.uow() as db:
        return db.get(Broadcast, broadcast_id)


def through_the_form(door: FrontDoor, when: str = "Now") -> str:
    door.send(GARETH, "/broadcast")
    door.press(GARETH, "Peers")
    door.text(GARETH, "Development day 2 moves to room 4.")
    if when == "Now":
        door.press(GARETH, "Now")
    else:
        door.text(GARETH, when)
    return "\n".join(r.text for r in door.last[GARETH])


def test_only_the_programme_team_can_broadcast(door: FrontDoor):
    assert "only the programme team" in door.text(AMIRA, "/broadcast")
    assert "only the programme team" in door.text("helen.price@example.org",
                                                  "/broadcast status")


@pytest.mark.parametrize("audience, count", [
    ("everyone", 7), ("peers", 3), ("role:expert_peer", 2), ("programme team", 1),
    ("region North", 2), ("london", 3), ("challenge stp-north", 3), ("stp-north", 3),
])
def test_audience_counts(services, audience, count):
    with services.uow() as db:
        gareth = db.scalars(select(Participant).where(Participant.email == GARETH)).one()
        _broadcast, recipients = create_broadcast(db, services.programme, gareth, audience,
                                                  "Hello", None, services.clock.now())
    assert recipients == count
    assert len({m.participant_id for m in rows(services)}) == count


@pytest.mark.parametrize("audience, text, problem", [
    ("martians", "Hello", "don't know the audience"),
    ("challenge nope", "Hello", "no challenge called nope"),
    ("everyone", "   ", "empty"),
])
def test_bad_broadcasts_are_refused(services, audience, text, problem):
    with services.uow() as db, pytest.raises(BroadcastError, match=problem):
        create_broadcast(db, services.programme, None, audience, text, None,
                         services.clock.now())


def test_preview_shows_count_and_exact_text_then_confirm_queues(door: FrontDoor, services):
    assert "Who is the broadcast for?" in door.send(GARETH, "/broadcast")[0].text
    door.press(GARETH, "Peers")
    assert "What should it say?" in door.last[GARETH][0].text
    door.text(GARETH, "Development day 2 moves to room 4.")
    preview = door.press(GARETH, "Now")[0].text
    assert "to peers, 3 people (3 not linked to a chat account yet" in preview
    assert "\nDevelopment day 2 moves to room 4.\n" in preview
    assert broadcast_row(services) is None and rows(services) == []
    assert "Broadcast #1 to 3 people is queued now" in door.press(GARETH, "Yes")[0].text
    assert broadcast_row(services).audience == "role:peer"
    # all three have no chat account: whenever they link, it is late, so it says when it went
    assert {(m.text, m.broadcast_id, m.due_at) for m in rows(services)} == {
        ("Announcement from the programme team, sent Monday 2 March 2015:\n"
         "Development day 2 moves to room 4.", 1, services.clock.now())}
    with services.uow() as db:
        assert db.scalars(select(AuditEntry).where(AuditEntry.action == "broadcast.create")
                          ).one().detail["recipients"] == 3


def test_typed_audience_and_past_time_are_checked(door: FrontDoor):
    door.send(GARETH, "/broadcast")
    assert "don't know the audience" in door.text(GARETH, "martians")
    door.text(GARETH, "region North")
    door.text(GARETH, "Hello")
    assert "already passed" in door.text(GARETH, "1 March 9am")
    assert "time as well" in door.text(GARETH, "10 March")


def test_a_message_typed_after_the_command_is_kept_as_the_message(door: FrontDoor):
    kept, audience = door.send(GARETH, "/broadcast Reminder: the dev day is on Wednesday")
    assert kept.text == "I'll send that as the message."
    assert audience.text.startswith("Who is the broadcast for?")
    door.press(GARETH, "Peers")
    preview = door.text(GARETH, "now")
    assert "to peers, 3 people" in preview and "Reminder: the dev day is on Wednesday" in preview
    assert "don't know the audience" in door.text(GARETH, "/broadcast martians")  # a typo
    door.text(GARETH, "/cancel")
    # a message that starts like a subcommand is still the message
    for message in ("Status update: rooms are confirmed", "Cancel your hotel if you can't come"):
        assert door.text(GARETH, f"/broadcast {message}").startswith(
            "I'll send that as the message."), message
        door.text(GARETH, "/cancel")
    assert "No broadcasts yet" in door.text(GARETH, "/broadcast status")
    assert "Which broadcast?" in door.text(GARETH, "/broadcast cancel")


def test_every_linked_account_gets_it_exactly_once(door: FrontDoor, services):
    door.text(AMIRA, "/whoami")  # console account
    with services.uow() as db:
        amira = db.scalars(select(Participant).where(Participant.email == AMIRA)).one()
        db.add(Account(participant=amira, platform="telegram", account_id="tg-1",
                       chat_id="tg-chat-1", linked_at=services.clock.now()))
    door.text(GARETH, "/broadcast challenge stp-north")
    door.text(GARETH, "Please bring your notes.")
    door.press(GARETH, "Now")
    door.press(GARETH, "Yes")
    by_platform = sorted((m.platform, m.status) for m in rows(services)
                         if m.participant_id == amira.id)
    assert by_platform == [("console", "pending"), ("telegram", "pending")]
    assert [m.status for m in rows(services) if m.participant_id != amira.id] == \
        ["failed", "failed"]  # James and Sian have no linked account
    delivery, senders = worker(services, "console", "telegram")
    assert delivery.run_once().sent == 2
    assert delivery.run_once().sent == 0
    assert senders["console"].sent == [(f"console:{AMIRA}", "Please bring your notes.")]
    assert senders["telegram"].sent == [("tg-chat-1", "Please bring your notes.")]


def test_scheduled_broadcast_can_be_cancelled_and_then_never_goes(door, services, clock):
    door.text(AMIRA, "/whoami")
    preview = through_the_form(door, "10 March 9am")
    assert "at Tuesday 10 March 2015 09:00" in preview
    assert "queued for Tuesday 10 March 2015 09:00" in door.text(GARETH, "yes")
    assert "Cancelled broadcast #1; nothing will be sent (3 messages stopped)." in \
        door.text(GARETH, "/broadcast cancel 1")
    assert {m.status for m in rows(services)} == {"cancelled"}
    assert broadcast_row(services).status == "cancelled"
    door.text(SIAN, "/whoami")  # linking later must not revive her "no account" row
    assert {m.status for m in rows(services)} == {"cancelled"}
    clock.advance(days=9)
    delivery, senders = worker(services)
    assert delivery.run_once().sent == 0 and senders["console"].sent == []
    assert "already cancelled" in door.text(GARETH, "/broadcast cancel 1")
    with services.uow() as db:
        assert db.scalars(select(AuditEntry).where(AuditEntry.action == "broadcast.cancel")
                          ).one().subject == "broadcast:1"


def test_scheduled_broadcast_waits_for_its_time(door, services, clock):
    door.text(AMIRA, "/whoami")
    through_the_form(door, "10 March 9am")
    door.text(GARETH, "yes")
    delivery, senders = worker(services)
    assert delivery.run_once().sent == 0
    clock.advance(days=8)
    assert delivery.run_once().sent == 1


def test_cancel_is_refused_once_anything_was_sent(door: FrontDoor, services):
    door.text(AMIRA, "/whoami")
    through_the_form(door)
    door.text(GARETH, "yes")
    worker(services)[0].run_once()
    assert "already started going out (1 sent)" in door.text(GARETH, "/broadcast cancel 1")
    assert broadcast_row(services).status != "cancelled"
    assert sorted(m.status for m in rows(services)) == ["failed", "failed", "sent"]


def test_status_counts_sent_pending_and_failed(door: FrontDoor, services):
    door.text(AMIRA, "/whoami")
    through_the_form(door)
    door.text(GARETH, "yes")
    status = door.text(GARETH, "/broadcast status")
    # not "failed": the two with no chat account get it when they link
    assert ("#1 to peers, Monday 2 March 2015 09:00, scheduled: 0 sent, 1 pending, 2 waiting "
            "until they link, 0 failed") in status
    worker(services)[0].run_once()
    status = door.text(GARETH, "/broadcast status")
    assert ("#1 to peers, Monday 2 March 2015 09:00, sent: 1 sent, 0 pending, 2 waiting until "
            "they link, 0 failed") in status
    # a subcommand with junk gets the hint, not a new broadcast form
    assert door.text(GARETH, "/broadcast cancel abc").startswith(
        "To cancel a broadcast, send /broadcast cancel N")
    assert "Development day 2 moves to room 4." in status


# ---------------------------------------------------------------- held for someone unlinked
def broadcast_to_everyone(door: FrontDoor, text: str) -> None:
    door.send(GARETH, "/broadcast")
    door.press(GARETH, "Everyone")
    door.text(GARETH, text)
    door.text(GARETH, "now")
    assert "they get it, dated, if they link within 14 days" in door.last[GARETH][0].text
    door.text(GARETH, "yes")


def test_a_broadcast_reaching_someone_who_links_late_says_when_it_was_sent(
        door, services, clock):
    broadcast_to_everyone(door, "Reminder: Development day 1 is at the Ambassadors Hotel.")
    delivery, senders = worker(services)
    assert delivery.run_once().sent == 1  # Gareth's own console, on time and as written
    clock.set(local(2015, 3, 12, 18, 0))  # ten days on
    door.text(TOM, "/whoami")  # links for the first time
    assert delivery.run_once().sent == 1
    assert senders["console"].sent[1:] == [(f"console:{TOM}", (
        "Announcement from the programme team, sent Monday 2 March 2015:\n"
        "Reminder: Development day 1 is at the Ambassadors Hotel."))]


def test_a_broadcast_waiting_too_long_for_someone_to_link_lapses(door, services, clock):
    broadcast_to_everyone(door, "Reminder: Development day 1 is at the Ambassadors Hotel.")
    delivery, senders = worker(services)
    delivery.run_once()  # Gareth's own console
    clock.set(local(2015, 3, 16, 9, 0))  # 14 days on: lapsed, even before they link
    counts = "1 sent, 0 pending, 6 lapsed (never linked within 14 days), 0 failed"
    assert counts in door.text(GARETH, "/broadcast status")
    clock.set(local(2015, 7, 20, 10, 0))
    door.text(TOM, "/whoami")  # links four months on: far too late for that announcement
    assert delivery.run_once().sent == 0
    assert [to for to, _ in senders["console"].sent] == [f"console:{GARETH}"]
    assert counts in door.text(GARETH, "/broadcast status")


# ---------------------------------------------------------------- audience and text in one
@pytest.mark.parametrize("command, audience, text", [
    ("/broadcast peers Please check your email", "peers, 3 people", "Please check your email"),
    ("/broadcast North Dev day 2 venue is the Met Hotel", "region North, 2 people",
     "Dev day 2 venue is the Met Hotel"),
    ("/broadcast expert peers: bring your diaries", "expert peers, 2 people",
     "bring your diaries"),
    ("/broadcast challenge stp-north \u2013 notes\nare due", "challenge team stp-north, 3 people",
     "notes\nare due"),
    ("/broadcast the whole cohort\nDevelopment day 2 is full", "everyone, 7 people",
     "Development day 2 is full"),
])
def test_an_audience_typed_before_the_message_is_taken_as_the_audience(
        door: FrontDoor, command, audience, text):
    acknowledged, when = door.send(GARETH, command)
    assert acknowledged.text.startswith(f"To {audience.split(',')[0]}:")
    assert when.text.startswith("Send it now, or at a set time?")
    preview = door.text(GARETH, "now")
    assert f"to {audience}" in preview
    assert f"It will read exactly:\n\n{text}\n\nSend it?" in preview


def test_a_message_that_may_begin_with_an_audience_word_is_asked_about(door: FrontDoor):
    question = door.text(GARETH, "/broadcast everyone is welcome at the launch")
    assert question.startswith("Is it for everyone, with the message \u201cis welcome at the "
                               "launch\u201d? Or is all of it the message?")
    door.press(GARETH, "No, all of it")
    assert door.last[GARETH][0].text.startswith("Who is the broadcast for?")
    door.press(GARETH, "Peers")
    assert "\n\neveryone is welcome at the launch\n\n" in door.text(GARETH, "now")
    door.text(GARETH, "/cancel")

    door.text(GARETH, "/broadcast peers please check your email")
    assert door.press(GARETH, "Yes, for peers")[0].text.startswith("Send it now")
    preview = door.text(GARETH, "now")
    assert "to peers, 3 people" in preview and "\n\nplease check your email\n\n" in preview


@pytest.mark.parametrize("message", [
    "Team lunch is at 1pm in the atrium",  # "team" needs a challenge name after it
    "Everyone's invited to the launch",
    "Peers' notes go in the secure bin",
])
def test_a_first_word_that_only_looks_like_an_audience_stays_in_the_message(
        door: FrontDoor, message):
    kept, audience = door.send(GARETH, f"/broadcast {message}")
    assert kept.text == "I'll send that as the message."
    assert audience.text.startswith("Who is the broadcast for?")
    door.press(GARETH, "Peers")
    assert f"\n\n{message}\n\n" in door.text(GARETH, "now")


def test_cancelling_a_one_message_broadcast_says_message(door: FrontDoor):
    door.text(GARETH, "/broadcast programme team: Budget meeting moved")
    door.text(GARETH, "10 March 9am")
    assert "to programme team, 1 person," in door.last[GARETH][0].text
    assert "Broadcast #1 to 1 person is queued" in door.text(GARETH, "yes")
    assert door.text(GARETH, "/broadcast cancel 1") == \
        "Cancelled broadcast #1; nothing will be sent (1 message stopped)."
