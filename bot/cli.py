"""`sps-bot`: the command line. Modules are imported inside each command: --help stays fast."""

from __future__ import annotations

import argparse
import codecs
import datetime as dt
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from bot.app import App
    from bot.config import Settings
    from handlers.storage.models import Participant

DEMO_COHORT = Path(__file__).resolve().parent.parent / "knowledge" / "demo" / "cohort.csv"


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date like 2015-04-01") from None


def _local_time(text: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a time like 2015-03-04T09:05") \
            from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sps-bot",
        description="The Strategic Peer Support programme assistant. Every command uses "
        "DATABASE_URL (default: sps-bot.db here) and SPS_PROGRAMME (default: the shipped "
        "programme file).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    chat = commands.add_parser("chat", help="chat with the bot in this terminal",
                               description="Chat in the terminal. Piped input is read one "
                               "message per line. Answer a numbered choice with its number.")
    chat.add_argument("--as", dest="as_email", metavar="EMAIL",
                      help="chat as this registered participant (default: an unlinked guest)")
    chat.add_argument("--today", type=_date, metavar="YYYY-MM-DD",
                      help="pretend today is this date (the shipped programme is 2015)")
    chat.add_argument("--demo", action="store_true",
                      help="register the shipped demo cohort first (idempotent)")
    chat.set_defaults(run=cmd_chat)

    ask = commands.add_parser("ask", help="answer questions from the programme documents",
                              description="Answer one question, or with no question read "
                              "questions one per line from stdin.")
    ask.add_argument("question", nargs="*", help="the question (omit to read stdin)")
    ask.add_argument("--json", action="store_true", help="print one JSON object per question")
    ask.add_argument("--today", type=_date, metavar="YYYY-MM-DD",
                     help="pretend today is this date (for \"when is the next development day?\")")
    ask.set_defaults(run=cmd_ask)

    people = commands.add_parser("participants", help="register and link participants")
    people_cmds = people.add_subparsers(dest="action", metavar="ACTION", required=True)
    imp = people_cmds.add_parser("import", help="add or update participants from a CSV",
                                 description="CSV header: name,email,role,organisation,"
                                 "region,partner_email. Roles: peer, expert_peer, "
                                 "programme_team, challenge_manager. All rows or none.")
    imp.add_argument("file", type=Path)
    imp.add_argument("--include-erased", action="store_true",
                     help="add back people erased at their request (they have rejoined)")
    imp.add_argument("--today", type=_date, metavar="YYYY-MM-DD",
                     help="pretend today is this date (which sessions of a changed pair are "
                     "still to come)")
    imp.set_defaults(run=cmd_participants_import)
    people_cmds.add_parser("list", help="list participants and their links").set_defaults(
        run=cmd_participants_list)
    invite = people_cmds.add_parser("invite", help="issue a one-time link code")
    invite.add_argument("email")
    invite.set_defaults(run=cmd_participants_invite)

    export = people_cmds.add_parser("export", help="everything held about one participant, "
                                    "as JSON (a subject access request)")
    export.add_argument("email")
    export.add_argument("--out", type=Path, metavar="FILE", help="write to FILE, not stdout")
    export.set_defaults(run=cmd_participants_export)
    erase = people_cmds.add_parser("erase", help="erase a participant's personal data "
                                   "(keeps paid and approved claims, anonymised, for finance)")
    erase.add_argument("email")
    erase.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    erase.add_argument("--despite-unpaid-claims", action="store_true",
                       help="erase even with claims still to pay (they can then not be paid)")
    erase.set_defaults(run=cmd_participants_erase)

    db = commands.add_parser("db", help="database maintenance")
    db_cmds = db.add_subparsers(dest="action", metavar="ACTION", required=True)
    db_cmds.add_parser("upgrade", help="apply database migrations").set_defaults(
        run=cmd_db_upgrade)

    web = commands.add_parser("web", help="HTTP endpoints on $PORT: Slack events, Telegram "
                              "webhook, /healthz (the Procfile's web process)")
    web.set_defaults(run=cmd_web)
    worker = commands.add_parser("worker", help="reminders, outbox delivery, Slack Socket Mode "
                                 "and Telegram long polling (the Procfile's worker process)")
    worker.set_defaults(run=cmd_worker)
    everything = commands.add_parser("run", help="web and worker in one process")
    everything.set_defaults(run=cmd_run)

    reminders = commands.add_parser("reminders", help="automatic messages")
    reminders_cmds = reminders.add_subparsers(dest="action", metavar="ACTION", required=True)
    preview = reminders_cmds.add_parser("preview", help="list every automatic message the "
                                        "configuration and database would send in a window")
    preview.add_argument("--from", dest="start", type=_date, required=True, metavar="DATE")
    preview.add_argument("--to", dest="end", type=_date, required=True, metavar="DATE")
    preview.set_defaults(run=cmd_reminders_preview)
    once = reminders_cmds.add_parser("run-once", help="queue what is due now, as the worker "
                                     "does every minute (for cron, or to test a set-up)")
    once.add_argument("--now", type=_local_time, metavar="YYYY-MM-DDTHH:MM",
                      help="pretend it is this local time")
    once.set_defaults(run=cmd_reminders_run_once)

    sessions = commands.add_parser("sessions", help="peer sessions")
    sessions_cmds = sessions.add_subparsers(dest="action", metavar="ACTION", required=True)
    report = sessions_cmds.add_parser("report", help="every pair's progress, behind pace first")
    report.add_argument("--csv", type=Path, metavar="FILE", help="also write it as CSV")
    report.add_argument("--today", type=_date, metavar="YYYY-MM-DD")
    report.set_defaults(run=cmd_sessions_report)

    broadcast = commands.add_parser("broadcast", help="announcements from the programme team")
    broadcast_cmds = broadcast.add_subparsers(dest="action", metavar="ACTION", required=True)
    send = broadcast_cmds.add_parser("send", help="send (or schedule) an announcement",
                                     description="AUDIENCE: everyone, a role (peers, expert "
                                     "peers, ...), a region, or 'challenge NAME'.")
    send.add_argument("--to", dest="audience", required=True, metavar="AUDIENCE")
    send.add_argument("--at", type=_local_time, metavar="YYYY-MM-DDTHH:MM",
                      help="send at this local time instead of now")
    send.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    send.add_argument("text")
    send.set_defaults(run=cmd_broadcast_send)
    broadcast_cmds.add_parser("status", help="sent, pending and failed counts").set_defaults(
        run=cmd_broadcast_status)
    cancel = broadcast_cmds.add_parser("cancel", help="cancel a broadcast before it goes")
    cancel.add_argument("number", type=int)
    cancel.set_defaults(run=cmd_broadcast_cancel)

    challenges = commands.add_parser("challenges", help="peer-challenge teams")
    challenges_cmds = challenges.add_subparsers(dest="action", metavar="ACTION", required=True)
    signoff = challenges_cmds.add_parser("signoff", help="the report is signed off: ask the "
                                         "team to destroy their notes and confirm")
    signoff.add_argument("challenge")
    signoff.set_defaults(run=cmd_challenges_signoff)

    claims = commands.add_parser("claims", help="expense claims for the programme team")
    claims_cmds = claims.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = claims_cmds.add_parser("list", help="every claim, oldest first")
    listing.add_argument("--status", choices=["submitted", "approved", "rejected", "paid",
                                              "withdrawn"])
    listing.set_defaults(run=cmd_claims_list)
    export = claims_cmds.add_parser("export", help="one CSV row per claim plus totals")
    export.add_argument("--csv", type=Path, required=True, metavar="FILE")
    export.set_defaults(run=cmd_claims_export)

    knowledge = commands.add_parser("knowledge", help="the document corpus")
    knowledge_cmds = knowledge.add_subparsers(dest="action", metavar="ACTION", required=True)
    knowledge_cmds.add_parser("check", help="report what is indexed and any problem"
                              ).set_defaults(run=cmd_knowledge_check)
    knowledge_cmds.add_parser("unanswered", help="questions the documents did not answer "
                              "(or answered unsurely), most frequent first"
                              ).set_defaults(run=cmd_knowledge_unanswered)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from bot.app import NotMigrated
    from bot.config import Settings
    from bot.logs import configure_logging
    from knowledge.programme import ProgrammeConfigError

    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"sps-bot: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.secrets())
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except ProgrammeConfigError as exc:
        print(f"sps-bot: invalid programme configuration: {exc}", file=sys.stderr)
        return 2
    except NotMigrated as exc:
        print(f"sps-bot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _app(args: argparse.Namespace, serving: bool = False,
         settings: Settings | None = None) -> App:
    from bot.app import build_app
    from bot.config import Settings
    from handlers.ports import OffsetClock

    settings = settings or Settings.from_env()
    today, now = getattr(args, "today", None), getattr(args, "now", None)
    if today is None and now is None:
        return build_app(settings, serving=serving)
    from handlers.ports import FixedClock
    from knowledge.programme import load_programme

    zone = load_programme(settings.programme_file).timezone
    clock = FixedClock(now.replace(tzinfo=zone)) if now else OffsetClock(today, zone)
    return build_app(settings, clock=clock, serving=serving)


def cmd_chat(args: argparse.Namespace) -> int:
    from bot.adapters.console import ConsoleChat, ConsoleSender
    from scheduler.delivery import DeliveryWorker

    app = _app(args)
    if args.demo:
        _import(app, DEMO_COHORT, quiet=True)
    if args.as_email and not _registered(app, args.as_email):
        print(f"sps-bot: {args.as_email} is not a registered participant "
              "(see `sps-bot participants list`)", file=sys.stderr)
        return 2
    chat = ConsoleChat(app.router.handle, sys.stdout, args.as_email)
    worker = DeliveryWorker(app.services.uow, {"console": ConsoleSender(chat)},
                            app.services.clock)

    def say(line: str) -> None:
        chat.say(line)
        worker.run_once(chat_id=chat.account)  # messages for this user appear in the chat

    worker.run_once(chat_id=chat.account)
    if not sys.stdin.isatty():
        for line in sys.stdin:
            say(line.rstrip("\n"))
        return 0
    who = args.as_email or "a guest (use --as EMAIL to be a participant)"
    print(f"{app.services.programme.name}: chatting as {who}. Try /help; Ctrl-D to leave.\n")
    while True:
        try:
            line = input("> ")
        except EOFError:
            print()
            return 0
        say(line)


def _registered(app: App, email: str) -> bool:
    from sqlalchemy import select

    from handlers.storage.models import Participant

    with app.services.uow() as db:
        return db.scalar(select(Participant.id).where(Participant.email == email.lower())) \
            is not None


def cmd_ask(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from sqlalchemy.engine import make_url

    from bot.config import Settings
    from handlers.core import Context
    from handlers.faq import find_answer

    settings = Settings.from_env()
    database = make_url(settings.database_url)
    if database.get_backend_name() == "sqlite" and database.database not in (None, "", ":memory:") \
            and not Path(database.database).exists():
        # No database, so no programme-team answers to read: a question is no reason to leave
        # a new empty database in whatever folder it was asked from.
        settings = replace(settings, database_url="sqlite://")
    app = _app(args, settings=settings)
    services = app.services
    fallback = ("I couldn't find that in the programme documents. "
                f"Contact {services.programme.contact.describe()}.")
    questions = [" ".join(args.question)] if args.question else (
        line.strip() for line in sys.stdin if line.strip())
    for question in questions:
        # One short transaction a question: a batch read from stdin never holds the database.
        with services.uow() as db:
            answer = find_answer(Context.outside_chat(db, services), question)
        text = answer.excerpt if answer.answered else fallback
        if args.json:
            print(json.dumps({
                "answered": answer.answered,
                "answer": text,
                "sources": [{"document": s.document, "section": s.title}
                            for s in answer.sources],
                "score": answer.score,
            }), flush=False)
        else:
            print(text + "".join(f"\n(Source: {s.document}, {s.title})" for s in answer.sources))
    sys.stdout.flush()
    return 0


def _spreadsheet_text(data: bytes) -> str:
    """A CSV as spreadsheets save it: UTF-8 (with or without Excel's byte-order mark),
    UTF-16 (Excel's "Unicode text"), or else Windows-1252 (Excel's plain "CSV" on a British
    PC, where "Zo\u00eb" is not UTF-8). Raises UnicodeDecodeError if it is none of these."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252")


def _import(app: App, path: Path, quiet: bool = False, include_erased: bool = False) -> int:
    from handlers.identity import ImportProblem, import_participants
    from handlers.messages import counted

    try:
        text = _spreadsheet_text(path.read_bytes())
    except OSError as exc:
        print(f"sps-bot: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except UnicodeDecodeError:
        print(f"sps-bot: cannot read {path}: save it from the spreadsheet as \u201cCSV UTF-8 "
              "(comma delimited)\u201d and import that", file=sys.stderr)
        return 2
    from handlers.booking import cancel_parted_pair

    now = app.services.clock.now()
    try:
        with app.services.uow() as db:
            result = import_participants(db, text, now, include_erased=include_erased)
            cancelled = sum(cancel_parted_pair(db, app.services.programme, a, b, now)
                            for a, b in result.parted)
    except ImportProblem as problem:
        print(f"{path}: nothing imported, because:", file=sys.stderr)
        for line in problem.problems:
            print(f"  {line}", file=sys.stderr)
        return 1
    if not quiet:
        print(f"{path}: {result.added} added, {result.updated} updated, "
              f"{result.unchanged} unchanged.")
        if result.repaired:
            print(f"{counted(result.repaired, 'person', 'people')} told who their partner is "
                  "now.")
        if result.parted:
            print(f"{len(result.parted)} pair(s) changed: {cancelled} future session(s) or "
                  "proposal(s) of the old pairs cancelled or withdrawn, both people told.")
    return 0


def cmd_participants_import(args: argparse.Namespace) -> int:
    return _import(_app(args), args.file, include_erased=args.include_erased)


def cmd_participants_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from handlers.storage.models import Participant

    app = _app(args)
    with app.services.uow() as db:
        people = db.scalars(select(Participant).order_by(Participant.role, Participant.name))
        _print_table(("name", "email", "role", "partner", "chat"),
                     [(p.name, p.email, p.role, p.partner.email if p.partner else "-",
                       ",".join(sorted(a.platform for a in p.accounts)) or "not linked")
                      for p in people])
    return 0


def _print_table(header: tuple[str, ...], rows: list[tuple[str, ...]],
                 right: frozenset[int] = frozenset()) -> None:
    """Columns as wide as their longest cell, so long names and labels stay in line; the
    columns numbered in `right` (amounts) are right-aligned."""
    widths = [max(map(len, column)) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        cells = [cell.rjust(width) if i in right else cell.ljust(width)
                 for i, (cell, width) in enumerate(zip(row, widths, strict=True))]
        print("  ".join(cells).rstrip())


def cmd_participants_invite(args: argparse.Namespace) -> int:
    from handlers.identity import issue_invite

    app = _app(args)
    with app.services.uow() as db:
        person = _find(db, args.email)
        if person is None:
            return 1
        code = issue_invite(db, person, app.services.clock.now())
    print(f"Link code for {person.name}: {code}\n"
          f"They send /link {code} to the bot (on Telegram: t.me/<bot>?start={code}). "
          "It works once, for 14 days.")
    return 0


def _find(db: Session, email: str) -> Participant | None:
    """The registered participant with this email, or None after saying why not (an erased
    row is no one to invite, export or erase again)."""
    from sqlalchemy import select

    from handlers.storage.models import ERASED_ROLE, Participant

    person = db.scalars(select(Participant).where(Participant.email == email.lower())).first()
    if person is None:
        print(f"sps-bot: {email} is not registered", file=sys.stderr)
    elif person.role == ERASED_ROLE:
        print(f"sps-bot: {email} belongs to an erased participant; nothing to do",
              file=sys.stderr)
        return None
    return person


def cmd_participants_export(args: argparse.Namespace) -> int:
    from handlers.core import Context
    from handlers.privacy import export_participant

    app = _app(args)
    with app.services.uow() as db:
        person = _find(db, args.email)
        if person is None:
            return 1
        data = json.dumps(export_participant(
            db, person, Context.outside_chat(db, app.services)), indent=2,
                          ensure_ascii=False)
    if args.out:
        args.out.write_text(data + "\n", encoding="utf-8")
        print(f"Wrote {args.out}.")
    else:
        print(data)
    return 0


def cmd_participants_erase(args: argparse.Namespace) -> int:
    from handlers.privacy import erase_participant, unpaid_claims, unpaid_explanation
    from handlers.storage.db import checkpoint_wal

    if not args.yes:
        if not sys.stdin.isatty():
            print("sps-bot: erasing cannot be undone; add --yes to confirm", file=sys.stderr)
            return 2
        if input(f"Erase {args.email}? This cannot be undone. Type ERASE: ").strip() != "ERASE":
            print("Nothing erased.")
            return 1
    app = _app(args)
    with app.services.uow() as db:
        person = _find(db, args.email)
        if person is None:
            return 1
        if (waiting := unpaid_claims(db, person)) and not args.despite_unpaid_claims:
            print(f"sps-bot: nothing erased. {unpaid_explanation(waiting)} Pay, reject or "
                  "withdraw them first, or add --despite-unpaid-claims.", file=sys.stderr)
            return 1
        report = erase_participant(db, person, app.services.clock.now(), actor_id=None,
                                   zone=app.services.programme.timezone)
    checkpoint_wal(app.engine)
    print(f"Erased {args.email}: {report.summary()}")
    for kept in report.kept_claims:
        print(f"Kept for finance (anonymised): {kept}")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from bot.config import Settings
    from handlers.storage.db import make_engine, upgrade

    upgrade(make_engine(Settings.from_env().database_url))
    print("Database is up to date.")
    return 0


def _holder() -> str:
    import os
    import socket
    import uuid

    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _serve_web(app: App) -> None:
    import uvicorn

    from bot.web import build_web_app

    _index_documents(app, "web")
    uvicorn.run(build_web_app(app), host="0.0.0.0", port=app.settings.port,
                log_level="warning", access_log=False)  # access logs would carry ids


def _index_documents(app: App, process: str) -> None:
    """Index the documents at start, so that no participant's first question waits for it."""
    sections = len(app.services.knowledge.sections)
    logging.getLogger(__name__).info("%s: %d document sections indexed", process, sections)


def cmd_web(args: argparse.Namespace) -> int:
    _serve_web(_app(args, serving=True))
    return 0


def _start_worker(app: App) -> None:
    """Start the background jobs, then serve the platforms that connect out (blocking)."""
    import threading

    from bot.app import build_senders
    from scheduler.runtime import start_jobs

    senders, limiters = build_senders(app)
    start_jobs(app.services.uow, app.services.programme, app.services.clock, senders,
               limiters, _holder())
    settings = app.settings
    socket_mode = bool(settings.slack_bot_token and settings.slack_app_token)
    polling = bool(settings.telegram_bot_token and not settings.telegram_webhook_url)
    if socket_mode or polling:
        _index_documents(app, "worker")  # it answers the platforms that connect out
    if socket_mode:
        from bot.adapters.slack import run_socket_mode

        threading.Thread(target=run_socket_mode, args=(app,), daemon=True,
                         name="slack-socket-mode").start()
    if polling:
        from bot.adapters.telegram import run_polling

        run_polling(app)
        return
    threading.Event().wait()  # the jobs and adapters run in their own threads


def cmd_worker(args: argparse.Namespace) -> int:
    _start_worker(_app(args, serving=True))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    import threading

    app = _app(args, serving=True)
    threading.Thread(target=_serve_web, args=(app,), daemon=True, name="web").start()
    _start_worker(app)
    return 0


def cmd_reminders_preview(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from handlers.app import due_between
    from handlers.broadcast import describe_audience
    from handlers.storage.models import Broadcast
    from handlers.when import localise

    if args.end < args.start:
        print(f"sps-bot: --to {args.end:%d/%m/%Y} is before --from {args.start:%d/%m/%Y}",
              file=sys.stderr)
        return 2
    app = _app(args)
    programme = app.services.programme
    zone = programme.timezone
    since = localise(args.start, dt.time(0), zone)
    until = localise(args.end + dt.timedelta(days=1), dt.time(0), zone)
    with app.services.uow() as db:
        due = due_between(db, programme, since, until)
        for message in due:
            at = message.due_at.astimezone(zone)
            print(f"{at:%a %d/%m/%Y %H:%M}  {message.kind:<18} to {message.to.name}: "
                  f"{message.text.splitlines()[0][:90]}")
        # announcements are queued, not automatic, but the window brings them too
        planned = db.scalars(select(Broadcast).where(
            Broadcast.status == "scheduled", Broadcast.scheduled_for > since,
            Broadcast.scheduled_for <= until).order_by(Broadcast.scheduled_for)).all()
        for broadcast in planned:
            at = broadcast.scheduled_for.astimezone(zone)
            print(f"{at:%a %d/%m/%Y %H:%M}  {'broadcast #' + str(broadcast.id):<18} to "
                  f"{describe_audience(db, broadcast.audience)}: "
                  f"{broadcast.text.splitlines()[0][:90]}")
    print(f"{len(due)} automatic messages from {args.start:%d/%m/%Y} to {args.end:%d/%m/%Y}"
          + (f", and {len(planned)} scheduled broadcast{'s' if len(planned) != 1 else ''}."
             if planned else "."))
    return 0


def cmd_reminders_run_once(args: argparse.Namespace) -> int:
    from scheduler.reminders import ReminderJob

    app = _app(args)
    result = ReminderJob(app.services.uow, app.services.programme, app.services.clock,
                         _holder()).tick()
    if not result.ran:
        print("Another process holds the reminder lease; nothing done.")
        return 0
    print(f"Queued {result.queued} messages; skipped {result.skipped} that were too late.")
    return 0


def cmd_sessions_report(args: argparse.Namespace) -> int:
    from handlers.booking import pairs_csv, pairs_report, parted_awaiting, parted_line

    app = _app(args)
    programme, now = app.services.programme, app.services.clock.now()
    with app.services.uow() as db:
        rows = pairs_report(db, programme, now)
        _print_table(("pair", "held", "booked", "to confirm", ""),
                     [(progress.pair, str(progress.held), str(progress.booked),
                       str(progress.awaiting), "behind pace" if progress.behind else "")
                      for progress, _person in rows],
                     right=frozenset({1, 2, 3}))
        if parted := parted_awaiting(db, now, rows):
            print(parted_line(programme, parted))
        if args.csv:
            args.csv.write_bytes(pairs_csv(rows))
            print(f"Wrote {args.csv}.")
    if not rows:
        print("No pairs are registered.")
    return 0


def cmd_broadcast_send(args: argparse.Namespace) -> int:
    from handlers.broadcast import BroadcastError, create_broadcast, parse_audience, recipients
    from handlers.messages import counted

    app = _app(args)
    programme = app.services.programme
    at = args.at.replace(tzinfo=programme.timezone) if args.at else None
    try:
        with app.services.uow() as db:
            audience = parse_audience(db, args.audience)
            count = len(recipients(db, audience))
        if not args.yes:
            print(f"To {audience.label} ({count} people):\n{args.text}")
            if not sys.stdin.isatty() or input("Send it? [y/N] ").strip().lower() != "y":
                print("Not sent. (Add --yes to send without asking.)")
                return 1
        with app.services.uow() as db:
            broadcast, count = create_broadcast(db, programme, None, args.audience, args.text,
                                                at, app.services.clock.now())
    except BroadcastError as problem:
        print(f"sps-bot: {problem}", file=sys.stderr)
        return 1
    print(f"Broadcast #{broadcast.id} queued for {counted(count, 'person', 'people')}; the "
          "worker sends it.")
    return 0


def cmd_broadcast_status(args: argparse.Namespace) -> int:
    from handlers.broadcast import status_lines

    app = _app(args)
    with app.services.uow() as db:
        lines = status_lines(db, app.services.programme, app.services.clock.now())
    print("\n".join(lines) or "No broadcasts yet.")
    return 0


def cmd_broadcast_cancel(args: argparse.Namespace) -> int:
    from handlers.broadcast import BroadcastError, cancel_broadcast

    app = _app(args)
    try:
        with app.services.uow() as db:
            cancel_broadcast(db, args.number, None, app.services.clock.now())
    except BroadcastError as problem:
        print(f"sps-bot: {problem}", file=sys.stderr)
        return 1
    print(f"Broadcast #{args.number} cancelled.")
    return 0


def cmd_challenges_signoff(args: argparse.Namespace) -> int:
    from handlers.notes import NotesError, sign_off

    app = _app(args)
    try:
        with app.services.uow() as db:
            challenge, asked = sign_off(db, app.services.programme, args.challenge, None,
                                        app.services.clock.now())
            name = challenge.name
    except NotesError as problem:
        print(f"sps-bot: {problem}", file=sys.stderr)
        return 1
    print(f"{name} is signed off; {asked} team members were asked to destroy their notes "
          "and confirm.")
    return 0


def cmd_claims_list(args: argparse.Namespace) -> int:
    from handlers.claims import claims_rows
    from knowledge.programme import format_pence

    app = _app(args)
    with app.services.uow() as db:
        rows = claims_rows(db, args.status)
    if not rows:
        print("No claims.")
        return 0
    _print_table(("claim", "name", "for", "amount", "status"),
                 [(f"#{r.id}", r.name, r.claim_for, format_pence(r.amount_pence),
                   r.status + (" (exceptional)" if r.exceptional else "")) for r in rows],
                 right=frozenset({3}))
    return 0


def cmd_claims_export(args: argparse.Namespace) -> int:
    from handlers.claims import claims_csv

    app = _app(args)
    with app.services.uow() as db:
        data = claims_csv(db, app.services.programme)
    args.csv.write_bytes(data)
    print(f"Wrote {args.csv}: one row per claim, then the totals.")
    return 0


def cmd_knowledge_check(args: argparse.Namespace) -> int:
    from bot.config import Settings
    from handlers.messages import counted
    from knowledge.corpus import DEFAULT_DOCS, load_corpus

    folder = Settings.from_env().docs_folder or DEFAULT_DOCS
    report = load_corpus(folder)
    for name, count, phrasings in report.documents:
        print(f"{name}: {counted(count, 'section')}, {counted(phrasings, 'other phrasing')}")
    print(f"{counted(len(report.sections), 'section')} from "
          f"{counted(len(report.documents), 'document')} in {folder}")
    for problem in report.problems:
        print(f"problem: {problem}")
    return 1 if report.problems or not report.sections else 0


def cmd_knowledge_unanswered(args: argparse.Namespace) -> int:
    from sqlalchemy import func, select

    from handlers.storage.models import UnansweredQuestion

    app = _app(args)
    with app.services.uow() as db:
        rows = db.execute(
            select(UnansweredQuestion.normalised, func.count(), func.max(UnansweredQuestion.text),
                   func.max(UnansweredQuestion.asked_at), func.count(UnansweredQuestion.answer_id),
                   func.count(UnansweredQuestion.unsure_section_id),
                   func.max(UnansweredQuestion.id))
            .group_by(UnansweredQuestion.normalised)
            .order_by(func.count().desc(), func.max(UnansweredQuestion.asked_at).desc())
        ).all()
    if not rows:
        print("No unanswered questions.")
    zone = app.services.programme.timezone
    for _key, count, text, last, answered, unsure, number in rows:
        # "unsure": every time it was asked, the bot answered it without confidence
        state = "answered" if answered else "unsure answer" if unsure == count else "open"
        print(f"{count:>4} x  #{number:<5} {text}  (last {last.astimezone(zone):%d/%m/%Y}, "
              f"{state})")
    if rows:
        print("In chat, /answer N YOUR ANSWER replies to everyone who passed question N to "
              "the team, and answers anyone who asks it from then on; /cite N HEADING WORDS "
              "does the same with the section that answers it.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
