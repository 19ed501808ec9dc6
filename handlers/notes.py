"""Peer-challenge teams and the note-destruction rule: once a challenge report is signed off,
every member destroys their notes and the background documents and confirms it to the
challenge manager. The bot asks, reminds until each member confirms, and keeps the record."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers.core import Context, Flow, Route, ScheduledMessage, by_number, enqueue
from handlers.identity import CHALLENGE_ROLES, TEAM, challenge_slug, role_group
from handlers.messages import Choice, Reply, counted
from handlers.reminders import SEND_AT
from handlers.storage.models import (
    ERASED_ROLE,
    AuditEntry,
    Challenge,
    ChallengeMember,
    Participant,
)
from handlers.when import localise
from knowledge.programme import Programme, format_date

MANAGERS = TEAM | {"challenge_manager"}
DESTROYED = "notes.destroyed"
SIGN_OFF = "notes.signoff"
NOT_YET = "notes.not_signed_off"


class NotesError(ValueError):
    """A challenge action that cannot be done; the message says why, for the user."""


# ---------------------------------------------------------------- rules
def _slug(name: str) -> str:
    try:
        return challenge_slug(name)
    except ValueError as problem:
        raise NotesError(f"{str(problem)[0].upper()}{str(problem)[1:]}.") from None


def _name_and_email(words: list[str]) -> tuple[str, str | None]:
    """How every command reads a challenge name: all its words ("Cheshire and Mersey STP" is
    one name), up to an email if the last word is one."""
    if len(words) > 1 and "@" in words[-1]:
        return " ".join(words[:-1]), words[-1]
    return " ".join(words), None


def find_challenge(db: Session, name: str) -> Challenge:
    slug = _slug(name)
    challenge = db.scalars(select(Challenge).where(Challenge.name == slug)).first()
    if challenge is None:
        known = ", ".join(db.scalars(select(Challenge.name).order_by(Challenge.name))) or "none"
        raise NotesError(f"There is no challenge called {slug} (known: {known}).")
    return challenge


def _check_may_manage(challenge: Challenge, person: Participant | None) -> None:
    """The programme team manages every challenge; a challenge manager only their own.
    `person` None is the operator at the command line."""
    if person is None or person.is_team or challenge.manager_id == person.id:
        return
    if challenge.manager is None:
        raise NotesError(f"{challenge.name} has no challenge manager yet: send /challenge "
                         f"create {challenge.name} to manage it.")
    raise NotesError(f"Only {challenge.manager.name} or the programme team can manage "
                     f"{challenge.name}.")


def _when(programme: Programme, at: dt.datetime) -> str:
    local = at.astimezone(programme.timezone)
    return f"{format_date(local.date())} {local:%H:%M}"


def _button(challenge: Challenge) -> Choice:
    return Choice("I've destroyed my notes", DESTROYED, str(challenge.id))


def _request_text(programme: Programme, challenge: Challenge) -> str:
    assert challenge.signed_off_at is not None
    day = format_date(challenge.signed_off_at.astimezone(programme.timezone).date())
    return (f"The report of the {challenge.name} peer challenge was signed off on {day}. "
            "Under the programme's rules, please now destroy all your notes from it, "
            "handwritten and electronic, and delete the background documents from your "
            "computer, email and any shared drive. Then confirm here so your challenge "
            "manager knows.")


def _signable(db: Session, programme: Programme, challenge_name: str,
              actor: Participant | None) -> Challenge:
    """The challenge, if this actor may sign it off now."""
    challenge = find_challenge(db, challenge_name)
    _check_may_manage(challenge, actor)
    if challenge.signed_off_at is not None:
        raise NotesError(f"{challenge.name} was already signed off on "
                         f"{_when(programme, challenge.signed_off_at)}.")
    return challenge


def sign_off(db: Session, programme: Programme, challenge_name: str,
             actor: Participant | None, now: dt.datetime) -> tuple[Challenge, int]:
    """Mark the report signed off and ask every member to destroy their notes, in this one
    transaction. Returns the challenge and how many members were asked."""
    challenge = _signable(db, programme, challenge_name, actor)
    team = _team(challenge)
    challenge.signed_off_at = now
    challenge.signed_off_by = actor.id if actor else None
    db.add(AuditEntry(at=now, actor_id=challenge.signed_off_by, action="challenge.signoff",
                      subject=f"challenge:{challenge.id}", detail={"members": len(team)}))
    for member in team:
        enqueue(db, member.participant, _request_text(programme, challenge),
                kind="notes_request", key=f"notes:{challenge.id}:request:{member.participant_id}",
                now=now, choices=(_button(challenge),))
    return challenge, len(team)


def _rounds(programme: Programme, signed_off: dt.datetime, since: dt.datetime,
            until: dt.datetime) -> Iterator[tuple[int, dt.datetime]]:
    """Each round k >= 1 that falls in (since, until], with its time: every
    `note_destruction_every` after the sign-off day, at 09:00 like the other day-based
    reminders (a sign-off at 22:00 must not mean reminders at 22:00)."""
    every = programme.reminders.note_destruction_every
    first_day = signed_off.astimezone(programme.timezone).date()
    k = max(1, (since - signed_off) // every)  # a round or so early, never one missed
    while (at := localise(first_day + k * every, SEND_AT, programme.timezone)) <= until:
        if at > since:
            yield k, at
        k += 1


def _team(challenge: Challenge) -> list[ChallengeMember]:
    """The members still on the programme, by name: the one set every count, request and
    list uses. Someone erased has left: they are asked nothing and counted nowhere."""
    return sorted((m for m in challenge.members if m.participant.role != ERASED_ROLE),
                  key=lambda m: m.participant.name)


def still_to_confirm(challenge: Challenge) -> list[Participant]:
    """Members yet to confirm destroying their notes, by name."""
    return [m.participant for m in _team(challenge) if m.notes_destroyed_at is None]


def _staying(challenge: Challenge) -> int:
    return len(_team(challenge))


def due_note_reminders(db: Session, programme: Programme, since: dt.datetime,
                       until: dt.datetime) -> list[ScheduledMessage]:
    """Reminders to each member of a signed-off challenge who has not confirmed yet, every
    `note_destruction_every` after sign-off, and a summary to its manager each round.

    Anyone who has confirmed gets none at all, even for a round that fell before their
    confirmation: after downtime a catch-up would otherwise nag people who already did it."""
    due: list[ScheduledMessage] = []
    challenges = db.scalars(select(Challenge).where(Challenge.signed_off_at.is_not(None))
                            .order_by(Challenge.id))
    for challenge in challenges:
        assert challenge.signed_off_at is not None
        waiting = still_to_confirm(challenge)
        if not waiting:
            continue
        for k, at in _rounds(programme, challenge.signed_off_at, since, until):
            due += [ScheduledMessage(
                key=f"notes:{challenge.id}:remind:{person.id}:{k}", to=person,
                text="Reminder: " + _request_text(programme, challenge), due_at=at,
                kind="notes_reminder", optional=False, choices=(_button(challenge),))
                for person in waiting]
            if challenge.manager is not None:
                due.append(ScheduledMessage(
                    key=f"notes:{challenge.id}:summary:{k}", to=challenge.manager,
                    text=f"Notes destruction for {challenge.name}: "
                         f"{_staying(challenge) - len(waiting)} of {_staying(challenge)} "
                         "have confirmed; "
                         f"still waiting for {', '.join(p.name for p in waiting)}. "
                         f"I've reminded them. /notes status {challenge.name} has the details.",
                    due_at=at, kind="notes_summary", optional=False))
    return due


# ---------------------------------------------------------------- managing challenges
def _person(db: Session, email: str) -> Participant | None:
    return db.scalars(select(Participant).where(Participant.email == email.strip().lower())
                      ).first()


def challenge_command(ctx: Context, args: str) -> list[Reply]:
    """`/challenge` lists them; `/challenge create NAME [MANAGER_EMAIL]` creates one or sets
    its manager (a challenge manager who leaves out the email manages it themselves)."""
    words = args.split()
    if not words:
        return [_list_challenges(ctx)]
    if words[0].lower() != "create":
        return [_show_challenge(ctx, args)]
    text, email = _name_and_email(words[1:])
    if not text:
        return [Reply("Send /challenge create NAME, or /challenge create NAME MANAGER_EMAIL "
                      "to name its challenge manager.")]
    try:
        name = _slug(text)
    except NotesError as problem:
        return [Reply(str(problem))]
    me = ctx.me
    challenge = ctx.db.scalars(select(Challenge).where(Challenge.name == name)).first()
    if challenge is not None and email is None and me.role != "challenge_manager":
        # The programme team names no manager of its own: it is asking about this challenge.
        return [Reply(_managed(challenge))]
    manager = _person(ctx.db, email) if email else me
    if manager is None or manager.role != "challenge_manager":
        return [Reply("Please name a registered challenge manager: "
                      f"/challenge create {name} EMAIL.")]
    if challenge is None:
        challenge = Challenge(name=name, manager_id=manager.id, created_at=ctx.now)
        ctx.db.add(challenge)
        ctx.db.flush()
        ctx.audit("challenge.create", f"challenge:{challenge.id}", manager=manager.id)
        return [Reply(f"Created the challenge {name}, managed by {manager.name}. Add its "
                      f"members with /team add {name} EMAIL.")]
    if challenge.manager_id not in (None, manager.id) and not me.is_team:
        return [Reply(f"{name} is already managed by {challenge.manager.name}; the programme "
                      "team can change that.")]
    challenge.manager = manager
    ctx.audit("challenge.manager", f"challenge:{challenge.id}", manager=manager.id)
    return [Reply(_managed(challenge))]


def _managed(challenge: Challenge) -> str:
    members = f"It has {counted(_staying(challenge), 'member')}."
    if challenge.manager is None:
        return (f"{challenge.name} has no challenge manager yet: name one with /challenge "
                f"create {challenge.name} EMAIL. {members}")
    return f"{challenge.name} is managed by {challenge.manager.name}. {members}"


def _list_challenges(ctx: Context) -> Reply:
    challenges = ctx.db.scalars(select(Challenge).order_by(Challenge.name)).all()
    if not challenges:
        return Reply("There are no challenges yet. Create one with /challenge create NAME.")
    lines = ["*Challenges*"]
    for c in challenges:
        state = (f"signed off {_when(ctx.programme, c.signed_off_at)}" if c.signed_off_at
                 else "in progress")
        lines.append(f"- {c.name}: {counted(_staying(c), 'member')}, managed by "
                     f"{c.manager.name if c.manager else 'nobody yet'}, {state}")
    return Reply("\n".join(lines))


def _show_challenge(ctx: Context, name: str) -> Reply:
    """`/challenge NAME`: who is on the team, and where it stands."""
    try:
        challenge = find_challenge(ctx.db, name)
    except NotesError as problem:
        return Reply(str(problem))
    state = (f"signed off {_when(ctx.programme, challenge.signed_off_at)}"
             if challenge.signed_off_at else "in progress")
    people = [m.participant.name for m in _team(challenge)]
    return Reply(f"*{challenge.name}*, managed by "
                 f"{challenge.manager.name if challenge.manager else 'nobody yet'}, {state}: "
                 + (", ".join(people) if people else "nobody on the team yet") + ".")


def team_command(ctx: Context, args: str) -> list[Reply]:
    """`/team add|remove CHALLENGE EMAIL`."""
    words = args.split()
    name, email = _name_and_email(words[1:])
    if not words or words[0].lower() not in ("add", "remove") or email is None:
        return [Reply("Send /team add CHALLENGE EMAIL or /team remove CHALLENGE EMAIL: a "
                      "person is named by their email address.")]
    action = words[0].lower()
    try:
        challenge = find_challenge(ctx.db, name)
        _check_may_manage(challenge, ctx.me)
    except NotesError as problem:
        return [Reply(str(problem))]
    person = _person(ctx.db, email)
    if person is None:
        return [Reply(f"Nobody is registered with the email {email[:80]}.")]
    member = ctx.db.get(ChallengeMember, (challenge.id, person.id))
    if action == "remove":
        if member is None:
            return [Reply(f"{person.name} is not on {challenge.name}.")]
        if challenge.signed_off_at is not None:
            # The signed-off team is the record of who has destroyed their notes and who is
            # still asked to: removing someone would make an outstanding duty vanish.
            return [Reply(f"{challenge.name} is signed off, so its team is the record of who "
                          f"has destroyed their notes: {person.name} stays on it. "
                          f"/notes status {challenge.name} shows who has confirmed.")]
        challenge.members.remove(member)
        ctx.audit("challenge.member.remove", f"challenge:{challenge.id}", participant=person.id)
        return [Reply(f"Removed {person.name} from {challenge.name}.")]
    if member is not None:
        return [Reply(f"{person.name} is already on {challenge.name}.")]
    if person.role not in CHALLENGE_ROLES:
        return [Reply(f"Only peers and expert peers join a challenge team; {person.name} is "
                      f"{person.role.replace('_', ' ')}.")]
    if challenge.signed_off_at is not None:
        return [Reply(f"{challenge.name} is already signed off, so nobody can join it.")]
    challenge.members.append(ChallengeMember(participant_id=person.id, added_at=ctx.now))
    ctx.audit("challenge.member.add", f"challenge:{challenge.id}", participant=person.id)
    return [Reply(f"Added {person.name} to {challenge.name} "
                  f"({counted(len(challenge.members), 'member')}).")]


def signoff_command(ctx: Context, args: str) -> list[Reply]:
    """`/signoff CHALLENGE` asks first, as cancelling a booked session does: a sign-off
    cannot be undone, and it closes the team."""
    if not args.strip():
        return [Reply("Which challenge? Send /signoff CHALLENGE.")]
    try:
        challenge = _signable(ctx.db, ctx.programme, args, ctx.me)
    except NotesError as problem:
        return [Reply(str(problem))]
    team = [m.participant.name for m in _team(challenge)]
    asks = (f"I'll ask its {counted(len(team), 'member')} ({', '.join(team)}) to destroy "
            "their notes and confirm" if team else "It has no members, so nobody will be asked "
            "to destroy notes")
    return [Reply(f"Sign off the {challenge.name} report? {asks}. This cannot be undone, and "
                  "the team can no longer change: nobody can join or leave it.",
                  choices=(Choice(f"Yes, sign off {challenge.name}", SIGN_OFF,
                                  str(challenge.id)),
                           Choice("Not yet", NOT_YET, str(challenge.id))))]


def signoff_confirmed(ctx: Context, value: str) -> list[Reply]:
    """The tap on "Yes": sign_off checks everything again, since the challenge may have been
    signed off, or handed to another manager, since the question."""
    challenge = by_number(ctx.db, Challenge, value)
    if challenge is None:
        return [Reply("That challenge no longer exists, so nothing was signed off.")]
    try:
        _, asked = sign_off(ctx.db, ctx.programme, challenge.name, ctx.me, ctx.now)
    except NotesError as problem:
        return [Reply(str(problem))]
    if not asked:
        return [Reply(f"Signed off {challenge.name}. It has no members, so nobody was asked "
                      "to destroy notes.")]
    return [Reply(f"Signed off {challenge.name}. I've asked its {counted(asked, 'member')} "
                  "to destroy their notes and confirm; "
                  f"/notes status {challenge.name} shows who has.")]


def not_signed_off(ctx: Context, value: str) -> list[Reply]:
    challenge = by_number(ctx.db, Challenge, value)
    name = challenge.name if challenge else "CHALLENGE"
    return [Reply(f"Nothing changed. Send /signoff {name} when its report is signed off.")]


# ---------------------------------------------------------------- confirming
def _confirm(ctx: Context, member: ChallengeMember) -> str:
    """Record the confirmation (once: a second one changes nothing) and tell the manager
    when the last member has confirmed."""
    challenge = member.challenge
    if member.notes_destroyed_at is not None:
        return (f"You already confirmed for {challenge.name} on "
                f"{_when(ctx.programme, member.notes_destroyed_at)}. Thank you.")
    member.notes_destroyed_at = ctx.now
    ctx.audit("notes.destroyed", f"challenge:{challenge.id}")
    if challenge.manager is not None and not still_to_confirm(challenge):
        staying = _staying(challenge)
        everyone = (f"All {staying} members of {challenge.name} have" if staying > 1
                    else f"The one member of {challenge.name} has")
        ctx.notify(challenge.manager, f"{everyone} confirmed they destroyed their notes.",
                   kind="notes_summary", key=f"notes:{challenge.id}:all-confirmed")
    return (f"Thank you. I've recorded that you destroyed your notes for {challenge.name}, "
            f"{_when(ctx.programme, ctx.now)}.")


def _memberships(ctx: Context) -> list[ChallengeMember]:
    return sorted(ctx.db.scalars(select(ChallengeMember).where(
        ChallengeMember.participant_id == ctx.me.id)).all(), key=lambda m: m.challenge.name)


def awaiting_confirmation(ctx: Context) -> list[ChallengeMember]:
    """This person's signed-off challenges whose notes they have not yet confirmed destroyed."""
    return [m for m in _memberships(ctx)
            if m.challenge.signed_off_at is not None and m.notes_destroyed_at is None]


def confirm_choices(pending: list[ChallengeMember]) -> tuple[Choice, ...]:
    """One tap per challenge (a confirmation vouches for one team's notes), and one for all."""
    if len(pending) == 1:
        return (_button(pending[0].challenge),)
    return tuple(Choice(m.challenge.name, DESTROYED, str(m.challenge_id))
                 for m in pending[:5]) + (Choice(f"All {len(pending)}", DESTROYED, "all"),)


def destroyed(ctx: Context, value: str) -> list[Reply]:
    """The one-tap button: value is the challenge id, or "all" for every pending one."""
    pending = [m for m in _memberships(ctx) if m.challenge.signed_off_at is not None]
    chosen = pending if value == "all" else [m for m in pending if str(m.challenge_id) == value]
    if not chosen:
        return [Reply("I can't find a signed-off challenge of yours for that button.")]
    return [Reply("\n".join(_confirm(ctx, m) for m in chosen))]


def said_destroyed(ctx: Context, _text: str) -> list[Reply]:
    return notes_command(ctx, "destroyed")


def notes_command(ctx: Context, args: str) -> list[Reply]:
    """`/notes destroyed [CHALLENGE]`, `/notes status CHALLENGE`."""
    sub, _, rest = args.strip().partition(" ")
    sub = sub.lower()
    if sub == "status":
        return _status(ctx, rest)
    if sub != "destroyed":
        return [Reply("Send /notes destroyed to confirm you destroyed your notes after a "
                      "challenge report was signed off"
                      + (", or /notes status [CHALLENGE] to see who has confirmed."
                         if ctx.me.role in MANAGERS else "."))]
    mine = _memberships(ctx)
    if rest.strip():
        try:
            challenge = find_challenge(ctx.db, rest)
        except NotesError as problem:
            return [Reply(str(problem))]
        member = next((m for m in mine if m.challenge_id == challenge.id), None)
        if member is None:
            return [Reply(f"You're not on the {challenge.name} challenge.")]
        if challenge.signed_off_at is None:
            return [Reply(f"The {challenge.name} report isn't signed off yet, so please keep "
                          "your notes until it is. I'll tell you when.")]
        return [Reply(_confirm(ctx, member))]
    signed = [m for m in mine if m.challenge.signed_off_at is not None]
    pending = awaiting_confirmation(ctx)
    if len(pending) == 1:
        return [Reply(_confirm(ctx, pending[0]))]
    if pending:
        # With several open we ask rather than guess; one tap still confirms them all.
        return [Reply("You have notes to destroy from " + ", ".join(m.challenge.name
                                                                     for m in pending)
                      + ". Which have you destroyed?", choices=confirm_choices(pending))]
    if signed:
        return [Reply("\n".join(_confirm(ctx, m) for m in signed))]
    if not mine and ctx.me.role in MANAGERS:  # they ask others to confirm; they are on no team
        return [Reply("You're on no challenge team, so there are no notes of yours to confirm. "
                      "/notes status shows who on the teams you oversee has confirmed.")]
    return [Reply("None of your challenge reports has been signed off yet, so there are no "
                  "notes to destroy. I'll tell you when there are.")]


def unconfirmed(db: Session, person: Participant) -> list[tuple[Challenge, list[Participant]]]:
    """Per signed-off challenge this person manages (the programme team: every one), the
    members who have not yet confirmed destroying their notes."""
    query = select(Challenge).where(Challenge.signed_off_at.is_not(None)).order_by(Challenge.name)
    if not person.is_team:
        query = query.where(Challenge.manager_id == person.id)
    found = []
    for challenge in db.scalars(query):
        waiting = still_to_confirm(challenge)
        if waiting:
            found.append((challenge, waiting))
    return found


def outstanding(ctx: Context, args: str) -> list[Reply]:
    """`/notes status` with no challenge, or "who hasn't confirmed?": every signed-off
    challenge with members yet to confirm, in one list."""
    waiting = unconfirmed(ctx.db, ctx.me)
    if not waiting:
        mine = "" if ctx.me.is_team else " you manage"  # as unconfirmed() reads it
        signed = select(Challenge.id).where(Challenge.signed_off_at.is_not(None))
        if not ctx.me.is_team:
            signed = signed.where(Challenge.manager_id == ctx.me.id)
        if ctx.db.scalar(signed.limit(1)) is None:  # "everyone has" would be true of nobody
            return [Reply(f"No challenge{mine} is signed off yet, so no notes are waiting to "
                          "be destroyed.")]
        return [Reply(f"Everyone on every signed-off challenge{mine} has confirmed "
                      "destroying their notes.")]
    lines = ["*Notes not yet confirmed destroyed*"]
    lines += [f"- {challenge.name} (signed off {_when(ctx.programme, challenge.signed_off_at)}): "
              + ", ".join(p.name for p in people)
              for challenge, people in waiting if challenge.signed_off_at is not None]
    return [Reply("\n".join(lines), private_only=True)]


def _status(ctx: Context, name: str) -> list[Reply]:
    if ctx.me.role not in MANAGERS:
        return [Reply(f"Sorry, only {role_group(MANAGERS)} can do that.")]
    if not name.strip():
        return outstanding(ctx, name)
    try:
        challenge = find_challenge(ctx.db, name)
        _check_may_manage(challenge, ctx.me)
    except NotesError as problem:
        return [Reply(str(problem))]
    team = _team(challenge)
    if challenge.signed_off_at is None:
        return [Reply(f"{challenge.name} isn't signed off yet. Members: "
                      + (", ".join(m.participant.name for m in team) or "none") + ".")]
    done = [m for m in team if m.notes_destroyed_at is not None]
    waiting = still_to_confirm(challenge)
    lines = [f"*{challenge.name}*: signed off {_when(ctx.programme, challenge.signed_off_at)}. "
             f"{_staying(challenge) - len(waiting)} of {_staying(challenge)} have confirmed "
             "destroying their notes."]
    lines += [f"- {m.participant.name}: confirmed {_when(ctx.programme, m.notes_destroyed_at)}"
              for m in done if m.notes_destroyed_at is not None]
    lines += [f"- {p.name}: not yet" for p in waiting]
    lines += sorted(f"- {m.participant.name}: left the programme" for m in challenge.members
                    if m.participant.role == ERASED_ROLE)
    return [Reply("\n".join(lines), private_only=True)]


ROUTES = [
    Route("challenge", challenge_command, command="/challenge", roles=MANAGERS,
          help="list peer challenges, show one's team, or create one",
          usage="/challenge [NAME | create NAME [EMAIL]]"),
    Route("team", team_command, command="/team", roles=MANAGERS,
          help="add or remove a challenge team member", usage="/team add|remove CHALLENGE EMAIL"),
    Route("signoff", signoff_command, command="/signoff", roles=MANAGERS,
          help="sign off a challenge report; members are asked to destroy their notes",
          usage="/signoff CHALLENGE"),
    Route("signoff-confirmed", signoff_confirmed, action=SIGN_OFF, roles=MANAGERS),
    Route("signoff-not-yet", not_signed_off, action=NOT_YET, roles=MANAGERS),
    Route("notes", notes_command, command="/notes", personal=True,
          help="confirm you destroyed your challenge notes; for managers, /notes status: "
               "who has not yet", usage="/notes destroyed"),
    Route("notes-outstanding", outstanding, roles=MANAGERS, personal=True,
          # "who hasnt confirmed": typed on a phone, without the apostrophe
          intent=re.compile(r"^(?=.*\b(who|anyone|everyone)\b)(?=.*(\bnot\b|n't\b|\byet\b|"
                            r"\bstill\b|\b(hasnt|havent|didnt|isnt|arent)\b))"
                            r"(?=.*\b(confirm|destroy))|\bnotes? destruction\b.*\bstatus\b"
                            r"|\boutstanding notes\b", re.IGNORECASE), aside=True),
    Route("notes-destroyed", destroyed, action=DESTROYED),
    # Said in plain words, it is the command: "I've shredded my notes from the challenge".
    Route("notes-destroyed-said", said_destroyed, personal=True,
          intent=re.compile(r"^\s*(i|we)\s*('?ve| have)\s+(now\s+|just\s+)?(destroyed|shredded|"
                            r"deleted|binned|disposed of)\s+(my|our|all( of)? (my|our)|the)\s+"
                            r"(challenge\s+)?notes?\b", re.IGNORECASE)),
]
FLOWS: list[Flow] = []
SCHEDULED = [due_note_reminders]
