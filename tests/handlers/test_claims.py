"""Expense claims through the front door: caps, odd amounts, receipts, review and export."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from handlers.claims import claims_csv, claims_rows, parse_amount
from handlers.core import Invalid
from handlers.messages import Attachment, Reply
from handlers.privacy import erase_participant
from handlers.storage.models import (
    AuditEntry,
    Claim,
    OutboxMessage,
    Participant,
    PeerSession,
    Receipt,
)
from tests.conftest import AMIRA, GARETH, JAMES, PRIYA, FrontDoor, local

pytestmark = pytest.mark.both_databases


@pytest.fixture(autouse=True)
def after_the_development_days(clock) -> None:
    """Accommodation is claimed after the stay: these tests start once every development day
    has passed (the last is 16 September). A test about an earlier time sets its own."""
    clock.set(local(2015, 9, 17))


def claims(services) -> list[Claim]:
    with services.uow() as db:
        rows = db.scalars(select(Claim).order_by(Claim.id)).all()
        db.expunge_all()
        return list(rows)


def submit(door: FrontDoor, who: str, line: str) -> str:
    """A one-line claim taken through to submission without a receipt."""
    replies = [door.text(who, line)]
    for answer in ("skip", "yes"):
        replies.append(door.text(who, answer))
    return "\n".join(replies)


def book_session(door: FrontDoor, services, when: str) -> None:
    """A face-to-face session for Amira and James, proposed by her and accepted by him."""
    door.text(AMIRA, f"/book {when} 3h face to face at Truro")
    door.text(AMIRA, "yes")
    with services.uow() as db:
        session_id = db.scalars(select(PeerSession.id).order_by(PeerSession.id.desc())).first()
    door.router.handle(door.incoming(JAMES, action_id="booking.accept",
                                     action_value=str(session_id)))


# ---------------------------------------------------------------- amounts
@pytest.mark.parametrize("text, pence", [
    ("£120", 12000), ("120.50", 12050), ("120 pounds", 12000), ("£1,200.00", 120000),
    ("£ 95", 9500), ("0.01", 1), ("£100,000", 10_000_000), ("95 GBP", 9500),
])
def test_amounts_in_the_usual_formats(text: str, pence: int):
    assert parse_amount(text) == pence


@pytest.mark.parametrize("text, why", [
    ("£0", "more than zero"), ("0.00", "more than zero"), ("-5", "negative"),
    ("£-5", "negative"), ("£100,000.01", "too large"), ("99999999999", "too large"),
    ("12.345", "two decimals"), ("£1,20", "couldn't read"), ("ninety", "couldn't read"),
    ("", "couldn't read"), ("£", "couldn't read"), ("1e5", "couldn't read"),
    ("1.2.3", "couldn't read"), ("\u0663\u0660", "couldn't read"),
])
def test_bad_amounts_are_refused_politely(text: str, why: str):
    with pytest.raises(Invalid, match=why):
        parse_amount(text)


@given(st.text(max_size=60))
def test_amount_parser_never_crashes_or_returns_a_float(text: str):
    try:
        pence = parse_amount(text)
    except Invalid:
        return
    assert type(pence) is int and 0 < pence <= 10_000_000


@given(st.integers(min_value=1, max_value=10_000_000))
def test_amount_parser_reads_back_what_format_pence_writes(pence: int):
    from knowledge.programme import format_pence

    assert parse_amount(format_pence(pence)) == pence


# ---------------------------------------------------------------- caps
def test_exactly_at_the_cap_is_accepted(door: FrontDoor, services):
    text = submit(door, AMIRA, "/claim 8 July £100")
    assert "Submitted" in text and "exceptional" not in text
    [claim] = claims(services)
    assert (claim.amount_pence, claim.cap_pence, claim.exceptional) == (10000, 10000, False)
    assert claim.event_id == "dev-day-leeds" and claim.status == "submitted"


@pytest.mark.parametrize("yes", ["okay", "Yeah", "go ahead"])
def test_an_everyday_yes_submits_at_the_read_back(door: FrontDoor, services, yes: str):
    door.text(AMIRA, "claim £95 for the Leeds day")
    assert "Submitted" in "\n".join(door.text(AMIRA, a) for a in ("skip", yes))
    assert claims(services)[0].amount_pence == 9500


def test_a_penny_over_offers_the_cap_or_an_exception(door: FrontDoor, services):
    text = door.text(AMIRA, "claim £100.01 for the Leeds day")
    assert "over the £100 cap" in text and "outside London" in text
    door.press(AMIRA, "Claim £100")
    assert "Submitted" in "\n".join(door.text(AMIRA, a) for a in ("skip", "yes"))
    assert claims(services)[0].amount_pence == 10000


@pytest.mark.parametrize(("line", "pence"), [("/claim London 95", 9500),
                                             ("/claim 18 March 95.5", 9550),
                                             ("/claim 18 March 2015", None)])
def test_a_bare_number_beside_a_known_day_is_the_amount(door: FrontDoor, services, line, pence):
    reply = door.text(AMIRA, line)
    assert ("receipt" in reply) == (pence is not None), reply
    if pence:
        door.text(AMIRA, "skip")
        door.text(AMIRA, "yes")
        assert claims(services)[0].amount_pence == pence


@pytest.mark.parametrize("line", ["/claim 8 July 2015 95", "/claim 8th July, 2015 95",
                                  "/claim 8 July 95 2015",
                                  "/claim Wednesday 8 July 2015 £95"])
def test_a_date_with_its_year_and_an_amount_in_one_line_takes_both(door: FrontDoor, services,
                                                                   line: str):
    asked = door.text(AMIRA, line)
    assert asked.startswith("Please send the receipt"), asked  # no second ask for the amount
    assert door.text(AMIRA, "skip").startswith(
        "Claim £95 for accommodation for Development day 2 (Wednesday 8 July 2015, Leeds);")
    door.text(AMIRA, "yes")
    assert claims(services)[0].amount_pence == 9500


@pytest.mark.parametrize(("line", "asked"), [
    ("/claim 95", "Which development day"),  # no day: the form asks it
    ("/claim 8 July", "How much was one night's bed and breakfast for Development day 2?"),
    ("/claim 8 July 2015", "How much was one night's bed and breakfast"),  # a year, no amount
    ("/claim 8 July 1200", "£1,200 is over the £100 cap"),  # four digits, yet no year
    # a minus sign is not dropped: the amount is refused and asked for
    ("/claim 8 July -5", "An amount can't be negative."),
])
def test_a_one_line_claim_asks_only_what_it_lacks(door: FrontDoor, line: str, asked: str):
    assert door.text(AMIRA, line).startswith(asked)


def test_a_lone_amount_is_kept_while_the_day_is_asked(door: FrontDoor, services):
    door.text(AMIRA, "/claim 95")
    assert door.press(AMIRA, "Leeds, 8 July")[0].text.startswith("Please send the receipt")
    door.text(AMIRA, "/cancel")
    door.text(AMIRA, "/claim 18")  # perhaps the 18th: not taken as £18
    assert "How much" in door.press(AMIRA, "London, 18 March")[0].text


def test_a_date_that_is_no_development_day_is_said_so(door: FrontDoor):
    first, day = door.send(AMIRA, "/claim 19 March £95")
    assert first.text == "19 March isn't a development day. I'll ask for it."
    assert day.text.startswith("Which development day")
    door.text(AMIRA, "/cancel")
    first, _day = door.send(AMIRA, "/claim 8 July 2014 £95")  # a year of no programme day
    assert first.text == "8 July 2014 isn't a development day. I'll ask for it."


def test_a_development_day_still_to_come_cannot_be_claimed_yet(door: FrontDoor, services,
                                                               clock):
    clock.set(local(2015, 7, 7, 23, 30))  # after London's day, before Leeds's
    first, day = door.send(AMIRA, "/claim 8 July £95")
    assert first.text == ("Development day 2 (Wednesday 8 July 2015, Leeds) is still to come. "
                          "Accommodation is claimed after the stay: you can claim it from "
                          "Wednesday 8 July 2015.")
    assert day.text.startswith("Which development day")
    assert [c.label for c in day.choices] == ["London, 18 March", "Cancel"]  # only past days
    again = door.send(AMIRA, "Leeds")[0]  # typed: refused the same way, and asked again
    assert again.text.startswith("Development day 2 (Wednesday 8 July 2015, Leeds) is still "
                                 "to come.") and "from Wednesday 8 July 2015" in again.text
    assert [c.label for c in again.choices] == ["London, 18 March", "Cancel"]
    assert "receipt" in door.press(AMIRA, "London")[0].text  # the £95 was kept
    door.text(AMIRA, "/cancel")
    assert claims(services) == []
    # on the day itself (in the programme's time zone, still the 7th in UTC) it can be claimed
    clock.set(local(2015, 7, 8, 0, 30))
    assert "Submitted: #1 Development day 2" in submit(door, AMIRA, "/claim 8 July £95")


def test_before_any_development_day_a_claim_says_when_it_can_be_made(door: FrontDoor, clock):
    clock.set(local(2015, 3, 2))
    assert door.text(AMIRA, "/claim 8 July £95") == (
        "Development day 2 (Wednesday 8 July 2015, Leeds) is still to come. Accommodation is "
        "claimed after the stay: you can claim it from Wednesday 8 July 2015.")
    assert door.text(AMIRA, "/claim") == (
        "No development day has taken place yet. Accommodation is claimed after the stay: you "
        "can claim from Wednesday 18 March 2015 (Development day 1, London).")
    assert door.text(AMIRA, "/cancel") == "There is nothing to cancel."  # no form to get stuck in


def test_an_amount_over_the_cap_can_be_corrected(door: FrontDoor, services):
    assert "£1,200 is over the £100 cap" in door.text(AMIRA, "/claim Leeds £1,200")
    assert "Please choose Claim £100 or Ask for an exception" in door.text(AMIRA, "hmm")
    assert "£120 is over the £100 cap" in door.text(AMIRA, "£120")
    assert "receipt" in door.text(AMIRA, "£95")
    assert "Submitted" in "\n".join(door.text(AMIRA, a) for a in ("skip", "yes"))
    assert claims(services)[0].amount_pence == 9500
    # day 3's venue is not yet known: the cap is explained by the city, not "Venue to be..."
    assert "£120 is over the £100 cap for a development day outside London (Development day " \
           "3, Birmingham (Midlands/South))." in door.text(AMIRA, "/claim 16 Sept £120")


def test_over_the_london_cap_with_an_exception_is_flagged(door: FrontDoor, services):
    door.text(AMIRA, "/claim")
    door.press(AMIRA, "London")
    over = door.text(AMIRA, "£180")  # the cap and the reason come from the config
    assert "over the £150 cap for a development day in London (Development day 1" in over
    door.press(AMIRA, "Ask for an exception")
    assert "skip" in door.text(AMIRA, "Only hotel left near the venue that night")
    read_back = door.text(AMIRA, "skip")
    assert "£180" in read_back and "cap is £150 (London)" in read_back
    door.text(AMIRA, "yes")
    [claim] = claims(services)
    assert claim.exceptional and claim.reason.startswith("Only hotel")
    assert "EXCEPTIONAL" in door.text(GARETH, "/review")


@pytest.mark.parametrize("amount", ["€95", "$95", "95 euros", "95 USD", "EUR 95", "95eur"])
def test_an_amount_in_another_currency_is_asked_for_in_pounds(door: FrontDoor, services,
                                                              amount: str):
    door.text(AMIRA, "/claim Leeds")
    asked = door.send(AMIRA, amount)
    assert asked[0].text.startswith("Claims are paid in pounds sterling. Please give the "
                                    "amount in £"), asked[0].text
    assert [c.label for c in asked[0].choices] == ["Cancel"]  # the form waits for the amount
    assert "receipt" in door.text(AMIRA, "£95")
    # in a one-line claim it is never taken as pounds either
    door.text(AMIRA, "/cancel")
    note, question = door.send(AMIRA, f"/claim 8 July 2015 {amount}")
    assert note.text.startswith("Claims are paid in pounds sterling.")
    assert question.text.startswith("How much was one night's bed and breakfast")
    assert claims(services) == []


def test_a_bad_amount_in_the_form_re_asks_with_the_reason(door: FrontDoor):
    door.text(AMIRA, "/claim Leeds")
    assert "more than zero" in door.text(AMIRA, "£0")
    assert "negative" in door.text(AMIRA, "-20")
    assert "too large" in door.text(AMIRA, "£250,000")
    assert "couldn't read" in door.text(AMIRA, "lots")
    assert "two decimals" in door.text(AMIRA, "95.999")
    assert "over the £100 cap" in door.text(AMIRA, "120 pounds")


def test_two_amounts_are_said_to_be_two_and_the_example_reads_as_one(door: FrontDoor):
    door.text(AMIRA, "/claim Leeds")
    assert door.text(AMIRA, "£120 plus parking £10").startswith(
        "That has 2 amounts (£120, £10). Please give just the one for the night's "
        "accommodation, like £95.")
    door.text(AMIRA, "lots")
    helped = door.text(AMIRA, "loads")  # after a few misses the form says what it needs
    assert "Here is what I need: one amount, the night's cost in pounds, for example " \
           "£95.50" in helped


def test_a_one_line_claim_explains_an_amount_it_cannot_take(door: FrontDoor):
    """As the form does when the same amount is typed into it, rather than dropping it."""
    first, asked = door.send(AMIRA, "/claim 8 July 100.004")
    assert first.text == ("Please give pounds and pence with at most two decimals, like "
                          "£95.50. I'll ask for it.")
    assert asked.text.startswith("How much was one night's bed and breakfast")
    door.text(AMIRA, "/cancel")
    first, asked = door.send(AMIRA, "/claim 100.004")  # no day given: it is asked too
    assert first.text.startswith("Please give pounds and pence with at most two decimals")
    assert asked.text.startswith("Which development day")


def test_travel_and_peer_session_stays_are_explained(door: FrontDoor, services, clock):
    clock.set(local(2015, 3, 2))
    book_session(door, services, "6 March 2pm")
    clock.set(local(2015, 3, 7))
    travel = door.text(AMIRA, "/claim train to Leeds £40")
    assert "doesn't pay travel" in travel
    peer = door.text(AMIRA, "claim a hotel for our peer session")
    assert "not covered" in peer
    which = door.press(AMIRA, "Ask for an exception")[0]
    assert which.text.startswith("Which peer session was the stay for?")
    assert "outside the programme" in door.text(AMIRA, "1 January 2015")
    door.text(AMIRA, "6 March")
    door.text(AMIRA, "£80")
    door.text(AMIRA, "Session was in Truro, six hours from home")
    door.text(AMIRA, "skip")
    door.text(AMIRA, "yes")
    [claim] = claims(services)
    assert claim.kind == "peer_session" and claim.exceptional and claim.cap_pence == 0
    assert claim.event_label == "Peer session accommodation (Friday 6 March 2015)"


def ask_for_a_session_stay(door: FrontDoor, services, clock) -> Reply:
    """Amira, the day after her session of 10 April, asks for a peer-session stay; the reply
    asks which session."""
    clock.set(local(2015, 3, 2))
    book_session(door, services, "10 April 2pm")
    clock.set(local(2015, 4, 11))
    door.text(AMIRA, "/claim hotel for a peer session")
    return door.press(AMIRA, "Ask for an exception")[0]


def test_a_peer_session_stay_is_claimed_for_one_of_the_pairs_sessions(door: FrontDoor,
                                                                      services, clock):
    which = ask_for_a_session_stay(door, services, clock)
    assert [c.label for c in which.choices] == ["Friday 10 April 2015", "Cancel"]
    door.press(AMIRA, "Friday 10 April")
    door.text(AMIRA, "£80")
    door.text(AMIRA, "Truro is six hours from home")
    read_back = door.text(AMIRA, "skip")
    assert read_back.startswith("Claim £80 for accommodation for the peer session on Friday "
                                "10 April 2015;")
    door.text(AMIRA, "yes")
    # one night per session: the same stay again is refused at the session question
    door.text(AMIRA, "/claim hotel for a peer session")
    door.press(AMIRA, "Ask for an exception")
    again = door.press(AMIRA, "Friday 10 April")[0]
    assert again.text.startswith("You already have a claim for that session's stay: #1 "
                                 "Peer session accommodation (Friday 10 April 2015)"), again.text
    assert len(claims(services)) == 1


def test_review_notes_a_session_stay_whose_session_no_longer_counts(door: FrontDoor,
                                                                     services, clock):
    ask_for_a_session_stay(door, services, clock)
    for answer in ("10 April", "£80", "Truro is six hours from home", "skip", "yes"):
        door.text(AMIRA, answer)
    note = "that session no longer counts as held"
    assert note not in "\n".join(r.text for r in door.send(GARETH, "/review"))
    door.send(JAMES, "/sessions")
    door.press(JAMES, "Didn't happen 10/04 14:00")
    assert note in "\n".join(r.text for r in door.send(GARETH, "/review"))


def test_a_peer_session_stay_for_a_day_without_a_session_is_refused(door: FrontDoor,
                                                                    services, clock):
    ask_for_a_session_stay(door, services, clock)
    refused = door.send(AMIRA, "6 March")[0]
    assert refused.text == ("You have had no peer session on Friday 6 March 2015 (a stay is "
                            "claimed after the session). Please choose one of yours: Friday "
                            "10 April 2015.")
    assert [c.label for c in refused.choices] == ["Friday 10 April 2015", "Cancel"]
    assert door.text(AMIRA, "10 April").startswith("How much did the accommodation cost?")
    assert claims(services) == []


def test_a_peer_session_stay_is_only_for_a_session_that_is_over_and_took_place(
        door: FrontDoor, services, clock):
    clock.set(local(2015, 3, 2))
    book_session(door, services, "10 April 2pm")
    book_session(door, services, "17 April 2pm")
    clock.set(local(2015, 4, 17, 9))  # 10 April is over; 17 April is later today
    door.send(AMIRA, "/sessions")
    door.press(AMIRA, "Didn't happen 10/04 14:00")
    door.text(AMIRA, "/claim hotel for a peer session")
    assert door.press(AMIRA, "Ask for an exception")[0].text.startswith(
        "You have had no peer sessions yet")


def test_a_peer_session_stay_needs_a_session_to_claim_for(door: FrontDoor, services, clock):
    clock.set(local(2015, 3, 2))
    book_session(door, services, "10 April 2pm")  # still to come: no stay to claim yet
    door.text(AMIRA, "claim a hotel for our peer session")
    assert door.press(AMIRA, "Ask for an exception")[0].text == (
        "You have had no peer sessions yet, so there is no session stay to claim: a stay is "
        "claimed after the session.")
    assert door.text(AMIRA, "/cancel") == "There is nothing to cancel."


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pence=st.integers(min_value=1, max_value=30000), take_cap=st.booleans())
def test_an_accepted_claim_is_within_its_cap_unless_exceptional(door: FrontDoor, services,
                                                              pence: int, take_cap: bool):
    door.text(PRIYA, f"/claim Leeds {pence / 100:.2f} pounds")
    if "over the" in "".join(r.text for r in door.last[PRIYA]):
        if take_cap:
            door.press(PRIYA, "Claim £")
        else:
            door.press(PRIYA, "Ask for an exception")
            door.text(PRIYA, "A written reason for the exception")
    door.text(PRIYA, "skip")
    door.text(PRIYA, "yes")
    with services.uow() as db:
        claim = db.scalars(select(Claim).where(Claim.status == "submitted")).one()
        assert claim.amount_pence <= claim.cap_pence or claim.exceptional
        claim.status = "withdrawn"  # frees the day for the next example


# ---------------------------------------------------------------- one per day
def test_a_second_claim_for_the_same_day_shows_the_first(door: FrontDoor, services):
    submit(door, AMIRA, "/claim 8 July £95")
    again = door.text(AMIRA, "/claim Leeds £50")
    assert "already have a claim" in again and "£95" in again
    door.text(AMIRA, "/claim")
    assert "already have a claim" in door.text(AMIRA, "8 July")
    assert len(claims(services)) == 1
    # someone else may claim the same day
    assert "Submitted" in submit(door, JAMES, "/claim 8 July £95")


def test_a_withdrawn_claim_frees_the_day_but_stays_on_file(door: FrontDoor, services):
    submit(door, AMIRA, "/claim 8 July £95")
    door.text(AMIRA, "/claims")
    assert "Withdrawn" in door.press(AMIRA, "Withdraw #1")[0].text
    assert "Submitted" in submit(door, AMIRA, "/claim 8 July £90")
    assert [c.status for c in claims(services)] == ["withdrawn", "submitted"]


# ---------------------------------------------------------------- receipts
def attachment(content_type: str, size: int, name: str = "receipt.pdf") -> Attachment:
    return Attachment(name=name, content_type=content_type, size=size,
                      fetch=lambda: b"%PDF" + b"x" * (size - 4))


def test_a_receipt_is_stored_with_the_claim(door: FrontDoor, services):
    door.text(AMIRA, "/claim 8 July £95")
    door.send(AMIRA, "", attachment=attachment("application/pdf", 2048))
    assert "Receipt attached" in door.last[AMIRA][0].text
    door.text(AMIRA, "yes")
    with services.uow() as db:
        receipt = db.scalars(select(Receipt)).one()
        assert (receipt.content_type, receipt.size, receipt.data[:4]) == (
            "application/pdf", 2048, b"%PDF")
        assert db.scalars(select(Claim)).one().receipt_id == receipt.id
    door.text(GARETH, "/review")
    [file_reply] = door.press(GARETH, "Receipt #1")
    assert file_reply.file is not None and file_reply.file.data[:4] == b"%PDF"


def test_a_skipped_receipt_can_be_added_later_until_the_claim_is_paid(door: FrontDoor,
                                                                     services):
    door.text(AMIRA, "/claim 8 July £95")
    door.text(AMIRA, "skip")
    submitted = door.send(AMIRA, "yes")[0]
    assert [c.label for c in submitted.choices] == ["Add receipt #1", "Withdraw #1"]
    asked = door.press(AMIRA, "Add receipt #1")[0]
    assert asked.text.startswith("Please send the receipt for claim #1")
    assert "Please attach the receipt" in door.text(AMIRA, "skip")
    added = door.send(AMIRA, "", attachment=attachment("application/pdf", 2048))[0]
    assert added.text == "Receipt added to #1 Development day 2 (Wednesday 8 July 2015, " \
                         "Leeds): £95, submitted."
    review = door.send(GARETH, "/review")[1]
    assert "No receipt" not in review.text and "Receipt #1" in [c.label for c in review.choices]
    assert [c.label for c in door.send(AMIRA, "/claims")[0].choices] == ["Withdraw #1"]


@pytest.mark.parametrize("how_it_ends, told", [
    (["/cancel"], "Nothing from it was saved"),
    (["no"], "Nothing was claimed"),
    (["/claim London £150"], "nothing from it was saved"),  # another claim replaces it
    (["/book"], "nothing from it was saved"),  # a form of another kind replaces it
    ([], "had expired"),  # they come back after the form timed out
])
def test_a_receipt_from_a_claim_form_that_ends_unfinished_is_deleted_at_once(
        door: FrontDoor, services, clock, how_it_ends: list[str], told: str):
    door.text(AMIRA, "/claim 8 July £95")
    door.send(AMIRA, "", attachment=attachment("application/pdf", 2048))
    if not how_it_ends:
        clock.advance(hours=2)
    replies = "\n".join(door.text(AMIRA, line) for line in how_it_ends or ["/home"])
    assert told in replies
    with services.uow() as db:  # "nothing was saved" is true now, not after the next purge
        assert db.scalars(select(Receipt)).all() == []


def test_a_receipt_for_a_day_claimed_meanwhile_is_not_kept(door: FrontDoor, services, clock):
    door.text(AMIRA, "/claim 8 July £95")
    door.send(AMIRA, "", attachment=attachment("application/pdf", 2048))
    with services.uow() as db:  # the same day claimed from another chat before "yes"
        db.add(Claim(participant_id=db.scalars(select(Receipt)).one().participant_id,
                     kind="accommodation", event_id="dev-day-leeds", event_label="Leeds",
                     amount_pence=9000, cap_pence=10000, exceptional=False, reason="",
                     status="submitted", created_at=clock.now(), updated_at=clock.now()))
    assert "You already have a claim for that day" in door.text(AMIRA, "yes")
    with services.uow() as db:
        assert db.scalars(select(Receipt)).all() == []
        assert [c.receipt_id for c in db.scalars(select(Claim))] == [None]


def test_a_receipt_of_the_wrong_type_or_size_is_refused(door: FrontDoor, services):
    door.text(AMIRA, "/claim 8 July £95")
    wrong = door.send(AMIRA, "", attachment=attachment("application/zip", 100, "r.zip"))
    assert "photo (JPEG, PNG or HEIC) or a PDF" in wrong[0].text
    big = door.send(AMIRA, "", attachment=attachment("image/jpeg", 10 * 1024 * 1024 + 1))
    assert "larger than 10 MB" in big[0].text
    liar = Attachment("r.jpg", "image/jpeg", 10, fetch=lambda: b"x" * (10 * 1024 * 1024 + 1))
    assert "larger than 10 MB" in door.send(AMIRA, "", attachment=liar)[0].text
    with services.uow() as db:
        assert db.scalars(select(Receipt)).all() == []


# ---------------------------------------------------------------- review and life
def test_only_the_programme_team_reviews(door: FrontDoor):
    submit(door, AMIRA, "/claim 8 July £95")
    assert "only the programme team" in door.text(AMIRA, "/review")
    assert "only the programme team" in door.text(JAMES, "/paid 1")
    refused = door.router.handle(door.incoming(JAMES, action_id="claims.approve",
                                               action_value="1"))
    assert "only the programme team" in refused[0].text


def test_review_approve_pay_and_notifications(door: FrontDoor, services):
    submit(door, AMIRA, "/claim 8 July £95")
    submit(door, AMIRA, "/claim London £150")
    assert "only an approved" in door.text(GARETH, "/paid 1").lower()
    review = door.send(GARETH, "/review")
    assert "#1" in review[1].text and "#2" in review[2].text  # oldest first
    assert review[1].text.endswith("No receipt.")  # the reviewer sees what is missing
    door.press(GARETH, "Approve #1")
    to_pay = door.send(GARETH, "/paid")[0]  # the approved claims, to choose from
    assert "- #1 Development day 2 (Wednesday 8 July 2015, Leeds): £95, approved from " \
           "Dr Amira Khan" in to_pay.text and [c.label for c in to_pay.choices] == ["Paid #1"]
    asked = door.send(GARETH, "/paid 1")[0]  # a typed number is confirmed first
    assert asked.text.startswith("Mark #1 Development day 2") and "from Dr Amira Khan" in \
        asked.text
    again = door.choice(GARETH, "Yes, paid #1")
    assert "Marked paid" in door.press(GARETH, "Yes, paid #1")[0].text
    twice = door.router.handle(door.incoming(GARETH, action_id=again.action_id,
                                             action_value=again.value))
    assert "not waiting to be paid" in twice[0].text
    door.text(GARETH, "/review")
    door.press(GARETH, "Reject #2")
    assert "Rejected" in door.text(GARETH, "Already booked by the programme")
    mine = door.text(AMIRA, "/claims")
    assert "paid" in mine and "rejected (Already booked" in mine
    assert "Claimed £95, approved £95, paid £95." in mine
    with services.uow() as db:
        outbox = db.scalars(select(OutboxMessage).where(
            OutboxMessage.kind == "claim_update")).all()
        assert sorted(m.idempotency_key.split("@")[0] for m in outbox) == [
            "claim:1:approved", "claim:1:paid", "claim:2:rejected"]
        audit = [(a.action, a.detail["from"], a.detail["to"]) for a in db.scalars(
            select(AuditEntry).where(AuditEntry.subject == "claim:1").order_by(AuditEntry.id))]
        assert audit == [("claim.submitted", None, "submitted"),
                         ("claim.approved", "submitted", "approved"),
                         ("claim.paid", "approved", "paid")]


def test_review_counts_every_waiting_claim_when_it_shows_only_a_page(door: FrontDoor,
                                                                     monkeypatch):
    monkeypatch.setattr("handlers.claims.REVIEW_PAGE", 2)
    for line in ("/claim 8 July £95", "/claim London £150", "/claim Birmingham £90"):
        submit(door, AMIRA, line)
    review = door.send(GARETH, "/review")
    assert review[0].text == ("*3 claims to review*, oldest first. Here are the first 2: "
                              "send /review again for the next ones.")
    assert len(review) == 3
    door.press(GARETH, "Approve #1")
    door.send(GARETH, "/review")
    door.press(GARETH, "Approve #2")
    assert door.send(GARETH, "/review")[0].text == "*1 claim to review*, oldest first."


def test_add_receipt_never_tells_whether_someone_elses_claim_exists(door: FrontDoor):
    submit(door, AMIRA, "/claim 8 July £95")
    for number in ("1", "2"):  # Amira's claim, and one that does not exist
        reply = door.router.handle(door.incoming(JAMES, action_id="claims.add_receipt",
                                                 action_value=number))
        assert [r.text for r in reply] == [f"You have no claim #{number}."]
    assert door.text(JAMES, "/cancel") == "There is nothing to cancel."


def test_withdraw_after_review_is_refused(door: FrontDoor, services):
    submit(door, AMIRA, "/claim 8 July £95")
    door.text(GARETH, "/review")
    door.press(GARETH, "Approve #1")
    refused = door.router.handle(door.incoming(AMIRA, action_id="claims.withdraw",
                                               action_value="1"))
    assert "already been reviewed" in refused[0].text
    other = door.router.handle(door.incoming(JAMES, action_id="claims.withdraw",
                                             action_value="1"))
    assert "can't find" in other[0].text
    assert claims(services)[0].status == "approved"


def test_a_claim_number_is_never_given_again_after_an_erasure(door: FrontDoor, services):
    submit(door, AMIRA, "/claim 8 July £95")
    amira = claims(services)[0].participant_id
    with services.uow() as db:  # her submitted claim never moved money: erasure deletes it
        erase_participant(db, db.get(Participant, amira), services.clock.now(), actor_id=None,
                          zone=services.programme.timezone)
    assert "Submitted: #2 " in submit(door, JAMES, "/claim 8 July £95")
    with services.uow() as db:  # so "claim:1" in the audit log still means her claim alone
        about = db.scalars(select(AuditEntry.subject).where(
            AuditEntry.action == "claim.submitted")).all()
    assert sorted(about) == ["claim:1", "claim:2"]


def test_an_approved_claim_of_someone_erased_says_so_and_tells_nobody(door: FrontDoor,
                                                                     services):
    """Erased with --despite-unpaid-claims: paying takes the team's own records, and nobody
    is left to tell."""
    submit(door, AMIRA, "/claim 8 July £95")
    door.text(GARETH, "/review")
    door.press(GARETH, "Approve #1")
    with services.uow() as db:
        amira = db.scalars(select(Participant).where(Participant.email == AMIRA)).one()
        erase_participant(db, amira, services.clock.now(), actor_id=None,
                          zone=services.programme.timezone)
    listed = door.send(GARETH, "/paid")[0].text
    assert "£95, approved from Erased participant #1 (details erased: pay from your own " \
           "records)" in listed
    asked = door.text(GARETH, "/paid 1")
    assert asked.endswith("from Erased participant #1 (details erased: pay from your own "
                          "records) paid? Nobody can be told.")
    assert door.press(GARETH, "Yes, paid #1")[0].text == (
        "Marked paid: #1 Development day 2 (Wednesday 8 July 2015, Leeds): £95, paid. Nobody "
        "was told: the claimant's details were erased.")
    with services.uow() as db:  # no message written for someone who can't be reached
        assert db.scalars(select(OutboxMessage).where(
            OutboxMessage.idempotency_key.startswith("claim:1:paid"))).all() == []


def test_claims_export_is_ready_for_finance(door: FrontDoor, services, clock):
    clock.set(local(2015, 7, 8, 0, 30))  # local midnight past: still 7 July in UTC
    submit(door, AMIRA, "/claim 8 July £95.50")
    submit(door, JAMES, "/claim London £150")
    submit(door, PRIYA, "/claim Leeds £60")
    door.router.handle(door.incoming(PRIYA, action_id="claims.withdraw", action_value="3"))
    submit(door, PRIYA, "/claim London £80")
    clock.set(local(2015, 7, 10))
    for number in (1, 2):
        door.text(GARETH, "/review")
        door.press(GARETH, f"Approve #{number}")
    clock.set(local(2015, 7, 20))
    door.text(GARETH, "/paid 1")
    door.press(GARETH, "Yes, paid #1")
    with services.uow() as db:
        assert [r.id for r in claims_rows(db, "withdrawn")] == [3]
        db.get(Claim, 1).reason = '=HYPERLINK("http://evil.example","click")'  # as typed
        data = claims_csv(db, services.programme)
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM: Excel shows £, not Â£
    header, *rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    claimed = [dict(zip(header, r, strict=True)) for r in rows[:4]]
    assert [(c["id"], c["amount_gbp"], c["status"]) for c in claimed] == [
        ("1", "95.50", "paid"), ("2", "150.00", "approved"), ("3", "60.00", "withdrawn"),
        ("4", "80.00", "submitted")]
    # local British dates, who reviewed it and when, and when it was paid
    assert {k: claimed[0][k] for k in ("submitted_on", "reviewed_by", "reviewed_on",
                                       "paid_on")} == {
        "submitted_on": "08/07/2015", "reviewed_by": "Gareth Davies",
        "reviewed_on": "10/07/2015", "paid_on": "20/07/2015"}
    assert (claimed[1]["reviewed_by"], claimed[1]["paid_on"]) == ("Gareth Davies", "")
    assert (claimed[3]["reviewed_by"], claimed[3]["reviewed_on"]) == ("", "")
    # a total for each status that holds money, never one figure mixing them; withdrawn is
    # neither counted nor added up
    assert [r[:8] for r in rows[4:]] == [
        ["total", "", "", "1 claim", "95.50", "", "", "paid"],
        ["total", "", "", "1 claim", "150.00", "", "", "approved, not yet paid"],
        ["total", "", "", "1 claim", "80.00", "", "", "submitted, not yet reviewed"]]
    # shown as text in a spreadsheet, never run as a formula
    assert claimed[0]["reason"] == '\'=HYPERLINK("http://evil.example","click")'


def test_start_a_claim_button_from_an_answer_or_reminder_opens_the_form(door):
    door.text(AMIRA, "can I claim for a hotel?")
    reply = door.press(AMIRA, "Start a claim")
    assert "development day" in reply[0].text.lower()


def test_odd_claim_numbers_get_a_polite_answer(door):
    assert "No approved claims are waiting to be paid" in door.text(GARETH, "/paid")
    for number in ("abc", "-1", "#"):
        assert "Send /paid N" in door.text(GARETH, f"/paid {number}")
    assert door.text(GARETH, "/paid 99999999999999999999999").startswith(
        "There is no claim #999999999999. No approved")


def test_team_home_and_plain_words_show_what_waits_for_review(door: FrontDoor, clock):
    clock.set(clock.now().replace(month=7, day=9))
    assert "Submitted" in submit(door, AMIRA, "/claim 8 July £95")
    home = door.text(GARETH, "/home")
    assert "*For the programme team*" in home and "Your claims" not in home
    assert "- claims: 1 waiting for review (/review), 0 approved and not yet paid" in home
    assert "- pairs: 2 pairs, 2 behind pace, 1 not in a pair (/pairs)" in home
    assert "1 claim to review" in door.text(GARETH, "any claims waiting for review?")
    assert "*Pairs' progress*" in door.text(GARETH, "how are the pairs getting on?")
    # the same words from a peer are not the team's queue
    assert "to review" not in door.text(AMIRA, "any claims waiting for review?")
