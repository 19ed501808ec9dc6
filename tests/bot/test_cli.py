"""The command line as a newcomer uses it: real subprocesses, a real SQLite file."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def sps(tmp_path: Path, *args: str, stdin: str = "", env: dict | None = None):
    environment = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
                   **(env or {})}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], input=stdin,
                          capture_output=True, text=True, cwd=tmp_path, env=environment,
                          timeout=60)


def test_help_is_quick_and_names_the_commands(tmp_path):
    started = time.perf_counter()
    result = sps(tmp_path, "--help")
    assert result.returncode == 0
    for command in ("chat", "ask", "participants", "db", "knowledge"):
        assert command in result.stdout
    assert time.perf_counter() - started < 5  # the real figure is in bench/handler.py


def test_piped_chat_answers_numbered_choices(tmp_path):
    script = "what is the weather in leeds\n1\n"
    result = sps(tmp_path, "chat", "--demo", "--as", "amira.khan@example.nhs.uk",
                 "--today", "2015-03-02", stdin=script)
    assert result.returncode == 0, result.stderr
    assert "couldn't find that in the programme documents" in result.stdout
    assert "[1]" in result.stdout


def test_import_bad_file_reports_line_and_imports_nothing(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("name,email,role,organisation,region,partner_email\n"
                   "Ann,ann@example.org,peer,O,R,\nBob,bob@example.org,wizard,O,R,\n")
    result = sps(tmp_path, "participants", "import", str(bad))
    assert result.returncode == 1 and "line 3: role 'wizard'" in result.stderr
    listing = sps(tmp_path, "participants", "list")
    assert "ann@example.org" not in listing.stdout


def test_invite_then_link_in_a_new_process(tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("name,email,role,organisation,region,partner_email\n"
                    "Ann Lee,ann@example.org,peer,O,R,\n")
    assert "1 added" in sps(tmp_path, "participants", "import", str(good)).stdout
    assert "0 added, 0 updated, 1 unchanged" in sps(tmp_path, "participants", "import",
                                                    str(good)).stdout
    invite = sps(tmp_path, "participants", "invite", "ann@example.org")
    code = invite.stdout.split(": ", 1)[1].split()[0]
    chat = sps(tmp_path, "chat", stdin=f"/link {code}\n/whoami\n")
    assert "Welcome, Ann Lee" in chat.stdout and "You're Ann Lee (peer)" in chat.stdout


def test_invalid_programme_file_fails_at_start_naming_the_field(tmp_path):
    broken = tmp_path / "p.toml"
    broken.write_text("[programme]\nname = 'X'\n")
    result = sps(tmp_path, "chat", env={"SPS_PROGRAMME": str(broken)}, stdin="hi\n")
    assert result.returncode == 2 and "programme.starts is required" in result.stderr


def test_unknown_participant_for_as_is_refused(tmp_path):
    result = sps(tmp_path, "chat", "--as", "nobody@example.org", stdin="hi\n")
    assert result.returncode == 2 and "not a registered participant" in result.stderr


def test_claims_list_and_csv_export(tmp_path):
    chat = sps(tmp_path, "chat", "--demo", "--as", "amira.khan@example.nhs.uk", "--today",
               "2015-07-09", stdin="/claim 8 July £95\nskip\nyes\n")
    assert "Submitted: #1" in chat.stdout, chat.stdout
    assert "£95 submitted" in sps(tmp_path, "claims", "list").stdout
    assert "No claims." in sps(tmp_path, "claims", "list", "--status", "paid").stdout
    target = tmp_path / "claims.csv"
    sps(tmp_path, "claims", "export", "--csv", str(target))
    lines = target.read_text().splitlines()
    assert lines[0].startswith("id,name,email") and lines[-1].startswith("total,")
    assert "95.00" in lines[-1]


def test_reminders_preview_lists_the_window(tmp_path):
    sps(tmp_path, "participants", "import", str(ROOT / "knowledge/demo/cohort.csv"))
    result = sps(tmp_path, "reminders", "preview", "--from", "2015-03-01", "--to",
                 "2015-03-20")
    assert "Wed 04/03/2015 09:00  event_reminder" in result.stdout
    assert "15 automatic messages from 01/03/2015 to 20/03/2015." in result.stdout


def test_sessions_report_puts_pairs_behind_pace_first(tmp_path):
    sps(tmp_path, "participants", "import", str(ROOT / "knowledge/demo/cohort.csv"))
    target = tmp_path / "pairs.csv"
    result = sps(tmp_path, "sessions", "report", "--today", "2015-06-01", "--csv", str(target))
    assert "Dr Amira Khan & Dr James Okafor" in result.stdout and "behind pace" in result.stdout
    assert target.read_text().startswith("pair,held,booked,behind_pace")


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


def test_participant_export_and_erase(tmp_path):
    sps(tmp_path, "participants", "import", str(ROOT / "knowledge/demo/cohort.csv"))
    exported = sps(tmp_path, "participants", "export", "amira.khan@example.nhs.uk")
    assert '"email": "amira.khan@example.nhs.uk"' in exported.stdout
    refused = sps(tmp_path, "participants", "erase", "amira.khan@example.nhs.uk")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    erased = sps(tmp_path, "participants", "erase", "amira.khan@example.nhs.uk", "--yes")
    assert erased.returncode == 0 and "Erased amira.khan@example.nhs.uk" in erased.stdout
    listing = sps(tmp_path, "participants", "list").stdout
    assert "amira.khan" not in listing and "Erased participant" in listing


def test_broadcast_and_challenge_signoff_from_the_command_line(tmp_path):
    sps(tmp_path, "participants", "import", str(ROOT / "knowledge/demo/cohort.csv"))
    refused = sps(tmp_path, "broadcast", "send", "--to", "everyone", "Hello")
    assert refused.returncode == 1 and "To everyone (7 people)" in refused.stdout
    sent = sps(tmp_path, "broadcast", "send", "--to", "peers", "--yes", "Dev day soon")
    assert sent.returncode == 0 and "queued for 3 people" in sent.stdout
    # nobody has linked a chat account yet, so all three are recorded as unreachable
    assert "#1 to peers" in sps(tmp_path, "broadcast", "status").stdout
    assert "0 sent, 0 pending, 3 failed" in sps(tmp_path, "broadcast", "status").stdout
    assert "cancelled" in sps(tmp_path, "broadcast", "cancel", "1").stdout
    signed = sps(tmp_path, "challenges", "signoff", "stp-north")
    assert signed.returncode == 0 and "3 team members were asked" in signed.stdout, signed
    again = sps(tmp_path, "challenges", "signoff", "stp-north")
    assert again.returncode == 1


def test_ask_json_one_question_and_many_from_stdin(tmp_path):
    import json

    one = json.loads(sps(tmp_path, "ask", "--json", "will expenses be paid?").stdout)
    assert one["answered"] is True and "£150" in one["answer"]
    assert one["sources"] == [{"document": "The Strategic Peer Support (SPS) Programme – "
                                           "Frequently Asked Questions (FAQs)",
                               "section": "Will expenses be paid?"}]
    assert 0.0 <= one["score"] <= 1.0
    lines = sps(tmp_path, "ask", "--json",
                stdin="where are the development days?\nwhat is the capital of Peru\n\n")
    answers = [json.loads(line) for line in lines.stdout.splitlines()]
    assert [a["answered"] for a in answers] == [True, False]
    assert answers[1]["sources"] == [] and "gareth.davies@fmlm.ac.uk" in answers[1]["answer"]


def test_a_form_carries_on_in_a_new_process(tmp_path):
    """Start booking in one console process, finish it in another: nothing is lost."""
    amira = ("chat", "--demo", "--as", "amira.khan@example.nhs.uk", "--today", "2015-03-02")
    first = sps(tmp_path, *amira, stdin="/book\n10 April\n")
    assert "What time on Friday 10 April 2015?" in first.stdout
    second = sps(tmp_path, *amira, stdin="2pm\n3h\nvirtual\nyes\n")
    assert "Propose to Dr James Okafor: Friday 10 April 2015, 14:00 to 17:00, virtual?" \
        in second.stdout
    assert "Sent to Dr James Okafor" in second.stdout
    james = sps(tmp_path, "chat", "--as", "james.okafor@example.nhs.uk", "--today",
                "2015-03-02", stdin="/whoami\n1\n")
    assert "(message) Dr Amira Khan proposes a peer session" in james.stdout
    assert "Booked: Friday 10 April 2015, 14:00 to 17:00, virtual" in james.stdout


def test_knowledge_check_reports_what_was_indexed_and_each_problem(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "guide.md").write_text("# Guide\n\n## Parking\nAlso asked: where do I park\n"
                                   "There is none.\n", encoding="utf-8")
    (docs / "notes.txt").write_bytes(b"Notes\n\xff\xfe broken")
    (docs / "slides.pdf").write_bytes(b"%PDF-1.4")
    (docs / "budget.xlsx").write_bytes(b"PK")
    result = sps(tmp_path, "knowledge", "check", env={"SPS_DOCS": str(docs)})
    assert result.returncode == 1
    assert "guide.md: 1 section, 1 other phrasing" in result.stdout
    assert "problem: notes.txt: not UTF-8 text, skipped" in result.stdout
    assert "problem: slides.pdf: could not be read" in result.stdout
    assert "problem: budget.xlsx: skipped (only .md, .txt, .docx, .pdf are read)" in result.stdout
    assert "1 section from 1 document in" in result.stdout
    shipped = sps(tmp_path, "knowledge", "check")
    assert shipped.returncode == 0, shipped.stdout
    assert "problem" not in shipped.stdout
