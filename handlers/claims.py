"""Expense claims: accommodation for development days, within the configured caps, reviewed by
the programme team. Money is integer pence throughout; every figure comes from the programme
configuration."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from handlers.core import Context, Flow, Invalid, Route, Step, by_number, said_yes
from handlers.identity import PAIRED_ROLES, TEAM
from handlers.messages import CANCEL, Choice, Reply, ReplyFile, counted, csv_file
from handlers.storage.models import (
    ERASED_ROLE,
    AuditEntry,
    Claim,
    Participant,
    PeerSession,
    Receipt,
)
from handlers.when import WhenError, parse_date
from knowledge.programme import Event, Programme, format_date, format_pence

LIVE = ("submitted", "approved", "paid")  # the statuses that hold a day's one claim
MAX_PENCE = 100_000 * 100  # beyond this an amount is a typo, not a hotel bill
PEER_SESSION = "peer-session"

_AMOUNT = re.compile(
    r"^(?P<minus>-)?\s*(?:£|gbp)?\s*(?P<minus2>-)?\s*"
    r"(?P<number>[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?|[0-9]+(?:\.[0-9]+)?)"
    r"\s*(?:pounds?|gbp|quid)?$", re.IGNORECASE)
# Euros or dollars: refused with "claims are in pounds", never read as pounds or as nothing.
_FOREIGN = r"(?:[€$]|(?<![a-z])(?:eur|euros?|usd|dollars?)(?![a-z]))"
_OTHER_CURRENCY = re.compile(_FOREIGN, re.IGNORECASE)
# An amount inside a longer sentence must be marked as money, so "8 July" is not £8.
_MONEY_IN_TEXT = re.compile(
    r"-?£\s*-?[0-9][0-9,.]*|-?[0-9][0-9,.]*\s*(?:pounds?|gbp|quid)\b"
    # a sign after a number only when no number follows it: "2015 $95" is a year, then $95
    rf"|-?{_FOREIGN}\s*-?[0-9][0-9,.]*|-?[0-9][0-9,.]*\s*{_FOREIGN}(?!\s*-?[0-9])",
    re.IGNORECASE)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
# With its year, if given, so "8 July 2015 95" leaves only the amount (20xx: "8 July 1200"
# is an amount).
_DAY_MONTH = re.compile(r"\b([0-9]{1,2})(?:st|nd|rd|th)?\s+(" + "|".join(_MONTHS) + r")[a-z]*"
                        r"(?:,?\s+(20[0-9]{2})\b)?", re.IGNORECASE)
_NUMERIC_DATE = re.compile(r"\b([0-9]{1,2})/([0-9]{1,2})(?:/([0-9]{2,4}))?\b")
_PEER = re.compile(r"\bpeer[\s-]*(support\s+)?sessions?\b", re.IGNORECASE)
_TRAVEL = re.compile(r"\b(travel|train|rail|taxi|bus|mileage|petrol|fuel|parking|flights?|"
                     r"tickets?)\b", re.IGNORECASE)


# ---------------------------------------------------------------- money
def parse_amount(text: str) -> int:
    """`£120`, `120.50`, `120 pounds`, `£1,200.00` -> pence; anything else raises Invalid."""
    cleaned = " ".join(text.split())
    if len(cleaned) > 40:
        raise Invalid("Please give just the amount, like £95 or 95.50.")
    if _OTHER_CURRENCY.search(cleaned):
        raise Invalid("Claims are paid in pounds sterling. Please give the amount in £, like "
                      "£95 (for a bill in another currency, what it cost you in pounds).")
    found = _AMOUNT.match(cleaned)
    if found is None and len(given := _MONEY_IN_TEXT.findall(cleaned)) > 1:
        # "£120 plus parking £10": the form holds one figure, the night's accommodation
        raise Invalid(f"That has {len(given)} amounts ({', '.join(g.strip() for g in given)}). "
                      "Please give just the one for the night's accommodation, like £95.")
    if found is None:
        raise Invalid(f"I couldn't read an amount in \u201c{cleaned[:40]}\u201d. "
                      "Please write it like £95 or 95.50.")
    if found["minus"] or found["minus2"]:
        raise Invalid("An amount can't be negative. Please give what you paid, like £95.")
    number = found["number"].replace(",", "")
    if len(number.partition(".")[2]) > 2:
        raise Invalid("Please give pounds and pence with at most two decimals, like £95.50.")
    pence = int(Decimal(number) * 100)
    if pence <= 0:
        raise Invalid("The amount must be more than zero.")
    if pence > MAX_PENCE:
        raise Invalid(f"{format_pence(pence)} looks too large to be right. "
                      "Please check the amount.")
    return pence


def _pounds(pence: int) -> str:
    """`95.00` for spreadsheets: no currency sign, always two decimals."""
    sign = "-" if pence < 0 else ""
    return f"{sign}{abs(pence) // 100}.{abs(pence) % 100:02d}"


# ---------------------------------------------------------------- rules
def match_day(programme: Programme, text: str) -> Event | None:
    """The development day named by its id, date ("8 July", "08/07") or place ("Leeds")."""
    days = programme.development_days
    lowered = text.strip().lower()
    for event in days:
        if lowered == event.id:
            return event
    # (day, month, year or None): "8 July 2014" is no day of a 2015 programme
    dates = {(int(d), _MONTHS.index(m[:3].lower()) + 1, int(y) if y else None)
             for d, m, y in _DAY_MONTH.findall(text)}
    dates |= {(int(d), int(m), (int(y) + 2000 if len(y) == 2 else int(y)) if y else None)
              for d, m, y in _NUMERIC_DATE.findall(text)}
    by_date = [e for e in days if (e.date.day, e.date.month, e.date.year) in dates
               or (e.date.day, e.date.month, None) in dates]
    if dates:
        return by_date[0] if len(by_date) == 1 else None
    words = set(re.findall(r"[a-z]{4,}", lowered))
    by_place = [e for e in days if words & set(re.findall(r"[a-z]{4,}", e.place.lower()))]
    return by_place[0] if len(by_place) == 1 else None


def cap_reason(event: Event) -> str:
    return "London" if event.london else "outside London"


def describe(claim: Claim) -> str:
    """`#3 Development day 2 (Wednesday 8 July 2015, Leeds): £95, submitted`."""
    flag = ", exceptional" if claim.exceptional else ""
    note = f" ({claim.review_note})" if claim.status == "rejected" and claim.review_note else ""
    return (f"#{claim.id} {claim.event_label}: {format_pence(claim.amount_pence)}, "
            f"{claim.status}{flag}{note}")


def _live_claim(db: Session, person: Participant, event_id: str) -> Claim | None:
    return db.scalars(select(Claim).where(
        Claim.participant_id == person.id, Claim.event_id == event_id,
        Claim.kind == "accommodation", Claim.status.in_(LIVE))).first()


def _already(claim: Claim) -> list[Reply]:
    return [Reply(f"You already have a claim for that day: {describe(claim)}. The programme "
                  "pays one night per development day.", choices=_own_choices(claim))]


def _event_label(event: Event) -> str:
    return f"{event.title} ({format_date(event.date)}, {event.place})"


def claimable_days(programme: Programme, today: dt.date) -> tuple[Event, ...]:
    """The development days already reached: accommodation is claimed after the stay."""
    return tuple(e for e in programme.development_days if e.date <= today)


def _too_early(ctx: Context, event: Event) -> str | None:
    """Why a day still to come can't be claimed yet, and from when it can; None if it can."""
    if event.date <= ctx.today:
        return None
    return (f"{_event_label(event)} is still to come. Accommodation is claimed after the "
            f"stay: you can claim it from {format_date(event.date)}.")


def _none_claimable(ctx: Context) -> str:
    first = min(ctx.programme.development_days, key=lambda e: e.date, default=None)
    when = f": you can claim from {format_date(first.date)} ({first.title}, {first.place})" \
        if first else ""
    return f"No development day has taken place yet. Accommodation is claimed after the stay{when}."


def _not_covered(ctx: Context, text: str) -> list[Reply] | None:
    """Travel and peer-session stays are outside the policy: say so before any form starts."""
    policy = ctx.programme.expenses
    if _TRAVEL.search(text) and not policy.travel_covered:
        org = ctx.me.organisation or "your own organisation"
        return [Reply("The programme doesn't pay travel costs. Please claim travel from "
                      f"{org} under its usual expenses policy.")]
    if _PEER.search(text):
        return [Reply(f"Accommodation for peer sessions is not covered "
                      f"({policy.peer_session_accommodation} cases only). If your case is "
                      "exceptional you can ask the programme team, with a written reason.",
                      choices=(Choice("Ask for an exception", "claims.peer"), CANCEL))]
    return None


# ---------------------------------------------------------------- the claim form
def start_claim(ctx: Context, args: str) -> list[Reply]:
    text = re.sub(r"^\s*(i('d| would) like to |can i |please )?claim\b", "", args,
                  flags=re.IGNORECASE)
    refusal = _not_covered(ctx, text)
    if refusal:
        return refusal
    data: dict[str, Any] = {"kind": "accommodation"}
    problems: list[str] = []
    money = _MONEY_IN_TEXT.search(text)
    if money:
        _keep_amount(data, problems, money.group(0))
        text = text.replace(money.group(0), " ")
    event = match_day(ctx.programme, text) if text.strip() else None
    early = None
    if event is not None:
        existing = _live_claim(ctx.db, ctx.me, event.id)
        if existing is not None:
            return _already(existing)
        if "pence" not in data and not problems:
            _bare_amount(data, problems, text, event)
        early = _too_early(ctx, event)
        if early is None:
            _set_event(ctx, data, event)
    elif named := _DAY_MONTH.search(text) or _NUMERIC_DATE.search(text):
        problems.append(f"{named.group(0)} isn't a development day.")
    elif "pence" not in data and _lone_amount(text):
        _keep_amount(data, problems, text)
    if "event" not in data and not claimable_days(ctx.programme, ctx.today):
        return [Reply(early or _none_claimable(ctx))]  # no day the form could take yet
    notes = [Reply(f"{' '.join(problems)} I'll ask for it.")] if problems else []
    if early is not None:  # the amount is kept while another day is asked for
        notes.append(Reply(early))
    return notes + ctx.start_flow(CLAIM, data)


# Any number of decimals, so that parse_amount, not this pattern, refuses "100.004" and says why.
_NUMBER = r"\d+(?:\.\d+)?"


def _keep_amount(data: dict[str, Any], problems: list[str], text: str) -> None:
    """The amount of a one-line claim, or what is wrong with it ('-5', '100.004') for the form
    to say before it asks again, as it would of the same answer typed in the form."""
    try:
        data["pence"] = parse_amount(text)
    except Invalid as problem:
        problems.append(str(problem))


def _lone_amount(text: str) -> bool:
    """'/claim 95': a number on its own that no day of a month can be (or with pence) is the
    amount; '/claim 18' may mean the 18th, so the form asks."""
    lone = re.fullmatch(rf"\s*({_NUMBER})\s*", text)
    return lone is not None and (Decimal(lone[1]) > 31 or "." in lone[1])


def _bare_amount(data: dict[str, Any], problems: list[str], text: str, event: Event) -> None:
    """'/claim London 95': once the day is known, the one number left over is the amount."""
    rest = _NUMERIC_DATE.sub(" ", _DAY_MONTH.sub(" ", text))
    numbers = [n for n in re.findall(rf"(?<![\w.])-?{_NUMBER}(?![\w.])", rest)
               if Decimal(n) != event.date.year]  # "8 July 95 2015": the year is no amount
    if len(numbers) == 1:
        _keep_amount(data, problems, numbers[0])


def start_peer_claim(ctx: Context, _value: str) -> list[Reply]:
    if not _session_days(ctx):  # the form's session question could never be answered
        return [Reply("You have had no peer sessions yet, so there is no session stay to "
                      "claim: a stay is claimed after the session.")]
    return ctx.start_flow(CLAIM, {"kind": "peer_session", "event": PEER_SESSION, "cap": 0,
                                  "exceptional": True})


def _event(ctx: Context, data: dict[str, Any]) -> Event | None:
    return ctx.programme.event(data["event"]) if data.get("kind") == "accommodation" else None


def _cap(ctx: Context, data: dict[str, Any]) -> int:
    """Peer-session stays have no allowance: any amount is an exception."""
    event = _event(ctx, data)
    return ctx.programme.expenses.cap_for(event) if event else 0


def _set_event(ctx: Context, data: dict[str, Any], event: Event) -> None:
    data["event"] = event.id
    data["cap"] = ctx.programme.expenses.cap_for(event)  # the "over" step reads it


def _ask_day(ctx: Context, data: dict[str, Any]) -> Reply:
    return Reply("Which development day is the claim for?",
                 choices=tuple(Choice(f"{e.place}, {e.date.day} {e.date:%B}", "answer", e.id)
                               for e in claimable_days(ctx.programme, ctx.today)) + (CANCEL,))


def _take_day(ctx: Context, data: dict[str, Any], text: str) -> list[Reply] | None:
    event = match_day(ctx.programme, text)
    if event is None:
        places = ", ".join(f"{e.place} ({e.date.day} {e.date:%B})"
                           for e in claimable_days(ctx.programme, ctx.today))
        raise Invalid(f"Please choose one of the development days: {places}.")
    existing = _live_claim(ctx.db, ctx.me, event.id)
    if existing is not None:
        return _already(existing)
    if early := _too_early(ctx, event):
        raise Invalid(early)
    _set_event(ctx, data, event)
    return None


def _session_days(ctx: Context, person: Participant | None = None) -> list[dt.date]:
    """The local dates of the person's (by default the sender's) sessions that are over and
    took place (or nobody has said otherwise yet), latest first: a stay is claimed after it,
    as for a development day."""
    zone = ctx.programme.timezone
    who = (person or ctx.me).id
    return list(dict.fromkeys(s.starts_at.astimezone(zone).date() for s in ctx.db.scalars(
        select(PeerSession).where(
            or_(PeerSession.proposer_id == who, PeerSession.partner_id == who),
            PeerSession.status.in_(("booked", "held")), PeerSession.ends_at <= ctx.now)
        .order_by(PeerSession.starts_at.desc()))))


def _ask_session(ctx: Context, data: dict[str, Any]) -> Reply:
    return Reply("Which peer session was the stay for? Choose it, or type its date.",
                 choices=tuple(Choice(format_date(day), "answer", day.isoformat())
                               for day in _session_days(ctx)[:SESSION_CHOICES]) + (CANCEL,))


SESSION_CHOICES = 5


def _take_session(ctx: Context, data: dict[str, Any], text: str) -> None:
    try:
        day = parse_date(text, ctx.today)
    except WhenError as problem:
        raise Invalid(str(problem)) from None
    programme = ctx.programme
    if day is None:
        raise Invalid("Please give the session's date, like 10 April.")
    if not programme.starts <= day <= programme.ends:
        raise Invalid(f"{format_date(day)} is outside the programme "
                      f"({format_date(programme.starts)} to {format_date(programme.ends)}).")
    days = _session_days(ctx)
    claimed = ctx.db.scalars(select(Claim).where(
        Claim.participant_id == ctx.me.id, Claim.kind == "peer_session",
        Claim.event_label == _peer_session_label(day), Claim.status.in_(LIVE))).first()
    if claimed is not None:  # one night per session, as per development day
        raise Invalid(f"You already have a claim for that session's stay: {describe(claimed)}. "
                      "Please choose another session, or cancel.")
    if day not in days:
        yours = ", ".join(format_date(d) for d in days[:SESSION_CHOICES])
        raise Invalid(f"You have had no peer session on {format_date(day)} (a stay is claimed "
                      f"after the session). Please choose one of yours: {yours}.")
    data["session_day"] = day.isoformat()


def _ask_amount(ctx: Context, data: dict[str, Any]) -> Reply:
    event = _event(ctx, data)
    if event is None:
        return Reply("How much did the accommodation cost? For example £95.50.")
    return Reply(f"How much was one night's bed and breakfast for {event.title}? The programme "
                 f"pays up to {format_pence(_cap(ctx, data))} ({cap_reason(event)}).")


def _take_amount(ctx: Context, data: dict[str, Any], text: str) -> None:
    data["pence"] = parse_amount(text)


def _ask_over(ctx: Context, data: dict[str, Any]) -> Reply:
    event = _event(ctx, data)
    assert event is not None
    cap = _cap(ctx, data)
    return Reply(f"{format_pence(data['pence'])} is over the {format_pence(cap)} cap for a "
                 f"development day {'in ' if event.london else ''}{cap_reason(event)} "
                 f"({event.title}, {event.place}). You can claim "
                 f"{format_pence(cap)} instead, or ask the programme team for an exception "
                 "with a written reason.",
                 choices=(Choice(f"Claim {format_pence(cap)}", "answer", "cap"),
                          Choice("Ask for an exception", "answer", "exception"), CANCEL))


def _take_over(ctx: Context, data: dict[str, Any], text: str) -> None:
    answer = text.strip().lower()
    if answer in ("cap", "claim the cap") or answer.startswith("claim £"):
        data["pence"] = _cap(ctx, data)
    elif "exception" in answer:
        data["exceptional"] = True
    elif _AMOUNT.match(" ".join(answer.split())) or _OTHER_CURRENCY.search(answer):
        # a corrected amount (£120, not £1,200); one in euros is refused with the reason
        data["pence"] = parse_amount(answer)  # still over: this step asks again about it
    else:
        cap = format_pence(_cap(ctx, data))
        raise Invalid(f"Please choose Claim {cap} or Ask for an exception, or give the "
                      "amount again if it was a typo.")


def _ask_reason(ctx: Context, data: dict[str, Any]) -> Reply:
    return Reply("Please write the reason for the exception: the programme team reads it "
                 "when they review your claim.")


def _take_reason(ctx: Context, data: dict[str, Any], text: str) -> None:
    reason = text.strip()
    if not 10 <= len(reason) <= 1000:
        raise Invalid("Please give the reason in a sentence or two (10 to 1,000 characters).")
    data["reason"] = reason


def _ask_receipt(ctx: Context, data: dict[str, Any]) -> Reply:
    policy = ctx.programme.expenses
    return Reply(f"Please send the receipt as a photo or PDF (up to "
                 f"{policy.receipt_max_bytes // (1024 * 1024)} MB), or skip it for now.",
                 choices=(Choice("Skip", "answer", "skip"), CANCEL))


def _take_receipt(ctx: Context, data: dict[str, Any], text: str) -> None:
    attachment = ctx.msg.attachment
    if attachment is None:
        if text.strip().lower() in ("skip", "no", "none", "later"):
            data["receipt"] = None
            return
        raise Invalid("Please attach the receipt, or answer skip.")
    policy = ctx.programme.expenses
    limit = f"{policy.receipt_max_bytes // (1024 * 1024)} MB"
    if attachment.content_type.lower() not in policy.receipt_types:
        raise Invalid("I can only take a receipt as a photo (JPEG, PNG or HEIC) or a PDF, "
                      f"not {attachment.content_type[:60] or 'that kind of file'}.")
    if attachment.size > policy.receipt_max_bytes:
        raise Invalid(f"That file is larger than {limit}. Please send a smaller photo or PDF.")
    content = attachment.fetch()
    if len(content) > policy.receipt_max_bytes:  # the declared size can be wrong
        raise Invalid(f"That file is larger than {limit}. Please send a smaller photo or PDF.")
    receipt = Receipt(participant_id=ctx.me.id, name=attachment.name[:200],
                      content_type=attachment.content_type.lower(), size=len(content),
                      data=content, uploaded_at=ctx.now)
    ctx.db.add(receipt)
    ctx.db.flush()
    data["receipt"] = receipt.id


def _discard_receipt(ctx: Context, data: dict[str, Any]) -> None:
    """A receipt uploaded in a form that ends without a claim to hold it goes at once."""
    receipt = ctx.db.get(Receipt, data["receipt"]) if data.get("receipt") else None
    if receipt is not None and receipt.participant_id == ctx.me.id and ctx.db.scalar(
            select(Claim.id).where(Claim.receipt_id == receipt.id)) is None:
        ctx.db.delete(receipt)


def _read_back(ctx: Context, data: dict[str, Any]) -> str:
    event = _event(ctx, data)
    what = (f"accommodation for {_event_label(event)}" if event else
            f"accommodation for the peer session on {_session_date(data)}")
    cap = (f"the cap is {format_pence(_cap(ctx, data))} ({cap_reason(event)})" if event
           else "peer-session stays are not normally covered")
    line = f"Claim {format_pence(data['pence'])} for {what}; {cap}."
    if data.get("exceptional"):
        line += f" Asking for an exception: \u201c{data['reason']}\u201d."
    line += " Receipt attached." if data.get("receipt") else " No receipt yet."
    return line


def _peer_session_label(day: dt.date) -> str:
    return f"Peer session accommodation ({format_date(day)})"


def _session_date(data: dict[str, Any]) -> str:
    return format_date(dt.date.fromisoformat(data["session_day"]))


def _ask_confirm(ctx: Context, data: dict[str, Any]) -> Reply:
    return Reply(_read_back(ctx, data) + " Submit it?",
                 choices=(Choice("Yes, submit", "answer", "yes"), CANCEL))


def _take_confirm(ctx: Context, data: dict[str, Any], text: str) -> list[Reply] | None:
    answer = text.strip().lower()
    if answer in ("no", "n"):
        return [Reply("Nothing was claimed.")]
    if not said_yes(answer):
        raise Invalid("Please answer yes to submit the claim, or cancel.")
    data["confirmed"] = True
    return None


def _finish(ctx: Context, data: dict[str, Any]) -> list[Reply]:
    me = ctx.me
    event = _event(ctx, data)
    if event is not None:
        existing = _live_claim(ctx.db, me, event.id)  # the unique index backs this up
        if existing is not None:
            _discard_receipt(ctx, data)
            return _already(existing)
    cap = _cap(ctx, data)
    exceptional = bool(data.get("exceptional")) or data["pence"] > cap
    claim = Claim(participant_id=me.id, kind=data["kind"], event_id=data["event"],
                  event_label=_event_label(event) if event else
                  _peer_session_label(dt.date.fromisoformat(data["session_day"])),
                  amount_pence=data["pence"], cap_pence=cap, exceptional=exceptional,
                  reason=data.get("reason", ""), status="submitted",
                  receipt_id=data.get("receipt"), created_at=ctx.now, updated_at=ctx.now)
    ctx.db.add(claim)
    ctx.db.flush()
    ctx.audit("claim.submitted", f"claim:{claim.id}",
              **{"from": None, "to": "submitted", "amount_pence": claim.amount_pence})
    review = "It's marked exceptional for the programme team to review." if exceptional \
        else "The programme team will review it."
    return [Reply(f"Submitted: {describe(claim)}. {review} I'll tell you when it changes.",
                  choices=_own_choices(claim))]


CLAIM = Flow(
    name="claim",
    description="expense claim",
    steps={
        "day": Step(_ask_day, _take_day, "Leeds or 8 July", lambda d: "event" not in d),
        "session": Step(_ask_session, _take_session, "10 April",
                        lambda d: d.get("kind") == "peer_session" and "session_day" not in d),
        # After a few misses the router says "Here is what I need: " and this.
        "amount": Step(_ask_amount, _take_amount, "one amount, the night's cost in pounds, "
                       "for example £95.50", lambda d: "pence" not in d),
        "over": Step(_ask_over, _take_over, "cap, exception or a corrected amount",
                     lambda d: not d.get("exceptional") and d["pence"] > d["cap"]),
        "reason": Step(_ask_reason, _take_reason, "the hotel was full at the cap",
                       lambda d: bool(d.get("exceptional")) and "reason" not in d),
        "receipt": Step(_ask_receipt, _take_receipt, "a photo of the receipt, or skip",
                        lambda d: "receipt" not in d),
        "confirm": Step(_ask_confirm, _take_confirm, "yes", lambda d: not d.get("confirmed")),
    },
    finish=_finish,
    discard=_discard_receipt,
)


# ---------------------------------------------------------------- a claim's life
def _own_choices(claim: Claim) -> tuple[Choice, ...]:
    choices = []
    if _wants_receipt(claim):
        choices.append(Choice(f"Add receipt #{claim.id}", "claims.add_receipt", str(claim.id)))
    if claim.status == "submitted":
        choices.append(Choice(f"Withdraw #{claim.id}", "claims.withdraw", str(claim.id)))
    return tuple(choices)


RECEIPT_STILL_WANTED = ("submitted", "approved")  # not yet paid, so a receipt still counts


def _wants_receipt(claim: Claim) -> bool:
    return claim.receipt_id is None and claim.status in RECEIPT_STILL_WANTED


def _own_claim(ctx: Context, value: str) -> Claim | None:
    """The sender's claim with this number. Someone else's is None, as a number never used
    is: a participant must not learn which claims exist."""
    claim = by_number(ctx.db, Claim, value)
    return claim if claim is not None and claim.participant_id == ctx.me.id else None


# ---------------------------------------------------------------- a receipt sent later
def start_add_receipt(ctx: Context, value: str) -> list[Reply]:
    claim = _own_claim(ctx, value)
    if claim is None:
        return [Reply(f"You have no claim #{value.strip().lstrip('#')[:12]}.")]
    if not _wants_receipt(claim):
        return [Reply("That claim doesn't need a receipt now (it may have one, or be paid or "
                      "withdrawn).")]
    return ctx.start_flow(ADD_RECEIPT, {"claim": claim.id})


def _ask_later_receipt(ctx: Context, data: dict[str, Any]) -> Reply:
    policy = ctx.programme.expenses
    return Reply(f"Please send the receipt for claim #{data['claim']} as a photo or PDF (up to "
                 f"{policy.receipt_max_bytes // (1024 * 1024)} MB).", choices=(CANCEL,))


def _take_later_receipt(ctx: Context, data: dict[str, Any], text: str) -> None:
    if ctx.msg.attachment is None:
        raise Invalid("Please attach the receipt as a photo or PDF, or cancel.")
    _take_receipt(ctx, data, text)


def _finish_add_receipt(ctx: Context, data: dict[str, Any]) -> list[Reply]:
    claim = _own_claim(ctx, str(data["claim"]))
    if claim is None or not _wants_receipt(claim):  # paid or withdrawn while it was sent
        _discard_receipt(ctx, data)
        return [Reply(f"Claim #{data['claim']} no longer takes a receipt; nothing was added.")]
    claim.receipt_id = data["receipt"]
    claim.updated_at = ctx.now
    ctx.audit("claim.receipt", f"claim:{claim.id}")
    return [Reply(f"Receipt added to {describe(claim)}.")]


ADD_RECEIPT = Flow(
    name="add_receipt",
    description="receipt",
    steps={"receipt": Step(_ask_later_receipt, _take_later_receipt, "a photo of the receipt",
                           lambda d: "receipt" not in d)},
    finish=_finish_add_receipt,
)


def _change(ctx: Context, claim: Claim, to: str, note: str = "") -> None:
    """Move a claim on, audit it, and tell the claimant, all in this transaction."""
    was = claim.status
    claim.status = to
    claim.updated_at = ctx.now
    if note:
        claim.review_note = note
    if to != "withdrawn":
        claim.reviewed_by = ctx.me.id
    ctx.audit(f"claim.{to}", f"claim:{claim.id}", **{"from": was, "to": to})
    if claim.participant_id != ctx.me.id and not _erased(claim):
        ctx.notify(claim.participant, f"Your expense claim changed: {describe(claim)}.",
                   kind="claim_update", key=f"claim:{claim.id}:{to}")


def _erased(claim: Claim) -> bool:
    """Erased with a claim still to pay (the command line's --despite-unpaid-claims): no name,
    email or chat is left to pay or tell."""
    return claim.participant.role == ERASED_ROLE


def _claimant(claim: Claim) -> str:
    """Who a claim is from; for someone erased, that paying takes the team's own records."""
    name = claim.participant.name
    return f"{name} (details erased: pay from your own records)" if _erased(claim) else name


def _told(claim: Claim) -> str:
    return ("Nobody was told: the claimant's details were erased." if _erased(claim)
            else f"I've told {claim.participant.name}.")


def withdraw(ctx: Context, value: str) -> list[Reply]:
    claim = _own_claim(ctx, value)
    if claim is None:
        return [Reply("I can't find that claim among yours.")]
    if claim.status != "submitted":
        return [Reply(f"That claim has already been reviewed ({claim.status}), so it can't "
                      f"be withdrawn. Please contact {ctx.programme.contact.describe()}.")]
    _change(ctx, claim, "withdrawn")
    return [Reply(f"Withdrawn: {describe(claim)}. It stays on file but won't be paid.")]


def my_claims(ctx: Context, args: str) -> list[Reply]:
    claims = ctx.db.scalars(select(Claim).where(Claim.participant_id == ctx.me.id)
                            .order_by(Claim.created_at, Claim.id)).all()
    if not claims:
        return [Reply("You have no expense claims. Send /claim to make one.")]
    lines = ["*Your expense claims*"] + [f"- {describe(c)}" for c in claims]
    claimed = sum(c.amount_pence for c in claims if c.status in LIVE)
    approved = sum(c.amount_pence for c in claims if c.status in ("approved", "paid"))
    paid = sum(c.amount_pence for c in claims if c.status == "paid")
    lines.append(f"Claimed {format_pence(claimed)}, approved {format_pence(approved)}, "
                 f"paid {format_pence(paid)}.")
    choices = tuple(ch for c in claims for ch in _own_choices(c))[:6]
    return [Reply("\n".join(lines), choices=choices, private_only=True)]


REVIEW_PAGE = 10  # claims shown at once: each is its own message with buttons


def review(ctx: Context, args: str) -> list[Reply]:
    waiting = select(Claim).where(Claim.status == "submitted")
    queue = ctx.db.scalars(waiting.order_by(Claim.created_at, Claim.id).limit(REVIEW_PAGE)).all()
    if not queue:
        return [Reply("No claims are waiting for review.")]
    total = ctx.db.scalar(select(func.count()).select_from(waiting.subquery())) or 0
    heading = f"*{counted(total, 'claim')} to review*, oldest first."
    if total > len(queue):
        heading += f" Here are the first {len(queue)}: send /review again for the next ones."
    replies = [Reply(heading, private_only=True)]
    for c in queue:
        lines = [f"{'EXCEPTIONAL ' if c.exceptional else ''}{describe(c)}",
                 f"From {c.participant.name}, cap {format_pence(c.cap_pence)}, "
                 f"submitted {format_date(c.created_at.astimezone(ctx.programme.timezone))}."]
        if c.reason:
            lines.append(f"Reason: {c.reason}")
        if c.kind == "peer_session" and c.event_label not in map(
                _peer_session_label, _session_days(ctx, c.participant)):
            lines.append("Note: that session no longer counts as held: it was cancelled, or "
                         "said not to have taken place, since the claim was made.")
        if not c.receipt_id:
            lines.append("No receipt.")
        choices = [Choice(f"Approve #{c.id}", "claims.approve", str(c.id)),
                   Choice(f"Reject #{c.id}", "claims.reject", str(c.id))]
        if c.receipt_id:
            choices.append(Choice(f"Receipt #{c.id}", "claims.receipt", str(c.id)))
        replies.append(Reply("\n".join(lines), choices=tuple(choices), private_only=True))
    return replies


def _submitted(ctx: Context, value: str) -> Claim | None:
    claim = by_number(ctx.db, Claim, value)
    return claim if claim is not None and claim.status == "submitted" else None


def approve(ctx: Context, value: str) -> list[Reply]:
    claim = _submitted(ctx, value)
    if claim is None:
        return [Reply("That claim is no longer waiting for review.")]
    _change(ctx, claim, "approved")
    return [Reply(f"Approved: {describe(claim)}. {_told(claim)}")]


def start_reject(ctx: Context, value: str) -> list[Reply]:
    claim = _submitted(ctx, value)
    if claim is None:
        return [Reply("That claim is no longer waiting for review.")]
    return ctx.start_flow(REJECT, {"claim": claim.id})


def _take_reject_reason(ctx: Context, data: dict[str, Any], text: str) -> None:
    reason = text.strip()
    if not 5 <= len(reason) <= 1000:
        raise Invalid("Please give the reason in a few words (5 to 1,000 characters); "
                      "the claimant will see it.")
    data["reason"] = reason


def _finish_reject(ctx: Context, data: dict[str, Any]) -> list[Reply]:
    claim = _submitted(ctx, str(data["claim"]))
    if claim is None:
        return [Reply("That claim is no longer waiting for review, so nothing changed.")]
    _change(ctx, claim, "rejected", data["reason"])
    return [Reply(f"Rejected: {describe(claim)}. {_told(claim)}")]


REJECT = Flow(
    name="claim-reject",
    description="claim rejection",
    steps={"reason": Step(lambda ctx, d: Reply(f"Why is claim #{d['claim']} rejected? The "
                                               "claimant will see your reason."),
                          _take_reject_reason, "over the cap without a reason",
                          lambda d: "reason" not in d)},
    finish=_finish_reject,
)


def mark_paid(ctx: Context, args: str) -> list[Reply]:
    """`/paid N` asks once more (a mistyped number would tell the wrong person they are
    paid); `/paid` alone lists the approved claims to choose from."""
    claim = by_number(ctx.db, Claim, args)
    if claim is None:
        number = args.strip().lstrip("#")
        return _payable(ctx, "" if not args.strip() else
                        f"There is no claim #{number[:12]}. " if number.isdigit() else
                        "Send /paid N with the claim number. ")
    if claim.status != "approved":
        return [Reply(f"Only an approved claim can be marked paid; #{claim.id} is "
                      f"{claim.status}.")]
    tell = "Nobody can be told." if _erased(claim) else "I'll tell them."
    return [Reply(f"Mark {describe(claim)} from {_claimant(claim)} paid? {tell}",
                  choices=(Choice(f"Yes, paid #{claim.id}", "claims.paid", str(claim.id)),),
                  private_only=True)]


def _payable(ctx: Context, lead: str) -> list[Reply]:
    approved = ctx.db.scalars(select(Claim).where(Claim.status == "approved")
                              .order_by(Claim.updated_at, Claim.id).limit(REVIEW_PAGE)).all()
    if not approved:
        return [Reply(lead + "No approved claims are waiting to be paid.")]
    lines = [lead + "Approved and not yet paid (tap one once it is paid):"]
    lines += [f"- {describe(c)} from {_claimant(c)}" for c in approved]
    return [Reply("\n".join(lines), private_only=True,
                  choices=tuple(Choice(f"Paid #{c.id}", "claims.paid", str(c.id))
                                for c in approved))]


def paid_chosen(ctx: Context, value: str) -> list[Reply]:
    claim = by_number(ctx.db, Claim, value)
    if claim is None or claim.status != "approved":
        return [Reply("That claim is not waiting to be paid (it may be paid already).")]
    _change(ctx, claim, "paid")
    return [Reply(f"Marked paid: {describe(claim)}. {_told(claim)}")]


def show_receipt(ctx: Context, value: str) -> list[Reply]:
    claim = by_number(ctx.db, Claim, value)
    if claim is None or claim.receipt is None:
        return [Reply("That claim has no receipt.")]
    r = claim.receipt
    return [Reply(f"Receipt for {describe(claim)}.", file=ReplyFile(r.name, r.content_type,
                                                                    r.data),
                  private_only=True)]


# ---------------------------------------------------------------- for the CLI
@dataclass(frozen=True)
class ClaimRow:
    id: int
    name: str
    email: str
    claim_for: str
    amount_pence: int
    cap_pence: int
    exceptional: bool
    status: str
    submitted_at: dt.datetime
    reason: str
    review_note: str
    has_receipt: bool
    reviewed_by: str  # who approved or rejected it ("" while waiting)
    reviewed_at: dt.datetime | None
    paid_at: dt.datetime | None


# Where a review and a payment are recorded with who and when: the audit log, kept for good.
_DECIDED = ("claim.approved", "claim.rejected", "claim.paid")


def claims_rows(db: Session, status: str | None = None) -> list[ClaimRow]:
    query = select(Claim).order_by(Claim.created_at, Claim.id)
    if status:
        query = query.where(Claim.status == status)
    decided = {(e.subject, e.action): e for e in db.scalars(
        select(AuditEntry).where(AuditEntry.action.in_(_DECIDED)).order_by(AuditEntry.id))}
    rows = []
    for c in db.scalars(query):
        subject = f"claim:{c.id}"
        review = decided.get((subject, "claim.approved")) or decided.get((subject,
                                                                          "claim.rejected"))
        paid = decided.get((subject, "claim.paid"))
        reviewer = db.get(Participant, review.actor_id) if review and review.actor_id else None
        rows.append(ClaimRow(c.id, c.participant.name, c.participant.email, c.event_label,
                             c.amount_pence, c.cap_pence, c.exceptional, c.status,
                             c.created_at, c.reason, c.review_note, c.receipt_id is not None,
                             reviewer.name if reviewer else "", review.at if review else None,
                             paid.at if paid else None))
    return rows


# Money paid, owed and still to be decided are different figures for finance: one total each.
_TOTALS = (("paid", "paid"), ("approved", "approved, not yet paid"),
           ("submitted", "submitted, not yet reviewed"))


def _day(at: dt.datetime | None, programme: Programme) -> str:
    """`18/03/2015`, the local date in the programme's time zone, as a spreadsheet reads it."""
    return f"{at.astimezone(programme.timezone):%d/%m/%Y}" if at else ""


def claims_csv(db: Session, programme: Programme) -> bytes:
    """One row per claim, then a totals row for each status that holds money."""
    rows = claims_rows(db)
    header = ["id", "name", "email", "claim_for", "amount_gbp", "cap_gbp", "exceptional",
              "status", "submitted_on", "reviewed_by", "reviewed_on", "paid_on", "reason",
              "review_note", "receipt"]
    totals = []
    for status, label in _TOTALS:
        these = [r.amount_pence for r in rows if r.status == status]
        total = ["total", "", "", counted(len(these), "claim"), _pounds(sum(these)), "", "",
                 label]
        totals.append(total + [""] * (len(header) - len(total)))
    return csv_file([
        header,
        *([r.id, r.name, r.email, r.claim_for, _pounds(r.amount_pence), _pounds(r.cap_pence),
           "yes" if r.exceptional else "no", r.status, _day(r.submitted_at, programme),
           r.reviewed_by, _day(r.reviewed_at, programme), _day(r.paid_at, programme), r.reason,
           r.review_note, "yes" if r.has_receipt else "no"] for r in rows),
        *totals,
    ])


CLAIMANTS = frozenset(PAIRED_ROLES)  # the participants who go to development days

# "which claims still need paying?": a claimant's own, the programme team's to pay
_TO_PAY = re.compile(r"\b(claims?|expenses?)\b.*\b(to pay|to be paid|need(s)? paying|unpaid"
                     r"|not (yet )?paid|awaiting payment)\b|\bunpaid (claims?|expenses?)\b"
                     r"|\bwhat needs paying\b", re.IGNORECASE)

ROUTES = [
    Route("claim", start_claim, command="/claim", personal=True, roles=CLAIMANTS,
          help="claim accommodation for a development day", usage="/claim [8 July £95]",
          # "claim £95 for Leeds" starts a claim; "can I claim ...?" is a question for the FAQ,
          # whose answer offers the form instead of jumping into it.
          intent=re.compile(r"^\s*(i('d| would) like to |i want to |please )?claim\b"
                            r"(?!.*\?\s*$)", re.IGNORECASE)),
    Route("claim-button", start_claim, action="claims.start", personal=True, roles=CLAIMANTS),
    Route("claim-peer", start_peer_claim, action="claims.peer", personal=True, roles=CLAIMANTS),
    Route("claims", my_claims, command="/claims", personal=True, roles=CLAIMANTS,
          help="your expense claims and totals",
          # "where's my claim?" is about the record; "how do I submit my claim?" is a question
          # for the FAQ, whose answer offers the form.
          intent=re.compile(r"^(?!.*\b(can|could|how|should|submit|make|put in|send)\b)"
                            r".*\b(my|our) (expense |expenses )?claims?\b|\bclaims? status\b"
                            rf"|{_TO_PAY.pattern}", re.IGNORECASE), aside=True),
    Route("claim-withdraw", withdraw, action="claims.withdraw", personal=True),
    Route("claim-add-receipt", start_add_receipt, action="claims.add_receipt", personal=True),
    Route("review", review, command="/review", roles=TEAM, personal=True,
          help="expense claims waiting for review",
          # "claims waiting to be paid" is for /paid
          intent=re.compile(r"^(?!.*\b(pay|paid|paying)\b).*(\bclaims?\b.*\b(waiting|pending|"
                            r"to review|for review|to approve|outstanding)\b|\breview (the |new )?"
                            r"claims\b|\b(show|list|see) (me )?(the |all )?(expense )?claims\b)",
                            re.IGNORECASE),
          aside=True),
    Route("claim-approve", approve, action="claims.approve", roles=TEAM, personal=True),
    Route("claim-reject", start_reject, action="claims.reject", roles=TEAM, personal=True),
    Route("claim-receipt", show_receipt, action="claims.receipt", roles=TEAM, personal=True),
    Route("paid", mark_paid, command="/paid", roles=TEAM, personal=True,
          help="mark an approved claim paid (alone: the ones to pay)", usage="/paid [N]"),
    Route("paid-said", lambda ctx, _text: mark_paid(ctx, ""), roles=TEAM, personal=True,
          intent=_TO_PAY,
          aside=True),
    Route("paid-chosen", paid_chosen, action="claims.paid", roles=TEAM, personal=True),
]
FLOWS = [CLAIM, REJECT, ADD_RECEIPT]
