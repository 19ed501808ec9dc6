"""Challenge teams and note destruction: sign-off asks every member, confirmations are
recorded once, reminders repeat until each member confirms, the manager sees who has."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from handlers.identity import ImportProblem, import_participants
from handlers.notes import NotesError, due_note_reminders, sign_off
from handlers.privacy import erase_participant
from handlers.storage.models import (
    AuditEntry,
    Challenge,
    ChallengeMember,
    OutboxMessage,
    Participant,
)
from tests.conftest import AMIRA, GARETH, HELEN, JAMES, PRIYA, SIAN, FrontDoor, local

HEADER = "name,email,role,organisation,region,partner_email,challenge\n"
WEEK = dt.timedelta(days=7)


def person_id(services, email: str) -> int:
    with services.uow() as db:
        return db.scalars(select(Participant.id).where(Participant.email == email)).one()


def members(services, name: str = "stp-north") -> dict[str, dt.datetime | None]:
    with services.uow() as db:
        challenge = db.scalars(select(Challenge).where(Challenge.name == name)).one()
        return {m.participant.email: m.notes_destroyed_at for m in challenge.members}


def outbox(services, kind: str) -> list[OutboxMessage]:
    with services.uow() as db:
        return list(db.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)
                               .order_by(OutboxMessage.id)))


def audits(services, action: str) -> list[AuditEntry]:
    with services.uow() as db:
        return list(db.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def sign_off_in_chat(door: FrontDoor, who: str, name: str) -> str:
    """/signoff asks first; this confirms."""
    door.text(who, f"/signoff {name}")
    return door.press(who, "Yes, sign off")[0].text


def signed_off(door: FrontDoor) -> None:
    door.text(HELEN, "/challenge create stp-north")
    assert "Signed off stp-north" in sign_off_in_chat(door, HELEN, "stp-north")


def press_destroyed(door: FrontDoor, who: str, services) -> str:
    request = next(m for m in outbox(services, "notes_request")
                   if m.participant_id == person_id(services, who))
    label, action, value = request.choices[0]
    assert label == "I've destroyed my notes"
    replies = door.router.handle(door.incoming(who, action_id=action, action_value=value))
    return replies[0].text


# ---------------------------------------------------------------- teams
def test_demo_cohort_has_a_challenge_team(services):
    assert set(members(services)) == {AMIRA, JAMES, SIAN}


def test_csv_challenge_column_adds_members_idempotently(services):
    csv = HEADER.rstrip("\n") + ",notes\n" + (
        "Ann Lee,ann@example.org,peer,Org,North,,ICB South,likes tea\n"
        "Bob Day,bob@example.org,expert_peer,Org,North,,icb-south,\n"
        "Cal Roe,cal@example.org,peer,Org,North,,,\n")
    with services.uow() as db:
        first = import_participants(db, csv, services.clock.now())
    assert (first.added, first.updated) == (3, 0)
    assert set(members(services, "icb-south")) == {"ann@example.org", "bob@example.org"}
    with services.uow() as db:
        again = import_participants(db, csv, services.clock.now())
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)
    moved = csv.replace("Cal Roe,cal@example.org,peer,Org,North,,,",
                        "Cal Roe,cal@example.org,peer,Org,North,,icb-south,")
    with services.uow() as db:
        assert import_participants(db, moved, services.clock.now()).updated == 1
    assert len(members(services, "icb-south")) == 3


@pytest.mark.parametrize("row, problem", [
    ("Gail,gail@example.org,programme_team,O,R,,stp-north\n", "only peers and expert peers"),
    ("Ann,ann@example.org,peer,O,R,,no/slashes\n", "not a usable challenge name"),
])
def test_csv_challenge_problems_import_nothing(services, row, problem):
    with services.uow() as db, pytest.raises(ImportProblem, match=problem):
        import_participants(db, HEADER + row, services.clock.now())
    with services.uow() as db:
        assert db.scalars(select(Participant).where(Participant.email.like("%ann@%"))).first() \
            is None


def test_peers_cannot_manage_challenges(door: FrontDoor):
    for command in ("/signoff stp-north", "/challenge create x", "/team add stp-north "
                    + PRIYA, "/notes status stp-north"):
        assert "only challenge managers and the programme team" in door.text(AMIRA, command)


def test_challenge_manager_creates_and_keeps_the_team(door: FrontDoor, services):
    assert "no challenge manager yet" in door.text(HELEN, "/signoff stp-north")
    assert "managed by Helen Price" in door.text(HELEN, "/challenge create stp-north")
    assert "stp-north: 3 members, managed by Helen Price, in progress" in \
        door.text(HELEN, "/challenge")
    assert "Added Dr Priya Nair" in door.text(HELEN, f"/team add stp-north {PRIYA}")
    assert "Created the challenge cheshire-and-mersey-stp" in door.text(
        HELEN, "/challenge create Cheshire and Mersey STP")
    assert "is not a usable challenge name" in door.text(HELEN, "/challenge create A & B")
    # one team however it is typed: not a second challenge beside stp-north
    assert door.text(HELEN, "/challenge create STP_North").startswith("stp-north is managed")
    assert "*stp-north*" in door.text(HELEN, "/challenge stp.north")
    assert door.text(HELEN, "/challenge stp-north") == (
        "*stp-north*, managed by Helen Price, in progress: Dr Amira Khan, Dr James Okafor, "
        "Dr Priya Nair, Dr Sian Roberts.")
    assert "already on" in door.text(HELEN, f"/team add stp-north {PRIYA}")
    assert "Only peers and expert peers" in door.text(HELEN, f"/team add stp-north {GARETH}")
    assert "Removed Dr Priya Nair" in door.text(HELEN, f"/team remove stp-north {PRIYA}")
    assert set(members(services)) == {AMIRA, JAMES, SIAN}
    assert [a.action for a in audits(services, "challenge.member.add")] == ["challenge.member.add"]
    assert "no challenge called nope" in door.text(GARETH, f"/team add nope {PRIYA}")
    door.text(HELEN, "/challenge create solo")
    assert "to solo (1 member)." in door.text(HELEN, f"/team add solo {PRIYA}")


def test_every_command_takes_a_name_of_several_words(door: FrontDoor, services):
    door.text(HELEN, "/challenge create stp-north")
    assert door.text(HELEN, "/challenge STP North").startswith("*stp-north*, managed by Helen")
    assert "Added Dr Priya Nair to stp-north" in door.text(HELEN, f"/team add STP North {PRIYA}")
    assert "Removed Dr Priya Nair from stp-north" in door.text(HELEN,
                                                               f"/team remove STP North {PRIYA}")
    assert door.text(HELEN, "/notes status STP North").startswith("stp-north isn't signed off")
    unknown = "There is no challenge called acute-trust-review (known: stp-north)."
    for command in ("/challenge Acute Trust Review", f"/team add Acute Trust Review {PRIYA}",
                    f"/team remove Acute Trust Review {PRIYA}",
                    "/notes status Acute Trust Review", "/signoff Acute Trust Review"):
        assert door.text(HELEN, command) == unknown, command
    assert door.text(HELEN, "/team add STP North").startswith("Send /team add CHALLENGE EMAIL")


def test_programme_team_is_told_who_manages_an_existing_challenge(door: FrontDoor, services):
    assert door.text(GARETH, "/challenge create STP North") == (
        "stp-north has no challenge manager yet: name one with /challenge create stp-north "
        "EMAIL. It has 3 members.")
    door.text(HELEN, "/challenge create stp-north")
    assert door.text(GARETH, "/challenge create STP North") == (
        "stp-north is managed by Helen Price. It has 3 members.")
    assert len(audits(services, "challenge.manager")) == 1  # Helen's: asking changed nothing
    assert "Please name a registered challenge manager" in door.text(
        GARETH, "/challenge create icb-south")


def test_another_challenge_manager_cannot_sign_off(door: FrontDoor, services):
    with services.uow() as db:
        import_participants(db, HEADER + "Mo Ali,mo@example.org,challenge_manager,LGA,London,,\n",
                            services.clock.now())
    door.text(HELEN, "/challenge create stp-north")
    assert "Only Helen Price or the programme team" in door.text("mo@example.org",
                                                                 "/signoff stp-north")
    assert "already managed by Helen Price" in door.text("mo@example.org",
                                                         "/challenge create stp-north")


# ---------------------------------------------------------------- sign-off and confirming
def test_signoff_asks_first_naming_who_will_be_asked(door: FrontDoor, services):
    door.text(HELEN, "/challenge create stp-north")
    [question] = door.send(HELEN, "/signoff STP North")
    assert question.text == (
        "Sign off the stp-north report? I'll ask its 3 members (Dr Amira Khan, Dr James Okafor, "
        "Dr Sian Roberts) to destroy their notes and confirm. This cannot be undone, and the "
        "team can no longer change: nobody can join or leave it.")
    assert [c.label for c in question.choices] == ["Yes, sign off stp-north", "Not yet"]
    assert door.press(HELEN, "Not yet")[0].text == (
        "Nothing changed. Send /signoff stp-north when its report is signed off.")
    assert outbox(services, "notes_request") == [] and audits(services, "challenge.signoff") == []
    assert "Added Dr Priya Nair" in door.text(HELEN, f"/team add stp-north {PRIYA}")


def test_signoff_is_checked_again_at_the_tap(door: FrontDoor, services):
    door.text(HELEN, "/challenge create stp-north")
    door.text(HELEN, "/signoff stp-north")
    door.text(GARETH, "/signoff stp-north")
    assert "Signed off stp-north" in door.press(GARETH, "Yes, sign off")[0].text
    assert door.press(HELEN, "Yes, sign off")[0].text.startswith(
        "stp-north was already signed off on Monday 2 March 2015 09:00.")
    assert len(outbox(services, "notes_request")) == 3
    assert len(audits(services, "challenge.signoff")) == 1
    # handed to another manager between the question and the tap
    with services.uow() as db:
        import_participants(db, HEADER + "Mo Ali,mo@example.org,challenge_manager,LGA,London,,\n",
                            services.clock.now())
    door.text(HELEN, "/challenge create icb-south")
    door.text(HELEN, "/signoff icb-south")
    door.text(GARETH, "/challenge create icb-south mo@example.org")
    assert door.press(HELEN, "Yes, sign off")[0].text == (
        "Only Mo Ali or the programme team can manage icb-south.")


def test_signoff_asks_and_counts_only_members_still_on_the_programme(door: FrontDoor, services,
                                                                    clock):
    door.text(HELEN, "/challenge create stp-north")
    sian_id = person_id(services, SIAN)
    with services.uow() as db:
        erase_participant(db, db.get(Participant, sian_id), clock.now(), actor_id=None,
                          zone=services.programme.timezone)
    assert "It has 2 members" in door.text(HELEN, "/challenge create stp-north helen.price@"
                                                  "example.org")
    assert "its 2 members (Dr Amira Khan, Dr James Okafor)" in door.text(HELEN,
                                                                         "/signoff stp-north")
    assert "I've asked its 2 members" in door.press(HELEN, "Yes, sign off")[0].text
    assert {m.participant_id for m in outbox(services, "notes_request")} == {
        person_id(services, AMIRA), person_id(services, JAMES)}


def test_signoff_asks_every_member_and_only_them(door: FrontDoor, services, clock):
    signed_off(door)
    requests = outbox(services, "notes_request")
    assert {m.participant_id for m in requests} == {person_id(services, e)
                                                    for e in (AMIRA, JAMES, SIAN)}
    text = requests[0].text
    assert "handwritten and electronic" in text and "background documents" in text
    with services.uow() as db:
        challenge = db.scalars(select(Challenge)).one()
        assert challenge.signed_off_at == clock.now()
    assert len(audits(services, "challenge.signoff")) == 1
    assert "already signed off" in door.text(GARETH, "/signoff stp-north")
    assert len(outbox(services, "notes_request")) == 3
    # the signed-off team is the record of who still has to destroy their notes
    assert door.text(HELEN, f"/team remove stp-north {JAMES}").startswith(
        "stp-north is signed off, so its team is the record of who has destroyed their notes: "
        "Dr James Okafor stays on it.")
    assert JAMES in members(services)


def test_one_tap_confirmation_is_audited_with_time_and_harmless_twice(door, services, clock):
    door.text(AMIRA, "/whoami")
    signed_off(door)
    clock.advance(hours=1)
    assert "I've recorded that you destroyed your notes" in press_destroyed(door, AMIRA,
                                                                             services)
    clock.advance(hours=1)
    assert "already confirmed for stp-north on Monday 2 March 2015 10:00" in \
        press_destroyed(door, AMIRA, services)
    assert members(services)[AMIRA] == clock.now() - dt.timedelta(hours=1)
    [entry] = audits(services, "notes.destroyed")
    assert entry.at == clock.now() - dt.timedelta(hours=1)
    assert entry.actor_id == person_id(services, AMIRA)


def test_command_confirmation_and_before_signoff(door: FrontDoor, services, clock):
    assert "no notes to destroy" in door.text(JAMES, "/notes destroyed")
    assert "isn't signed off yet" in door.text(JAMES, "/notes destroyed stp-north")
    signed_off(door)
    assert "I've recorded" in door.text(JAMES, "/notes destroyed")
    assert members(services)[JAMES] == clock.now()
    assert "already confirmed" in door.text(JAMES, "/notes destroyed")
    in_group = door.send(JAMES, "/notes destroyed", private=False)  # answered privately
    assert "private message" in in_group[0].text and in_group[1].private_only
    # said in plain words, it is the same confirmation
    assert "I've recorded" in door.text(SIAN, "I have destroyed my notes")
    assert members(services)[SIAN] == clock.now()


def test_home_shows_notes_waiting_to_be_destroyed_with_the_button(door: FrontDoor, services):
    assert "*Your notes*" not in door.text(SIAN, "/home")
    signed_off(door)
    home = door.send(SIAN, "/home")[0]
    assert ("*Your notes*\n- stp-north: the report is signed off, so please destroy your notes "
            "and the background documents, then confirm") in home.text
    assert [c.label for c in home.choices] == ["I've destroyed my notes"]
    assert "I've recorded" in door.press(SIAN, "I've destroyed my notes")[0].text
    assert members(services)[SIAN] is not None
    assert "*Your notes*" not in door.text(SIAN, "/home")


def test_several_pending_challenges_ask_which(door: FrontDoor, services):
    door.text(HELEN, "/challenge create icb-south")
    door.text(HELEN, f"/team add icb-south {AMIRA}")
    signed_off(door)
    sign_off_in_chat(door, HELEN, "icb-south")
    assert "Which have you destroyed?" in door.text(AMIRA, "/notes destroyed")
    assert members(services)[AMIRA] is None
    replies = door.press(AMIRA, "All 2")
    assert replies[0].text.count("I've recorded") == 2
    assert members(services)[AMIRA] and members(services, "icb-south")[AMIRA]


def test_status_lists_who_has_and_has_not_confirmed(door: FrontDoor, services, clock):
    assert "/notes status: who has not yet" in door.text(HELEN, "/help")  # findable
    signed_off(door)
    clock.advance(hours=1)
    door.text(AMIRA, "/notes destroyed")
    status = door.text(HELEN, "/notes status stp-north")
    assert "1 of 3 have confirmed" in status
    assert "- Dr Amira Khan: confirmed Monday 2 March 2015 10:00" in status
    assert "- Dr James Okafor: not yet" in status and "- Dr Sian Roberts: not yet" in status
    assert door.send(GARETH, "/notes status stp-north")[0].private_only


def test_a_member_who_left_is_neither_confirmed_nor_waited_for(door: FrontDoor, services,
                                                                clock):
    signed_off(door)
    door.text(AMIRA, "/notes destroyed")
    sian_id = person_id(services, SIAN)
    with services.uow() as db:
        erase_participant(db, db.get(Participant, sian_id), clock.now(), actor_id=None,
                          zone=services.programme.timezone)
    status = door.text(HELEN, "/notes status stp-north")
    assert "1 of 2 have confirmed" in status and ": left the programme" in status
    assert "note destruction: 1 member of 1 challenge yet to confirm" in door.text(GARETH,
                                                                                  "/home")
    with services.uow() as db:
        due = due_note_reminders(db, services.programme, clock.now(), clock.now() + WEEK)
    [summary] = [m for m in due if m.kind == "notes_summary"]
    assert "1 of 2 have confirmed; still waiting for Dr James Okafor." in summary.text
    door.text(JAMES, "I've shredded my challenge notes")
    assert "All 2 members of stp-north have confirmed" in outbox(services, "notes_summary")[-1].text


def test_a_member_who_confirmed_and_then_left_is_counted_nowhere(door: FrontDoor, services,
                                                                 clock):
    signed_off(door)
    door.text(AMIRA, "/notes destroyed")
    amira_id = person_id(services, AMIRA)
    with services.uow() as db:
        erase_participant(db, db.get(Participant, amira_id), clock.now(), actor_id=None,
                          zone=services.programme.timezone)
    status = door.text(HELEN, "/notes status stp-north")
    assert "0 of 2 have confirmed" in status and ": confirmed" not in status  # the list agrees
    assert status.count(": left the programme") == 1 and status.count(": not yet") == 2
    assert "stp-north: 2 members" in door.text(HELEN, "/challenge")


def test_who_has_not_confirmed_across_challenges_in_plain_words(door: FrontDoor, clock):
    assert door.text(HELEN, "/notes status") == (  # none signed off: nobody to have confirmed
        "No challenge you manage is signed off yet, so no notes are waiting to be destroyed.")
    signed_off(door)
    door.text(AMIRA, "/notes destroyed")
    waiting = door.text(HELEN, "who hasn't confirmed destroying their notes yet?")
    assert "*Notes not yet confirmed destroyed*" in waiting
    assert "- stp-north (signed off Monday 2 March 2015 09:00): Dr James Okafor, " \
           "Dr Sian Roberts" in waiting
    assert "Dr Amira Khan" not in waiting
    # typed on a phone, without the apostrophe
    assert door.text(HELEN, "who hasnt confirmed destroying their notes?") == waiting
    assert "note destruction: 2 members of 1 challenge yet to confirm" in \
        door.text(GARETH, "/home")
    assert "*Your challenges*\n- note destruction: 2 members" in door.text(HELEN, "/home")
    # a peer asking the same words gets the documents, not the list
    assert "Dr James Okafor" not in door.text(AMIRA, "who has not confirmed note destruction?")


def test_manager_told_when_the_last_member_confirms(door: FrontDoor, services):
    signed_off(door)
    for who in (AMIRA, JAMES, SIAN):
        door.text(who, "/notes destroyed")
    [done] = outbox(services, "notes_summary")
    assert done.participant_id == person_id(services, HELEN)
    assert "All 3 members of stp-north have confirmed" in done.text
    door.text(HELEN, "/challenge create Acute Trust Review")
    door.text(HELEN, f"/team add acute-trust-review {PRIYA}")
    sign_off_in_chat(door, HELEN, "acute-trust-review")
    door.text(PRIYA, "/notes destroyed")
    assert outbox(services, "notes_summary")[-1].text == (
        "The one member of acute-trust-review has confirmed they destroyed their notes.")


def test_all_confirmed_is_said_of_what_each_manager_oversees(door: FrontDoor):
    assert door.text(GARETH, "/notes status") == (
        "No challenge is signed off yet, so no notes are waiting to be destroyed.")
    signed_off(door)
    for member in (AMIRA, JAMES, SIAN):
        door.text(member, "/notes destroyed")
    assert door.text(HELEN, "/notes status") == (
        "Everyone on every signed-off challenge you manage has confirmed destroying their notes.")
    assert door.text(GARETH, "/notes status") == (
        "Everyone on every signed-off challenge has confirmed destroying their notes.")


# ---------------------------------------------------------------- reminders
def test_a_manager_on_no_team_is_pointed_to_notes_status(door):
    signed_off(door)
    assert door.text(HELEN, "/notes destroyed").startswith(
        "You're on no challenge team, so there are no notes of yours to confirm. /notes status")


def test_reminders_go_at_nine_whatever_the_time_of_sign_off(door, services, clock):
    clock.set(local(2015, 3, 2, 22, 15))  # signed off late in the evening
    signed_off(door)
    with services.uow() as db:
        first = due_note_reminders(db, services.programme, clock.now(), clock.now() + WEEK)
    assert first and {m.due_at for m in first} == {local(2015, 3, 9, 9, 0)}


def test_reminders_every_interval_until_each_member_confirms(door, services, clock):
    signed_off(door)
    start = clock.now()
    programme = services.programme
    assert programme.reminders.note_destruction_every == WEEK
    with services.uow() as db:
        assert due_note_reminders(db, programme, start, start + WEEK - dt.timedelta(1)) == []
        first = due_note_reminders(db, programme, start, start + WEEK)
        three_weeks = due_note_reminders(db, programme, start, start + 3 * WEEK)
        later_only = due_note_reminders(db, programme, start + WEEK, start + 2 * WEEK)
    reminders = [m for m in first if m.kind == "notes_reminder"]
    assert {m.to.email for m in reminders} == {AMIRA, JAMES, SIAN}
    assert all(m.due_at == start + WEEK and not m.optional for m in first)
    assert reminders[0].choices[0].action_id == "notes.destroyed"
    [summary] = [m for m in first if m.kind == "notes_summary"]
    assert summary.to.email == HELEN
    assert "0 of 3 have confirmed; still waiting for Dr Amira Khan, Dr James Okafor, " \
        "Dr Sian Roberts" in summary.text
    assert len(three_weeks) == 12 and len({m.key for m in three_weeks}) == 12
    assert {m.due_at for m in later_only} == {start + 2 * WEEK}

    clock.advance(days=8)
    door.text(AMIRA, "/notes destroyed")
    with services.uow() as db:
        after = due_note_reminders(db, programme, start + WEEK, start + 3 * WEEK)
    assert AMIRA not in {m.to.email for m in after}
    assert len([m for m in after if m.kind == "notes_reminder"]) == 4
    assert "1 of 3 have confirmed; still waiting for Dr James Okafor, Dr Sian Roberts" in \
        next(m for m in after if m.kind == "notes_summary").text

    door.text(JAMES, "/notes destroyed")
    door.text(SIAN, "/notes destroyed")
    with services.uow() as db:
        assert due_note_reminders(db, programme, start, start + 10 * WEEK) == []


def test_sign_off_for_the_command_line(services, clock):
    with services.uow() as db:
        challenge, asked = sign_off(db, services.programme, "STP North", None, clock.now())
        assert (challenge.name, asked, challenge.signed_off_by) == ("stp-north", 3, None)
    with services.uow() as db, pytest.raises(NotesError, match="already signed off"):
        sign_off(db, services.programme, "stp-north", None, clock.now())
    priya = person_id(services, PRIYA)
    with services.uow() as db:
        assert db.get(ChallengeMember, (challenge.id, priya)) is None


def test_challenge_names_stored_with_dots_or_underscores_take_hyphens(tmp_path):
    from sqlalchemy import text

    from handlers.storage.db import make_engine, upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0015")
    with engine.begin() as connection:
        for name in ("stp_north", "stp.south", "stp-east", "stp_east"):
            connection.execute(text("INSERT INTO challenges (name, created_at) VALUES "
                                    "(:name, '2015-03-02 09:00:00')"), {"name": name})
    upgrade(engine)
    with engine.connect() as connection:
        names = set(connection.execute(text("SELECT name FROM challenges")).scalars())
    engine.dispose()
    # stp_east keeps its name: renaming it would merge it with the other team
    assert names == {"stp-north", "stp-south", "stp-east", "stp_east"}
