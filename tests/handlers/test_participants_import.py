"""Registering participants from the programme team's CSV: all rows or none, idempotent."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import func, select

from handlers.booking import cancel_parted_pair
from handlers.identity import ImportProblem, ImportResult, import_participants
from handlers.storage.models import OutboxMessage, Participant
from tests.conftest import AMIRA, DEMO_CSV, JAMES, PRIYA, SIAN

HEADER = "name,email,role,organisation,region,partner_email\n"


TOM = "tom.hughes@example.nhs.uk"


def import_partners(services, partners: dict[str, str]) -> ImportResult:
    """The demo cohort again with these partner_emails changed, imported as `sps-bot
    participants import` does: the old pairs' future sessions are cancelled with it."""
    rows = list(csv.reader(io.StringIO(DEMO_CSV)))
    for row in rows[1:]:
        row[5] = partners.get(row[1], row[5])
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    with services.uow() as db:
        now = services.clock.now()
        result = import_participants(db, text.getvalue(), now)
        for a, b in result.parted:
            cancel_parted_pair(db, services.programme, a, b, now)
    return result


def told(services, email: str) -> list[str]:
    """What the bot has queued for this person on its own (sent once they link)."""
    with services.uow() as db:
        return list(db.scalars(select(OutboxMessage.text).join(
            Participant, OutboxMessage.participant_id == Participant.id).where(
            Participant.email == email).order_by(OutboxMessage.id)))


def count(services) -> int:
    with services.uow() as db:
        return db.scalar(select(func.count()).select_from(Participant))


def test_reimporting_the_same_file_changes_nothing(services):
    before = count(services)
    with services.uow() as db:
        result = import_participants(db, DEMO_CSV, services.clock.now())
    assert (result.added, result.updated, result.unchanged) == (0, 0, before)
    assert count(services) == before


def test_new_pair_is_linked_both_ways(services):
    csv = HEADER + ("Ann Lee,ann@example.org,peer,Org,North,bob@example.org\n"
                    "Bob Day,BOB@example.org,expert_peer,Org,North,ann@example.org\n")
    with services.uow() as db:
        assert import_participants(db, csv, services.clock.now()).added == 2
    with services.uow() as db:
        ann = db.scalars(select(Participant).where(Participant.email == "ann@example.org")).one()
        assert ann.partner.email == "bob@example.org" and ann.partner.partner_id == ann.id


@pytest.mark.parametrize("rows, problem", [
    ("Ann,ann@example.org,nurse,O,R,\n", "line 2: role 'nurse'"),
    ("Ann,not-an-email,peer,O,R,\n", "line 2: 'not-an-email' is not an email"),
    ("Ann,ann@example.org,peer,O,R,\nAnn2,ann@example.org,peer,O,R,\n",
     "line 3: ann@example.org is already on line 2"),
    ("Ann,ann@example.org,peer,O,R,zed@example.org\n", "partner zed@example.org is not"),
    ("Ann,ann@example.org,peer,O\n", "line 2: expected 6 columns"),
    (",ann@example.org,peer,O,R,\n", "line 2: name is empty"),
    # a pair is one expert peer and one peer, whether the partner is in the file or not
    ("Ann,ann@example.org,peer,O,R,bob@example.org\nBob,bob@example.org,peer,O,R,\n",
     "line 2: ann@example.org and bob@example.org are both peers; a pair is one expert peer"),
    ("Ann,ann@example.org,expert_peer,O,R,james.okafor@example.nhs.uk\n",
     "are both expert peers"),
    ("Ann,ann@example.org,peer,O,R,gareth.davies@example.org\n",
     "partner gareth.davies@example.org is programme_team, not a peer or expert peer"),
    # taking someone else's partner would leave their old partner half paired
    ("Ann,ann@example.org,peer,O,R,tom.hughes@example.nhs.uk\n",
     "line 2: tom.hughes@example.nhs.uk is already paired with sian.roberts@example.nhs.uk; "
     "to change pairs, give tom.hughes@example.nhs.uk a line with their new partner_email"),
])
def test_a_bad_row_is_reported_and_nothing_is_imported(services, rows, problem):
    good = "Good Person,good@example.org,peer,O,R,\n"
    before = count(services)
    with pytest.raises(ImportProblem) as caught, services.uow() as db:
        import_participants(db, HEADER + rows + good, services.clock.now())
    assert any(problem in line for line in caught.value.problems), caught.value.problems
    assert count(services) == before


def test_wrong_header_is_refused(services):
    with pytest.raises(ImportProblem, match="header"), services.uow() as db:
        import_participants(db, "email,name\nx@y.z,X\n", services.clock.now())


def test_a_file_saved_with_semicolons_is_read(services):
    semicolons = ("name;email;role;organisation;region;partner_email\n"
                  "\"Lee, Ann\";ann@example.org;peer;Org;North;\n")
    with services.uow() as db:
        assert import_participants(db, semicolons, services.clock.now()).added == 1
        ann = db.scalars(select(Participant).where(Participant.email == "ann@example.org")).one()
        assert (ann.name, ann.region) == ("Lee, Ann", "North")


def test_pairs_change_when_the_file_says_so_for_everyone_involved(services):
    csv = HEADER + ("Ann Lee,ann@example.org,peer,Org,North,tom.hughes@example.nhs.uk\n"
                    "Mr Tom Hughes,tom.hughes@example.nhs.uk,expert_peer,O,R,ann@example.org\n")
    with services.uow() as db:
        import_participants(db, csv, services.clock.now())
    with services.uow() as db:
        by_email = {p.email: p for p in db.scalars(select(Participant))}
        assert by_email["tom.hughes@example.nhs.uk"].partner.email == "ann@example.org"
        assert by_email["sian.roberts@example.nhs.uk"].partner is None  # not half paired


def test_a_role_written_as_words_is_read(services):
    csv = HEADER + ("Ann Lee,ann@example.org,Peer,Org,North,bob@example.org\n"
                    "Bob Day,bob@example.org,Expert Peer,Org,North,ann@example.org\n"
                    "Cy Ray,cy@example.org,programme-team,Org,North,\n")
    with services.uow() as db:
        assert import_participants(db, csv, services.clock.now()).added == 3
    with services.uow() as db:
        roles = {p.email: p.role for p in db.scalars(select(Participant))}
    assert (roles["bob@example.org"], roles["cy@example.org"]) == ("expert_peer",
                                                                   "programme_team")


def test_everyone_whose_partner_changes_is_told_and_counted_as_updated(services):
    # Amira's and James's pair ends; James pairs with Priya, who had nobody
    result = import_partners(services, {AMIRA: "", JAMES: PRIYA, PRIYA: JAMES})
    assert (result.added, result.updated, result.unchanged, result.repaired) == (0, 3, 4, 3)
    assert told(services, AMIRA) == [
        "The programme team has changed the pairs: you are no longer paired with Dr James "
        "Okafor, so you aren't in a pair at the moment. The programme team will be in touch "
        "about pairing."]
    assert told(services, JAMES) == [
        "The programme team has changed the pairs: your partner is now Dr Priya Nair, no "
        "longer Dr Amira Khan. Send /book to propose a peer session."]
    assert told(services, PRIYA) == [
        "The programme team has paired you with Dr James Okafor. Send /book to propose a peer "
        "session."]
    assert told(services, SIAN) == []
    again = import_partners(services, {AMIRA: "", JAMES: PRIYA, PRIYA: JAMES})
    assert (again.updated, again.unchanged, again.repaired) == (0, 7, 0)
    assert len(told(services, JAMES)) == 1  # nothing new to tell


def test_someone_unpaired_because_their_partner_was_taken_is_told_too(services):
    # Sian is not in the file: Tom's new pair leaves her on her own
    csv_text = HEADER + ("Ann Lee,ann@example.org,peer,Org,North,tom.hughes@example.nhs.uk\n"
                         "Mr Tom Hughes,tom.hughes@example.nhs.uk,expert_peer,University "
                         "Hospitals Birmingham (demo),Midlands/South,ann@example.org\n")
    with services.uow() as db:
        result = import_participants(db, csv_text, services.clock.now())
    assert (result.added, result.updated, result.unchanged) == (1, 2, 0)  # Tom and Sian
    assert "you are no longer paired with Mr Tom Hughes" in told(services, SIAN)[0]
    assert told(services, TOM)[0].startswith("The programme team has changed the pairs: your "
                                             "partner is now Ann Lee, no longer Dr Sian "
                                             "Roberts.")
    assert told(services, "ann@example.org") == []  # new: she learns it when she links
