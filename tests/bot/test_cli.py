"""The command line as a newcomer uses it, on a real SQLite file. Each command runs through
`main` as the installed script does; the tests where a new process is the point (start-up,
a form carried across processes, the web process) run real subprocesses."""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.cli import main

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


Sps = Callable[..., Ran]


def subprocess_sps(tmp_path: Path, *args: str, stdin: str = "") -> Ran:
    environment = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    result = subprocess.run([sys.executable, "-m", "bot.cli", *args], input=stdin,
                            capture_output=True, text=True, cwd=tmp_path, env=environment,
                            timeout=60)
    return Ran(result.returncode, result.stdout, result.stderr)


@pytest.fixture
def sps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> Iterator[Sps]:
    """`sps(*args, stdin=..., env=...)` runs one command as `sps-bot` would."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # main configures logging for a process

    def run(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> Ran:
        with monkeypatch.context() as scoped:
            for name, value in (env or {}).items():
                scoped.setenv(name, value)
            scoped.setattr(sys, "stdin", io.StringIO(stdin))
            capsys.readouterr()
            code = main(list(args))
            out, err = capsys.readouterr()
        return Ran(code, out, err)

    yield run
    root.handlers[:], root.level = handlers, level


def test_help_is_quick_and_names_the_commands(tmp_path):
    started = time.perf_counter()
    result = subprocess_sps(tmp_path, "--help")
    assert result.returncode == 0
    for command in ("chat", "ask", "participants", "db", "knowledge"):
        assert command in result.stdout
    assert time.perf_counter() - started < 5  # the real figure is in bench/handler.py


def test_piped_chat_answers_numbered_choices(sps, tmp_path):
    script = "what is the weather in leeds\n1\n"
    result = sps("chat", "--demo", "--as", "amira.khan@example.nhs.uk",
                 "--today", "2015-03-02", stdin=script)
    assert result.returncode == 0, result.stderr
    assert "couldn't find that in the programme documents" in result.stdout
    assert "[1]" in result.stdout


def test_import_bad_file_reports_line_and_imports_nothing(sps, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("name,email,role,organisation,region,partner_email\n"
                   "Ann,ann@example.org,peer,O,R,\nBob,bob@example.org,wizard,O,R,\n")
    result = sps("participants", "import", str(bad))
    assert result.returncode == 1 and "line 3: role 'wizard'" in result.stderr
    listing = sps("participants", "list")
    assert "ann@example.org" not in listing.stdout


@pytest.mark.parametrize("encoding", ["cp1252", "utf-16", "utf-8-sig"])
def test_import_reads_what_excel_saves(sps, tmp_path, encoding):
    saved = tmp_path / "excel.csv"
    saved.write_bytes("name,email,role,organisation,region,partner_email\r\n"
                      "Zo\u00eb Br\u00fbl\u00e9,zoe@example.org,peer,O,R,\r\n".encode(encoding))
    assert "1 added" in sps("participants", "import", str(saved)).stdout
    assert "Zo\u00eb Br\u00fbl\u00e9" in sps("participants", "list").stdout
    # bytes no spreadsheet encoding reads: told how to save it, not a Python error
    (tmp_path / "odd.csv").write_bytes(b"name,email\n\x81\x8d\xff\n")
    odd = sps("participants", "import", str(tmp_path / "odd.csv"))
    assert odd.returncode == 2 and "CSV UTF-8 (comma delimited)" in odd.stderr
    assert "codec" not in odd.stderr


def test_invite_then_link_from_the_chat(sps, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("name,email,role,organisation,region,partner_email\n"
                    "Ann Lee,ann@example.org,peer,O,R,\n")
    assert "1 added" in sps("participants", "import", str(good)).stdout
    assert "0 added, 0 updated, 1 unchanged" in sps("participants", "import",
                                                    str(good)).stdout
    invite = sps("participants", "invite", "ann@example.org")
    code = invite.stdout.split(": ", 1)[1].split()[0]
    chat = sps("chat", stdin=f"/link {code}\n/whoami\n")
    assert "Welcome, Ann Lee" in chat.stdout and "You're Ann Lee (peer)" in chat.stdout


def test_invalid_programme_file_fails_at_start_naming_the_field(sps, tmp_path):
    broken = tmp_path / "p.toml"
    broken.write_text("[programme]\nname = 'X'\n")
    result = sps("chat", env={"SPS_PROGRAMME": str(broken)}, stdin="hi\n")
    assert result.returncode == 2 and "programme.starts is required" in result.stderr


def test_unknown_participant_for_as_is_refused(sps, tmp_path):
    result = sps("chat", "--as", "nobody@example.org", stdin="hi\n")
    assert result.returncode == 2 and "not a registered participant" in result.stderr


def test_claims_list_and_csv_export(sps, tmp_path):
    chat = sps("chat", "--demo", "--as", "amira.khan@example.nhs.uk", "--today",
               "2015-07-09", stdin="/claim 8 July £95\nskip\nyes\n")
    assert "Submitted: #1" in chat.stdout, chat.stdout
    header, row = sps("claims", "list").stdout.splitlines()
    assert row.split("  ")[-1] == "submitted"
    assert row.index("£95") + 3 == header.index("amount") + 6  # amounts line up on the right
    assert row.index("submitted") == header.index("status")
    assert "No claims." in sps("claims", "list", "--status", "paid").stdout
    target = tmp_path / "claims.csv"
    sps("claims", "export", "--csv", str(target))
    lines = target.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("id,name,email") and lines[-1].startswith("total,")
    assert "95.00" in lines[-1]
    # the claim is not paid yet: erasing her now would leave nobody to pay it to
    waiting = sps("participants", "erase", "amira.khan@example.nhs.uk", "--yes")
    assert waiting.returncode == 1 and "nothing erased. Not paid yet: claim #1" in waiting.stderr
    assert "add --despite-unpaid-claims" in waiting.stderr
    assert sps("participants", "erase", "amira.khan@example.nhs.uk", "--yes",
               "--despite-unpaid-claims").returncode == 0


def test_reminders_preview_lists_the_window(sps, tmp_path):
    sps("participants", "import", str(ROOT / "knowledge/demo/cohort.csv"))
    result = sps("reminders", "preview", "--from", "2015-03-01", "--to",
                 "2015-03-20")
    assert "Wed 04/03/2015 09:00  event_reminder" in result.stdout
    assert "15 automatic messages from 01/03/2015 to 20/03/2015." in result.stdout
    # an announcement scheduled in the window is there too (sent later than the real today)
    sps("broadcast", "send", "--to", "peers", "--at", "2099-03-10 08:30", "--yes",
        "Room change for day 1")
    result = sps("reminders", "preview", "--from", "2099-03-01", "--to", "2099-03-20")
    assert "Tue 10/03/2099 08:30  broadcast #1       to peers: Room change for day 1" \
        in result.stdout
    assert "0 automatic messages from 01/03/2099 to 20/03/2099, and 1 scheduled broadcast." \
        in result.stdout


def test_reminders_preview_includes_what_the_worker_sends_about_sessions(sps):
    sps("chat", "--demo", "--as", "amira.khan@example.nhs.uk", "--today", "2015-03-02",
        stdin="/book 10 April 2pm 3h virtual\nyes\n")
    result = sps("reminders", "preview", "--from", "2015-03-02", "--to", "2015-03-06")
    assert "session_update     to Dr Amira Khan: Dr James Okafor didn't answer your proposal" \
        in result.stdout
    backwards = sps("reminders", "preview", "--from", "2015-03-20", "--to", "2015-03-01")
    assert backwards.returncode == 2
    assert "--to 01/03/2015 is before --from 20/03/2015" in backwards.stderr


def test_sessions_report_puts_pairs_behind_pace_first(sps, tmp_path):
    sps("participants", "import", str(ROOT / "knowledge/demo/cohort.csv"))
    target = tmp_path / "pairs.csv"
    result = sps("sessions", "report", "--today", "2015-06-01", "--csv", str(target))
    assert "Dr Amira Khan & Dr James Okafor" in result.stdout and "behind pace" in result.stdout
    assert target.read_text(encoding="utf-8-sig").startswith("pair,held,booked,behind_pace")


def test_sessions_report_lists_a_parted_pairs_session_nobody_confirmed(sps, tmp_path):
    cohort = ROOT / "knowledge/demo/cohort.csv"
    sps("participants", "import", str(cohort))
    sps("chat", "--as", "amira.khan@example.nhs.uk", "--today", "2015-03-02",
        stdin="/book 10 March 2pm 3h virtual\nyes\n")
    sps("chat", "--as", "james.okafor@example.nhs.uk", "--today", "2015-03-02",
        stdin="/sessions\n1\n")
    swapped = tmp_path / "swapped.csv"  # Amira with Tom, Sian with James
    partners = {"amira.khan": "tom.hughes", "tom.hughes": "amira.khan",
                "sian.roberts": "james.okafor", "james.okafor": "sian.roberts"}
    lines = cohort.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        fields = line.split(",")
        if (user := fields[1].split("@")[0]) in partners:
            fields[5] = f"{partners[user]}@example.nhs.uk"
            lines[number] = ",".join(fields)
    swapped.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert sps("participants", "import", str(swapped), "--today", "2015-03-20").returncode == 0
    report = sps("sessions", "report", "--today", "2015-03-20").stdout
    assert ("Earlier pairs, awaiting confirmation that a session took place: Dr Amira Khan & "
            "Dr James Okafor, Tuesday 10 March 2015, 14:00 to 17:00, virtual") in report
    assert "Dr Amira Khan & Mr Tom Hughes" in report


def test_web_process_answers_healthz(tmp_path):
    import socket
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "PORT": str(port)}
    server = subprocess.Popen([sys.executable, "-m", "bot.cli", "web"], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200 and b'"ok"' in r.read()
                    break
            except OSError:
                assert time.monotonic() < deadline, "web process did not start"
                time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(10)


def test_participant_export_and_erase(sps, tmp_path):
    sps("participants", "import", str(ROOT / "knowledge/demo/cohort.csv"))
    exported = sps("participants", "export", "amira.khan@example.nhs.uk")
    assert '"email": "amira.khan@example.nhs.uk"' in exported.stdout
    refused = sps("participants", "erase", "amira.khan@example.nhs.uk")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    erased = sps("participants", "erase", "amira.khan@example.nhs.uk", "--yes")
    assert erased.returncode == 0 and "Erased amira.khan@example.nhs.uk" in erased.stdout
    listing = sps("participants", "list").stdout
    assert "amira.khan" not in listing and "Erased participant" in listing
    # the anonymised row is no one to invite, export or erase again
    erased_email = re.search(r"erased-\d+@invalid", listing).group()
    for command in (["invite", erased_email], ["export", erased_email],
                    ["erase", erased_email, "--yes"]):
        refused = sps("participants", *command)
        assert refused.returncode == 1 and "erased participant" in refused.stderr, command
    # The programme team's old list does not bring her back by accident...
    again = sps("participants", "import", str(ROOT / "knowledge/demo/cohort.csv"))
    assert again.returncode == 1 and "nothing imported" in again.stderr
    assert "line 2: amira.khan@example.nhs.uk was erased at their request on " in again.stderr
    assert "amira.khan" not in sps("participants", "list").stdout
    # ...but can when she has rejoined, and only that once
    rejoined = sps("participants", "import", "--include-erased",
                   str(ROOT / "knowledge/demo/cohort.csv"))
    assert rejoined.returncode == 0 and "1 added" in rejoined.stdout
    assert sps("participants", "import", str(ROOT / "knowledge/demo/cohort.csv")).returncode == 0


def test_broadcast_and_challenge_signoff_from_the_command_line(sps, tmp_path):
    sps("participants", "import", str(ROOT / "knowledge/demo/cohort.csv"))
    refused = sps("broadcast", "send", "--to", "everyone", "Hello")
    assert refused.returncode == 1 and "To everyone (7 people)" in refused.stdout
    sent = sps("broadcast", "send", "--to", "peers", "--yes", "Dev day soon")
    assert sent.returncode == 0 and "queued for 3 people" in sent.stdout
    # nobody has linked a chat account yet, so all three are recorded as unreachable
    assert "#1 to peers" in sps("broadcast", "status").stdout
    assert "0 sent, 0 pending, 3 waiting until they link, 0 failed" in \
        sps("broadcast", "status").stdout
    assert "cancelled" in sps("broadcast", "cancel", "1").stdout
    signed = sps("challenges", "signoff", "stp-north")
    assert signed.returncode == 0 and "3 team members were asked" in signed.stdout, signed
    again = sps("challenges", "signoff", "stp-north")
    assert again.returncode == 1


def test_ask_json_one_question_and_many_from_stdin(sps, tmp_path):
    import json

    one = json.loads(sps("ask", "--json", "will expenses be paid?").stdout)
    assert one["answered"] is True and "£150" in one["answer"]
    assert one["sources"] == [{"document": "The Strategic Peer Support (SPS) Programme – "
                                           "Frequently Asked Questions (FAQs)",
                               "section": "Will expenses be paid?"}]
    assert 0.0 <= one["score"] <= 1.0
    lines = sps("ask", "--json",
                stdin="where are the development days?\nwhat is the capital of Peru\n\n")
    answers = [json.loads(line) for line in lines.stdout.splitlines()]
    assert [a["answered"] for a in answers] == [True, False]
    assert answers[1]["sources"] == [] and "gareth.davies@fmlm.ac.uk" in answers[1]["answer"]


def test_ask_answers_todays_facts_from_the_configuration_as_the_chat_does(sps):
    import json

    lines = sps("ask", "--json", "--today", "2015-03-02",
                stdin="how long is each session?\nwhen is the next development day?\n")
    length, day = (json.loads(line) for line in lines.stdout.splitlines())
    # not the learning set's four-hour meetings, which a text search finds
    assert length["answer"].startswith("Peer sessions last 2 to 3 hours")
    assert [s["section"] for s in length["sources"]] == [
        "What does the programme consist of?", "Peer sessions"]
    assert day["answer"].startswith("The next one is Development day 1: Wednesday 18 March 2015")
    assert day["answered"] is True and day["score"] == 1.0


def test_a_form_carries_on_in_a_new_process(sps, tmp_path):
    """Start booking in one console process, finish it in another: nothing is lost."""
    amira = ("chat", "--demo", "--as", "amira.khan@example.nhs.uk", "--today", "2015-03-02")
    first = subprocess_sps(tmp_path, *amira, stdin="/book\n10 April\n")
    assert "What time on Friday 10 April 2015?" in first.stdout
    second = sps(*amira, stdin="2pm\n3h\nvirtual\nyes\n")
    assert "Propose to Dr James Okafor: Friday 10 April 2015, 14:00 to 17:00, virtual?" \
        in second.stdout
    assert "Sent to Dr James Okafor" in second.stdout
    james = sps("chat", "--as", "james.okafor@example.nhs.uk", "--today",
                "2015-03-02", stdin="/whoami\n1\n")
    assert "(message) Dr Amira Khan proposes a peer session" in james.stdout
    assert "Booked: Friday 10 April 2015, 14:00 to 17:00, virtual" in james.stdout


def test_knowledge_check_reports_what_was_indexed_and_each_problem(sps, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "guide.md").write_text("# Guide\n\n## Parking\nAlso asked: where do I park\n"
                                   "There is none.\n", encoding="utf-8")
    (docs / "notes.txt").write_bytes(b"Notes\n\xff\xfe broken")
    (docs / "slides.pdf").write_bytes(b"%PDF-1.4")
    (docs / "budget.xlsx").write_bytes(b"PK")
    result = sps("knowledge", "check", env={"SPS_DOCS": str(docs)})
    assert result.returncode == 1
    assert "guide.md: 1 section, 1 other phrasing" in result.stdout
    assert "problem: notes.txt: not UTF-8 text, skipped" in result.stdout
    assert "problem: slides.pdf: could not be read" in result.stdout
    assert "problem: budget.xlsx: skipped (only .md, .txt, .docx, .pdf are read)" in result.stdout
    assert "1 section from 1 document in" in result.stdout
    shipped = sps("knowledge", "check")
    assert shipped.returncode == 0, shipped.stdout
    assert "problem" not in shipped.stdout


def test_knowledge_unanswered_lists_the_most_asked_first(sps, tmp_path):
    chat = ("chat", "--demo", "--as", "amira.khan@example.nhs.uk", "--today", "2015-03-02")
    sps(*chat, stdin="what is the weather in leeds\nWhat is the weather in Leeds?\n"
                     "what should each post-it note say\nwill expenses be paid?\n")
    listed = sps("knowledge", "unanswered")
    assert listed.returncode == 0
    assert listed.stdout.splitlines()[:2] == [
        "   2 x  #2     what is the weather in leeds  (last 02/03/2015, open)",
        "   1 x  #3     what should each post-it note say  (last 02/03/2015, unsure answer)"]
    assert "/answer N" in listed.stdout


def test_ask_knows_the_programme_teams_answers(sps, tmp_path):
    import json

    question = "is there anywhere to lock a bicycle?"
    assert not json.loads(sps("ask", "--json", question).stdout)["answered"]
    # with no database yet there is nothing to read, and asking leaves none behind
    assert not (tmp_path / "cli.db").exists()
    sps("chat", "--demo", "--as", "amira.khan@example.nhs.uk", stdin=question + "\n")
    sps("chat", "--as", "gareth.davies@example.org",
        stdin="/answer 1 Yes, covered racks at every venue.\n")
    answer = json.loads(sps("ask", "--json", question).stdout)
    assert answer["answered"] and answer["answer"] == "Yes, covered racks at every venue."
    assert answer["sources"][0]["document"] == "Programme team answers"


@pytest.mark.skipif(not os.environ.get("SPS_TEST_POSTGRES_URL"), reason="needs PostgreSQL")
def test_a_postgresql_database_not_yet_migrated_is_said_so_plainly(sps):
    from handlers.storage.db import make_engine

    admin = make_engine(os.environ["SPS_TEST_POSTGRES_URL"], isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql("DROP DATABASE IF EXISTS sps_unmigrated WITH (FORCE)")
        connection.exec_driver_sql("CREATE DATABASE sps_unmigrated")
    url = os.environ["SPS_TEST_POSTGRES_URL"].rsplit("/", 1)[0] + "/sps_unmigrated"
    try:
        ran = sps("ask", "will expenses be paid?", env={"DATABASE_URL": url})
        assert ran.returncode == 2 and "Traceback" not in ran.stderr
        assert "run `sps-bot db upgrade` first" in ran.stderr
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql("DROP DATABASE IF EXISTS sps_unmigrated WITH (FORCE)")
        admin.dispose()


def test_changing_pairs_by_import_cancels_the_old_pairs_future_sessions(sps, tmp_path):
    sps("chat", "--demo", "--as", "sian.roberts@example.nhs.uk", "--today", "2015-03-02",
        stdin="/book 10 April 2pm 3h virtual\nyes\n")
    repaired = tmp_path / "repair.csv"
    repaired.write_text("name,email,role,organisation,region,partner_email\n"
                        "Ann Lee,ann@example.org,peer,Org,North,tom.hughes@example.nhs.uk\n"
                        "Mr Tom Hughes,tom.hughes@example.nhs.uk,expert_peer,O,R,"
                        "ann@example.org\n")
    ran = sps("participants", "import", str(repaired), "--today", "2015-03-03")
    assert "1 pair(s) changed: 1 future session(s) or proposal(s) of the old pairs cancelled " \
        "or withdrawn, both people told." in ran.stdout
    assert "2 people told who their partner is now." in ran.stdout
    told = sps("chat", "--as", "sian.roberts@example.nhs.uk", "--today", "2015-03-03",
               stdin="/sessions\n").stdout
    # it was a proposal, never accepted: withdrawn, not "cancelled" from a diary
    assert "The proposed peer session with Mr Tom Hughes, Friday 10 April 2015, 14:00 to " \
        "17:00, virtual, is withdrawn: the programme team has changed the pairs." in told
