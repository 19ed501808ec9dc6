"""Who is who: registering participants, one-time link codes, linking platform accounts."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, case, delete, func, select, update
from sqlalchemy.orm import Session

from handlers.core import enqueue
from handlers.messages import Incoming
from handlers.storage.models import (
    ROLES,
    UNREACHABLE,
    Account,
    AuditEntry,
    Challenge,
    ChallengeMember,
    ErasureRecord,
    InviteCode,
    OutboxMessage,
    Participant,
)

CSV_COLUMNS = ("name", "email", "role", "organisation", "region", "partner_email")
CHALLENGE_COLUMN = "challenge"  # optional, after CSV_COLUMNS: the peer-challenge team
PAIRED_ROLES = ("peer", "expert_peer")
CHALLENGE_ROLES = PAIRED_ROLES  # only peers do the challenging, so only they keep notes
TEAM = frozenset({"programme_team"})  # the roles that run the programme
_CHALLENGE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,59}$")
INVITE_LIFETIME = dt.timedelta(days=14)
# A broadcast held for someone with no chat account lapses if they have not linked this long
# after it went out: by then it is stale (a venue, a start time), and no longer sent.
BROADCAST_WAIT = dt.timedelta(days=14)
LAPSED = f"lapsed: never linked within {BROADCAST_WAIT.days} days"  # its last_error
OVERTAKEN = "lapsed: its time passed before they linked"  # a held row's, past pointless_after
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread
_EMAIL = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$")


class ImportProblem(ValueError):
    """The CSV has problems; nothing from it was imported. `problems` has one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class ImportResult:
    added: int
    # Registered people whose details, challenge team or partner the import changed: those
    # in the file, and anyone it unpaired because their partner now has another.
    updated: int
    unchanged: int  # people in the file it left as they were
    parted: tuple[tuple[int, int], ...] = ()  # (participant id, id) of pairs the file split
    repaired: int = 0  # registered people whose partner changed, each told who it is now


@dataclass(frozen=True)
class _Row:
    line: int
    name: str
    email: str
    role: str
    organisation: str
    region: str
    partner_email: str
    challenge: str = ""


# Who a role-gated route is for, as said in a refusal.
_ROLE_GROUPS = {"peer": "peers", "expert_peer": "expert peers",
                "challenge_manager": "challenge managers", "programme_team": "the programme team"}


def role_group(roles: Iterable[str]) -> str:
    """"expert peers and peers", "challenge managers and the programme team"."""
    return " and ".join(sorted(_ROLE_GROUPS.get(r, r.replace("_", " ")) for r in roles))


_TITLES = frozenset({"dr", "mr", "mrs", "ms", "miss", "mx", "prof", "professor", "sir"})


def given_name(name: str) -> str | None:
    """"Amira" of "Dr Amira Khan": the first word that is not a title, if three letters or more
    (a shorter one is too often part of other words to look for)."""
    return next((w for w in re.findall(r"[A-Za-z][A-Za-z'-]{2,}", name)
                 if w.lower() not in _TITLES), None)


def email_digest(email: str) -> str:
    """What an erasure record keeps of an email (see ErasureRecord)."""
    return hashlib.sha256(f"sps-bot erased {email.strip().lower()}".encode()).hexdigest()


def challenge_slug(text: str) -> str:
    """`STP North`, `stp_north`, `stp.north` -> `stp-north`: one team, however it is typed.
    Raises ValueError if it still isn't a usable team name."""
    slug = "-".join(re.split(r"[\s._]+", text.strip().lower().strip("._")))
    if not _CHALLENGE_NAME.match(slug):
        raise ValueError(f"'{text.strip()[:60]}' is not a usable challenge name: use letters, "
                         "digits and hyphens, up to 60 characters, like stp-north")
    return slug


def import_participants(db: Session, csv_text: str, now: dt.datetime,
                        actor_id: int | None = None, *,
                        include_erased: bool = False) -> ImportResult:
    """Add or update participants by email, all or nothing. Re-importing changes nothing.

    Someone erased at their request is not brought back by an old list: the file is refused
    unless `include_erased` says they have rejoined (which ends their erasure record)."""
    rows = _parse_rows(csv_text)
    by_email = {p.email: p for p in db.scalars(select(Participant))}
    challenges = {c.name: c for c in db.scalars(select(Challenge))}
    erased = _erased(db, rows)
    problems = _check_partners(rows, by_email) + _check_challenges(rows, by_email, challenges)
    if not include_erased:
        problems += [f"line {row.line}: {row.email} was erased at their request on "
                     f"{erased[row.email]:%-d %B %Y}; take them out of the file (and out of "
                     "any partner_email), or import with --include-erased if they have "
                     "rejoined" for row in rows if row.email in erased]
    if problems:
        raise ImportProblem(problems)
    if erased:
        db.execute(delete(ErasureRecord).where(ErasureRecord.email_digest.in_(
            [email_digest(email) for email in erased])))
    members = {(m.challenge_id, m.participant_id) for m in db.scalars(select(ChallengeMember))}

    def joins(row: _Row, person: Participant) -> bool:
        challenge = challenges.get(row.challenge)
        return bool(row.challenge) and (challenge is None
                                        or (challenge.id, person.id) not in members)

    added = 0
    updated: set[int] = set()  # ids of registered people this import changes
    partners_before = {p.id: p.partner_id for p in by_email.values()}
    broken: list[tuple[int, int]] = []  # pairs this import parts
    for row in rows:
        person = by_email.get(row.email)
        fields = {"name": row.name, "role": row.role, "organisation": row.organisation,
                  "region": row.region}
        if person is None:
            person = Participant(email=row.email, created_at=now, **fields)
            db.add(person)
            by_email[row.email] = person
            added += 1
        elif any(getattr(person, k) != v for k, v in fields.items()) or joins(row, person):
            for k, v in fields.items():
                setattr(person, k, v)
            updated.add(person.id)
    db.flush()
    for row in rows:
        person = by_email[row.email]
        partner = by_email.get(row.partner_email) if row.partner_email else None
        new_id = partner.id if partner else None
        if person.partner_id != new_id:
            # Whoever either of them was paired with is unpaired, not left pointing at them.
            for someone in (person, partner):
                old_id = someone.partner_id if someone is not None else None
                old = db.get(Participant, old_id) if old_id else None
                if old is not None and old not in (person, partner):
                    broken.append((someone.id, old.id))
                    if old.partner_id == someone.id:
                        old.partner_id = None
            person.partner_id = new_id
            if partner is not None:
                partner.partner_id = person.id
        # The file only adds team members: removals go through /team remove, which is
        # audited, so re-importing an older file never silently drops someone.
        if joins(row, person):
            challenge = challenges.get(row.challenge)
            if challenge is None:
                challenge = challenges[row.challenge] = Challenge(name=row.challenge,
                                                                  created_at=now)
                db.add(challenge)
                db.flush()
            db.add(ChallengeMember(challenge_id=challenge.id, participant_id=person.id,
                                   added_at=now))
            members.add((challenge.id, person.id))
    # Compared once every row is in, so a pair taken apart and put back by the same file is
    # no change. Someone new learns their partner when they link (/whoami, /home).
    by_id = {p.id: p for p in by_email.values()}
    repaired = [p for p in by_id.values()
                if p.id in partners_before and p.partner_id != partners_before[p.id]]
    for person in repaired:
        was = partners_before[person.id]
        _tell_new_partner(db, person, by_id[was] if was else None,
                          by_id[person.partner_id] if person.partner_id else None, now)
    updated |= {p.id for p in repaired}
    registered = {by_email[row.email].id for row in rows} & partners_before.keys()
    unchanged = len(registered - updated)
    db.add(AuditEntry(at=now, actor_id=actor_id, action="participants.import",
                      detail={"added": added, "updated": len(updated), "unchanged": unchanged,
                              "repaired": len(repaired)}))
    return ImportResult(added, len(updated), unchanged,
                        tuple(dict.fromkeys(tuple(sorted(pair)) for pair in broken)),
                        len(repaired))


def _tell_new_partner(db: Session, person: Participant, old: Participant | None,
                      new: Participant | None, now: dt.datetime) -> None:
    """Queue the news of a changed partner (sessions the change cancels are told apart)."""
    if new is None:
        assert old is not None
        text = (f"The programme team has changed the pairs: you are no longer paired with "
                f"{old.name}, so you aren't in a pair at the moment. The programme team will "
                "be in touch about pairing.")
    else:
        text = (f"The programme team has changed the pairs: your partner is now {new.name}, "
                f"no longer {old.name}." if old else
                f"The programme team has paired you with {new.name}.")
        text += " Send /book to propose a peer session."
    enqueue(db, person, text, kind="pairing", now=now,
            key=f"participant:{person.id}:partner:{new.id if new else 0}:{now.timestamp():.0f}")


def _erased(db: Session, rows: list[_Row]) -> dict[str, dt.datetime]:
    """Email -> when, for the people in the file who were erased at their request."""
    digests = {email_digest(row.email): row.email for row in rows}
    return {digests[digest]: at for digest, at in db.execute(
        select(ErasureRecord.email_digest, ErasureRecord.erased_at).where(
            ErasureRecord.email_digest.in_(list(digests))))}


def _parse_rows(csv_text: str) -> list[_Row]:
    text = csv_text.lstrip("\ufeff")
    first = text.partition("\n")[0]
    # Excel set up for a country that writes 1,5 for one and a half saves "CSV" with semicolons
    reader = csv.reader(io.StringIO(text),
                        delimiter=";" if first.count(";") > first.count(",") else ",")
    header = [h.strip().lower() for h in next(reader, [])]
    if tuple(header[: len(CSV_COLUMNS)]) != CSV_COLUMNS:
        raise ImportProblem([f"line 1: the header must start with {','.join(CSV_COLUMNS)}"])
    # Extra columns may follow; the challenge team is read from wherever its header is.
    challenge_at = header.index(CHALLENGE_COLUMN) if CHALLENGE_COLUMN in header else None
    rows: list[_Row] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for line, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue
        if len(values) < len(CSV_COLUMNS):
            problems.append(f"line {line}: expected {len(CSV_COLUMNS)} columns, "
                            f"found {len(values)}")
            continue
        name, email, role, organisation, region, partner = (v.strip() for v in values[:6])
        # "Expert peer" as a spreadsheet writes it is expert_peer
        email, partner = email.lower(), partner.lower()
        role = re.sub(r"[\s-]+", "_", role.lower())
        challenge = ""
        raw_challenge = values[challenge_at].strip() \
            if challenge_at is not None and challenge_at < len(values) else ""
        if raw_challenge:
            try:
                challenge = challenge_slug(raw_challenge)
            except ValueError as problem:
                problems.append(f"line {line}: {problem}")
            if role not in CHALLENGE_ROLES:
                problems.append(f"line {line}: only peers and expert peers join a challenge "
                                f"team, not {role}")
        if not name:
            problems.append(f"line {line}: name is empty")
        if not _EMAIL.match(email):
            problems.append(f"line {line}: '{email}' is not an email address")
        elif email in seen:
            problems.append(f"line {line}: {email} is already on line {seen[email]}")
        seen.setdefault(email, line)
        if role not in ROLES:
            problems.append(f"line {line}: role '{role}' is not one of {', '.join(ROLES)}")
        if partner and partner == email:
            problems.append(f"line {line}: a participant cannot be their own partner")
        rows.append(_Row(line, name, email, role, organisation, region, partner,
                         challenge))
    if problems:
        raise ImportProblem(problems)
    return rows


def _check_partners(rows: list[_Row], existing: dict[str, Participant]) -> list[str]:
    in_file = {r.email: r for r in rows}
    problems = []
    for row in rows:
        if not row.partner_email:
            continue
        if row.role not in PAIRED_ROLES:
            problems.append(f"line {row.line}: only peers and expert peers are paired, "
                            f"not {row.role}")
            continue
        other = in_file.get(row.partner_email)
        registered = existing.get(row.partner_email)
        # the file's role wins: this import may be changing it
        partner_role = other.role if other else registered.role if registered else None
        if partner_role is None:
            problems.append(f"line {row.line}: partner {row.partner_email} is not registered")
        elif other is not None and other.partner_email not in ("", row.email):
            problems.append(f"line {row.line}: {row.partner_email} names a different partner "
                            f"(line {other.line})")
        elif partner_role not in PAIRED_ROLES:
            problems.append(f"line {row.line}: partner {row.partner_email} is {partner_role}, "
                            "not a peer or expert peer")
        elif partner_role == row.role:
            problems.append(f"line {row.line}: {row.email} and {row.partner_email} are both "
                            f"{role_group((row.role,))}; a pair is one expert peer and one peer")
        elif other is None and registered is not None and registered.partner is not None \
                and registered.partner.email != row.email:
            # Taken silently, the partner's old pair would be left pointing at them.
            problems.append(f"line {row.line}: {row.partner_email} is already paired with "
                            f"{registered.partner.email}; to change pairs, give "
                            f"{row.partner_email} a line with their new partner_email too")
    return problems


def _check_challenges(rows: list[_Row], existing: dict[str, Participant],
                      challenges: dict[str, Challenge]) -> list[str]:
    """A signed-off team takes nobody new: they would never be asked to destroy notes."""
    problems = []
    for row in rows:
        challenge = challenges.get(row.challenge)
        if challenge is None or challenge.signed_off_at is None:
            continue
        person = existing.get(row.email)
        if person is None or all(m.participant_id != person.id for m in challenge.members):
            problems.append(f"line {row.line}: challenge {row.challenge} is already signed "
                            "off, so nobody can join it")
    return problems


def issue_invite(db: Session, participant: Participant, now: dt.datetime,
                 actor_id: int | None = None) -> str:
    """A fresh one-time code for linking a chat account; only its hash is kept."""
    code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))
    db.add(InviteCode(code_hash=_hash(code), participant_id=participant.id, created_at=now,
                      expires_at=now + INVITE_LIFETIME, used_at=None))
    db.add(AuditEntry(at=now, actor_id=actor_id, action="participants.invite",
                      subject=f"participant:{participant.id}"))
    return code


def redeem_invite(db: Session, code: str, now: dt.datetime) -> Participant | None:
    """The participant the code belongs to, marking it used; None if unknown, used or old."""
    normalised = re.sub(r"[\s-]", "", code).upper()
    invite = db.get(InviteCode, _hash(normalised))
    if invite is None or invite.used_at is not None or invite.expires_at <= now:
        return None
    invite.used_at = now
    return db.get(Participant, invite.participant_id)


def link_account(db: Session, participant: Participant, msg: Incoming,
                 now: dt.datetime) -> Account:
    """Link this platform account to the participant (replacing their old one there)."""
    for old in list(participant.accounts):
        if old.platform == msg.platform:
            db.delete(old)
    db.flush()
    chat_id = msg.chat_id if msg.private else msg.account_id
    account = Account(participant=participant, platform=msg.platform,
                      account_id=msg.account_id, chat_id=chat_id, linked_at=now)
    db.add(account)
    db.add(AuditEntry(at=now, actor_id=participant.id, action="account.link",
                      subject=f"participant:{participant.id}", detail={"platform": msg.platform}))
    # Messages queued while they had no account at all are delivered to this one, except
    # broadcasts that have waited too long and messages whose time has passed.
    held = (OutboxMessage.participant_id == participant.id,
            OutboxMessage.platform == UNREACHABLE, OutboxMessage.status == "failed")
    db.execute(update(OutboxMessage).where(*held, waited_too_long(now))
               .values(status="skipped", last_error=LAPSED))
    db.execute(update(OutboxMessage).where(*held, OutboxMessage.pointless_after <= now)
               .values(status="skipped", last_error=OVERTAKEN))
    db.execute(update(OutboxMessage)
               .where(*held)
               .values(platform=msg.platform, chat_id=chat_id, status="pending", last_error="",
                       # a scheduled message (a broadcast for later) keeps its time
                       due_at=case((OutboxMessage.due_at > now, OutboxMessage.due_at), else_=now),
                       # the key names its target, so a later enqueue sees it as queued
                       idempotency_key=func.replace(OutboxMessage.idempotency_key,
                                                    f"@{UNREACHABLE}:",
                                                    f"@{msg.platform}:{chat_id}")))
    db.flush()
    return account


def waited_too_long(now: dt.datetime) -> ColumnElement[bool]:
    """An outbox row of a broadcast that went out BROADCAST_WAIT or more ago (for a held row:
    one that lapses rather than reach someone who links now)."""
    return and_(OutboxMessage.broadcast_id.is_not(None),
                OutboxMessage.due_at <= now - BROADCAST_WAIT)


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()
