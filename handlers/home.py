"""`/home`: one glance at what is next for this person (the Slack App Home shows it too)."""

from __future__ import annotations

from sqlalchemy import or_, select

from handlers import booking
from handlers.core import Context, Flow, Route
from handlers.messages import Reply
from handlers.storage.models import Claim, PeerSession
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
    upcoming = ctx.db.scalars(select(PeerSession).where(
        or_(PeerSession.proposer_id == me.id, PeerSession.partner_id == me.id),
        PeerSession.status.in_(booking.ACTIVE), PeerSession.starts_at > ctx.now)
        .order_by(PeerSession.starts_at).limit(3)).all()
    if me.partner is not None:
        lines.append("*Your sessions*")
        lines += [f"- {booking.describe(programme, s)}"
                  + (" (waiting for an answer)" if s.status == "proposed" else "")
                  for s in upcoming] or ["- none booked: send /book"]
        lines.append(booking.progress_line(ctx, me))
    mine = ctx.db.scalars(select(Claim).where(Claim.participant_id == me.id)).all()
    if mine:
        waiting = sum(1 for c in mine if c.status == "submitted")
        paid = sum(c.amount_pence for c in mine if c.status == "paid")
        lines.append(f"*Your claims*: {len(mine)} in all, {waiting} waiting for review, "
                     f"{format_pence(paid)} paid. /claims for details.")
    else:
        lines.append("*Your claims*: none yet. Send /claim after a development day.")
    return [Reply("\n".join(lines), private_only=True)]


ROUTES = [Route("home", home, command="/home", public=True, personal=True,
                sets_aside_form=False, help="what's next for you")]
FLOWS: list[Flow] = []
