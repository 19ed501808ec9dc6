"""Booking peer sessions through the router: rules, the accept/decline/move/cancel flow, .ics."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading

import pytest
from sqlalchemy import select

from handlers.app import build_router
from handlers.storage.models import AuditEntry, OutboxMessage, PeerSession, UnansweredQuestion
from handlers.when import WhenError, localise, parse_date, parse_length, split_time
from knowledge.programme import Event
from scheduler.reminders import ReminderJob
from tests.conftest import AMIRA, GARETH, JAMES, LONDON, PRIYA, SIAN, FrontDoor, local
from tests.handlers.test_broadcast import worker
from tests.handlers.test_participants_import import TOM, import_partners

pytestmark = pytest.mark.both_databases


def outbox_for(services, email_fragment: str) -> list[OutboxMessage]:
    with services.uow() as db:
        return [m for m in db.scalars(select(OutboxMessage)).all()
                if email_fragment in m.chat_id]


def propose(door: FrontDoor, line: str = "10 April 2pm 3h virtual") -> str:
    door.text(JAMES, "/whoami")  # James links his console account first
    door.text(AMIRA, f"/book {line}")
    return door.text(AMIRA, "yes")


def test_one_line_booking_reads_back_in_full_before_booking(door: FrontDoor, services):
    readback = door.text(AMIRA, "/book 10 April 2pm 3h virtual")
    assert "Friday 10 April 2015, 14:00 to 17:00, virtual?" in readback
    with services.uow() as db:
        assert db.scalars(select(PeerSession)).first() is None
    # everyday yeses are yes; a yes with more to say is asked again
    assert door.text(AMIRA, "yes but later").startswith("Please answer yes to send it")
    assert door.text(AMIRA, "Yes please!").startswith("Sent to Dr James Okafor")


@pytest.mark.parametrize("line, start, end", [
    ("10 April 14:00-16:30 virtual", "14:00", "16:30"),
    ("10 April 2-4.30pm virtual", "14:00", "16:30"),
    ("virtual 10/04 2pm to 4:30pm", "14:00", "16:30"),
    ("10 April 1.30 till 4 virtual", "13:30", "16:00"),
    ("10/04 1400-1630 virtual", "14:00", "16:30"),
    ("10 April 11-1 virtual", "11:00", "13:00"),  # bare hours, once the day is named
])
def test_a_time_range_gives_the_start_and_the_length(door: FrontDoor, line: str, start: str,
                                                     end: str):
    readback = door.text(AMIRA, f"/book {line}")
    assert f"Friday 10 April 2015, {start} to {end}, virtual?" in readback, readback


def test_a_time_range_answers_the_time_and_length_steps(door: FrontDoor):
    door.text(AMIRA, "/book 10 April")
    assert "Face to face or virtual?" in door.text(AMIRA, "14:20-16:40")  # How long? is skipped
    assert "14:20 to 16:40, virtual" in door.text(AMIRA, "virtual")
    door.text(AMIRA, "/book 10 April")
    assert "ends before it starts" in door.text(AMIRA, "16:30-14:00")
    assert "Sessions last 2 to 3 hours (that was 4 hours)" in door.text(AMIRA, "2pm-6pm")
    assert "Face to face or virtual?" in door.text(AMIRA, "2pm-4pm")
    door.text(AMIRA, "/book 10 April")
    assert "Face to face or virtual?" in door.text(AMIRA, "10-12")  # the day is known


def test_guided_form_asks_only_what_is_missing(door: FrontDoor):
    assert "Which day?" in door.text(AMIRA, "/book")
    assert "What time on Friday 10 April 2015" in door.text(AMIRA, "10 April")
    assert "How long?" in door.text(AMIRA, "2pm")
    assert "Face to face or virtual?" in door.press(AMIRA, "2h30")[0].text
    assert "Where will you meet?" in door.text(AMIRA, "face to face")
    readback = door.text(AMIRA, "Leeds General Infirmary")
    assert "14:00 to 16:30, face to face at Leeds General Infirmary" in readback


def test_partner_accepts_and_both_get_told(door: FrontDoor, services):
    assert "Sent to Dr James Okafor" in propose(door)
    request = outbox_for(services, JAMES)[-1]
    assert "proposes a peer session" in request.text and request.choices[0][0] == "Accept"
    session_id = request.choices[0][2]
    replies = door.router.handle(door.incoming(JAMES, action_id="booking.accept",
                                               action_value=session_id))
    assert replies[0].text.startswith("Booked: Friday 10 April 2015, 14:00 to 17:00")
    ics = replies[0].file.data.decode()
    assert "METHOD:REQUEST" in ics and "SEQUENCE:0" in ics and "DTSTART:20150410T130000Z" in ics
    told = [m for m in outbox_for(services, AMIRA) if "accepted" in m.text]
    assert told and told[0].file_data.decode() == ics  # the proposer's diary gets it too


def test_decline_tells_the_proposer(door: FrontDoor, services):
    propose(door)
    session_id = outbox_for(services, JAMES)[-1].choices[1][2]
    door.router.handle(door.incoming(JAMES, action_id="booking.decline",
                                     action_value=session_id))
    assert any("declined" in m.text for m in outbox_for(services, AMIRA))
    with services.uow() as db:
        assert db.get(PeerSession, int(session_id)).status == "declined"


def test_only_the_partner_can_accept(door: FrontDoor, services):
    propose(door)
    session_id = outbox_for(services, JAMES)[-1].choices[0][2]
    reply = door.router.handle(door.incoming(AMIRA, action_id="booking.accept",
                                             action_value=session_id))
    assert "can't find that proposal" in reply[0].text


def accepted_session(door: FrontDoor, services) -> str:
    propose(door)
    session_id = outbox_for(services, JAMES)[-1].choices[0][2]
    door.router.handle(door.incoming(JAMES, action_id="booking.accept", action_value=session_id))
    return session_id


def ask_to_move(door: FrontDoor, services, when: str = "17 April 10am") -> OutboxMessage:
    """James asks to move the booked Friday 10 April session; returns what Amira is sent."""
    door.send(JAMES, "/sessions")
    door.press(JAMES, "Move 10/04 14:00")
    assert door.text(JAMES, when).startswith("Ask Dr Amira Khan to move the peer session")
    assert "Sent to Dr Amira Khan" in door.text(JAMES, "yes")
    return [m for m in outbox_for(services, AMIRA) if "asks to move" in m.text][-1]


def request_move(door: FrontDoor, services) -> OutboxMessage:
    accepted_session(door, services)
    return ask_to_move(door, services)


def answer(door: FrontDoor, who: str, message: OutboxMessage, label: str) -> str:
    """Press the button with this label on a message from the outbox."""
    [(_label, action, value)] = [c for c in message.choices if c[0].startswith(label)]
    return "\n".join(r.text for r in door.router.handle(
        door.incoming(who, action_id=action, action_value=value)))


def the_session(services) -> PeerSession:
    with services.uow() as db:
        return db.scalars(select(PeerSession)).one()


def calendar_files(services) -> list[bytes]:
    with services.uow() as db:
        return list(db.scalars(select(OutboxMessage.file_data).where(
            OutboxMessage.file_data.is_not(None))))


def test_moving_a_booked_session_asks_the_partner_and_changes_nothing_yet(door: FrontDoor,
                                                                          services):
    accepted_session(door, services)
    files = calendar_files(services)
    door.send(JAMES, "/sessions")
    asked = door.press(JAMES, "Move 10/04 14:00")[0]
    assert asked.text == ("When should it be instead? For example 17 April 2pm. I'll ask "
                          "Dr Amira Khan to agree; until they do, it stays as it is.")
    [read_back] = door.send(JAMES, "17 April 2.30")  # the afternoon, as "at 2" is
    assert read_back.text == ("Ask Dr Amira Khan to move the peer session on Friday 10 April "
                              "2015 at 14:00 to Friday 17 April 2015, 14:30 to 17:30, virtual?")
    assert [c.label for c in read_back.choices] == ["Yes, ask", "Change the time", "Cancel"]
    assert not any("asks to move" in m.text for m in outbox_for(services, AMIRA))  # not yet
    door.press(JAMES, "Change the time")
    assert door.text(JAMES, "17 April 10am face to face").startswith(
        "A move changes the day and time only; this session is virtual.")
    door.text(JAMES, "17 April 10am virtual")  # how they meet, said again, is no problem
    door.press(JAMES, "Change the time")
    assert "17 April 2015, 10:00 to 12:00" in door.text(JAMES, "17 April 10am 2h on Teams")
    door.press(JAMES, "Change the time")
    # a day asked back keeps the time given with it, as /book does
    assert door.text(JAMES, "next Friday 10am").startswith("Do you mean Friday 6 March or")
    assert door.text(JAMES, "17 April").startswith("Ask Dr Amira Khan to move the peer "
                                                   "session on Friday 10 April 2015 at 14:00 "
                                                   "to Friday 17 April 2015, 10:00 to 13:00")
    [sent] = door.send(JAMES, "Yes, ask")  # the button's words, typed
    assert sent.text == ("Sent to Dr Amira Khan: your request to move the peer session on "
                         "Friday 10 April 2015 at 14:00 to Friday 17 April 2015, 10:00 to 13:00, "
                         "virtual. It stays as it is until they accept; I'll tell you when they "
                         "answer.")
    assert sent.file is None and sent.choices == ()
    [request] = [m for m in outbox_for(services, AMIRA) if "asks to move" in m.text]
    assert request.text == ("Dr James Okafor asks to move your peer session on Friday 10 April "
                            "2015 at 14:00 to Friday 17 April 2015, 10:00 to 13:00, virtual. It "
                            "stays as it is unless you accept. Please answer by Thursday 5 "
                            "March 2015 09:00.")  # 72 hours, as for a proposal
    assert request.choices == [["Accept move", "booking.move_accept", "1:1"],
                               ["Keep 10/04 14:00", "booking.move_keep", "1:1"]]
    assert all(len(f"{action}|{value}".encode()) <= 64 for _, action, value in request.choices)
    assert request.file_data is None and calendar_files(services) == files  # no diary changes
    session = the_session(services)
    assert (session.starts_at, session.sequence) == (local(2015, 4, 10, 14), 0)


def test_accepting_a_move_moves_it_and_sends_both_the_updated_calendar_file(door: FrontDoor,
                                                                           services):
    request = request_move(door, services)
    [moved] = door.router.handle(door.incoming(AMIRA, action_id="booking.move_accept",
                                               action_value=request.choices[0][2]))
    assert moved.text == ("Moved to Friday 17 April 2015, 10:00 to 13:00, virtual. Here is the "
                          "updated calendar file.")
    ics = moved.file.data.decode()
    assert "SEQUENCE:1" in ics and "DTSTART:20150417T090000Z" in ics and "METHOD:REQUEST" in ics
    [told] = [m for m in outbox_for(services, JAMES) if "accepted: the peer session" in m.text]
    assert told.text == ("Dr Amira Khan accepted: the peer session moves from Friday 10 April "
                         "2015, 14:00 to 17:00, virtual to Friday 17 April 2015, 10:00 to 13:00, "
                         "virtual. Here is the updated calendar file.")
    assert told.file_data.decode() == ics
    session = the_session(services)
    assert (session.starts_at, session.ends_at, session.sequence, session.move_starts_at) == (
        local(2015, 4, 17, 10), local(2015, 4, 17, 13), 1, None)
    with services.uow() as db:
        audit = db.scalars(select(AuditEntry).where(AuditEntry.action == "session.move")).one()
        assert audit.actor_id == session.proposer_id and audit.subject == f"session:{session.id}"
    again = answer(door, AMIRA, request, "Accept move")
    assert again.startswith("That move request is no longer open")
    assert the_session(services).sequence == 1


def test_keeping_the_time_declines_the_move_and_tells_the_mover(door: FrontDoor, services):
    request = request_move(door, services)
    assert answer(door, AMIRA, request, "Keep 10/04 14:00") == (
        "Kept: Friday 10 April 2015, 14:00 to 17:00, virtual. I've told Dr James Okafor.")
    [told] = [m for m in outbox_for(services, JAMES) if "declined" in m.text]
    assert told.text == ("Dr Amira Khan declined your request to move the peer session to "
                         "Friday 17 April 2015 at 10:00, so it stays as it is: Friday 10 April "
                         "2015, 14:00 to 17:00, virtual.") and told.file_data is None
    session = the_session(services)
    assert (session.starts_at, session.sequence, session.move_starts_at) == (
        local(2015, 4, 10, 14), 0, None)
    late = answer(door, AMIRA, request, "Accept move")
    assert late == ("That move request is no longer open: it was answered, withdrawn or "
                    "replaced, or it lapsed. The session is Friday 10 April 2015, 14:00 to "
                    "17:00, virtual (booked).")
    assert the_session(services).starts_at == local(2015, 4, 10, 14)


def test_only_the_partner_answers_a_move_and_only_the_mover_withdraws_it(door: FrontDoor,
                                                                         services):
    request = request_move(door, services)
    assert answer(door, JAMES, request, "Accept move") == (
        "That is your own request: it waits for Dr Amira Khan's answer.")
    withdraw = door.router.handle(door.incoming(AMIRA, action_id="booking.move_withdraw",
                                                action_value=request.choices[0][2]))
    assert withdraw[0].text == ("Only Dr James Okafor, who asked, can withdraw that request; "
                                "you can accept it or keep the current time.")
    assert the_session(services).move_starts_at == local(2015, 4, 17, 10)  # still open
    door.send(JAMES, "/sessions")
    [withdrawn] = door.press(JAMES, "Withdraw request for 10/04 14:00")
    assert withdrawn.text == ("Withdrawn: your request to move it to Friday 17 April 2015 at "
                              "10:00. It stays as it is: Friday 10 April 2015, 14:00 to 17:00, "
                              "virtual. I've told Dr Amira Khan.")
    [told] = [m for m in outbox_for(services, AMIRA) if "withdrew" in m.text]
    assert told.text == ("Dr James Okafor withdrew their request to move the peer session to "
                         "Friday 17 April 2015 at 10:00, so it stays as it is: Friday 10 April "
                         "2015, 14:00 to 17:00, virtual.")
    assert answer(door, AMIRA, request, "Accept move").startswith(
        "That move request is no longer open")
    assert the_session(services).starts_at == local(2015, 4, 10, 14)


def test_sessions_and_home_show_a_pending_move_with_each_persons_buttons(door: FrontDoor,
                                                                         services):
    request_move(door, services)
    mine = door.send(JAMES, "/sessions")[0]
    assert ("- Friday 10 April 2015, 14:00 to 17:00, virtual (booked; move to Friday 17 April "
            "2015 at 10:00 requested by you, waiting for Dr Amira Khan's answer)") in mine.text
    assert [c.label for c in mine.choices] == [
        "Move 10/04 14:00", "Withdraw request for 10/04 14:00", "Cancel 10/04 14:00"]
    theirs = door.send(AMIRA, "/sessions")[0]
    assert ("- Friday 10 April 2015, 14:00 to 17:00, virtual (booked; move to Friday 17 April "
            "2015 at 10:00 requested by Dr James Okafor, waiting for your answer)") in theirs.text
    assert [c.label for c in theirs.choices] == [
        "Accept move of 10/04 14:00", "Keep 10/04 14:00", "Cancel 10/04 14:00"]
    home = door.send(JAMES, "/home")[0]
    assert "requested by you, waiting for Dr Amira Khan's answer)" in home.text
    assert [c.label for c in home.choices] == ["Withdraw request for 10/04 14:00"]
    home = door.send(AMIRA, "/home")[0]
    assert "requested by Dr James Okafor, waiting for your answer)" in home.text
    assert [c.label for c in home.choices] == ["Accept move of 10/04 14:00", "Keep 10/04 14:00"]
    assert door.press(AMIRA, "Accept move of 10/04 14:00")[0].text.startswith(
        "Moved to Friday 17 April 2015, 10:00 to 13:00")
    assert [c.label for c in door.send(AMIRA, "/sessions")[0].choices] == [
        "Move 17/04 10:00", "Cancel 17/04 10:00"]


def test_an_unanswered_move_request_lapses_and_the_mover_is_told(door: FrontDoor, services,
                                                                 clock):
    request = request_move(door, services)  # asked on Monday 2 March at 09:00
    clock.advance(hours=71)
    assert reminder_tick(services) == 0
    clock.advance(hours=2)
    assert answer(door, AMIRA, request, "Accept move").startswith(  # before the worker runs
        "That move request is no longer open")
    assert "virtual (booked)" in door.text(AMIRA, "/sessions")
    assert reminder_tick(services) == 1
    [lapsed] = [m for m in outbox_for(services, JAMES) if "lapsed" in m.text]
    assert lapsed.text == ("Dr Amira Khan didn't answer your request to move the peer session "
                           "to Friday 17 April 2015 at 10:00, so it has lapsed. It stays as it "
                           "is: Friday 10 April 2015, 14:00 to 17:00, virtual.")
    session = the_session(services)
    assert (session.starts_at, session.sequence, session.move_starts_at,
            session.move_expires_at) == (local(2015, 4, 10, 14), 0, None, None)
    assert reminder_tick(services) == 0  # told once


def test_a_move_request_lapses_by_the_time_the_session_itself_starts(door: FrontDoor,
                                                                     services, clock):
    accepted_session(door, services)
    clock.set(local(2015, 4, 9, 9))  # 29 hours before it: sooner than the usual 72
    door.send(AMIRA, "/sessions")
    door.press(AMIRA, "Move 10/04 14:00")
    door.text(AMIRA, "17 April 10am")
    door.text(AMIRA, "yes")
    [request] = [m for m in outbox_for(services, JAMES) if "asks to move" in m.text]
    assert request.text.endswith("Please answer by Friday 10 April 2015 14:00.")
    clock.set(local(2015, 4, 10, 14, 30))  # the session is under way as booked
    assert answer(door, JAMES, request, "Accept move").startswith(
        "That move request is no longer open")
    assert door.router.handle(door.incoming(AMIRA, action_id="booking.move", action_value="1")
                              )[0].text == ("Only a booked session that hasn't started yet can "
                                            "be moved.")


def test_a_second_request_replaces_the_first_whoever_asks(door: FrontDoor, services):
    accepted_session(door, services)
    door.send(AMIRA, "/sessions")  # Amira's listing from before any request
    first = ask_to_move(door, services)
    door.send(JAMES, "/sessions")
    asked = door.press(JAMES, "Move 10/04 14:00")[0].text
    assert asked.endswith("A new time replaces the open request to move it to Friday 17 April "
                          "2015 at 10:00.")
    assert door.text(JAMES, "17 April 10am") == (  # the same again is not sent twice
        "You've already asked to move it to then; Dr Amira Khan hasn't answered yet.")
    door.text(JAMES, "16 April 10am")
    sent = door.text(JAMES, "yes")
    assert ("Thursday 16 April 2015, 10:00 to 13:00, virtual. It replaces your earlier request "
            "to move it to Friday 17 April 2015 at 10:00.") in sent
    second = [m for m in outbox_for(services, AMIRA) if "asks to move" in m.text][-1]
    assert second.text.endswith("This replaces their request to move it to Friday 17 April "
                                "2015 at 10:00, which is withdrawn.")
    assert second.choices[0][2] == "1:2"
    stale = answer(door, AMIRA, first, "Accept move")  # the first request's button
    assert stale == ("That move request is no longer open: it was answered, withdrawn or "
                     "replaced, or it lapsed. The session is Friday 10 April 2015, 14:00 to "
                     "17:00, virtual (booked; move to Thursday 16 April 2015 at 10:00 requested "
                     "by Dr James Okafor, waiting for your answer).")
    [again] = door.router.handle(door.incoming(AMIRA, action_id=first.choices[0][1],
                                               action_value=first.choices[0][2]))
    assert [c.label for c in again.choices][:2] == [  # the open request, one tap away
        "Accept move of 10/04 14:00", "Keep 10/04 14:00"]
    assert the_session(services).starts_at == local(2015, 4, 10, 14)
    # Amira answers with a time of her own instead, from her earlier listing
    door.press(AMIRA, "Move 10/04 14:00")
    door.text(AMIRA, "15 April 2pm")
    countered = door.text(AMIRA, "yes")
    assert ("It replaces Dr James Okafor's request to move it to Thursday 16 April 2015 at "
            "10:00.") in countered
    counter = [m for m in outbox_for(services, JAMES) if "asks to move" in m.text][-1]
    assert counter.text == ("Dr Amira Khan asks to move your peer session on Friday 10 April "
                            "2015 at 14:00 to Wednesday 15 April 2015, 14:00 to 17:00, virtual. "
                            "It stays as it is unless you accept. Please answer by Thursday 5 "
                            "March 2015 09:00. They ask this instead of the move to Thursday 16 "
                            "April 2015 at 10:00 you asked for.")
    assert answer(door, AMIRA, second, "Accept move").startswith("That move request is no "
                                                                 "longer open")
    assert answer(door, JAMES, counter, "Accept move").startswith(
        "Moved to Wednesday 15 April 2015, 14:00 to 17:00")
    assert the_session(services).sequence == 1


def test_a_requested_slot_is_held_against_the_pairs_other_bookings(door: FrontDoor, services,
                                                                   clock):
    request_move(door, services)  # Friday 17 April, 10:00 to 13:00
    for who in (AMIRA, JAMES):
        assert door.text(who, "/book 17 April 11am 2h virtual").startswith(
            "That overlaps a time already asked for in a request to move another session: "
            "Friday 17 April 2015, 10:00 to 13:00, virtual.")
        door.text(who, "cancel")
    clock.advance(hours=73)  # the request lapsed: the slot is free again
    assert door.text(AMIRA, "/book 17 April 11am 2h virtual").startswith(
        "Propose to Dr James Okafor: Friday 17 April 2015, 11:00 to 13:00")


def test_accepting_a_move_checks_the_rules_again_and_keeps_the_session_if_it_no_longer_fits(
        door: FrontDoor, services):
    request = request_move(door, services)
    files = calendar_files(services)
    # meanwhile the programme team put a development day on 17 April
    services.programme = dataclasses.replace(services.programme, events=(
        *services.programme.events,
        Event(id="extra", kind="development_day", title="Extra development day",
              date=dt.date(2015, 4, 17), starts=None, ends=None, place="Leeds", venue="",
              london=False)))
    assert answer(door, AMIRA, request, "Accept move") == (
        "That day is a programme event (Extra development day: Friday 17 April 2015, Leeds). "
        "Please choose another day. So it can't move there, and it stays as it is: Friday 10 "
        "April 2015, 14:00 to 17:00, virtual. I've told Dr James Okafor.")
    [told] = [m for m in outbox_for(services, JAMES) if "couldn't accept" in m.text]
    assert told.text.startswith("Dr Amira Khan couldn't accept your request to move the peer "
                                "session to Friday 17 April 2015 at 10:00: That day is a "
                                "programme event")
    assert told.text.endswith("It stays as it is: Friday 10 April 2015, 14:00 to 17:00, virtual.")
    session = the_session(services)
    assert (session.starts_at, session.sequence, session.move_starts_at) == (
        local(2015, 4, 10, 14), 0, None)
    assert calendar_files(services) == files


def test_cancelling_a_session_with_a_move_pending_cancels_the_request_too(door: FrontDoor,
                                                                          services, clock):
    request = request_move(door, services)
    door.send(AMIRA, "/sessions")
    asked = door.press(AMIRA, "Cancel 10/04 14:00")[0]
    assert asked.text.endswith("take it out of both diaries. The request to move it goes too.")
    [cancelled] = door.press(AMIRA, "Yes, cancel it")
    assert cancelled.text == ("Cancelled Friday 10 April 2015, 14:00 to 17:00, virtual. The "
                              "request to move it to Friday 17 April 2015 at 10:00 is cancelled "
                              "too. I've told your partner.")
    ics = cancelled.file.data.decode()
    assert "METHOD:CANCEL" in ics and "SEQUENCE:1" in ics and "DTSTART:20150410T130000Z" in ics
    [told] = [m for m in outbox_for(services, JAMES) if "cancelled the peer session" in m.text]
    assert told.text.endswith("The request to move it to Friday 17 April 2015 at 10:00 is "
                              "cancelled too.") and told.file_data.decode() == ics
    assert answer(door, AMIRA, request, "Accept move").endswith(
        "Friday 10 April 2015, 14:00 to 17:00, virtual (cancelled).")
    session = the_session(services)
    assert (session.status, session.move_starts_at, session.move_by_id) == (
        "cancelled", None, None)
    clock.advance(hours=73)
    reminder_tick(services)
    assert not [m for m in outbox_for(services, JAMES) if "lapsed" in m.text]


@pytest.mark.parametrize("text, reason", [
    ("17 April", "Please give the new day and time together, like 17 April 2pm."),
    ("10 April 2pm", "It is already booked for then. Please give another day or time."),
    ("18 March 10am", "That day is a programme event"),
    ("1 December 10am", "Sessions must be within the programme"),
    ("1 March 10am", "That time has already passed."),
])
def test_a_new_time_that_cannot_be_asked_for_is_refused_and_nothing_is_sent(
        door: FrontDoor, services, text, reason):
    accepted_session(door, services)
    door.send(JAMES, "/sessions")
    door.press(JAMES, "Move 10/04 14:00")
    refused = door.send(JAMES, text)[0]
    assert reason in refused.text and [c.label for c in refused.choices] == ["Cancel"]
    assert not [m for m in outbox_for(services, AMIRA) if "asks to move" in m.text]
    assert the_session(services).move_starts_at is None


@pytest.mark.parametrize("action, value", [
    ("booking.move_accept", "abc"), ("booking.move_accept", "1"),
    ("booking.move_accept", "1:x"), ("booking.move_keep", "99:1"),
    ("booking.move_withdraw", ""), ("booking.move_keep", "1:99999999999999999999")])
def test_a_move_button_that_names_no_open_request_changes_nothing(door: FrontDoor, services,
                                                                  action, value):
    request_move(door, services)
    before = len(outbox_for(services, ""))
    [reply] = door.router.handle(door.incoming(AMIRA, action_id=action, action_value=value))
    assert reply.text.startswith(("I can't find that move request.",
                                  "That move request is no longer open"))
    assert len(outbox_for(services, "")) == before
    session = the_session(services)
    assert (session.starts_at, session.move_starts_at) == (local(2015, 4, 10, 14),
                                                           local(2015, 4, 17, 10))


def test_someone_outside_the_pair_cannot_answer_a_move(door: FrontDoor, services):
    request = request_move(door, services)
    assert answer(door, PRIYA, request, "Accept move") == "I can't find that move request."
    assert the_session(services).starts_at == local(2015, 4, 10, 14)


def test_cancel_asks_first_then_sends_a_cancelling_calendar_file(door: FrontDoor, services,
                                                                 clock):
    accepted_session(door, services)
    door.send(AMIRA, "/sessions")
    asked = door.press(AMIRA, "Cancel 10/04 14:00")[0]
    assert asked.text == ("Cancel the peer session Friday 10 April 2015, 14:00 to 17:00, "
                          "virtual? I'll tell Dr James Okafor and take it out of both diaries.")
    assert [c.label for c in asked.choices] == ["Yes, cancel it", "Keep it"]
    kept = door.press(AMIRA, "Keep it")[0]
    assert kept.text.startswith("Kept: Friday 10 April 2015")
    assert not [m for m in outbox_for(services, JAMES) if "cancelled" in m.text]
    door.send(AMIRA, "/sessions")
    door.press(AMIRA, "Cancel 10/04 14:00")
    confirm = door.choice(AMIRA, "Yes, cancel it")
    clock.set(local(2015, 4, 10, 14, 30))  # under way: a late tap is refused
    late = door.router.handle(door.incoming(AMIRA, action_id=confirm.action_id,
                                            action_value=confirm.value))
    assert "can't be cancelled" in late[-1].text  # after a note that the question lapsed
    clock.set(local(2015, 4, 10, 13, 0))
    replies = door.press(AMIRA, "Yes, cancel it")
    ics = replies[0].file.data.decode()
    assert "METHOD:CANCEL" in ics and "SEQUENCE:1" in ics and "STATUS:CANCELLED" in ics
    told = [m for m in outbox_for(services, JAMES) if "cancelled the peer session" in m.text]
    assert told and told[0].file_data.decode() == ics


def test_the_proposer_can_withdraw_a_proposal_before_it_is_answered(door: FrontDoor, services):
    propose(door)
    sessions = door.router.handle(door.incoming(AMIRA, "/sessions"))[0]
    assert "(waiting for Dr James Okafor's answer)" in sessions.text
    assert [c.label for c in sessions.choices] == ["Withdraw 10/04 14:00"]
    reply = door.router.handle(door.incoming(AMIRA, action_id="booking.cancel",
                                             action_value=sessions.choices[0].value))
    assert reply[0].text.startswith("Withdrawn: Friday 10 April 2015") and reply[0].file is None
    assert any("cancelled the proposed peer session" in m.text
               for m in outbox_for(services, JAMES))
    answer = door.router.handle(door.incoming(JAMES, action_id="booking.accept",
                                              action_value=sessions.choices[0].value))
    assert "no longer open (it is cancelled)" in answer[0].text


def test_every_upcoming_session_can_be_changed_by_its_own_buttons(door: FrontDoor, services):
    door.text(JAMES, "/whoami")
    for day in (9, 10, 11, 12):
        door.text(AMIRA, f"/book {day} March 10am 2h virtual")
        door.text(AMIRA, "yes")
    door.text(AMIRA, "/book 13 March 4pm 2h virtual")
    door.text(AMIRA, "yes")
    for request in outbox_for(services, JAMES)[:4]:
        door.router.handle(door.incoming(JAMES, action_id="booking.accept",
                                         action_value=request.choices[0][2]))
    labels = [c.label for c in door.router.handle(door.incoming(JAMES, "/sessions"))[0].choices]
    assert labels == [f"{verb} {day}/03 10:00" for day in ("09", "10", "11", "12")
                      for verb in ("Move", "Cancel")] + ["Accept 13/03 16:00",
                                                         "Decline 13/03 16:00"]
    listing = door.router.handle(door.incoming(JAMES, "/sessions"))[0].text
    assert "16:00 to 18:00, virtual (waiting for your answer)" in listing


def test_an_answer_is_due_before_the_session_starts(door: FrontDoor, services, clock):
    door.text(JAMES, "/whoami")
    door.text(AMIRA, "/book 3 March 2pm 2h virtual")  # tomorrow: sooner than the usual 72h
    door.text(AMIRA, "yes")
    request = outbox_for(services, JAMES)[-1]
    assert "Please accept or decline by Tuesday 3 March 2015 14:00." in request.text
    clock.advance(hours=30)  # the session has started
    answer = door.router.handle(door.incoming(JAMES, action_id="booking.accept",
                                              action_value=request.choices[0][2]))
    assert "no longer open (it is expired)" in answer[0].text
    declined = door.router.handle(door.incoming(JAMES, action_id="booking.decline",
                                                action_value=request.choices[0][2]))
    assert "no longer open (it is expired)" in declined[0].text  # Amira hears nothing more
    assert not any("declined" in m.text for m in outbox_for(services, AMIRA))
    assert door.router.handle(door.incoming(JAMES, "/sessions"))[0].choices == ()


@pytest.mark.parametrize("line, reason", [
    ("30 February 2pm 2h virtual", "isn't a real date"),
    ("29 February 2pm 2h virtual", "There's no 29 February in 2015."),
    ("1 March 2pm 2h virtual", "has passed"),
    ("10 April 2pm 10 hours virtual", "2 to 3 hours (that was 10 hours)"),
    ("10 April 2pm 45 minutes virtual", "(that was 45 minutes)"),
    ("10 April 2pm 0h virtual", "(that was 0 hours)"),
    ("18 March 10am 2h virtual", "programme event"),
    ("8 July 10am 2h virtual", "Development day 2"),
    ("1 December 10am 2h virtual", "within the programme"),
    ("29 March 1:30am 2h virtual", "clocks go forward"),
])
def test_rules_refuse_with_a_reason_and_book_nothing(door: FrontDoor, services, line, reason):
    assert reason in door.text(AMIRA, f"/book {line}")
    with services.uow() as db:
        assert db.scalars(select(PeerSession)).first() is None


def test_autumn_repeated_hour_is_refused():
    with pytest.raises(WhenError, match="twice"):
        localise(__import__("datetime").date(2015, 10, 25),
                 __import__("datetime").time(1, 30), LONDON)


def test_overlap_with_either_members_session_is_refused(door: FrontDoor):
    propose(door)
    assert "overlaps another session" in door.text(AMIRA, "/book 10 April 3pm 2h virtual")


def test_ninth_session_needs_the_programme_team(door: FrontDoor):
    door.text(JAMES, "/whoami")
    for day in range(6, 14):
        door.text(AMIRA, f"/book {day} April 10am 2h virtual")
        assert "Sent to" in door.text(AMIRA, "yes")
    assert "maximum of 8" in door.text(AMIRA, "/book 20 April 10am 2h virtual")
    # said at once, not after every day and time tried in a form that can't succeed
    assert door.text(AMIRA, "/book").startswith("Your pair already has 8 sessions")
    assert "Which day" not in door.text(AMIRA, "/book")


def test_a_proposal_held_for_a_partner_who_links_after_it_lapsed_is_never_sent(
        door: FrontDoor, services, clock):
    door.text(AMIRA, "/book 10 April 2pm 3h virtual")  # James has not linked yet
    door.text(AMIRA, "yes")
    clock.advance(hours=24)
    door.text(AMIRA, "/book 20 April 2pm 3h virtual")
    door.text(AMIRA, "yes")
    clock.advance(hours=49)  # the first proposal lapsed unanswered; the second is still open
    door.text(JAMES, "/whoami")  # James links at last
    delivery, senders = worker(services)
    delivery.run_once()
    sent = [text for _, text in senders["console"].sent]
    assert len(sent) == 1 and "proposes a peer session: Monday 20 April 2015" in sent[0]
    with services.uow() as db:
        [lapsed] = db.scalars(select(OutboxMessage).where(OutboxMessage.status == "skipped"))
        assert "Friday 10 April" in lapsed.text
        assert lapsed.last_error == "lapsed: its time passed before they linked"


def test_a_lapsed_proposal_frees_its_slot_before_the_worker_marks_it(door: FrontDoor, clock):
    propose(door)  # Friday 10 April, 2pm to 5pm; unanswered
    clock.advance(hours=73)  # past its expiry; expire_proposals has not run yet
    readback = door.text(AMIRA, "/book 10 April 3pm 2h virtual")
    assert readback.startswith("Propose to Dr James Okafor: Friday 10 April 2015, 15:00")
    assert "Sent to" in door.text(AMIRA, "yes")


def test_after_the_programme_ends_nothing_invites_a_booking(door: FrontDoor, clock):
    clock.set(clock.now().replace(year=2015, month=10, day=5))
    assert door.text(AMIRA, "/book") == ("The programme ended on Wednesday 30 September 2015, "
                                         "so there are no more sessions to book.")
    home = door.text(AMIRA, "/home")
    assert "- none booked\n" in home and "/book" not in home


def test_not_in_a_pair_or_not_a_peer(door: FrontDoor):
    assert "not in a pair" in door.text(PRIYA, "/book 10 April 2pm 3h virtual")
    assert "only expert peers and peers" in door.text(GARETH, "/book")


def test_an_answer_the_form_cannot_read_brings_back_its_buttons(door: FrontDoor):
    door.text(AMIRA, "/book 10 April 2pm 3h virtual")
    again = door.send(AMIRA, "yeah go on")[0]
    assert again.text == "Please answer yes to send it, change, or cancel."
    assert [c.label for c in again.choices] == ["Yes, send it", "Change the time", "Cancel"]
    assert "Which day?" in door.text(AMIRA, "change")
    assert [c.label for c in door.send(AMIRA, "whenever")[0].choices] == ["Cancel"]
    assert "How long?" in door.text(AMIRA, "/book 11 April 2pm")  # a step with no Cancel
    assert [c.label for c in door.send(AMIRA, "ages")[0].choices] == [
        "2 hours", "2h30", "3 hours", "Cancel"]


def test_free_text_that_is_not_a_date_is_reasked(door: FrontDoor):
    door.text(AMIRA, "/book")
    assert "couldn't read a date" in door.text(AMIRA, "whenever suits")


def reminder_tick(services) -> int:
    return ReminderJob(services.uow, services.programme, services.clock, "test").tick().queued


def test_unanswered_proposal_expires_and_proposer_is_told(door: FrontDoor, services, clock):
    propose(door)
    clock.advance(hours=71)
    assert reminder_tick(services) == 0
    clock.advance(hours=2)
    assert reminder_tick(services) == 1
    [lapsed] = [m for m in outbox_for(services, AMIRA) if "lapsed" in m.text]
    assert lapsed.text.startswith("Dr James Okafor didn't answer your proposal for Friday 10 "
                                  "April 2015, 14:00 to 17:00")
    with services.uow() as db:
        assert db.scalars(select(PeerSession.status)).one() == "expired"
    assert reminder_tick(services) == 0  # told once


def test_held_sessions_count_toward_progress(door: FrontDoor, services, clock):
    session_id = accepted_session(door, services)
    clock.set(local(2015, 4, 10, 17, 1))  # the session has just ended
    assert reminder_tick(services) == 2  # both are asked whether it took place
    asked = outbox_for(services, JAMES)[-1]
    assert asked.text == ("Did your peer session on Friday 10 April 2015, 14:00 to 17:00, "
                          "virtual take place?") and [c[0] for c in asked.choices] == ["Yes", "No"]
    replies = door.router.handle(door.incoming(AMIRA, action_id="booking.held",
                                               action_value=f"{session_id}:yes"))
    assert "1 held, 0 booked" in replies[0].text
    assert "1 held" in door.text(GARETH, "/pairs")


def test_a_missed_outcome_question_is_on_sessions_and_a_disagreement_is_told(
        door: FrontDoor, services, clock):
    session_id = accepted_session(door, services)
    clock.set(clock.now().replace(month=4, day=11))
    door.send(JAMES, "/sessions")
    assert "1 held" in door.press(JAMES, "Held 10/04 14:00")[0].text
    # Amira answers the question she was sent the other way
    door.router.handle(door.incoming(AMIRA, action_id="booking.held",
                                     action_value=f"{session_id}:no"))
    [told] = [m for m in outbox_for(services, JAMES) if "You had said otherwise" in m.text]
    assert told.text.startswith("Dr Amira Khan says your peer session on Friday 10 April 2015 "
                                "did not take place")


def test_didnt_happen_is_told_to_the_partner_and_can_be_taken_back(door: FrontDoor, services,
                                                                    clock):
    accepted_session(door, services)
    clock.set(clock.now().replace(month=4, day=11))
    door.send(AMIRA, "/sessions")
    [noted] = door.press(AMIRA, "Didn't happen 10/04 14:00")
    assert "0 held, 0 booked" in noted.text and "Pressed by mistake?" in noted.text
    [told] = [m for m in outbox_for(services, JAMES) if "did not take place" in m.text]
    assert told.text.startswith("Dr Amira Khan says your peer session on Friday 10 April 2015 "
                                "did not take place, so it doesn't count")
    assert [c[0] for c in told.choices] == ["It took place"]
    # Amira takes it back: James hears it counts after all, and is not told he disagreed
    assert "1 held, 0 booked" in door.press(AMIRA, "It took place")[0].text
    [corrected] = [m for m in outbox_for(services, JAMES) if "corrected" in m.text]
    assert corrected.text.endswith("did take place, and it counts.")
    assert not [m for m in outbox_for(services, JAMES) if "You had said otherwise" in m.text]


def test_the_partner_can_say_a_session_did_take_place(door: FrontDoor, services, clock):
    session_id = accepted_session(door, services)
    clock.set(clock.now().replace(month=4, day=11))
    door.send(AMIRA, "/sessions")
    door.press(AMIRA, "Didn't happen 10/04 14:00")
    [told] = [m for m in outbox_for(services, JAMES) if "did not take place" in m.text]
    label, action, value = told.choices[0]
    replies = door.router.handle(door.incoming(JAMES, action_id=action, action_value=value))
    assert "1 held, 0 booked" in replies[0].text
    [disagreed] = [m for m in outbox_for(services, AMIRA) if "You had said otherwise" in m.text]
    assert disagreed.text.startswith("Dr James Okafor says your peer session on Friday 10 April "
                                     "2015 took place") and str(session_id) in value


def test_pairs_report_lists_behind_pace_first_with_csv(door: FrontDoor, clock):
    clock.set(clock.now().replace(month=6))
    replies = door.send(GARETH, "/pairs csv")
    assert "behind pace" in replies[0].text
    assert replies[0].file.data.decode("utf-8-sig").startswith(
        "pair,held,booked,behind_pace,awaiting_confirmation")
    # the team pairs whoever is on their own, so they are listed too
    assert replies[0].text.endswith("Not in a pair: Dr Priya Nair")


def test_sessions_asked_in_a_group_are_answered_privately(door: FrontDoor):
    notice, listing = door.send(AMIRA, "/sessions", private=False)
    assert "private message" in notice.text and listing.private_only


def test_concurrent_overlapping_proposals_never_both_succeed(services):
    routers = [build_router(services), build_router(services)]
    FrontDoor(routers[0]).text(JAMES, "/whoami")
    doors = [FrontDoor(r) for r in routers]
    doors[0].text(AMIRA, "/book 10 April 2pm 3h virtual")
    doors[1].text(JAMES, "/book 10 April 3pm 2h virtual")
    results: list[str] = []
    start = threading.Barrier(2)

    def confirm(door: FrontDoor, who: str) -> None:
        start.wait()
        results.append(door.text(who, "yes"))

    threads = [threading.Thread(target=confirm, args=(doors[0], AMIRA)),
               threading.Thread(target=confirm, args=(doors[1], JAMES))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum("Sent to" in r for r in results) == 1, results
    with services.uow() as db:
        assert len(db.scalars(select(PeerSession)).all()) == 1


def test_a_move_accepted_twice_at_once_moves_it_once(services):
    door = FrontDoor(build_router(services))
    request = request_move(door, services)
    doors = [FrontDoor(build_router(services)) for _ in range(2)]
    results: list[str] = []
    start = threading.Barrier(2)

    def press(door: FrontDoor) -> None:  # the same button, tapped in two apps
        start.wait()
        results.append(answer(door, AMIRA, request, "Accept move"))

    threads = [threading.Thread(target=press, args=(d,)) for d in doors]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(r.split(":")[0] for r in results) == [
        "Moved to Friday 17 April 2015, 10", "That move request is no longer open"], results
    assert the_session(services).sequence == 1
    assert len([m for m in outbox_for(services, JAMES) if "accepted: the peer" in m.text]) == 1


@pytest.mark.parametrize("text, hours", [("3h", "3"), ("2.5 hours", "2.5"),
                                         ("90 minutes", "1.5"), ("two and a half hours", "2.5"),
                                         ("2h30", "2.5")])
def test_lengths_people_type(text, hours):
    assert str(parse_length(text)[0].normalize()) == hours


@pytest.mark.parametrize("text, expected", [("2pm", "14:00"), ("14:00", "14:00"),
                                            ("tomorrow at 10", "10:00"), ("at 3", "15:00"),
                                            ("noon", "12:00"), ("half two", "14:30"),
                                            ("half past 9", "09:30"),
                                            ("quarter to one", "12:45"),
                                            ("quarter past ten am", "10:15"),
                                            ("four o'clock", "16:00"),
                                            # a meeting's 2:30 is the afternoon, as "at 2" is
                                            ("2:30", "14:30"), ("2.30", "14:30"),
                                            ("02:30", "02:30"), ("8.15", "08:15")])
def test_times_people_type(text, expected):
    assert split_time(text)[0].strftime("%H:%M") == expected


@pytest.mark.parametrize("text, expected", [
    ("Friday", dt.date(2015, 3, 6)), ("on Monday", dt.date(2015, 3, 9)),
    ("this thurs", dt.date(2015, 3, 5)), ("next Monday", dt.date(2015, 3, 9))])
def test_weekdays_people_type(text, expected):
    # said on Monday 2 March 2015: the first such day after today
    assert parse_date(text, dt.date(2015, 3, 2)) == expected


def test_next_weekday_is_asked_when_it_could_be_this_week_or_the_next():
    # On a Monday, "next Tuesday" is tomorrow to some people and a week later to others.
    with pytest.raises(WhenError, match="Do you mean Tuesday 3 March or Tuesday 10 March?"):
        parse_date("next Tuesday", dt.date(2015, 3, 2))
    # Said on a Friday, the coming Tuesday is already in the next week.
    assert parse_date("next Tuesday", dt.date(2015, 3, 6)) == dt.date(2015, 3, 10)
    # a week is no day: asked, not a day picked for them, with an answer that names the week
    # (after "Which day next week?" a bare "Tuesday" is this week's)
    with pytest.raises(WhenError, match="Which day next week[?] Please give the day, like "
                                        "Tuesday 3 March or just Tuesday") as asked:
        parse_date("next week", dt.date(2015, 3, 1))
    # ... and the answer "Tuesday" is read in the week asked about
    assert parse_date("Tuesday", dt.date(2015, 3, 1), asked.value.week_of) == dt.date(2015, 3, 3)
    assert parse_date("Tuesday next week", dt.date(2015, 3, 2)) == dt.date(2015, 3, 10)
    assert parse_date("next week on Tues", dt.date(2015, 3, 8)) == dt.date(2015, 3, 10)
    # the British "Thursday week": a week after the coming Thursday
    assert parse_date("Thursday week", dt.date(2015, 3, 2)) == dt.date(2015, 3, 12)
    # said on that very weekday, it may be a week today: asked
    with pytest.raises(WhenError, match="Do you mean Friday 13 March [(]a week today[)] or "
                                        "Friday 20 March"):
        parse_date("a week on Friday", dt.date(2015, 3, 6))
    # "this Tuesday" on a Tuesday is today; "Tuesday" alone, a week on
    assert parse_date("this Tuesday", dt.date(2015, 3, 3)) == dt.date(2015, 3, 3)
    assert parse_date("Tuesday", dt.date(2015, 3, 3)) == dt.date(2015, 3, 10)


@pytest.mark.parametrize("text, today, expected", [
    ("3", dt.date(2015, 3, 10), dt.date(2015, 4, 3)), ("the 3rd", dt.date(2015, 3, 2),
                                                       dt.date(2015, 3, 3)),
    ("on the 10th", dt.date(2015, 3, 10), dt.date(2015, 3, 10)),
    ("5th", dt.date(2015, 12, 20), dt.date(2016, 1, 5))])
def test_a_day_of_the_month_alone_is_the_next_one_to_come(text, today, expected):
    assert parse_date(text, today) == expected


def test_a_day_of_the_month_that_the_next_month_lacks_is_asked_again(door: FrontDoor):
    with pytest.raises(WhenError, match="February has no 31st. Which day did you mean?"):
        parse_date("31st", dt.date(2015, 2, 1))
    door.text(AMIRA, "/book")
    assert "isn't a day of the month" in door.text(AMIRA, "45")


@pytest.mark.parametrize("text, expected", [
    ("Thursday 12 March", dt.date(2015, 3, 12)), ("wed 11/3", dt.date(2015, 3, 11))])
def test_a_weekday_given_with_its_date(text, expected):
    assert parse_date(text, dt.date(2015, 3, 2)) == expected


def test_a_weekday_that_is_not_the_dates_own_is_asked_again(door: FrontDoor, services):
    refused = door.text(AMIRA, "/book friday 12 march 2pm 2h virtual")
    assert "12 March 2015 is a Thursday, not a Friday. Which day did you mean?" in refused
    # "next tues 2" is not taken as the 2nd (a Monday, today)
    assert "is a Monday, not a Tuesday" in door.text(AMIRA, "next tues 2")
    with services.uow() as db:
        assert db.scalars(select(PeerSession)).first() is None


def test_the_day_step_keeps_a_time_and_length_given_with_it(door: FrontDoor):
    door.text(AMIRA, "/book")
    reply = door.text(AMIRA, "Friday 2pm for 2 hours")
    assert "Face to face or virtual?" in reply
    door.text(AMIRA, "cancel")
    door.text(AMIRA, "/book")
    assert "couldn't read a date in \u201c2 hours\u201d" in door.text(AMIRA, "2 hours")


def test_a_day_that_cannot_be_booked_is_refused_at_once_and_can_be_changed(door: FrontDoor):
    door.text(AMIRA, "/book")
    assert door.text(AMIRA, "yesterday").startswith("Sunday 1 March 2015 has passed.")
    assert "within the programme" in door.text(AMIRA, "1 Jan 2016")
    assert door.text(AMIRA, "12 March").startswith("What time on Thursday 12 March 2015?")
    # the time step takes another day too, rather than insisting on a time
    assert "How long?" in door.text(AMIRA, "13 March 3pm")
    door.text(AMIRA, "2h")
    assert "Friday 13 March 2015, 15:00 to 17:00" in door.text(AMIRA, "virtual")


def test_a_day_asked_again_keeps_the_rest_of_the_line(door: FrontDoor):
    asked = door.text(AMIRA, "/book next Tuesday 2pm 2h virtual")  # said on a Monday
    assert asked.startswith("Do you mean Tuesday 3 March or Tuesday 10 March?")
    assert door.text(AMIRA, "10 March") == (
        "Propose to Dr James Okafor: Tuesday 10 March 2015, 14:00 to 16:00, virtual?")


def test_a_weekday_answering_which_day_next_week_is_in_next_week(door: FrontDoor):
    door.text(AMIRA, "/book")  # on Monday 2 March
    assert door.text(AMIRA, "next week").startswith("Which day next week?")
    assert door.text(AMIRA, "Thurs").startswith("What time on Thursday 12 March 2015?")
    door.text(AMIRA, "cancel")
    door.text(AMIRA, "/book next week 2pm 2h virtual")
    assert door.text(AMIRA, "Tuesday") == (
        "Propose to Dr James Okafor: Tuesday 10 March 2015, 14:00 to 16:00, virtual?")


def test_four_digits_are_a_rota_time_unless_they_are_a_year(door: FrontDoor):
    assert "Wednesday 4 March 2015, 14:00 to 16:00, virtual?" in door.text(
        AMIRA, "/book 4 March 1400 2h virtual")
    door.text(AMIRA, "cancel")
    door.text(AMIRA, "/book 4 March 2015")
    assert door.text(AMIRA, "1430").startswith("How long?")
    door.text(AMIRA, "2h")
    assert "Wednesday 4 March 2015, 14:30 to 16:30" in door.text(AMIRA, "virtual")


def test_a_spoken_time_books_at_that_time(door: FrontDoor):
    read_back = door.text(AMIRA, "/book 12 march half two 2h virtual")
    assert "Thursday 12 March 2015, 14:30 to 16:30, virtual" in read_back


def test_a_question_about_booking_is_answered_with_an_offer_not_a_form(door: FrontDoor):
    replies = door.send(AMIRA, "how do we book our sessions?")
    # the documents' answer: pairs agree their own dates (not the expenses section's "booking")
    assert "Source:" in replies[0].text and "on agreed dates" in replies[0].text
    assert "Which day?" in door.press(AMIRA, "Book a session")[0].text
    door.text(AMIRA, "cancel")
    assert "Which day?" in door.text(AMIRA, "book a session")  # an instruction starts it


def test_the_progress_line_counts_down_and_stops_nudging_once_the_programme_ends(
        door: FrontDoor, clock):
    assert door.text(AMIRA, "/sessions").endswith("0 held, 0 booked, 6 to 8 expected, "
                                                  "6 months left.")
    clock.set(local(2015, 9, 1))
    assert "30 days left. You're behind the pace" in door.text(AMIRA, "/sessions")
    clock.set(local(2015, 10, 5))
    last = door.text(AMIRA, "/sessions")
    assert "the programme ended on Wednesday 30 September 2015." in last and "behind" not in last


def test_the_progress_line_shows_open_proposals_which_count_towards_the_maximum(
        door: FrontDoor, clock):
    propose(door)
    assert "0 held, 0 booked (and 1 proposed, waiting for an answer), 6 to 8 expected" in \
        door.text(AMIRA, "/sessions")
    clock.set(local(2015, 4, 9, 15))  # the proposal lapsed unanswered
    assert "0 held, 0 booked, 6 to 8 expected" in door.text(AMIRA, "/sessions")


def test_home_shows_a_past_session_nobody_confirmed_with_its_buttons(door: FrontDoor,
                                                                    services, clock):
    accepted_session(door, services)  # Friday 10 April, 2pm to 5pm
    assert [c.label for c in door.send(AMIRA, "/home")[0].choices] == []  # nothing to answer
    clock.set(clock.now().replace(month=4, day=18))  # over, and the question was missed
    home = door.send(AMIRA, "/home")[0]
    assert "- none booked" not in home.text  # it used to say so above "0 held, 1 booked"
    assert "virtual (awaiting confirmation that it took place)" in home.text
    assert [c.label for c in home.choices] == ["Held 10/04 14:00", "Didn't happen 10/04 14:00"]
    assert "1 held, 0 booked" in door.press(AMIRA, "Held 10/04 14:00")[0].text


def test_home_shows_a_proposal_as_sessions_does_with_its_answer_buttons(door: FrontDoor, clock):
    propose(door)
    home = door.send(JAMES, "/home")[0]
    assert "virtual (waiting for your answer)" in home.text
    assert [c.label for c in home.choices] == ["Accept 10/04 14:00", "Decline 10/04 14:00"]
    assert "(waiting for Dr James Okafor's answer)" in door.text(AMIRA, "/home")
    clock.advance(hours=73)
    expired = door.send(JAMES, "/home")[0]
    assert "(expired)" in expired.text and expired.choices == ()



def test_a_move_form_for_a_session_cancelled_meanwhile_is_set_aside(door: FrontDoor, services):
    session_id = accepted_session(door, services)
    door.send(JAMES, "/sessions")
    door.press(JAMES, "Move 10/04 14:00")  # James is asked when it should be instead
    door.router.handle(door.incoming(AMIRA, action_id="booking.cancel_confirmed",
                                     action_value=session_id))
    aside, reply = door.send(JAMES, "17 April 10am")
    assert aside.text == ("(I set your unfinished session move aside: that session is no "
                          "longer booked, or has started, so it can't be moved. Nothing from "
                          "it was saved.)")
    assert the_session(services).status == "cancelled"


def test_a_move_to_a_time_range_takes_its_length(door: FrontDoor, services):
    accepted_session(door, services)  # Friday 10 April, 2pm to 5pm
    door.send(JAMES, "/sessions")
    door.press(JAMES, "Move 10/04 14:00")
    sent = door.text(JAMES, "24 April 2-4pm")
    assert "to Friday 24 April 2015, 14:00 to 16:00, virtual" in sent, sent
    door.send(JAMES, "/sessions")
    door.press(JAMES, "Move 10/04 14:00")
    assert "Sessions last 2 to 3 hours (that was 4 hours)" in door.text(JAMES, "24 April 9am-1pm")


def test_a_session_said_not_to_have_taken_place_stays_listed_to_put_right(
        door: FrontDoor, services, clock):
    accepted_session(door, services)
    clock.set(local(2015, 4, 11))
    door.send(JAMES, "/sessions")
    door.press(JAMES, "Didn't happen 10/04 14:00")
    [listing] = door.send(AMIRA, "/sessions")
    assert "- Friday 10 April 2015, 14:00 to 17:00, virtual (did not take place)" in listing.text
    assert [c.label for c in listing.choices] == ["It took place 10/04 14:00"]
    assert "1 held, 0 booked" in door.press(AMIRA, "It took place 10/04 14:00")[0].text


def test_a_face_to_face_session_without_its_place_reads_cleanly(services):
    from handlers.booking import describe

    erased = PeerSession(starts_at=local(2015, 4, 10, 14), ends_at=local(2015, 4, 10, 17),
                         mode="face to face", place="", link="")  # erasure clears the place
    assert describe(services.programme, erased) == ("Friday 10 April 2015, 14:00 to 17:00, "
                                                    "face to face")


REPAIRED = {AMIRA: TOM, TOM: AMIRA, SIAN: JAMES, JAMES: SIAN}


def test_sessions_with_a_former_partner_stay_listed_and_can_still_be_confirmed(
        door: FrontDoor, services, clock):
    door.book(AMIRA, JAMES, "24 March 2pm 3h virtual")
    door.book(SIAN, TOM, "25 March 2pm 3h virtual")
    clock.set(local(2015, 3, 27))
    door.send(AMIRA, "/sessions")
    door.press(AMIRA, "Held 24/03 14:00")
    import_partners(services, REPAIRED)
    # the count is the new pair's, as the programme counts each pair's own sessions
    assert door.text(AMIRA, "/sessions") == (
        "*Your sessions with Mr Tom Hughes*\n"
        "- none yet: send /book to propose one\n"
        "Earlier, with Dr James Okafor:\n"
        "- Tuesday 24 March 2015, 14:00 to 17:00, virtual (held)\n"
        "For your pair with Mr Tom Hughes: 0 held, 0 booked, 6 to 8 expected, 6 months left. "
        "You're behind the pace needed to reach 6 by Wednesday 30 September 2015: /book the "
        "next one now?")
    home = door.send(TOM, "/home")[0]
    assert "- Wednesday 25 March 2015, 14:00 to 17:00, virtual, with Dr Sian Roberts " \
        "(awaiting confirmation that it took place)" in home.text
    [listing] = door.send(TOM, "/sessions")
    assert "Earlier, with Dr Sian Roberts:\n- Wednesday 25 March 2015, 14:00 to 17:00, " \
        "virtual (awaiting confirmation that it took place)" in listing.text
    assert [c.label for c in listing.choices] == ["Held 25/03 14:00", "Didn't happen 25/03 14:00"]
    # the team sees it too, though the pair is no more
    assert ("Earlier pairs, awaiting confirmation that a session took place: Dr Sian Roberts & "
            "Mr Tom Hughes, Wednesday 25 March 2015, 14:00 to 17:00, virtual") in door.text(
        GARETH, "/pairs")
    assert door.press(TOM, "Held 25/03 14:00")[0].text == "Thanks, noted."
    assert "Earlier pairs" not in door.text(GARETH, "/pairs")
    assert "Earlier, with Mr Tom Hughes:\n- Wednesday 25 March 2015, 14:00 to 17:00, virtual " \
        "(held)" in door.text(SIAN, "/sessions")


def test_a_past_session_nobody_confirmed_is_awaiting_confirmation_not_booked(
        door: FrontDoor, services, clock):
    accepted_session(door, services)  # Friday 10 April
    assert "0 held, 1 booked, 6 to 8 expected" in door.text(AMIRA, "/sessions")
    clock.set(local(2015, 7, 8))
    [pairs] = door.send(GARETH, "/pairs csv")
    assert "- Dr Amira Khan & Dr James Okafor: 0 held, 0 booked, 1 awaiting confirmation " \
        "\u2013 behind pace" in pairs.text
    assert "Dr Amira Khan & Dr James Okafor,0,0,yes,1" in pairs.file.data.decode("utf-8-sig")
    assert "0 held, 0 booked, 1 awaiting confirmation, 6 to 8 expected" in door.text(JAMES,
                                                                                     "/home")


def test_a_re_pairing_withdraws_a_proposal_and_sends_no_calendar_file_for_it(
        door: FrontDoor, services):
    accepted_session(door, services)  # Amira and James: booked for Friday 10 April
    door.text(TOM, "/whoami")
    door.text(SIAN, "/book 11 April 2pm 3h virtual")
    door.text(SIAN, "yes")  # Tom has not answered
    import_partners(services, REPAIRED)
    for who, other in ((SIAN, "Mr Tom Hughes"), (TOM, "Dr Sian Roberts")):
        [withdrawn] = [m for m in outbox_for(services, who) if "withdrawn" in m.text]
        assert withdrawn.text == (f"The proposed peer session with {other}, Saturday 11 April "
                                  "2015, 14:00 to 17:00, virtual, is withdrawn: the programme "
                                  "team has changed the pairs.") and withdrawn.file_data is None
    [cancelled] = [m for m in outbox_for(services, AMIRA) if "is cancelled" in m.text]
    assert cancelled.text.startswith("Your peer session with Dr James Okafor, Friday 10 April")
    assert b"METHOD:CANCEL" in cancelled.file_data


@pytest.mark.parametrize("typed", ["no, keep it", "Keep it", "no"])
def test_a_typed_answer_to_cancel_works_as_its_buttons_do(door: FrontDoor, services, typed):
    accepted_session(door, services)
    door.send(AMIRA, "/sessions")
    door.press(AMIRA, "Cancel 10/04 14:00")
    assert door.text(AMIRA, typed) == "Kept: Friday 10 April 2015, 14:00 to 17:00, virtual."
    with services.uow() as db:
        assert db.scalars(select(UnansweredQuestion)).all() == []  # not a question
    door.send(AMIRA, "/sessions")
    door.press(AMIRA, "Cancel 10/04 14:00")
    [cancelled] = door.send(AMIRA, "Yes, cancel it")
    assert cancelled.text.startswith("Cancelled Friday 10 April 2015") \
        and b"METHOD:CANCEL" in cancelled.file.data
    assert the_session(services).status == "cancelled"


def test_a_button_answering_the_cancel_question_closes_it(door: FrontDoor, services):
    accepted_session(door, services)
    door.send(AMIRA, "/sessions")
    door.press(AMIRA, "Cancel 10/04 14:00")
    door.press(AMIRA, "Keep it")
    assert "not waiting for a typed answer" in door.text(AMIRA, "yes")
    assert the_session(services).status == "booked"
