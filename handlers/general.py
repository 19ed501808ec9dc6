"""Help, linking a chat account, and who-am-I."""

from __future__ import annotations

import re

from handlers.core import Context, Route
from handlers.identity import PAIRED_ROLES, link_account, redeem_invite
from handlers.messages import Reply, counted

ROLE_NAMES = {"peer": "peer", "expert_peer": "expert peer",
              "programme_team": "programme team", "challenge_manager": "challenge manager"}


def help_reply(ctx: Context, routes: list[Route]) -> list[Reply]:
    lines = [f"I'm the {ctx.programme.short_name} programme assistant."]
    if ctx.participant is None:
        lines.append("Ask me anything about the programme, or link your account with "
                     "/link CODE (the programme team gives you the code).")
    lines += [f"- {r.usage or r.command}: {r.help}" for r in routes]
    lines.append("- /cancel: stop the form you are filling in")
    lines.append(f"Questions I can't answer go to {ctx.programme.contact.describe()}.")
    return [Reply("\n".join(lines))]


def link(ctx: Context, args: str) -> list[Reply]:
    if ctx.participant is not None:
        return [Reply(f"You're already linked as {ctx.participant.name}.")]
    code = args.strip()
    if not code:
        return [Reply("Send /link followed by the code the programme team gave you, "
                      "for example /link ABCD2345.")]
    participant = redeem_invite(ctx.db, code, ctx.now)
    if participant is None:
        return [Reply("That code isn't valid: it may be mistyped, already used or expired "
                      "(codes last 14 days). Ask the programme team for a new one: "
                      f"{ctx.programme.contact.describe()}.")]
    link_account(ctx.db, participant, ctx.msg, ctx.now)
    ctx.participant = participant
    return [Reply(f"Welcome, {participant.name}! Your account is linked as "
                  f"{ROLE_NAMES[participant.role]}. Send /help to see what I can do.")]


# "who is my expert peer?" is about the pairing on record, not the documents.
MY_PARTNER = re.compile(r"^\W*who(?:'?s| is) my (?:expert )?(?:peer|partner|mentor)\b[\s?.!]*$"
                        r"|\bwho am i (?:paired|matched|partnered) with\b", re.IGNORECASE)


# "thanks", "ok great", "bye": a reply, not a question for the documents (nor one to log
# as unanswered for the programme team).
_THANKS = r"thanks|thank|cheers|ta|thx"
_BYE = r"bye|goodbye"
_SMALL_TALK_CORE = rf"{_THANKS}|{_BYE}|ok|okay|great|cool|perfect|lovely|brilliant|fine"
SMALL_TALK = re.compile(  # at least one core word, and nothing but small-talk words; or
    # no word at all (an emoji, a thumbs-up)
    rf"^\W+$|^(?=.*\b({_SMALL_TALK_CORE})\b)\W*(({_SMALL_TALK_CORE}|you|very|much|so|a|lot|again"
    r"|that[\u2019']?s|that|this|it|was|is|really|helpful|useful|good|all|see|then|for|now"
    r"|bot)\b[\s!.,]*)+$", re.IGNORECASE)


THANKS = re.compile(rf"\b({_THANKS})\b", re.IGNORECASE)
BYE = re.compile(rf"\b({_BYE}|see you)\b", re.IGNORECASE)


def small_talk(ctx: Context, text: str) -> list[Reply]:
    if THANKS.search(text):
        return [Reply("You're welcome.")]
    if BYE.search(text):
        return [Reply("Bye for now.")]
    if "?" in text:  # a lone "?": not sure what to ask
        return [Reply("What would you like to know? Ask me about the programme in your own "
                      "words, or send /help to see what I can do.")]
    return [Reply("Good. Ask me anything else about the programme, or send /help.")]


# "yes", "skip", "£95" with no form open: an answer to a form that has closed (it timed out,
# or was finished on another device), not a question for the documents or the team's list.
_DAY_OR_TIME = (r"(?:(?:next|this|on)\s+)?(?:mon|tues?|wed(?:nes)?|thu(?:rs?)?|fri|sat(?:ur)?"
                r"|sun)(?:day)?|today|tomorrow"
                r"|\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept"
                r"|oct|nov|dec)[a-z]*(?:\s+\d{4})?|\d{1,2}/\d{1,2}(?:/\d{2,4})?"
                r"|(?:at\s+)?\d{1,2}(?:[:.]\d{2})?\s*(?:am|pm)|(?:at\s+)?\d{1,2}:\d{2}|noon|midday")
FORM_ANSWER = re.compile(r"^\W*(yes|yeah|yep|y|no|nope|n|skip|submit|send it|"
                         r"£?\s*\d+(?:[.,]\d+)?(?:\s*(?:pounds?|h|hours?))?"
                         # "11 April", "Friday 2pm": the answer to "Which day?" or "What time?"
                         rf"|(?:(?:{_DAY_OR_TIME})[\s,]*)+)\W*$",
                         re.IGNORECASE)


def no_form_open(ctx: Context, text: str) -> list[Reply]:
    minutes = int(ctx.programme.retention.conversation_idle.total_seconds() // 60)
    return [Reply("I'm not waiting for a typed answer from you just now: a form left "
                  f"unfinished closes after {counted(minutes, 'minute')} of quiet, and a "
                  "question I sent you is answered with its buttons. Send /help to start "
                  "again, or ask me a question.")]


def whoami(ctx: Context, args: str) -> list[Reply]:
    me = ctx.me
    partner = ""
    if me.partner:
        partner = f"; your {ROLE_NAMES[me.partner.role]} is {me.partner.name}"
    elif me.role in PAIRED_ROLES:
        # not "yet": someone whose partner left the programme has been paired before
        partner = ("; you aren't in a pair at the moment, and the programme team will tell "
                   "you when you are")
    return [Reply(f"You're {me.name} ({ROLE_NAMES[me.role]}){partner}.")]
