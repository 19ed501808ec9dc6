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
