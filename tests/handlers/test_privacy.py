"""Data protection: export, erasure that leaves nothing in the file, and retention periods."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from sqlalchemy import ForeignKey, func, select

from handlers.core import Context
from handlers.identity import import_participants, issue_invite
from handlers.messages import Attachment
from handlers.privacy import (
    COVERED,
    ERASED_ROLE,
    cohort_deadline,
    erase_participant,
    export_participant,
    purge,
)
from handlers.storage.db import checkpoint_wal
from handlers.storage.models import (
    Account,
    AuditEntry,
    Base,
    Claim,
    Conversation,
    ErasureRecord,
    InviteCode,
    OutboxMessage,
    Participant,
    PeerSession,
    ProcessedEvent,
    Receipt,
    ReminderOptOut,
    TeamAnswer,
    UnansweredQuestion,
)
from scheduler.reminders import ReminderJob
from tests.conftest import AMIRA, GARETH, JAMES, PRIYA, FrontDoor, local

NAME = "Zebedee Quimby-Fenwick"
EMAIL = "zebedee.quimby@example.test"
SURNAME = "Quimby"
RECEIPT_BYTES = b"%PDF-1.4 hotel receipt for Zebedee Quimby-Fenwick, room 12"
PERSONAL_COLUMN = re.compile(r"(participant_id|asker_id|actor_id)$")


# ---------------------------------------------------------------- a person with a history
def register(services) -> None:
    csv = ("name,email,role,organisation,region,partner_email\n"
           f"{NAME},{EMAIL},expert_peer,Quimby Trust,North,{PRIYA}\n")
    with services.uow() as db:
        import_participants(db, csv, services.clock.now())


def person(db, email: str = EMAIL) -> Participant:
    return db.scalars(select(Participant).where(Participant.email == email)).one()


def history(door: FrontDoor, services) -> None:
    """Link, book, claim (one paid with a receipt, one withdrawn), ask, opt out, leave a
    form."""
    register(services)
    door.text(GARETH, "/whoami")
    door.text(PRIYA, "/whoami")
    assert "Welcome" in door.text(EMAIL, "/link") or door.text(EMAIL, "/whoami")
    door.text(EMAIL, "/book 20 July 2pm 3h face to face at Quimby House, Leeds")
    assert "Sent to" in door.text(EMAIL, "yes")
    with services.uow() as db:
        session_id = db.scalars(select(PeerSession.id)).one()
    door.router.handle(door.incoming(PRIYA, action_id="booking.accept",
                                     action_value=str(session_id)))
    services.clock.set(local(2015, 7, 9))  # accommodation is claimed after the stay
    door.text(EMAIL, "/claim 8 July £95")
    door.send(EMAIL, "", attachment=Attachment("quimby-receipt.pdf", "application/pdf",
                                               len(RECEIPT_BYTES), lambda: RECEIPT_BYTES))
    assert "Submitted" in door.text(EMAIL, "yes")
    door.router.handle(door.incoming(GARETH, action_id="claims.approve", action_value="1"))
    door.text(GARETH, "/paid 1")
    assert "Marked paid" in door.press(GARETH, "Yes, paid #1")[0].text
    door.text(EMAIL, "/claim London £150")
    door.text(EMAIL, "skip")
    door.text(EMAIL, "yes")
    door.text(EMAIL, "/claims")
    assert door.press(EMAIL, "Withdraw #2")[0].text.startswith("Withdrawn")
    door.send(EMAIL, f"/ask What colour is the moon cheese of {NAME}?")
    door.press(EMAIL, "Ask the programme team")
    with services.uow() as db:
        db.add(ReminderOptOut(participant_id=person(db).id, kind="event_reminder"))
        issue_invite(db, person(db), services.clock.now())
    door.text(EMAIL, "/book")  # an unfinished form


def raw_bytes(services, db_url: str) -> bytes:
    """The database file and its write-ahead log, byte for byte, after a checkpoint."""
    checkpoint_wal(services.uow.engine)
    path = Path(db_url.removeprefix("sqlite:///"))
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def forget(door: FrontDoor, who: str = EMAIL) -> str:
    assert "Are you sure?" in door.text(who, "/forgetme")
    assert "cannot be undone" in door.press(who, "Yes, continue")[0].text
    return door.press(who, "Erase my data")[0].text


# ---------------------------------------------------------------- the registry
def _holds_someone(table) -> bool:
    return any(PERSONAL_COLUMN.search(c.name)
               or any(fk.column.table.name == "participants" for fk in c.foreign_keys)
               for c in table.columns)


def test_every_table_that_refers_to_a_person_is_exported_and_erased():
    """Adding such a table without privacy support breaks this test, on purpose."""
    needing = {t.name for t in Base.metadata.sorted_tables if _holds_someone(t)}
    assert needing - set(COVERED) == set(), "add these tables to handlers.privacy.COVERED"
    assert {"accounts", "claims", "outbox", "audit_log"} <= needing  # the walk finds them
    assert set(COVERED) <= {t.name for t in Base.metadata.sorted_tables}


# ---------------------------------------------------------------- export
def test_export_holds_everything_and_no_receipt_bytes(door: FrontDoor, services):
    history(door, services)
    with services.uow() as db:
        data = export_participant(db, person(db), Context.outside_chat(db, services))
    assert set(data) == set(COVERED)
    text = json.dumps(data)  # serialisable as it is
    assert data["participants"]["email"] == EMAIL
    assert data["participants"]["partner"]["name"] == "Dr Priya Nair"
    assert [a["platform"] for a in data["accounts"]] == ["console"]
    assert [c["status"] for c in data["claims"]] == ["paid", "withdrawn"]
    assert data["claims"][0]["amount_pence"] == 9500
    assert data["receipts"] == [{"id": 1, "name": "quimby-receipt.pdf",
                                 "content_type": "application/pdf",
                                 "size": len(RECEIPT_BYTES),
                                 "uploaded_at": data["receipts"][0]["uploaded_at"]}]
    assert "hotel receipt" not in text
    assert data["peer_sessions"][0]["place"] == "Quimby House, Leeds"
    assert "moon cheese" in data["unanswered_questions"][0]["text"]
    assert data["reminder_optouts"] == ["event_reminder"]
    assert data["conversations"][0]["flow"] == "booking"
    assert len(data["invite_codes"]) == 1
    assert any(m["kind"] == "claim_update" for m in data["outbox"])
    actions = {e["action"] for e in data["audit_log"]}
    assert {"account.link", "session.propose", "claim.paid", "participants.invite"} <= actions


def test_mydata_sends_a_json_file_in_private_only(door: FrontDoor, services):
    history(door, services)
    notice, *elsewhere = door.send(EMAIL, "/mydata", private=False)
    assert "private message" in notice.text and all(r.private_only for r in elsewhere)
    door.text(EMAIL, "cancel")
    assert "couldn't find" in door.text(EMAIL, "is there parking at the hotel?")  # kept only
    reply = door.send(EMAIL, "/mydata")[-1]
    assert reply.private_only and "expense claims: 2, receipts: 1" in reply.text
    assert ("questions I couldn't answer surely: 2 (passed to the programme team: 1)"
            in reply.text)
    assert reply.file is not None and reply.file.content_type == "application/json"
    assert json.loads(reply.file.data)["participants"]["name"] == NAME


def test_team_answers_they_wrote_are_in_their_export(door: FrontDoor, services):
    door.text(PRIYA, "/ask What colour is the moon cheese at the zeppelin hangar?")
    door.press(PRIYA, "Ask the programme team")
    door.text(GARETH, "/answer 1 No zeppelins, sorry.")
    with services.uow() as db:
        data = export_participant(db, person(db, GARETH),
                                  Context.outside_chat(db, services))
    assert data["team_answers"][0]["answer"] == "No zeppelins, sorry."


# ---------------------------------------------------------------- erasure
def test_forgetme_asks_twice_and_cancel_keeps_everything(door: FrontDoor, services):
    history(door, services)
    warning = door.text(EMAIL, "/forgetme")  # what happens, said before anything happens
    assert "future ones are cancelled; your partner is told and left unpaired" in warning
    assert "paid ones are kept, without your name, for finance" in warning
    assert "Nothing from it was saved" in door.press(EMAIL, "Cancel")[0].text
    door.text(EMAIL, "/forgetme")
    door.press(EMAIL, "Yes, continue")
    door.press(EMAIL, "Cancel")
    with services.uow() as db:
        assert person(db).name == NAME
    notice, question = door.send(EMAIL, "/forgetme", private=False)
    assert "private message" in notice.text and question.private_only


def test_a_first_name_alone_in_shared_answers_and_questions_goes_with_the_person(
        door: FrontDoor, services):
    register(services)
    door.text(GARETH, "/whoami")
    assert "Welcome" in door.text(EMAIL, "/link") or door.text(EMAIL, "/whoami")
    shared = "Can Zebedee and I hold our peer sessions in the zeppelin hangar?"
    door.send(PRIYA, shared)
    door.press(PRIYA, "Ask the programme team")
    door.send(PRIYA, "Does Zebedee get a parking permit for the zeppelin hangar?")
    with services.uow() as db:
        first = db.scalars(select(UnansweredQuestion.id).order_by(UnansweredQuestion.id)).first()
    door.text(GARETH, f"/answer {first}! Yes, Zebedee and Priya may use the zeppelin hangar.")
    assert "Zebedee and Priya" in door.text(JAMES, shared)  # shared, as the team chose
    forget(door)
    with services.uow() as db:
        texts = [t for a in db.scalars(select(TeamAnswer)) for t in (a.question, a.answer)]
        texts += [t for q in db.scalars(select(UnansweredQuestion))
                  for t in (q.text, q.normalised)]
        # and the answer as it was sent to Priya, kept for the delivery log's period
        [sent] = db.scalars(select(OutboxMessage.text).where(
            OutboxMessage.kind == "team_answer")).all()
        texts.append(sent)
    assert texts and not any("zebedee" in t.lower() for t in texts), texts
    assert "Yes, [erased] and Priya may use the zeppelin hangar." in texts  # others stay
    later = door.text(JAMES, shared)  # the same process's index has caught up at once
    assert "zeppelin hangar" in later and "Zebedee" not in later


def test_a_first_name_in_a_question_sent_to_the_team_goes_from_the_team_s_copy(
        door: FrontDoor, services):
    """The team member's copy of a question (and so their /mydata file) names the erased
    person no more than the asker's own copy does."""
    door.text(GARETH, "/whoami")
    door.send(AMIRA, "Can I bring my partner James to the development day dinner?")
    assert "passed your question" in door.press(AMIRA, "Ask the programme team")[0].text
    forget(door, JAMES)
    with services.uow() as db:
        [to_team] = db.scalars(select(OutboxMessage.text).where(
            OutboxMessage.kind == "team_question")).all()
        [asked] = db.scalars(select(UnansweredQuestion.text)).all()
    assert asked == "Can I bring my partner [erased] to the development day dinner?"
    assert "\u201cCan I bring my partner [erased] to the development day dinner?" in to_team
    export = door.send(GARETH, "/mydata")[-1].file
    assert export is not None and "James" not in export.data.decode()


def test_forgetme_erases_and_says_what_finance_keeps(door: FrontDoor, services):
    history(door, services)
    reply = forget(door)
    # in plain words, each thing counted once: the cancelled session is not also "kept"
    assert "1 future peer session cancelled (partner told), 1 claim kept" in reply
    assert "peer session kept" not in reply and "redacted" not in reply
    assert "Kept for finance" in reply and "claim #1: £95" in reply and "paid" in reply
    assert "Goodbye" in reply
    with services.uow() as db:
        erased = db.get(Participant, 8)
        assert (erased.name, erased.email, erased.role) == (
            "Erased participant #8", "erased-8@invalid", ERASED_ROLE)
        assert (erased.organisation, erased.region, erased.partner_id) == ("", "", None)
        assert person(db, PRIYA).partner_id is None
        assert db.scalars(select(Account).where(Account.participant_id == 8)).all() == []
        assert db.scalars(select(InviteCode)).all() == []
        assert db.scalars(select(ReminderOptOut)).all() == []
        assert db.scalars(select(Conversation).where(
            Conversation.account_id.contains("zebedee"))).all() == []
        assert db.scalars(select(Receipt)).all() == []
        [claim] = db.scalars(select(Claim)).all()  # the withdrawn one is gone
        assert (claim.status, claim.amount_pence, claim.receipt_id, claim.reason) == (
            "paid", 9500, None, "")
        [question] = db.scalars(select(UnansweredQuestion)).all()
        assert (question.asker_id, question.asker_platform_account,
                question.asker_chat_id) == (None, None, None)
        assert NAME not in question.text
        mine = db.scalars(select(OutboxMessage).where(OutboxMessage.participant_id == 8)).all()
        assert all(m.status not in ("pending", "sending") and m.text == "" for m in mine)
        # the calendar file sent when the session was accepted named both of them; the only
        # one left takes the cancelled session out of the partner's diary, naming nobody
        [cancelling] = db.scalars(select(OutboxMessage).where(
            OutboxMessage.file_data.is_not(None))).all()
        ics = cancelling.file_data.decode()
        assert cancelling.idempotency_key.startswith("session:1:erased")
        assert "METHOD:CANCEL" in ics and "STATUS:CANCELLED" in ics and "SEQUENCE:1" in ics
        assert "SUMMARY:Peer session (cancelled)" in ics and "Quimby" not in ics
        [session] = db.scalars(select(PeerSession)).all()
        assert (session.status, session.place) == ("cancelled", "")
        told = db.scalars(select(OutboxMessage).where(
            OutboxMessage.idempotency_key.startswith("session:1:erased"))).one()
        assert told.participant_id == person(db, PRIYA).id and "left the programme" in told.text
        assert told.text.startswith("Your peer session on Monday 20 July 2015 at 14:00 is ")
        audit = db.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.erase")).one()
        assert audit.actor_id == 8 and audit.subject == "participant:8"
        assert all(isinstance(n, int) for n in audit.detail.values())
    # The chat account is unlinked: the bot no longer knows them.
    assert "I don't know who you are" in door.text(EMAIL, "/claims")


def _nothing_erased(services, who: str = AMIRA) -> None:
    with services.uow() as db:
        assert person(db, who).role != ERASED_ROLE
        assert db.scalars(select(Account).where(Account.participant_id == person(db, who).id)
                          ).all() != []
        assert db.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.erase")
                          ).all() == []


def test_forgetme_waits_until_no_claim_is_left_to_pay(door: FrontDoor, services, clock):
    """Erasing takes the name and email a payment goes to: a claim waiting for money would
    be listed as owed to "Erased participant #1", and nobody could pay it."""
    clock.set(local(2015, 3, 19))
    door.text(AMIRA, "/claim 18 March £95")
    door.text(AMIRA, "skip")
    assert "Submitted" in door.text(AMIRA, "yes")
    [waiting] = door.send(AMIRA, "/forgetme")  # no warning, no button to go ahead
    assert waiting.choices == () and waiting.private_only
    assert waiting.text == (
        "I haven't erased anything yet. Not paid yet: claim #1 Development day 1 (Wednesday "
        "18 March 2015, London): £95, submitted. Erasing now would remove the name and email "
        "it is paid to, so it could not be paid.\n"
        "- A claim still waiting for review can be withdrawn: send /claims and press its "
        "Withdraw button.\n"
        "Once none is waiting, send /forgetme again.")
    clock.set(local(2015, 3, 20))
    door.text(GARETH, "/review")
    door.press(GARETH, "Approve #1")
    clock.set(local(2015, 3, 21))
    approved = door.text(AMIRA, "delete my data")
    assert "#1 Development day 1 (Wednesday 18 March 2015, London): £95, approved" in approved
    assert "An approved claim is paid by the programme team; I'll tell you when" in approved
    assert "withdrawn" not in approved and "Are you sure?" not in approved
    _nothing_erased(services)
    assert "£95, approved from Dr Amira Khan" in door.text(GARETH, "/paid")  # not "Erased..."
    assert "I've told Dr Amira Khan." in door.press(GARETH, "Paid #1")[0].text
    done = forget(door, AMIRA)
    assert "Kept for finance" in done and "claim #1: £95 for Development day 1" in done
    assert "paid" in done


def test_a_claim_made_between_the_warning_and_the_confirmation_stops_the_erasure(
        door: FrontDoor, services, clock):
    """In another chat, say: the confirmation looks again, and erases nothing."""
    clock.set(local(2015, 3, 19))
    assert "Are you sure?" in door.text(AMIRA, "/forgetme")
    assert "cannot be undone" in door.press(AMIRA, "Yes, continue")[0].text
    with services.uow() as db:
        db.add(Claim(participant_id=person(db, AMIRA).id, kind="accommodation",
                     event_id="dev-day-london", event_label="Development day 1", amount_pence=9500,
                     cap_pence=15000, status="submitted", created_at=clock.now(),
                     updated_at=clock.now()))
    [refused] = door.press(AMIRA, "Erase my data")
    assert refused.text.startswith("I haven't erased anything yet. Not paid yet: claim #1 ")
    _nothing_erased(services)
    with services.uow() as db:
        assert db.scalars(select(Claim.status)).all() == ["submitted"]
    assert door.text(AMIRA, "/cancel") == "There is nothing to cancel."  # the form is over


def _proposal_left_to_expire(door: FrontDoor, clock) -> None:
    """On 2 March Amira proposes 20 March; James never answers; it is now 19 March."""
    door.text(JAMES, "/whoami")
    door.text(AMIRA, "/book 20 March 2pm 3h virtual")
    assert "Sent to" in door.text(AMIRA, "yes")
    clock.set(local(2015, 3, 19))  # the worker has not marked it expired yet


def test_the_partner_hears_nothing_of_a_proposal_that_lapsed(door: FrontDoor, services,
                                                             clock):
    _proposal_left_to_expire(door, clock)
    door.text(AMIRA, "/book 10 April 2pm 3h virtual")  # this one is still open
    assert "Sent to" in door.text(AMIRA, "yes")
    assert "1 future peer session cancelled" in forget(door, AMIRA)
    with services.uow() as db:
        told = db.scalars(select(OutboxMessage).where(
            OutboxMessage.participant_id == person(db, JAMES).id,
            OutboxMessage.idempotency_key.contains(":erased"))).all()
        assert [m.text.split(" is cancelled")[0] for m in told] == [
            "Your peer session on Friday 10 April 2015 at 14:00"]
        assert [m.idempotency_key.split("@")[0] for m in told] == ["session:2:erased"]
        assert db.get(PeerSession, 1).status == "proposed"  # left for the worker to expire


def test_mydata_shows_a_session_as_sessions_does(door: FrontDoor, clock):
    _proposal_left_to_expire(door, clock)
    assert "- Friday 20 March 2015, 14:00 to 17:00, virtual (expired)" in door.text(
        AMIRA, "/sessions")
    reply = door.send(AMIRA, "/mydata")[-1]
    assert reply.file is not None
    [session] = json.loads(reply.file.data)["peer_sessions"]
    assert session["status"] == "expired"


def test_erasure_leaves_nothing_identifying_in_the_sqlite_file(door: FrontDoor, services,
                                                               db_url: str):
    history(door, services)
    before = raw_bytes(services, db_url).lower()
    assert NAME.lower().encode() in before and EMAIL.encode() in before  # the scan can see
    assert RECEIPT_BYTES.lower() in before
    forget(door)
    after = raw_bytes(services, db_url).lower()
    # "quimbi", "zebede": the stemmed name in the key that groups questions worded alike
    for needle in (NAME, EMAIL, SURNAME, "Quimby House", "quimbi", "zebede"):
        at = after.find(needle.lower().encode())
        assert at < 0, (needle, after[max(at - 200, 0):at + 100])
    assert RECEIPT_BYTES.lower() not in after


def test_the_partner_of_someone_erased_is_told_and_keeps_their_sessions(door: FrontDoor,
                                                                       services, clock):
    door.text(JAMES, "/whoami")
    door.text(AMIRA, "/book 10 April 2pm 3h virtual")
    door.text(AMIRA, "yes")
    with services.uow() as db:
        session_id = db.scalars(select(PeerSession.id)).one()
    door.router.handle(door.incoming(JAMES, action_id="booking.accept",
                                     action_value=str(session_id)))
    clock.set(local(2015, 4, 11))
    door.send(AMIRA, "/sessions")
    door.press(AMIRA, "Held 10/04 14:00")
    with services.uow() as db:  # no future session to cancel: she is told all the same
        erase_participant(db, person(db, JAMES), clock.now(), actor_id=None,
                          zone=services.programme.timezone)
    with services.uow() as db:
        told = [m.text for m in db.scalars(select(OutboxMessage).where(
            OutboxMessage.participant_id == person(db, AMIRA).id))]
    assert told.count("Your partner has left the programme, so you are not in a pair at the "
                      "moment. The programme team will be in touch about pairing.") == 1
    sessions = door.text(AMIRA, "/sessions")
    assert sessions == ("You're not in a pair at the moment.\nEarlier, with a partner who has "
                        "left the programme:\n- Friday 10 April 2015, 14:00 to 17:00, virtual "
                        "(held)")


def test_a_session_still_to_confirm_when_the_partner_is_erased_can_be_confirmed(
        door: FrontDoor, services, clock):
    door.book(AMIRA, JAMES, "24 March 2pm 3h virtual")
    clock.set(local(2015, 3, 27))  # over, and neither has said whether it took place
    forget(door, JAMES)
    [sessions] = door.send(AMIRA, "/sessions")
    assert sessions.text == ("You're not in a pair at the moment.\nEarlier, with a partner who "
                             "has left the programme:\n- Tuesday 24 March 2015, 14:00 to 17:00, "
                             "virtual (awaiting confirmation that it took place)")
    assert door.press(AMIRA, "Didn't happen 24/03 14:00")[0].text == (
        "Thanks, noted.\nPressed by mistake?")
    assert door.press(AMIRA, "It took place")[0].text == "Thanks, noted."
    assert door.text(AMIRA, "/sessions").endswith("virtual (held)")
    with services.uow() as db:  # nobody is left to tell: nothing is queued for the erased row
        erased = db.scalars(select(Participant).where(Participant.role == "erased")).one()
        assert db.scalars(select(OutboxMessage).where(
            OutboxMessage.participant_id == erased.id, OutboxMessage.created_at >= clock.now())
        ).all() == []


def test_erasing_someone_with_a_move_pending_leaves_no_request_open(door: FrontDoor, services,
                                                                    clock):
    door.book(AMIRA, JAMES, "10 April 2pm 3h virtual")
    door.send(JAMES, "/sessions")
    door.press(JAMES, "Move 10/04 14:00")
    assert door.text(JAMES, "17 April 10am").startswith("Ask Dr Amira Khan to move")
    assert "Sent to Dr Amira Khan" in door.press(JAMES, "Yes, ask")[0].text
    with services.uow() as db:  # the request is in what is held about them, as it stands
        [session] = export_participant(db, person(db, JAMES),
                                            Context.outside_chat(db, services))["peer_sessions"]
    assert session["you_asked_to_move"] is True and session["move_starts_at"].startswith(
        "2015-04-17T09:00")
    with services.uow() as db:
        erase_participant(db, person(db, JAMES), clock.now(), actor_id=None,
                          zone=services.programme.timezone)
    with services.uow() as db:
        session = db.scalars(select(PeerSession)).one()
        assert (session.status, session.move_by_id, session.move_starts_at,
                session.move_ends_at, session.move_expires_at) == (
            "cancelled", None, None, None, None)
    [reply] = door.router.handle(door.incoming(AMIRA, action_id="booking.move_accept",
                                               action_value="1:1"))
    assert reply.text.startswith("That move request is no longer open")
    clock.advance(hours=73)  # nobody is told that it lapsed: it was never left open
    ReminderJob(services.uow, services.programme, clock, "test").tick()
    with services.uow() as db:
        assert not [m for m in db.scalars(select(OutboxMessage)) if "lapsed" in m.text]


def test_erasing_a_team_member_keeps_their_answers_under_the_anonymous_name(
        door: FrontDoor, services):
    door.text(PRIYA, "/ask What colour is the moon cheese at the zeppelin hangar?")
    door.press(PRIYA, "Ask the programme team")
    door.text(GARETH, "/answer 1 No zeppelins, sorry.")
    with services.uow() as db:
        gareth = person(db, GARETH)
        report = erase_participant(db, gareth, services.clock.now(), actor_id=None,
                          zone=services.programme.timezone)
        assert report.kept_claims == []
    with services.uow() as db:
        answer = db.scalars(select(TeamAnswer)).one()
        assert answer.answer == "No zeppelins, sorry."
        assert db.get(Participant, answer.answered_by).name.startswith("Erased participant")
        assert all("Gareth" not in m.text for m in db.scalars(select(OutboxMessage)))


def test_a_running_faq_index_drops_a_name_the_erasure_redacts(door: FrontDoor, services):
    question = "Can the zeppelin hangar host our peer session?"
    door.text(PRIYA, question)
    door.press(PRIYA, "Ask the programme team")
    door.text(GARETH, "/answer 1! Dr Priya Nair asked us: no zeppelins, sorry.")  # shared anyway
    assert "Dr Priya Nair" in door.text(GARETH, question)  # the answer is in the corpus
    with services.uow() as db:
        erase_participant(db, person(db, PRIYA), services.clock.now(), actor_id=None,
                          zone=services.programme.timezone)
    services.knowledge.extra_checked_at = float("-inf")  # as after the once-a-second wait
    after = door.text(GARETH, question)
    assert "no zeppelins" in after and "Priya" not in after


# ---------------------------------------------------------------- retention
PERIODS = {  # from knowledge/programme.toml
    "conversation_idle": dt.timedelta(minutes=60),
    "unanswered_question": dt.timedelta(days=180),
    "delivery_log": dt.timedelta(days=90),
    "receipts_after_paid": dt.timedelta(days=365),
}
SECOND = dt.timedelta(seconds=1)


def _seed(db, now: dt.datetime, age: dt.timedelta) -> None:
    """One record of every kind, each `age` old by its own clock."""
    then = now - age
    amira = db.scalars(select(Participant).order_by(Participant.id)).first()
    db.add(Conversation(platform="console", account_id="a", chat_id="a", flow="booking",
                        step="date", data={}, updated_at=then))
    db.add(UnansweredQuestion(text="zeppelins?", normalised="zeppelin", asked_at=then,
                              platform="console", asker_id=amira.id,
                              asker_platform_account="a", asker_chat_id="a"))
    for status in ("sent", "failed", "pending"):
        db.add(OutboxMessage(idempotency_key=f"k-{status}", kind="x", participant_id=amira.id,
                             platform="console", chat_id="a", text="t", created_at=then,
                             due_at=then, status=status))
    db.add(ProcessedEvent(platform="slack", event_id="Ev1", handled_at=then))
    receipt = Receipt(participant_id=amira.id, name="r.pdf", content_type="application/pdf",
                      size=1, data=b"x", uploaded_at=then)
    db.add(receipt)
    db.flush()
    db.add(Claim(participant_id=amira.id, kind="accommodation", event_id="dev-day-leeds",
                 event_label="Leeds", amount_pence=9500, cap_pence=10000, status="paid",
                 receipt_id=receipt.id, created_at=then, updated_at=then))


def _remaining(db) -> dict[str, int]:
    def count(model) -> int:
        return len(db.scalars(select(model)).all())
    return {"conversation_idle": count(Conversation),
            "unanswered_question": count(UnansweredQuestion),
            "delivery_log": len(db.scalars(select(OutboxMessage).where(
                OutboxMessage.status != "pending")).all()),
            "processed_events": count(ProcessedEvent),
            "receipts_after_paid": count(Receipt)}


@pytest.mark.parametrize("period", sorted(PERIODS))
def test_each_period_keeps_records_just_inside_and_purges_just_outside(services, period):
    now = services.clock.now()
    age = PERIODS[period]
    with services.uow() as db:
        assert services.programme.retention.__getattribute__(period) == age
        _seed(db, now, age - SECOND)  # just inside: kept
    with services.uow() as db:
        purge(db, services.programme, now)
        assert _remaining(db)[period] == (2 if period == "delivery_log" else 1)  # sent, failed
    with services.uow() as db:
        purge(db, services.programme, now + 2 * SECOND)  # now just outside
        left = _remaining(db)
        assert left[period] == 0
        if period == "delivery_log":
            assert left["processed_events"] == 0  # same period
            assert len(db.scalars(select(OutboxMessage)).all()) == 1  # pending stays
        if period == "receipts_after_paid":
            claim = db.scalars(select(Claim)).one()
            assert (claim.receipt_id, claim.amount_pence) == (None, 9500)


def test_purge_strips_askers_from_answered_questions_and_expired_codes(services):
    now = services.clock.now()
    with services.uow() as db:
        amira = db.scalars(select(Participant)).first()
        answer = TeamAnswer(question="q", answer="a", answered_at=now)
        db.add(answer)
        db.flush()
        db.add(UnansweredQuestion(text="q", normalised="q", asked_at=now, platform="console",
                                  asker_id=amira.id, asker_platform_account="a",
                                  asker_chat_id="a", answer_id=answer.id))
        issue_invite(db, amira, now - dt.timedelta(days=15))  # expired a day ago
        issue_invite(db, amira, now)
    with services.uow() as db:
        counts = purge(db, services.programme, now)
        assert counts["answered_questions_made_anonymous"] == 1
        assert counts["expired_invite_codes"] == 1
        assert db.scalars(select(UnansweredQuestion)).one().asker_id is None
        assert len(db.scalars(select(InviteCode)).all()) == 1


def test_who_asked_an_unsent_question_is_kept_a_day_then_dropped(door, services):
    door.send(PRIYA, "is there parking for bicycles at the venue")
    door.send(PRIYA, "will there be a cloakroom at the venue")
    door.press(PRIYA, "Ask the programme team")  # the second goes to the team, the first not
    askers = select(UnansweredQuestion.text, UnansweredQuestion.asker_id)
    hours = services.programme.retention.question_asker / dt.timedelta(hours=1)
    assert hours == 24
    with services.uow() as db:
        counts = purge(db, services.programme, services.clock.now() + dt.timedelta(hours=23))
        assert counts["unsent_questions_made_anonymous"] == 0
    with services.uow() as db:
        counts = purge(db, services.programme, services.clock.now() + dt.timedelta(hours=25))
        assert counts["unsent_questions_made_anonymous"] == 1
        kept = dict(db.execute(askers).all())
    # the question text stays for the team's list; the one with the team keeps its asker
    assert kept["is there parking for bicycles at the venue"] is None
    assert kept["will there be a cloakroom at the venue"] is not None
    # its button, still in the chat's history, no longer knows who asked
    late = door.router.handle(door.incoming(PRIYA, action_id="faq.escalate", action_value="1"))
    assert "can't find that question any more" in late[0].text


def test_a_receipt_in_a_claim_form_left_for_good_goes_after_the_idle_period(door, services):
    services.clock.set(local(2015, 7, 9))  # accommodation is claimed after the stay
    door.text(PRIYA, "/claim 8 July £95")
    door.send(PRIYA, "", attachment=Attachment("r.pdf", "application/pdf", 4, lambda: b"%PDF"))
    # she never comes back to the form (a cancelled one takes its receipt at once)
    with services.uow() as db:
        assert purge(db, services.programme, services.clock.now())["receipts_without_claim"] == 0
    with services.uow() as db:
        later = services.clock.now() + dt.timedelta(minutes=61)
        assert purge(db, services.programme, later)["receipts_without_claim"] == 1
        assert db.scalars(select(Receipt)).all() == []


def test_purge_writes_one_audit_row_with_counts_only(services):
    now = services.clock.now()
    with services.uow() as db:
        _seed(db, now, dt.timedelta(days=400))
    with services.uow() as db:
        counts = purge(db, services.programme, now)
    with services.uow() as db:
        [row] = db.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.purge")).all()
        assert row.detail == counts and all(isinstance(n, int) for n in counts.values())
        assert counts["delivery_log"] == 2 and counts["receipts_after_paid"] == 1
    with services.uow() as db:
        again = purge(db, services.programme, now)
        assert sum(again.values()) == 0  # nothing left to do


def test_the_whole_cohort_is_erased_once_the_period_after_the_end_has_passed(services):
    deadline = cohort_deadline(services.programme)
    assert deadline.astimezone(services.programme.timezone).date() == dt.date(2016, 9, 30)
    with services.uow() as db:
        erase_participant(db, person(db, PRIYA), deadline - SECOND * 2, actor_id=None,
                          zone=services.programme.timezone)
        assert purge(db, services.programme, deadline - SECOND)["participants_erased"] == 0
        assert db.scalar(select(func.count()).select_from(ErasureRecord)) == 1
    with services.uow() as db:
        counts = purge(db, services.programme, deadline)
        assert counts["participants_erased"] == 6 and counts["erasure_records"] == 1
        assert db.scalars(select(ErasureRecord)).all() == []  # no cohort left to re-import
        names = set(db.scalars(select(Participant.name)))
        assert all(n.startswith("Erased participant #") for n in names)
        actions = list(db.scalars(select(AuditEntry.action).where(
            AuditEntry.action.startswith("privacy."))))
        # one row per purge, no more (and the one for the erasure at Priya's request)
        assert actions == ["privacy.erase", "privacy.purge", "privacy.purge"]
    with services.uow() as db:
        assert purge(db, services.programme, deadline)["participants_erased"] == 0


def test_claims_fk_columns_are_found_by_the_walk():
    """The walk is not just name matching: reviewed_by is found by its foreign key."""
    column = Claim.__table__.c.reviewed_by
    assert any(isinstance(fk, ForeignKey) and fk.column.table.name == "participants"
               for fk in column.foreign_keys)


def test_a_booking_half_filled_in_when_the_partner_is_erased_is_set_aside(door: FrontDoor,
                                                                          services, clock):
    door.text(JAMES, "/whoami")
    assert door.text(AMIRA, "/book 1 May 2pm 2h virtual").startswith(
        "Propose to Dr James Okafor")
    with services.uow() as db:
        erase_participant(db, person(db, JAMES), clock.now(), actor_id=None,
                          zone=services.programme.timezone)
    # every message used to fail ("something went wrong") until the form timed out
    aside, reply = door.send(AMIRA, "yes")
    assert aside.text == ("(I set your unfinished session booking aside: you are no longer in "
                          "a pair, so there is nobody to send it to. Nothing from it was saved.)")
    assert "I'm not waiting for a typed answer" in reply.text
    assert "/home" in door.text(AMIRA, "/help")
    with services.uow() as db:
        assert db.scalars(select(PeerSession)).all() == []
