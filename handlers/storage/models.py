"""The database schema, as SQLAlchemy 2 typed ORM classes. Times are UTC; money is pence."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    literal_column,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

ROLES = ("peer", "expert_peer", "programme_team", "challenge_manager")
ERASED_ROLE = "erased"  # matches no real role, so no audience, reminder or pair includes them
UNREACHABLE = "none"  # outbox platform for someone with no linked account yet
UNLINKED = "no linked account"  # the last_error of their row, until they link


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stores aware datetimes as UTC and always gives back aware UTC (SQLite forgets zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        if dialect.name == "postgresql":  # timestamptz keeps the instant itself
            return value.astimezone(dt.UTC)
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: JSON}


class Participant(Base):
    __tablename__ = "participants"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    organisation: Mapped[str] = mapped_column(String(200), default="")
    region: Mapped[str] = mapped_column(String(100), default="")
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("participants.id"))
    created_at: Mapped[dt.datetime]

    partner: Mapped[Participant | None] = relationship(remote_side=[id])
    accounts: Mapped[list[Account]] = relationship(back_populates="participant")

    @property
    def is_team(self) -> bool:
        return self.role == "programme_team"


class Account(Base):
    """A platform account linked to one participant; `chat_id` is its private chat with us."""

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("platform", "account_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    platform: Mapped[str] = mapped_column(String(20))
    account_id: Mapped[str] = mapped_column(String(200))
    chat_id: Mapped[str] = mapped_column(String(200))
    linked_at: Mapped[dt.datetime]
    blocked_at: Mapped[dt.datetime | None]  # the user blocked the bot: deliveries fail at once

    participant: Mapped[Participant] = relationship(back_populates="accounts")


class InviteCode(Base):
    """A one-time linking code. Only its SHA-256 is stored, so the table leaks nothing usable."""

    __tablename__ = "invite_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]


class Conversation(Base):
    """A multi-step form in progress, per account and chat, so a restart loses nothing."""

    __tablename__ = "conversations"

    platform: Mapped[str] = mapped_column(String(20), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    chat_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    flow: Mapped[str] = mapped_column(String(50))
    step: Mapped[str] = mapped_column(String(50))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime]


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("participants.id"))
    action: Mapped[str] = mapped_column(String(80))
    subject: Mapped[str] = mapped_column(String(80), default="")  # e.g. "claim:12"
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class OutboxMessage(Base):
    """A message the bot sends on its own, written in the transaction that causes it."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    participant_id: Mapped[int | None] = mapped_column(ForeignKey("participants.id"), index=True)
    platform: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    choices: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime]
    due_at: Mapped[dt.datetime]
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(String(300), default="")
    sent_at: Mapped[dt.datetime | None]
    broadcast_id: Mapped[int | None] = mapped_column(Integer, index=True)
    # After this it would be wrong, not just late: a reminder for a session begun, a proposal
    # that lapsed. Such a row is skipped, not sent (held for someone linking late, or left
    # behind by a platform outage).
    pointless_after: Mapped[dt.datetime | None]
    # A file that goes with the text (a calendar file), dropped once sent.
    file_name: Mapped[str | None] = mapped_column(String(200))
    file_type: Mapped[str | None] = mapped_column(String(100))
    file_data: Mapped[bytes | None] = mapped_column(LargeBinary)


class UnansweredQuestion(Base):
    """A question the documents could not answer, or answered only unsurely, kept for the
    programme team."""

    __tablename__ = "unanswered_questions"
    __table_args__ = {"sqlite_autoincrement": True}  # "#N" never names another question

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    normalised: Mapped[str] = mapped_column(String(500), index=True)
    asked_at: Mapped[dt.datetime]
    platform: Mapped[str] = mapped_column(String(20))
    asker_id: Mapped[int | None] = mapped_column(ForeignKey("participants.id"))
    asker_platform_account: Mapped[str | None] = mapped_column(String(200))
    asker_chat_id: Mapped[str | None] = mapped_column(String(200))
    sent_to_team_at: Mapped[dt.datetime | None]
    answer_id: Mapped[int | None] = mapped_column(ForeignKey("team_answers.id"))
    # The section an unsure answer gave; None when the bot fell back.
    unsure_section_id: Mapped[str | None] = mapped_column(String(200))

    # Who asked: kept only to take the question to the team and the answer back.
    ASKER: ClassVar[tuple[str, ...]] = ("asker_id", "asker_platform_account", "asker_chat_id")

    def forget_asker(self) -> None:
        for name in self.ASKER:
            setattr(self, name, None)


class PeerSession(Base):
    """A peer-support session between the two members of a pair."""

    __tablename__ = "peer_sessions"
    # No index on status alone: SQLite would pick it for the overlap check and scan every
    # live session, where the proposer and partner indexes find a person's few directly.
    __table_args__ = (Index("ix_peer_sessions_pair", "pair_key", "status"),
                      Index("ix_peer_sessions_due", "status", "ends_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(80), unique=True)  # the calendar event's UID
    pair_key: Mapped[str] = mapped_column(String(40))  # "lower id-higher id"
    proposer_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    starts_at: Mapped[dt.datetime] = mapped_column(index=True)
    ends_at: Mapped[dt.datetime]
    mode: Mapped[str] = mapped_column(String(20))
    place: Mapped[str] = mapped_column(String(300), default="")
    link: Mapped[str] = mapped_column(String(500), default="")
    # proposed -> booked | declined | expired; booked -> cancelled | held | not_held
    status: Mapped[str] = mapped_column(String(20))
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    # A booked session's open request by one member to move it: it moves only when the other
    # accepts. All four are None when no request is open.
    move_by_id: Mapped[int | None] = mapped_column(ForeignKey("participants.id"))
    move_starts_at: Mapped[dt.datetime | None]
    move_ends_at: Mapped[dt.datetime | None]
    move_expires_at: Mapped[dt.datetime | None]
    # Counts the requests ever made, so a button from an earlier (replaced) request is never
    # taken as an answer to the open one.
    move_number: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    proposer: Mapped[Participant] = relationship(foreign_keys=[proposer_id])
    partner: Mapped[Participant] = relationship(foreign_keys=[partner_id])

    def drop_move(self) -> None:
        """Close the open move request, if any (answered, withdrawn, lapsed or cancelled)."""
        self.move_by_id = self.move_starts_at = self.move_ends_at = self.move_expires_at = None

    def cancel(self, now: dt.datetime) -> None:
        """Cancelled, with any move request: a new sequence, so a calendar file sent now
        replaces the event in both diaries."""
        self.drop_move()
        self.status = "cancelled"
        self.sequence += 1
        self.updated_at = now


class ErasureRecord(Base):
    """Someone erased at their request, known only by a digest of their email: enough for a
    re-import of an old list not to bring them back, and nothing more. Removed with the rest
    of the cohort's data."""

    __tablename__ = "erasure_records"

    email_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    erased_at: Mapped[dt.datetime]


class ProcessedEvent(Base):
    """A platform event already handled (Slack event id, Telegram update id): a retry or a
    redelivery after a crash is recognised in the same transaction and ignored.

    Where the adapter asks for it, the replies are kept here too until the adapter says they
    went out, so a crash between the commit and the send loses no reply."""

    __tablename__ = "processed_events"

    platform: Mapped[str] = mapped_column(String(20), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    handled_at: Mapped[dt.datetime] = mapped_column(index=True)
    unsent_replies: Mapped[list[Any] | None] = mapped_column(JSON)  # [[chat id, reply], ...]


class TeamAnswer(Base):
    """An answer the programme team gave in chat: their own words, which join the knowledge
    corpus as a section, or a document section that answers it (`section_id`), which the
    question then joins as an "Also asked" phrasing."""

    __tablename__ = "team_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)  # empty when a section is cited
    section_id: Mapped[str | None] = mapped_column(String(200))
    answered_at: Mapped[dt.datetime]
    answered_by: Mapped[int | None] = mapped_column(ForeignKey("participants.id"))
    withdrawn_at: Mapped[dt.datetime | None]
    # Counts every change, including the erasure sweep's redaction (a plain UPDATE), so a
    # running FAQ index sees that its copy of the text is stale.
    revision: Mapped[int] = mapped_column(default=0, server_default="0",
                                          onupdate=literal_column("revision") + 1)


class Receipt(Base):
    """A receipt file kept in the database, so it commits or rolls back with its claim."""

    __tablename__ = "receipts"

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes]
    uploaded_at: Mapped[dt.datetime]


class Claim(Base):
    """An expense claim. A withdrawn or rejected claim stays on file; erasure deletes those
    that never moved money, and their numbers are never given again."""

    __tablename__ = "claims"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # "accommodation" or "peer_session"
    event_id: Mapped[str] = mapped_column(String(50))
    event_label: Mapped[str] = mapped_column(String(300))  # as it read when claimed
    amount_pence: Mapped[int] = mapped_column(Integer)
    cap_pence: Mapped[int] = mapped_column(Integer)
    exceptional: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str] = mapped_column(Text, default="")  # the claimant's case for an exception
    # submitted -> approved | rejected | withdrawn; approved -> paid
    status: Mapped[str] = mapped_column(String(20), index=True)
    review_note: Mapped[str] = mapped_column(Text, default="")  # why it was rejected
    receipt_id: Mapped[int | None] = mapped_column(ForeignKey("receipts.id"))
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("participants.id"))

    participant: Mapped[Participant] = relationship(foreign_keys=[participant_id])
    receipt: Mapped[Receipt | None] = relationship()


# One live accommodation claim per person per development day. Withdrawn and rejected claims
# keep their rows but fall outside the index, so the person can claim that day again.
Index("uq_claims_one_per_day", Claim.participant_id, Claim.event_id, unique=True,
      sqlite_where=(Claim.kind == "accommodation")
      & Claim.status.in_(("submitted", "approved", "paid")),
      postgresql_where=(Claim.kind == "accommodation")
      & Claim.status.in_(("submitted", "approved", "paid")))


class JobLease(Base):
    """Which process may run a scheduled job now. Several processes share one database, so
    the lease (not APScheduler's job store, which cannot be shared) decides who fires, and
    `last_run_at` tells a restarted process what it missed."""

    __tablename__ = "job_leases"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[dt.datetime]
    last_run_at: Mapped[dt.datetime | None]


class ReminderOptOut(Base):
    """A kind of optional reminder a participant has turned off."""

    __tablename__ = "reminder_optouts"

    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)


class Challenge(Base):
    """A peer-challenge team. Once its report is signed off, every member must destroy their
    notes and confirm it; `manager_id` is the challenge manager who signs it off."""

    __tablename__ = "challenges"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)  # a slug, e.g. "stp-north"
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("participants.id"))
    created_at: Mapped[dt.datetime]
    signed_off_at: Mapped[dt.datetime | None]
    signed_off_by: Mapped[int | None] = mapped_column(ForeignKey("participants.id"))

    manager: Mapped[Participant | None] = relationship(foreign_keys=[manager_id])
    members: Mapped[list[ChallengeMember]] = relationship(back_populates="challenge",
                                                          cascade="all, delete-orphan")


class ChallengeMember(Base):
    """A participant on a challenge team, and when they confirmed destroying their notes."""

    __tablename__ = "challenge_members"

    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenges.id"), primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), primary_key=True,
                                                index=True)
    added_at: Mapped[dt.datetime]
    notes_destroyed_at: Mapped[dt.datetime | None]

    challenge: Mapped[Challenge] = relationship(back_populates="members")
    participant: Mapped[Participant] = relationship()


class Broadcast(Base):
    """A programme-team message to an audience; its outbox rows carry `broadcast_id`."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(primary_key=True)
    audience: Mapped[str] = mapped_column(String(120))  # "everyone", "role:peer", "region:North"
    text: Mapped[str] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("participants.id"))
    created_at: Mapped[dt.datetime]
    scheduled_for: Mapped[dt.datetime] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(20), default="scheduled")  # scheduled|sent|cancelled
