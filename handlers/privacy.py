"""Data protection: retention purge, a person's data export (/mydata) and erasure (/forgetme).

The programme asks peers to hold nothing longer than needed and to destroy and confirm; the bot
meets the same standard. Every table that can hold someone's data is listed in COVERED with
how it is exported and how it is erased, and a test fails when a new table is missing there.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, String, Text, and_, cast, delete, func, or_, select, update
from sqlalchemy.orm import Session

from handlers.booking import calendar_event, proposal_open, state
from handlers.claims import describe
from handlers.core import Context, Flow, Invalid, Route, Step, enqueue
from handlers.faq import normalised_question, team_answers_changed
from handlers.identity import email_digest, given_name
from handlers.messages import CANCEL, Choice, Reply, ReplyFile, counted
from handlers.storage.models import (
    ERASED_ROLE,
    Account,
    AuditEntry,
    Base,
    Broadcast,
    Challenge,
    ChallengeMember,
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
from knowledge.programme import Programme, format_date, format_pence

REDACTED = "[erased]"
FINANCE_STATUSES = ("approved", "paid")  # money owed or paid: the finance record stays
# Claims the programme may still pay: erasure takes the name and email a payment goes to.
UNPAID = ("submitted", "approved")
UNSENT = ("pending", "sending")
# Outbox kinds (faq.py) that carry a question to the team or its answer back to the asker.
SHARED_QUESTION_KINDS = ("team_question", "team_answer")


@dataclass
class ErasureReport:
    participant_id: int
    zone: ZoneInfo  # the programme's: dates in the messages erasure sends are local
    done: dict[tuple[str, str], int] = field(default_factory=dict)  # (noun, outcome) -> n
    kept_claims: list[str] = field(default_factory=list)  # what finance keeps, described

    def add(self, noun: str, outcome: str, n: int) -> None:
        """`n` of `noun` (singular: "chat account") had `outcome` ("unlinked")."""
        if n:
            self.done[noun, outcome] = self.done.get((noun, outcome), 0) + n

    @property
    def counts(self) -> dict[str, int]:
        """For the audit log and the CLI: {"chat accounts unlinked": 1, ...}."""
        return {f"{noun}s {outcome}": n for (noun, outcome), n in self.done.items()}

    def summary(self) -> str:
        """What was done, in words: "details anonymised, 1 chat account unlinked, ..."."""
        return ", ".join(["details anonymised", *(f"{counted(n, noun)} {outcome}"
                                                  for (noun, outcome), n in self.done.items())])


Exporter = Callable[[Session, Participant], Any]
Eraser = Callable[[Session, Participant, dt.datetime, ErasureReport], None]


@dataclass(frozen=True)
class Coverage:
    export: Exporter
    erase: Eraser


# ---------------------------------------------------------------- helpers
def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def _fields(obj: Any, *names: str) -> dict[str, Any]:
    return {name: _plain(getattr(obj, name)) for name in names}


def _account_keys(db: Session, p: Participant) -> list[tuple[str, str]]:
    return [(a.platform, a.account_id) for a in
            db.scalars(select(Account).where(Account.participant_id == p.id))]


def _own_claim_ids(db: Session, p: Participant) -> list[int]:
    return list(db.scalars(select(Claim.id).where(Claim.participant_id == p.id)))


def _own_session_ids(db: Session, p: Participant) -> list[int]:
    return list(db.scalars(select(PeerSession.id).where(
        or_(PeerSession.proposer_id == p.id, PeerSession.partner_id == p.id))))


def _nothing(db: Session, p: Participant, now: dt.datetime, report: ErasureReport) -> None:
    """Rows kept as they are: they point at the anonymised participant row, and any name or
    account id in their text is redacted by the sweep that ends every erasure."""


# ---------------------------------------------------------------- participants
def _export_participant(db: Session, p: Participant) -> dict[str, Any]:
    row = _fields(p, "id", "name", "email", "role", "organisation", "region", "created_at")
    row["partner"] = {"id": p.partner.id, "name": p.partner.name} if p.partner else None
    return row


def _erase_participant_row(db: Session, p: Participant, now: dt.datetime,
                           report: ErasureReport) -> None:
    for other in db.scalars(select(Participant).where(Participant.partner_id == p.id)):
        other.partner_id = None
        enqueue(db, other, "Your partner has left the programme, so you are not in a pair at "
                "the moment. The programme team will be in touch about pairing.",
                kind="pairing", key=f"participant:{p.id}:left:{other.id}", now=now)
        report.add("partner", "told they are no longer paired", 1)
    p.partner_id = None
    p.name = f"Erased participant #{p.id}"
    p.email = f"erased-{p.id}@invalid"
    p.organisation = p.region = ""
    p.role = ERASED_ROLE


# ---------------------------------------------------------------- accounts, codes, forms
def _export_accounts(db: Session, p: Participant) -> list[dict[str, Any]]:
    return [_fields(a, "platform", "account_id", "chat_id", "linked_at", "blocked_at")
            for a in db.scalars(select(Account).where(Account.participant_id == p.id))]


def _erase_accounts(db: Session, p: Participant, now: dt.datetime,
                    report: ErasureReport) -> None:
    for account in db.scalars(select(Account).where(Account.participant_id == p.id)):
        db.delete(account)
        report.add("chat account", "unlinked", 1)
    db.flush()


def _export_invites(db: Session, p: Participant) -> list[dict[str, Any]]:
    return [_fields(i, "created_at", "expires_at", "used_at")  # the hash is no use to anyone
            for i in db.scalars(select(InviteCode).where(InviteCode.participant_id == p.id))]


def _erase_invites(db: Session, p: Participant, now: dt.datetime,
                   report: ErasureReport) -> None:
    report.add("link code", "deleted", db.execute(
        delete(InviteCode).where(InviteCode.participant_id == p.id)).rowcount)


def _their_conversations(db: Session, p: Participant) -> list[Conversation]:
    keys = _account_keys(db, p)
    if not keys:
        return []
    return list(db.scalars(select(Conversation).where(or_(*(
        (Conversation.platform == platform) & (Conversation.account_id == account)
        for platform, account in keys)))))


def _export_conversations(db: Session, p: Participant) -> list[dict[str, Any]]:
    return [_fields(c, "platform", "flow", "step", "data", "updated_at")
            for c in _their_conversations(db, p)]


def _erase_conversations(db: Session, p: Participant, now: dt.datetime,
                         report: ErasureReport) -> None:
    for conversation in _their_conversations(db, p):
        db.delete(conversation)
        report.add("unfinished form", "deleted", 1)


def _export_optouts(db: Session, p: Participant) -> list[str]:
    return list(db.scalars(select(ReminderOptOut.kind)
                           .where(ReminderOptOut.participant_id == p.id)))


def _erase_optouts(db: Session, p: Participant, now: dt.datetime,
                   report: ErasureReport) -> None:
    report.add("reminder setting", "deleted", db.execute(
        delete(ReminderOptOut).where(ReminderOptOut.participant_id == p.id)).rowcount)


# ---------------------------------------------------------------- messages and questions
def _export_outbox(db: Session, p: Participant) -> list[dict[str, Any]]:
    return [_fields(m, "id", "kind", "platform", "text", "created_at", "due_at", "status",
                    "sent_at")
            for m in db.scalars(select(OutboxMessage).where(OutboxMessage.participant_id == p.id)
                                .order_by(OutboxMessage.id))]


def _erase_outbox(db: Session, p: Participant, now: dt.datetime,
                  report: ErasureReport) -> None:
    """Unsent messages go; the delivery log keeps a contentless row (a broadcast's delivery
    figures stay right) until the delivery-log retention period removes it."""
    for m in db.scalars(select(OutboxMessage).where(OutboxMessage.participant_id == p.id)):
        if m.status in UNSENT:
            db.delete(m)
            report.add("unsent message", "deleted", 1)
        else:
            # The key holds the chat id; a fresh unique key keeps the unique index happy.
            m.idempotency_key = f"erased:{m.id}"
            m.text = m.chat_id = m.last_error = ""
            m.choices = []
            m.file_name = m.file_type = m.file_data = None
            report.add("sent message", "emptied", 1)


def _export_questions(db: Session, p: Participant) -> list[dict[str, Any]]:
    return [_fields(q, "id", "text", "asked_at", "platform", "sent_to_team_at")
            for q in db.scalars(select(UnansweredQuestion)
                                .where(UnansweredQuestion.asker_id == p.id))]


def _erase_questions(db: Session, p: Participant, now: dt.datetime,
                     report: ErasureReport) -> None:
    for q in db.scalars(select(UnansweredQuestion).where(UnansweredQuestion.asker_id == p.id)):
        q.forget_asker()
        report.add("question", "made anonymous", 1)


def _export_team_answers(db: Session, p: Participant) -> list[dict[str, Any]]:
    return [_fields(a, "id", "question", "answer", "answered_at", "withdrawn_at")
            for a in db.scalars(select(TeamAnswer).where(TeamAnswer.answered_by == p.id))]


def _export_audit(db: Session, p: Participant) -> list[dict[str, Any]]:
    subjects = ([f"participant:{p.id}"] + [f"claim:{i}" for i in _own_claim_ids(db, p)]
                + [f"session:{i}" for i in _own_session_ids(db, p)])
    return [_fields(e, "at", "action", "subject", "detail") | {"by_you": e.actor_id == p.id}
            for e in db.scalars(select(AuditEntry).where(
                or_(AuditEntry.actor_id == p.id, AuditEntry.subject.in_(subjects)))
                .order_by(AuditEntry.id))]


# ---------------------------------------------------------------- sessions
def _export_sessions(db: Session, p: Participant) -> list[dict[str, Any]]:
    return [_fields(s, "id", "starts_at", "ends_at", "mode", "place", "link", "status",
                    "created_at", "move_starts_at", "move_ends_at", "move_expires_at")
            | {"you_proposed": s.proposer_id == p.id,
               "you_asked_to_move": s.move_by_id == p.id if s.move_by_id else None}
            for s in db.scalars(select(PeerSession).where(
                or_(PeerSession.proposer_id == p.id, PeerSession.partner_id == p.id))
                .order_by(PeerSession.starts_at))]


def _erase_sessions(db: Session, p: Participant, now: dt.datetime,
                    report: ErasureReport) -> None:
    """Sessions stay as dates and outcomes: they are the partner's record too, and the
    programme counts them. Where and how they met goes; future ones are cancelled."""
    for s in db.scalars(select(PeerSession).where(
            or_(PeerSession.proposer_id == p.id, PeerSession.partner_id == p.id))):
        # The partner's messages about this session quote where it was; only those rows, as
        # a place ("Leeds") may well appear innocently elsewhere.
        quoted = [text for text in (s.place, s.link) if text]
        pattern = re.compile("|".join(map(re.escape, quoted))) if quoted else None
        for m in db.scalars(select(OutboxMessage).where(
                OutboxMessage.idempotency_key.startswith(f"session:{s.id}:"))):
            if pattern is not None:
                m.text = pattern.sub(REDACTED, m.text)
            m.file_name = m.file_type = m.file_data = None  # a calendar file names both
        s.place = s.link = ""
        s.drop_move()  # nobody can agree to a move any more
        # Only what is in the partner's diary, or may still be.
        live = s.status == "booked" or proposal_open(s, now)
        if live and s.starts_at > now:
            s.cancel(now)
            other = s.partner if s.proposer_id == p.id else s.proposer
            start = s.starts_at.astimezone(report.zone)
            # The cancellation takes it out of the partner's diary; it names nobody, as the
            # file outlives this erasure in the outbox.
            enqueue(db, other, f"Your peer session on {format_date(start.date())} at "
                    f"{start:%H:%M} is cancelled: your partner has left the programme. Here "
                    "is a calendar file that takes it out of your diary.",
                    kind="session_update", key=f"session:{s.id}:erased", now=now,
                    file=calendar_event(s, now, "Peer session (cancelled)"))
            report.add("future peer session", "cancelled (partner told)", 1)
        else:
            report.add("peer session", "kept without place or link", 1)


# ---------------------------------------------------------------- claims and receipts
def _export_claims(db: Session, p: Participant) -> list[dict[str, Any]]:
    return [_fields(c, "id", "kind", "event_label", "amount_pence", "cap_pence", "exceptional",
                    "reason", "status", "review_note", "receipt_id", "created_at", "updated_at")
            for c in db.scalars(select(Claim).where(Claim.participant_id == p.id)
                                .order_by(Claim.id))]


def _erase_claims(db: Session, p: Participant, now: dt.datetime,
                  report: ErasureReport) -> None:
    """Approved and paid claims are money the programme owes or paid: finance keeps amount,
    day and status under the anonymised row. Claims that never moved money go entirely."""
    for c in db.scalars(select(Claim).where(Claim.participant_id == p.id)):
        if c.status in FINANCE_STATUSES:
            c.reason = c.review_note = ""
            c.receipt_id = None
            report.kept_claims.append(f"claim #{c.id}: {format_pence(c.amount_pence)} for "
                                      f"{c.event_label}, {c.status}")
            report.add("claim", "kept for finance", 1)
        else:
            db.delete(c)
            report.add("claim", "deleted", 1)
    db.flush()


def _export_receipts(db: Session, p: Participant) -> list[dict[str, Any]]:
    return [_fields(r, "id", "name", "content_type", "size", "uploaded_at")  # never the bytes
            for r in db.scalars(select(Receipt).where(Receipt.participant_id == p.id))]


def _erase_receipts(db: Session, p: Participant, now: dt.datetime,
                    report: ErasureReport) -> None:
    for r in db.scalars(select(Receipt).where(Receipt.participant_id == p.id)):
        for c in db.scalars(select(Claim).where(Claim.receipt_id == r.id)):
            c.receipt_id = None
        db.flush()
        db.delete(r)
        report.add("receipt", "deleted", 1)
    db.flush()


# ---------------------------------------------------------------- challenges and broadcasts
def _export_challenges(db: Session, p: Participant) -> list[dict[str, Any]]:
    return [_fields(c, "id", "name", "created_at", "signed_off_at")
            | {"you_manage": c.manager_id == p.id, "you_signed_off": c.signed_off_by == p.id}
            for c in db.scalars(select(Challenge).where(
                or_(Challenge.manager_id == p.id, Challenge.signed_off_by == p.id)))]


def _export_memberships(db: Session, p: Participant) -> list[dict[str, Any]]:
    return [{"challenge": m.challenge.name} | _fields(m, "added_at", "notes_destroyed_at")
            for m in db.scalars(select(ChallengeMember)
                                .where(ChallengeMember.participant_id == p.id))]


def _export_broadcasts(db: Session, p: Participant) -> list[dict[str, Any]]:
    return [_fields(b, "id", "audience", "text", "created_at", "scheduled_for", "status")
            for b in db.scalars(select(Broadcast).where(Broadcast.created_by == p.id))]


# Order matters for erasure: forms before the accounts that find them, claims before the
# receipts they point at, the participant row last.
COVERED: dict[str, Coverage] = {
    "conversations": Coverage(_export_conversations, _erase_conversations),
    "accounts": Coverage(_export_accounts, _erase_accounts),
    "invite_codes": Coverage(_export_invites, _erase_invites),
    "reminder_optouts": Coverage(_export_optouts, _erase_optouts),
    "outbox": Coverage(_export_outbox, _erase_outbox),
    "unanswered_questions": Coverage(_export_questions, _erase_questions),
    "team_answers": Coverage(_export_team_answers, _nothing),
    "audit_log": Coverage(_export_audit, _nothing),
    "peer_sessions": Coverage(_export_sessions, _erase_sessions),
    "claims": Coverage(_export_claims, _erase_claims),
    # The challenge record keeps who confirmed destroying their notes (and who never did),
    # now under the anonymised name; the team and manager rows are the programme's own.
    "challenges": Coverage(_export_challenges, _nothing),
    "challenge_members": Coverage(_export_memberships, _nothing),
    "broadcasts": Coverage(_export_broadcasts, _nothing),
    "receipts": Coverage(_export_receipts, _erase_receipts),
    "participants": Coverage(_export_participant, _erase_participant_row),
}


# ---------------------------------------------------------------- export and erasure
def export_participant(db: Session, participant: Participant, ctx: Context) -> dict[str, Any]:
    """Everything held about one person, by table; JSON-serialisable, receipts without bytes.
    A session's status is what /sessions says of it ("expired" for a proposal that lapsed,
    though stored "proposed" until the worker marks it)."""
    data = {table: cover.export(db, participant) for table, cover in COVERED.items()}
    for row in data["peer_sessions"]:
        row["status"] = state(ctx, db.get_one(PeerSession, row["id"]), participant)
    return data


def unpaid_claims(db: Session, participant: Participant) -> list[Claim]:
    """The person's claims that may still be paid: erasing them now would strand the money."""
    return list(db.scalars(select(Claim).where(Claim.participant_id == participant.id,
                                               Claim.status.in_(UNPAID)).order_by(Claim.id)))


def unpaid_explanation(claims: Sequence[Claim]) -> str:
    """Why an erasure waits, in words for the person and the programme team alike."""
    one = len(claims) == 1
    return (f"Not paid yet: claim {'; claim '.join(describe(c) for c in claims)}. Erasing now "
            f"would remove the name and email {'it is' if one else 'they are'} paid to, so "
            f"{'it' if one else 'they'} could not be paid.")


def erase_participant(db: Session, participant: Participant, now: dt.datetime,
                      actor_id: int | None, zone: ZoneInfo) -> ErasureReport:
    """Remove or anonymise the person's data everywhere, in the caller's transaction.

    The participant row stays, anonymised, so foreign keys and finance records hold; an
    erasure record (a digest of the email) keeps an old list from bringing them back.
    """
    db.merge(ErasureRecord(email_digest=email_digest(participant.email), erased_at=now))
    report = _erase(db, participant, now, zone)
    db.add(AuditEntry(at=now, actor_id=actor_id, action="privacy.erase",
                      subject=f"participant:{participant.id}", detail=dict(report.counts)))
    return report


def _erase(db: Session, participant: Participant, now: dt.datetime,
           zone: ZoneInfo) -> ErasureReport:
    report = ErasureReport(participant.id, zone)
    identifiers = _identifiers(db, participant)
    given = given_name(participant.name)
    for cover in COVERED.values():
        cover.erase(db, participant, now, report)
    db.flush()
    swept = _redact(db, identifiers)  # whole names first, before a first name breaks them
    db.expire_all()  # the sweep wrote past the ORM: reload rather than trust stale copies
    report.add("other record", "cleared of name, email and chat ids",
               swept + _redact_given_name(db, given))
    return report


def _identifiers(db: Session, p: Participant) -> list[str]:
    """Strings that identify the person wherever they were copied into text."""
    found = [p.name, p.email]
    for account in db.scalars(select(Account).where(Account.participant_id == p.id)):
        found += [account.account_id, account.chat_id]
    # Short ids ("42") would match unrelated text; names this short cannot be found safely.
    return sorted({s for s in found if len(s.strip()) >= 5}, key=len, reverse=True)


def _redact(db: Session, identifiers: list[str]) -> int:
    """Replace the identifiers in every text and JSON column of every table but participants.

    A generic sweep, so a name quoted in a partner's message, a question or a table added
    later is caught without each feature knowing about erasure."""
    if not identifiers:
        return 0
    changed = 0
    for table in Base.metadata.sorted_tables:
        if table.name == "participants" or not table.primary_key.columns:
            continue
        pk = list(table.primary_key.columns)
        for column in table.columns:
            is_json = isinstance(column.type, JSON)
            if column.primary_key or not (is_json or isinstance(column.type, String | Text)):
                continue
            # JSON is stored with non-ASCII escaped, so look for the escaped form there.
            needles = [json.dumps(s)[1:-1] if is_json else s for s in identifiers]
            pattern = re.compile("|".join(map(re.escape, needles)), re.IGNORECASE)
            text = func.lower(cast(column, Text))
            hits = db.execute(select(*pk, column).where(
                or_(*(text.contains(n.lower(), autoescape=True) for n in needles)))).all()
            for *key, value in hits:
                if is_json:
                    new: Any = json.loads(pattern.sub(REDACTED, json.dumps(value)))
                else:
                    new = pattern.sub(REDACTED, value)
                db.execute(table.update().where(*(c == k for c, k in zip(pk, key, strict=True)))
                           .values({column.name: new}))
                changed += 1
    return changed


def _redact_given_name(db: Session, given: str | None) -> int:
    """A first name alone ("until Amira is back") in the texts the FAQ shares and the team
    reads: programme-team answers and questions, and the messages that carried them (the
    question to each team member, the answer to whoever asked). The sweep above looks for
    whole names only, as a first name is too often part of other text to look for in every
    column; here it is a capitalised word."""
    if given is None:
        return 0
    pattern = re.compile(rf"\b{re.escape(given)}\b")
    changed = 0
    for answer in db.scalars(select(TeamAnswer).where(or_(
            TeamAnswer.question.contains(given), TeamAnswer.answer.contains(given)))):
        question, text = pattern.sub(REDACTED, answer.question), pattern.sub(REDACTED,
                                                                             answer.answer)
        if (question, text) != (answer.question, answer.answer):
            answer.question, answer.answer = question, text  # a new revision: re-indexed
            changed += 1
    for asked in db.scalars(select(UnansweredQuestion).where(or_(
            UnansweredQuestion.text.contains(given), UnansweredQuestion.text.contains(REDACTED)))):
        text = pattern.sub(REDACTED, asked.text)
        changed += text != asked.text
        # Its grouping key holds the name's terms ("quimbi") wherever the text lost them.
        asked.text, asked.normalised = text, normalised_question(text)
    for sent in db.scalars(select(OutboxMessage).where(
            OutboxMessage.kind.in_(SHARED_QUESTION_KINDS), OutboxMessage.text.contains(given))):
        text = pattern.sub(REDACTED, sent.text)
        changed += text != sent.text
        sent.text = text
    db.flush()
    return changed


# ---------------------------------------------------------------- retention
def cohort_deadline(programme: Programme) -> dt.datetime:
    """The instant the whole cohort is erased: the end of the programme's last day plus the
    configured period."""
    end = dt.datetime.combine(programme.ends + dt.timedelta(days=1), dt.time(),
                              programme.timezone)
    return end.astimezone(dt.UTC) + programme.retention.cohort_after_end


def purge(db: Session, programme: Programme, now: dt.datetime) -> dict[str, int]:
    """Enforce every retention period once; the scheduler calls this daily. Idempotent."""
    keep = programme.retention
    counts: dict[str, int] = {}

    def removed(what: str, statement: Any) -> None:
        counts[what] = db.execute(statement).rowcount

    removed("conversations", delete(Conversation).where(
        Conversation.updated_at < now - keep.conversation_idle))
    removed("unanswered_questions", delete(UnansweredQuestion).where(
        UnansweredQuestion.answer_id.is_(None),
        UnansweredQuestion.asked_at < now - keep.unanswered_question))
    # Who asked is kept only to send the team's answer back: faq strips it when answering
    # (this catches rows answered before it did), and a question never passed to the team
    # loses it once its "Ask the programme team" button has had its time.
    asker_kept = or_(*(getattr(UnansweredQuestion, name).is_not(None)
                       for name in UnansweredQuestion.ASKER))
    for what, which in (
            ("answered_questions_made_anonymous", UnansweredQuestion.answer_id.is_not(None)),
            ("unsent_questions_made_anonymous", and_(
                UnansweredQuestion.answer_id.is_(None),
                UnansweredQuestion.sent_to_team_at.is_(None),
                UnansweredQuestion.asked_at < now - keep.question_asker))):
        removed(what, update(UnansweredQuestion).where(which, asker_kept).values(
            dict.fromkeys(UnansweredQuestion.ASKER)))
    removed("delivery_log", delete(OutboxMessage).where(
        OutboxMessage.status.not_in(UNSENT),
        OutboxMessage.created_at < now - keep.delivery_log))
    # They only guard against a platform's retries, which come within minutes.
    removed("processed_events", delete(ProcessedEvent).where(
        ProcessedEvent.handled_at < now - keep.delivery_log))
    removed("expired_invite_codes", delete(InviteCode).where(InviteCode.expires_at < now))

    # A claim's updated_at is when it was paid: "paid" is its last status.
    paid = db.scalars(select(Claim).where(
        Claim.status == "paid", Claim.receipt_id.is_not(None),
        Claim.updated_at < now - keep.receipts_after_paid)).all()
    for claim in paid:
        receipt = claim.receipt
        claim.receipt_id = None
        db.flush()
        db.delete(receipt)
    counts["receipts_after_paid"] = len(paid)
    db.flush()
    # A receipt uploaded in a claim form that expired unseen (its owner never came back to
    # be told) belongs to no claim; it lives no longer than the form could have.
    removed("receipts_without_claim", delete(Receipt).where(
        Receipt.id.not_in(select(Claim.receipt_id).where(Claim.receipt_id.is_not(None))),
        Receipt.uploaded_at < now - keep.conversation_idle))

    counts["participants_erased"] = 0
    counts["erasure_records"] = 0
    if now >= cohort_deadline(programme):
        removed("erasure_records", delete(ErasureRecord))  # no cohort left to re-import into
        for person in db.scalars(select(Participant).where(Participant.role != ERASED_ROLE)
                                 .order_by(Participant.id)).all():
            _erase(db, person, now, programme.timezone)  # this purge's one audit row counts them
            counts["participants_erased"] += 1
    db.add(AuditEntry(at=now, actor_id=None, action="privacy.purge", detail=dict(counts)))
    return counts


# ---------------------------------------------------------------- chat: /mydata, /forgetme
def my_data(ctx: Context, args: str) -> list[Reply]:
    me = ctx.me
    data = export_participant(ctx.db, me, ctx)
    lines = [f"*What I hold about you, {me.name}*",
             f"- you: {me.email}, {me.role.replace('_', ' ')}"
             + (f", {me.organisation}" if me.organisation else ""),
             f"- linked chat accounts: {len(data['accounts'])}",
             f"- peer sessions: {len(data['peer_sessions'])}",
             f"- expense claims: {len(data['claims'])}, receipts: {len(data['receipts'])}",
             f"- messages I sent or will send you: {len(data['outbox'])}",
             f"- questions I couldn't answer surely: {len(data['unanswered_questions'])}"
             f" (passed to the programme team: "
             f"{sum(1 for q in data['unanswered_questions'] if q['sent_to_team_at'])})",
             f"- audit entries about you or by you: {len(data['audit_log'])}",
             "The attached file has all of it. Send /forgetme to have it erased."]
    body = json.dumps(data, indent=2, ensure_ascii=False).encode()
    return [Reply("\n".join(lines), file=ReplyFile("my-data.json", "application/json", body),
                  private_only=True)]


def start_forget(ctx: Context, args: str) -> list[Reply]:
    return _wait_for_payment(ctx) or ctx.start_flow(FORGET, {})


def _wait_for_payment(ctx: Context) -> list[Reply] | None:
    """Erasing nothing while a claim may still be paid, and saying what would let it go
    ahead; None when nothing waits. Asked before the warning and again at the confirmation,
    as the programme team may approve a claim in between."""
    claims = unpaid_claims(ctx.db, ctx.me)
    if not claims:
        return None
    lines = [f"I haven't erased anything yet. {unpaid_explanation(claims)}"]
    if any(c.status == "submitted" for c in claims):
        lines.append("- A claim still waiting for review can be withdrawn: send /claims and "
                     "press its Withdraw button.")
    if any(c.status == "approved" for c in claims):
        lines.append("- An approved claim is paid by the programme team; I'll tell you when "
                     "it is.")
    lines.append("Once none is waiting, send /forgetme again.")
    return [Reply("\n".join(lines), private_only=True)]


def _ask_sure(ctx: Context, data: dict[str, Any]) -> Reply:
    return Reply("This erases your personal data: your chat links, forms, unsent messages, "
                 "reminder settings and receipts; your sessions lose their place and link, "
                 "and future ones are cancelled; your partner is told and left unpaired; "
                 "withdrawn and rejected claims are deleted (paid ones are kept, without your "
                 "name, for finance). You'd need a new code from the programme team to use me "
                 "again. Are you sure?",
                 choices=(Choice("Yes, continue", "answer", "yes"), CANCEL))


def _take_sure(ctx: Context, data: dict[str, Any], text: str) -> list[Reply] | None:
    answer = text.strip().lower()
    if answer in ("no", "n"):
        return [Reply("Nothing was erased.")]
    if answer not in ("yes", "y", "yes, continue"):
        raise Invalid("Please answer yes to continue, or cancel.")
    data["sure"] = True
    return None


def _ask_really(ctx: Context, data: dict[str, Any]) -> Reply:
    return Reply("Really? This cannot be undone.",
                 choices=(Choice("Erase my data", "answer", "erase"), CANCEL))


def _take_really(ctx: Context, data: dict[str, Any], text: str) -> list[Reply] | None:
    answer = text.strip().lower()
    if answer in ("no", "n"):
        return [Reply("Nothing was erased.")]
    if answer not in ("erase", "erase my data", "yes", "y"):
        raise Invalid("Please answer erase to erase your data, or cancel.")
    data["really"] = True
    return None


def _finish_forget(ctx: Context, data: dict[str, Any]) -> list[Reply]:
    waiting = _wait_for_payment(ctx)
    if waiting:
        return waiting
    report = erase_participant(ctx.db, ctx.me, ctx.now, actor_id=ctx.me.id,
                               zone=ctx.programme.timezone)
    team_answers_changed(ctx)  # they may have named the person
    text = f"Done. Your personal data is erased: {report.summary()}."
    if report.kept_claims:
        text += ("\nKept for finance, under \u201cErased participant "
                 f"#{report.participant_id}\u201d and without your name, reasons or receipts: "
                 + "; ".join(report.kept_claims) + ". The programme must be able to account "
                 "for money it has paid.")  # nothing unpaid is left: see _wait_for_payment
    return [Reply(text + "\nThis chat is no longer linked. Goodbye, and thank you.")]


FORGET = Flow(
    name="forget",
    description="data erasure",
    steps={
        "sure": Step(_ask_sure, _take_sure, "yes", lambda d: not d.get("sure")),
        "really": Step(_ask_really, _take_really, "erase", lambda d: not d.get("really")),
    },
    finish=_finish_forget,
)

ROUTES = [
    Route("mydata", my_data, command="/mydata", personal=True,
          help="everything I hold about you, as a file",
          intent=re.compile(r"\b(data|information|info|details)\b.*\b(hold|have|keep|store)"
                            r"\b.*\babout me\b|\b(copy|export|download) (of )?my (personal )?"
                            r"(data|details|information)\b", re.IGNORECASE), aside=True),
    Route("forgetme", start_forget, command="/forgetme", personal=True,
          help="erase your personal data (asks twice)",
          intent=re.compile(r"\b(delete|erase|remove|wipe) (all )?(of )?my (personal )?"
                            r"(data|details|information|account)\b|^\W*forget (about )?me\b"
                            r"|^\W*(please )?(delete|erase|remove) me\b",
                            re.IGNORECASE)),
]
FLOWS = [FORGET]
