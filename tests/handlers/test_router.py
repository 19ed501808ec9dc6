"""Routing, role gating, linking, bad input and the one-transaction rule, via the router."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from handlers.app import build_router
from handlers.core import Context, Flow, Invalid, Route, Step
from handlers.identity import issue_invite
from handlers.messages import Attachment, Incoming, Reply
from handlers.router import Router
from handlers.storage.models import (
    Account,
    AuditEntry,
    Claim,
    Conversation,
    Participant,
    PeerSession,
    UnansweredQuestion,
)
from tests.conftest import AMIRA, GARETH, HELEN, JAMES, FrontDoor, local

pytestmark = pytest.mark.both_databases


def participant(services, email: str) -> Participant:
    with services.uow() as db:
        return db.scalars(select(Participant).where(Participant.email == email)).one()


def invite(services, email: str) -> str:
    with services.uow() as db:
        person = db.scalars(select(Participant).where(Participant.email == email)).one()
        return issue_invite(db, person, services.clock.now())


def test_unknown_person_can_ask_questions_but_nothing_else(door: FrontDoor):
    answer = door.text(None, "will expenses be paid?", platform="telegram")
    assert "£150" in answer and "Source:" in answer
    refusal = door.text(None, "/whoami", platform="telegram")
    assert "don't know who you are" in refusal and "/link" in refusal


def test_help_lists_only_what_the_role_may_use(door: FrontDoor):
    peer_help = door.text(AMIRA, "/help")
    team_help = door.text(GARETH, "/help")
    assert "/answer" not in peer_help and "/answer" in team_help
    assert "/whoami" in peer_help
    manager_help = door.text(HELEN, "/help")  # no pair, no development days to claim for
    assert all(command in peer_help and command not in manager_help
               for command in ("/claim", "/claims", "/sessions", "/book"))
    assert "only expert peers and peers" in door.text(HELEN, "/claim 8 July £95")
    offered = door.send(GARETH, "can I claim for a hotel in Leeds?")[0]
    assert "£100" in offered.text  # and nothing to start for the team
    assert "Start a claim" not in [c.label for c in offered.choices]


def test_admin_commands_are_refused_to_other_roles(door: FrontDoor):
    assert "only the programme team" in door.text(AMIRA, "/answer 1 yes")


def test_link_code_links_once(door: FrontDoor, services):
    code = invite(services, AMIRA)
    welcome = door.text(None, f"/link {code.lower()}", platform="telegram")
    assert "Welcome, Dr Amira Khan" in welcome
    assert "You're Dr Amira Khan" in door.text(None, "/whoami", platform="telegram")
    # the same code cannot link a second account
    other = door.incoming(None, f"/link {code}", platform="slack")
    assert "isn't valid" in door.router.handle(other)[0].text


def test_deep_link_start_code_links(door: FrontDoor, services):
    code = invite(services, AMIRA)
    assert "Welcome" in door.text(None, f"/start {code}", platform="telegram")


def test_expired_code_is_refused(door: FrontDoor, services, clock):
    code = invite(services, AMIRA)
    clock.advance(days=15)
    assert "isn't valid" in door.text(None, f"/link {code}", platform="telegram")


def test_a_platform_account_links_to_one_participant_only(services):
    with pytest.raises(IntegrityError), services.uow() as db:
        for email in (AMIRA, GARETH):
            person = db.scalars(select(Participant).where(Participant.email == email)).one()
            db.add(Account(participant=person, platform="telegram", account_id="42",
                           chat_id="42", linked_at=services.clock.now()))
        db.flush()


def test_verified_email_links_on_first_contact(door: FrontDoor, services):
    door.text(AMIRA, "/whoami")
    with services.uow() as db:
        account = db.scalars(select(Account)).one()
        assert account.platform == "console"
        assert db.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "account.link")) == 1


@pytest.mark.parametrize("text, expected", [
    ("", "didn't get any text"),
    ("   \n ", "didn't get any text"),
    ("x" * 4001, "too long"),
    ("\x00\x01\x02\x03\x04\x05garbage\x06\x07\x08", "plain text"),
    ("/frobnicate now", "don't know the command /frobnicate"),
])
def test_bad_input_gets_a_clear_reply(door: FrontDoor, text, expected):
    assert expected in door.text(AMIRA, text)


def test_control_characters_are_stripped_not_fatal(door: FrontDoor):
    assert "£150" in door.text(AMIRA, "will\x07 expenses be paid?\u200b")


def test_personal_answers_asked_in_a_group_go_to_the_private_chat(door: FrontDoor):
    door.text(AMIRA, "/whoami")  # linked, with a private chat
    notice, *private = door.send(AMIRA, "/sessions", private=False)
    assert "answered you in a private message" in notice.text and not notice.private_only
    assert private and all(r.private_only for r in private)
    assert "Your sessions with Dr James Okafor" in private[0].text
    # a form started from the group carries on in the private chat
    door.send(AMIRA, "/book", private=False)
    assert "What time on Friday 10 April 2015" in door.text(AMIRA, "10 April")


def test_first_contact_in_a_channel_still_answers_personal_things_privately(router):
    # Slack's verified email links Amira on first contact, from a channel: her user id
    # stands for her private chat until she writes there.
    msg = Incoming(platform="slack", account_id="U1", chat_id="C-general", private=False,
                   text="/whoami", verified_email=AMIRA)
    notice, me = router.handle(msg)  # who she is paired with is hers alone
    assert "private message" in notice.text
    assert "You're Dr Amira Khan" in me.text and me.private_only
    notice, listing = router.handle(replace(msg, text="/sessions"))
    assert "private message" in notice.text and listing.private_only


def test_unexpected_error_apologises_and_changes_nothing(services):
    def explode(ctx: Context, args: str) -> list[Reply]:
        ctx.audit("half.written")
        ctx.db.flush()
        raise RuntimeError("boom with personal data amira.khan@example.nhs.uk")

    router = build_router(services)
    router._commands["/explode"] = Route("explode", explode, command="/explode")
    reply = FrontDoor(router).text(AMIRA, "/explode")
    assert "Sorry, something went wrong" in reply
    with services.uow() as db:
        assert db.scalar(select(func.count()).where(AuditEntry.action == "half.written")) == 0


# ---------------------------------------------------------------- conversations
def favourite_flow() -> Flow:
    def ask_colour(ctx, data):
        return Reply("Which colour?")

    def take_colour(ctx, data, text):
        if text.lower() not in ("red", "blue"):
            raise Invalid("Please answer red or blue.")
        data["colour"] = text.lower()

    def ask_number(ctx, data):
        return Reply(f"{data['colour']} it is. Which number?")

    def take_number(ctx, data, text):
        if not text.isdigit():
            raise Invalid("That isn't a number.")
        data["number"] = int(text)

    return Flow(
        name="favourite", description="favourites form",
        steps={
            "colour": Step(ask_colour, take_colour, "red", lambda d: "colour" not in d),
            "number": Step(ask_number, take_number, "7", lambda d: "number" not in d),
        },
        finish=lambda ctx, data: [Reply(f"Saved {data['colour']} {data['number']}.")],
    )


def router_with_flow(services) -> Router:
    router = build_router(services)
    flow = favourite_flow()
    router.flows[flow.name] = flow
    router._commands["/fav"] = Route("fav", lambda ctx, a: ctx.start_flow(flow), command="/fav")
    return router


def test_conversation_survives_a_restart(services):
    FrontDoor(router_with_flow(services)).text(AMIRA, "/fav")
    FrontDoor(router_with_flow(services)).text(AMIRA, "blue")
    # a brand-new router over the same database carries on where the user was
    assert "Saved blue 7" in FrontDoor(router_with_flow(services)).text(AMIRA, "7")


def test_conversation_can_be_cancelled_at_any_step(services):
    door = FrontDoor(router_with_flow(services))
    door.text(AMIRA, "/fav")
    door.text(AMIRA, "red")
    assert "Cancelled your favourites form" in door.text(AMIRA, "cancel")
    with services.uow() as db:
        assert db.scalar(select(func.count()).select_from(Conversation)) == 0


def test_three_failures_explain_with_an_example(services):
    door = FrontDoor(router_with_flow(services))
    door.text(AMIRA, "/fav")
    first = door.text(AMIRA, "green")
    assert first == "Please answer red or blue."
    door.text(AMIRA, "purple")
    third = door.send(AMIRA, "yellow")[0]
    assert "Here is what I need: red" in third.text and third.choices[0].label == "Cancel"
    assert "red it is" in door.text(AMIRA, "red")


def test_a_question_asked_mid_form_is_answered_and_the_form_waits(services):
    door = FrontDoor(router_with_flow(services))
    door.text(AMIRA, "/fav")
    door.text(AMIRA, "green")
    replies = door.send(AMIRA, "what's the most I can claim for a hotel in London?")
    assert "£150" in replies[0].text and "Source:" in replies[0].text
    assert replies[-1].text == "Back to your favourites form: Which colour?"
    # not counted as a failed answer (a third would bring the example), and the form goes on
    assert door.text(AMIRA, "purple") == "Please answer red or blue."
    assert "red it is" in door.text(AMIRA, "red")


def test_the_next_development_day_asked_mid_form_comes_from_the_configuration(services):
    door = FrontDoor(router_with_flow(services))
    door.text(AMIRA, "/fav")
    first, again = door.send(AMIRA, "when is the next development day?")
    assert first.text.startswith("The next one is Development day 1") and "(in 16 days)" in \
        first.text
    assert again.text == "Back to your favourites form: Which colour?"


def test_thanks_mid_form_is_acknowledged_and_the_form_waits(services):
    door = FrontDoor(router_with_flow(services))
    door.text(AMIRA, "/fav")
    assert door.text(AMIRA, "thanks!") == ("You're welcome.\n"
                                           "Back to your favourites form: Which colour?")
    assert door.text(AMIRA, "perfect") == "Please answer red or blue."  # the form's to refuse
    assert "red it is" in door.text(AMIRA, "red")


def test_a_question_the_documents_do_not_answer_is_said_so_and_the_form_waits(services):
    door = FrontDoor(router_with_flow(services))
    door.text(AMIRA, "/fav")
    not_found, back = door.send(AMIRA, "what is the capital of Peru?")
    assert not_found.text.startswith("I couldn't find that in the programme documents.")
    assert "Ask the programme team" in [c.label for c in not_found.choices]
    assert back.text == "Back to your favourites form: Which colour?"
    # one answered only unsurely, such as a form's own follow-up, shows no stray excerpt
    assert door.text(AMIRA, "is that in British time?").startswith("I couldn't find that")
    # not plainly a question: the form's to refuse, and nothing recorded
    assert door.text(AMIRA, "what colour then") == "Please answer red or blue."
    with services.uow() as db:  # recorded for the programme team, as outside a form
        assert db.scalar(select(func.count()).select_from(UnansweredQuestion)) == 2
    assert "red it is" in door.text(AMIRA, "red")


def test_abandoned_conversation_expires(services, clock):
    door = FrontDoor(router_with_flow(services))
    door.text(AMIRA, "/fav")
    clock.advance(hours=2)
    reply = door.text(AMIRA, "blue")
    assert "had expired" in reply and "red it is" not in reply
    # a button of the expired form says how to start again (/help alone starts nothing)
    [late] = door.router.handle(door.incoming(AMIRA, action_id="answer", action_value="red"))
    assert late.text == ("That form has already finished or expired. To start again, send its "
                         "command (/help lists them).")


def test_a_command_mid_form_leaves_the_form_open_and_asks_its_question_again(services):
    door = FrontDoor(router_with_flow(services))
    door.text(AMIRA, "/fav")
    *answer, again = door.send(AMIRA, "/whoami")
    assert "You're Dr Amira Khan" in answer[0].text
    assert again.text == "Back to your favourites form: Which colour?"
    assert "red it is" in door.text(AMIRA, "red").lower()


def test_a_command_that_starts_another_form_replaces_the_open_one(services):
    door = FrontDoor(router_with_flow(services))
    door.text(AMIRA, "/fav")
    door.text(AMIRA, "red")  # the form moves on to its second question
    replaced, first = door.send(AMIRA, "/fav")
    assert replaced.text == "(That replaces your unfinished favourites form: nothing from it " \
                            "was saved.)"
    assert first.text == "Which colour?"
    # the same form again where it already was: nothing replaced, nothing said twice
    assert [r.text for r in door.send(AMIRA, "/fav")] == ["Which colour?"]


def test_now_is_read_once_per_message(services, clock):
    seen: list[dt.datetime] = []
    router = build_router(services)
    router._commands["/when"] = Route("when", lambda ctx, a: seen.append(ctx.now) or [],
                                      command="/when")
    FrontDoor(router).send(AMIRA, "/when")
    assert seen == [clock.now()]


def test_a_repeated_platform_event_is_handled_once(door: FrontDoor, services):
    first = door.router.handle(door.incoming(AMIRA, "/whoami", event_id="Ev123"))
    again = door.router.handle(door.incoming(AMIRA, "/whoami", event_id="Ev123"))
    assert first and again == []
    assert door.router.handle(door.incoming(AMIRA, "/whoami", event_id="Ev124"))


def test_replies_kept_until_sent_survive_a_crash_before_sending(door: FrontDoor):
    msg = door.incoming(AMIRA, "/whoami", event_id="upd-1")
    first = door.router.handle(msg, keep_until_sent=True)
    # crash here: the handling committed, the reply never went out
    [(event_id, kept)] = door.router.unsent_replies("console")
    assert (event_id, kept) == ("upd-1", [(msg.chat_id, reply) for reply in first])
    assert door.router.handle(msg, keep_until_sent=True) == first  # a redelivery gets them
    door.router.replies_sent("console", "upd-1")
    assert door.router.unsent_replies("console") == []
    assert door.router.handle(msg, keep_until_sent=True) == []


def test_files_survive_being_kept(door: FrontDoor):
    from handlers.messages import ReplyFile, reply_from_json, reply_to_json

    reply = Reply("Booked", choices=(), file=ReplyFile("a.ics", "text/calendar", b"\x00\xffics"))
    assert reply_from_json(reply_to_json(reply)) == reply


def test_a_form_answer_after_the_form_closed_is_explained_not_searched(door: FrontDoor,
                                                                       services, clock):
    clock.set(local(2015, 7, 9))  # accommodation is claimed after the stay
    door.text(AMIRA, "/claim Leeds £95")
    clock.advance(hours=2)  # the form times out while they are in clinic
    for late in ("skip", "yes", "£95", "11 April", "Friday 2pm", "10/04/2015"):
        assert "I'm not waiting for a typed answer" in door.text(AMIRA, late), late
    with services.uow() as db:  # nothing for the programme team's unanswered list
        assert db.scalar(select(func.count()).select_from(UnansweredQuestion)) == 0


def test_a_lone_question_mark_asks_what_they_would_like_to_know(door: FrontDoor):
    assert door.text(AMIRA, "?").startswith("What would you like to know?")
    assert door.text(AMIRA, "\U0001f44d").startswith("Good.")  # a thumbs-up is still fine


def test_who_my_partner_is_is_answered_mid_form_and_the_form_carries_on(door: FrontDoor,
                                                                       clock):
    clock.set(local(2015, 7, 9))  # accommodation is claimed after the stay
    door.text(AMIRA, "/claim Leeds £95")
    answer, again = door.send(AMIRA, "who is my expert peer?")
    assert "your expert peer is Dr James Okafor" in answer.text
    assert "receipt" in again.text


def test_a_file_sent_with_no_form_open_is_not_kept_and_says_where_receipts_go(door: FrontDoor):
    [reply] = door.send(AMIRA, "", attachment=Attachment("receipt.pdf", "application/pdf", 4,
                                                          lambda: b"%PDF"))
    assert reply.text.startswith("I wasn't expecting a file, so I haven't kept it.")
    assert "/claims" in reply.text


def test_plain_words_for_a_record_are_answered_mid_form_and_the_form_carries_on(
        door: FrontDoor, clock):
    clock.set(local(2015, 3, 19))
    door.text(AMIRA, "/claim 18 March")  # a claim to look up later
    door.text(AMIRA, "95")
    door.text(AMIRA, "skip")
    door.text(AMIRA, "yes")
    door.text(AMIRA, "/book")
    claims, again = door.send(AMIRA, "where's my claim?")  # not the expenses FAQ
    assert "#1" in claims.text and "£95" in claims.text
    assert again.text == "Back to your session booking: Which day? For example 10 April, next " \
                         "Tuesday or 10/04/2015."
    sessions, _again = door.send(AMIRA, "I need to cancel my session on the 10th")
    assert sessions.text.startswith("*Your sessions with Dr James Okafor*")
    assert "Wednesday 25 March" in door.text(AMIRA, "25 March")  # the form is where it was


def test_a_question_mid_claim_is_not_taken_for_an_amount(door: FrontDoor, services, clock):
    clock.set(local(2015, 3, 19))
    door.text(AMIRA, "/claim 18 March")
    not_found, again = door.send(AMIRA, "do I need a receipt if I stayed 2 nights?")
    assert "couldn't read an amount" not in not_found.text
    assert "Ask the programme team" in [c.label for c in not_found.choices]
    assert "Start a claim" not in [c.label for c in not_found.choices]
    assert again.text.startswith("Back to your expense claim")
    with services.uow() as db:
        assert db.scalars(select(UnansweredQuestion.text)).all() == [
            "do I need a receipt if I stayed 2 nights?"]


def test_a_button_pressed_mid_form_leaves_the_form_where_it_was(door: FrontDoor, services,
                                                                clock):
    door.book(AMIRA, JAMES, "25 March 2pm 2h virtual")
    clock.set(local(2015, 3, 19))
    door.text(AMIRA, "/claim 18 March")  # a claim half filled in
    door.send(AMIRA, "/sessions")
    question, again = door.press(AMIRA, "Cancel 25/03 14:00")
    assert question.text.startswith("Cancel the peer session Wednesday 25 March 2015")
    assert again.text.startswith("Back to your expense claim")
    kept, again = door.press(AMIRA, "Keep it")
    assert kept.text.startswith("Kept:") and again.text.startswith("Back to your expense claim")
    door.text(AMIRA, "95")  # the claim carries on where it was
    door.text(AMIRA, "skip")
    assert "Submitted" in door.text(AMIRA, "yes")


@pytest.mark.parametrize("typed", ["yes", "no"])
def test_a_typed_yes_or_no_with_two_questions_open_is_asked_about(door: FrontDoor, services,
                                                                  clock, typed: str):
    door.book(AMIRA, JAMES, "25 March 2pm 2h virtual")
    clock.set(local(2015, 3, 19))
    door.text(AMIRA, "/claim 18 March 95")
    assert door.text(AMIRA, "skip").endswith("Submit it?")  # the claim's read-back
    door.send(AMIRA, "/sessions")
    door.press(AMIRA, "Cancel 25/03 14:00")  # "Cancel the peer session...?", then the claim
    [which] = door.send(AMIRA, typed)  # meant for the session, or the claim?
    assert which.text == ("Two questions are waiting, so please press a button to say which "
                          "you mean.")
    assert [c.label for c in which.choices] == ["Yes, cancel it", "Keep it", "Yes, submit",
                                                "Cancel the expense claim"]
    with services.uow() as db:  # neither was taken: the claim is not sent, nor dropped
        assert db.scalars(select(Claim)).all() == []
        assert db.scalars(select(PeerSession.status)).all() == ["booked"]
    cancelled, again = door.press(AMIRA, "Yes, cancel it")
    assert cancelled.text.startswith("Cancelled") and again.text.endswith("Submit it?")
    assert "Submitted" in door.text(AMIRA, "yes")  # one question open again: yes is its answer
