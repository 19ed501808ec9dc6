"""`/home`: one glance at what is next for this person (the Slack App Home shows it too)."""

from __future__ import annotations

from sqlalchemy import func, or_, select

from handlers import booking, notes
from handlers.core import Context, Flow, Route
from handlers.messages import Choice, Reply, counted
from handlers.storage.models import Claim, Participant, PeerSession, UnansweredQuestion
from knowledge.programme import format_pence


def home(ctx: Context, args: str) -> list[Reply]:
    programme = ctx.programme
    lines = [f"*{programme.name}*"]
    event = programme.next_event(ctx.today)
    lines.append(f"Next: {event.describe()}." if event else "No more programme events.")
    if ctx.participant is None:
        lines.append("Ask me anything about the programme. To book sessions or claim "
                     "expenses, link your account with /link CODE.")
        return [Reply("\n".join(lines))]
    me = ctx.participant
    mine = or_(PeerSession.proposer_id == me.id, PeerSession.partner_id == me.id)
    upcoming = ctx.db.scalars(select(PeerSession).where(
        mine, PeerSession.status.in_(booking.ACTIVE), PeerSession.starts_at > ctx.now)
        .order_by(PeerSession.starts_at).limit(3)).all()
    # Booked sessions that are over and nobody has said whether they took place.
    unconfirmed = ctx.db.scalars(select(PeerSession).where(
        mine, PeerSession.status == "booked", PeerSession.ends_at <= ctx.now)
        .order_by(PeerSession.starts_at).limit(3)).all()
    choices: list[Choice] = []
    # One still to confirm with an earlier partner needs an answer whether or not they are
    # in a pair now.
    if me.partner is not None or unconfirmed:
        lines.append("*Your sessions*")
        lines += [booking.session_line(ctx, s, me, named=True)
                  for s in [*unconfirmed, *upcoming]] or \
            ["- none booked" + (": send /book" if ctx.today <= programme.ends else "")]
        if me.partner is not None:
            lines.append(booking.progress_line(ctx, me))
        # What needs this person's answer: whether a past session took place, a proposal
        # waiting for them, and a request to move a session (or their own, to withdraw).
        answerable = [*unconfirmed, *(s for s in upcoming
                                      if s.status == "proposed" and s.partner_id == me.id)]
        choices += [c for s in answerable for c in booking.session_choices(ctx, s, me)]
        choices += [c for s in upcoming for c in booking.move_choices(ctx, s, me)]
    if me.is_team:
        lines += _team_overview(ctx)
    elif me.role in notes.MANAGERS:
        lines += ["*Your challenges*", *_notes_line(ctx, me)]
    to_destroy = notes.awaiting_confirmation(ctx)
    if to_destroy:
        lines.append("*Your notes*")
        lines += [f"- {m.challenge.name}: the report is signed off, so please destroy your "
                  "notes and the background documents, then confirm" for m in to_destroy]
    mine = ctx.db.scalars(select(Claim).where(Claim.participant_id == me.id)).all()
    if mine:
        waiting = sum(1 for c in mine if c.status == "submitted")
        paid = sum(c.amount_pence for c in mine if c.status == "paid")
        lines.append(f"*Your claims*: {len(mine)} in all, {waiting} waiting for review, "
                     f"{format_pence(paid)} paid. /claims for details.")
    elif me.role in booking.PAIRED_ROLES:  # pairs are the ones who claim for development days
        lines.append("*Your claims*: none yet. Send /claim after a development day.")
    if to_destroy:
        choices += notes.confirm_choices(to_destroy)
    return [Reply("\n".join(lines), private_only=True, choices=tuple(choices))]


def _team_overview(ctx: Context) -> list[str]:
    """What waits for the programme team: claims, pairs behind pace, unconfirmed note
    destruction and questions sent to them, each with the command that deals with it."""
    claims = dict(ctx.db.execute(select(Claim.status, func.count()).group_by(Claim.status)).all())
    pairs = booking.pairs_report(ctx.db, ctx.programme, ctx.now)
    questions = ctx.db.scalar(select(func.count()).select_from(UnansweredQuestion).where(
        UnansweredQuestion.sent_to_team_at.is_not(None), UnansweredQuestion.answer_id.is_(None)))
    return [
        "*For the programme team*",
        f"- claims: {claims.get('submitted', 0)} waiting for review (/review), "
        f"{claims.get('approved', 0)} approved and not yet paid (/paid)",
        f"- pairs: {counted(len(pairs), 'pair')}, "
        f"{sum(1 for progress, _ in pairs if progress.behind)} behind pace, "
        f"{len(booking.unpaired(ctx.db))} not in a pair (/pairs)",
        *_notes_line(ctx, ctx.me),
        f"- questions sent to you: {questions} without an answer (/answer)",
    ]


def _notes_line(ctx: Context, me: Participant) -> list[str]:
    waiting = notes.unconfirmed(ctx.db, me)
    if not waiting:
        return ["- note destruction: nobody is waiting to confirm"]
    people = sum(len(members) for _, members in waiting)
    return [f"- note destruction: {counted(people, 'member')} of "
            f"{counted(len(waiting), 'challenge')} yet to confirm (/notes status)"]


ROUTES = [Route("home", home, command="/home", public=True, personal=True,
                help="what's next for you")]
FLOWS: list[Flow] = []
