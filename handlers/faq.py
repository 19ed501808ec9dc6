"""Answers from the programme documents, today's facts from the configuration, and the loop
that sends unanswered questions to the programme team and their answers back."""

from __future__ import annotations

import datetime as dt
import re
import textwrap
import time
from collections.abc import Callable
from dataclasses import replace

from sqlalchemy import func, select

from handlers.core import Context, by_number
from handlers.identity import PAIRED_ROLES, TEAM, given_name
from handlers.messages import Choice, Reply, button_label
from handlers.storage.models import ERASED_ROLE, Participant, TeamAnswer, UnansweredQuestion
from knowledge.base import ANSWER_THRESHOLD, MAX_ANSWER, SURE, TEAM_DOCUMENT, Answer, excerpt
from knowledge.corpus import Section, slugify
from knowledge.programme import Event, format_date
from knowledge.search import terms

GREETING = re.compile(r"^\s*((hi|hello|hey|hiya|good (morning|afternoon|evening)|start|menu"
                      r"|help( me)?( please)?)\b[\s!.,]*(there|bot)?[\s!.]*"
                      # asking what the bot is gets the same introduction
                      r"|(who|what) are you|what can you do|are you an? (real )?(person|human"
                      r"|bot|robot)( or an? (person|human|bot|robot))?)[\s?!.]*$", re.IGNORECASE)
NEXT_EVENT = re.compile(
    r"^(?!.*\b(my|our|peer|pair)\b.*\bsessions?\b)"  # a pair's own sessions are /sessions
    r"(.*\b(next|upcoming|coming up)\b.*\b(dev(elopment)?\s*days?|events?|orientation|launch)\b"
    # "where's the next one?" but not "when is the next pay rise?" nor "...agree next steps"
    r"|\W*(when|where)('s|\s+is|\s+are)?\s+(the\s+)?next(\s+one)?\W*$)",
    re.IGNORECASE,
)
# "When was the last development day?": the latest one before today.
LAST_EVENT = re.compile(r"^(?!.*\b(my|our|peer|pair)\b.*\bsessions?\b)"
                        r".*\b(last|previous|most recent|final|first)\b.*\b(dev(elopment)?\s*days?"
                        r"|events?)\b",
                        re.IGNORECASE)
# "How long is each session?": the booking rules in the configuration, not a text search
# (which finds the learning set's four-hour meetings in another document).
SESSION_LENGTH = re.compile(
    r"^\W*(how\s+long\s+(is|are|should|do|does|will|can)\s+((a|an|each|the|our|my|every|one)\s+)?"
    r"((peer|pair|mentoring)(\s+support|\s+to\s+peer|-to-peer)?\s+)?sessions?"
    r"(\s+(be|last|take|run|go\s+on\s+for))?"
    r"|(what\s+is\s+|what's\s+)?(the\s+)?(length|duration)\s+of\s+((a|an|each|the|our)\s+)?"
    r"(peer\s+)?sessions?)\W*$",
    re.IGNORECASE,
)
# "Who do I contact?": the programme's own contacts, not another document's (the peer-support
# offer's "Contacts" section names the LGA's).
PROGRAMME_CONTACT = re.compile(
    r"^\W*(who\s+(do|should|can|could)\s+i\s+(contact|ask|e-?mail|ring|call|phone|speak\s+to"
    r"|talk\s+to|get\s+in\s+touch\s+with)"
    r"|how\s+(do|can)\s+i\s+(contact|reach|get\s+hold\s+of|get\s+in\s+touch\s+with)\s+"
    r"(you|the\s+programme(\s+team)?|the\s+organi[sz]ers|someone)"
    r"|((the\s+)?programme\s+|your\s+)?contact\s+(details|info|information|number)"
    r"|who\s+is\s+the\s+programme\s+contact)"
    r"(\s+(if|about|with|for)\b.*\b(questions?|query|queries|problems?|help|stuck|programme))?"
    r"\W*$",
    re.IGNORECASE,
)
# A message that reads as a question: it ends in "?" or opens with a question word.
QUESTION = re.compile(r"\?\s*$|^\s*(what|whats|when|where|who|why|how|which|can|could|do|does"
                      r"|is|are|will|would|should|may)\b\W+\w+\W+\w", re.IGNORECASE)
# Questions about something the bot can do: answer, then offer to start it.
OFFERS = [
    # not for travel, which the programme does not pay: the form is for accommodation
    (re.compile(r"^(?!.*\b(travel\w*|trains?|rail|mileage|taxis?|fuel|petrol|parking|flights?"
                r"|bus|tube)\b).*\b(claim|expens|reimburs|hotel|accommodation|b&b)", re.I),
     Choice("Start a claim", "claims.start")),
    (re.compile(r"\b(book|arrange|schedule)\b.*\bsessions?\b|\bsessions?\b.*\bbook", re.I),
     Choice("Book a session", "booking.start")),
]


def ask(ctx: Context, question: str) -> list[Reply]:
    """`/ask QUESTION` and any free text that is not a command."""
    question = question.strip()
    if not question:
        return [Reply("What would you like to know? For example: /ask will expenses be paid?")]
    answer = find_answer(ctx, question)
    if not answer.answered:
        return [fallback_reply(ctx, answer, record_unanswered(ctx, question))]
    if not answer.unsure:
        return [answer_reply(ctx, answer, question)]
    # Unsure: kept for the team like an unanswered question, and the asker can pass it on.
    asked = record_unanswered(ctx, question, unsure_section_id=answer.sources[0].id)
    return [answer_reply(ctx, answer, question, escalate_id=asked)]


def find_answer(ctx: Context, question: str) -> Answer:
    """The one way a question is answered, in every chat and by `sps-bot ask`: today's facts
    from the configuration, anything else from the documents and the programme team's
    answers."""
    for intent, fact in CONFIGURED_FACTS:
        if intent.search(question):
            return fact(ctx, question)
    refresh_team_answers(ctx)
    return ctx.services.knowledge.ask(question)


def answer_aside(ctx: Context, text: str) -> list[Reply] | None:
    """A question asked in the middle of a form. One the documents surely answer is answered
    (no new form offered mid-form). One plainly asked that they do not ("do I need a
    receipt?") is not found, as outside a form, with the "ask the programme team" button and
    its record for the team, rather than the step's "I couldn't read an amount"; an unsure
    excerpt is not shown, as it would be a stray one for a form's own follow-up ("is that in
    British time?"). Anything else stays the form's to refuse."""
    if not QUESTION.search(text):
        return None
    answer = find_answer(ctx, text)
    if answer.answered and not answer.unsure:
        return [replace(answer_reply(ctx, answer, text), choices=())]
    if not _PLAINLY_ASKED.search(text):
        return None
    unsure = answer.sources[0] if answer.answered else None
    asked = record_unanswered(ctx, text, unsure_section_id=unsure.id if unsure else None)
    return [fallback_reply(ctx, replace(answer, suggestions=[
        *([unsure] if unsure else []), *answer.suggestions][:3]), asked)]


# A question word first and a question mark last: not a step's answer the form misread.
_PLAINLY_ASKED = re.compile(r"^\s*(what|whats|when|where|who|why|how|which|can|could|do|does|is"
                            r"|are|will|would|should|may)\b.*\?\s*$", re.IGNORECASE | re.DOTALL)


def answer_reply(ctx: Context, answer: Answer, question: str,
                 escalate_id: int | None = None) -> Reply:
    """The excerpt and its source; an unsure answer (`escalate_id`, the recorded question)
    puts the close runners-up and the programme team one tap away."""
    section = answer.sources[0]
    choices: list[Choice] = []
    if ctx.participant is not None and ctx.participant.role in PAIRED_ROLES:
        choices += [choice for pattern, choice in OFFERS if pattern.search(question)]
    tail = "\n\n" + "\n".join(map(citation, answer.sources))
    if escalate_id is not None:
        tail += "\nNot quite it? Try:" if answer.suggestions else "\nNot quite it?"
        choices += map(section_choice, answer.suggestions)
        choices.append(escalate_choice(escalate_id))
    body = answer.excerpt
    if len(body) + len(tail) > MAX_ANSWER:  # a long heading leaves less room for the excerpt
        body = excerpt(section, question, MAX_ANSWER - len(tail))
    return Reply(body + tail, choices=tuple(choices))


def section_choice(section: Section) -> Choice:
    return Choice(button_label(section.title), "faq.section", section.key)


CITED_TITLE = 150  # characters: a programme-team answer's title is the whole question asked


def _shortened(text: str) -> str:
    return textwrap.shorten(text, CITED_TITLE, placeholder="\u2026")


def citation(section: Section) -> str:
    return f"Source: {section.document}, \u201c{_shortened(section.title)}\u201d"


def fallback_reply(ctx: Context, answer: Answer, question_id: int | None) -> Reply:
    """Not found: close sections to choose from, and the programme team (`question_id`, the
    recorded question) one tap away; for the team itself, its own commands instead."""
    choices = list(map(section_choice, answer.suggestions))
    lead = "I couldn't find that in the programme documents."
    if answer.suggestions:
        lead += " Did you mean one of these?"
    if question_id is None:
        return Reply(f"{lead}\nThe programme team's own commands are in /help.",
                     choices=tuple(choices))
    return Reply(f"{lead}\nFor anything else, contact {ctx.programme.contact.describe()}.",
                 choices=(*choices, escalate_choice(question_id)))


def escalate_choice(question_id: int) -> Choice:
    return Choice("Ask the programme team", "faq.escalate", str(question_id))


def normalised_question(question: str) -> str:
    """What groups questions worded alike: their sorted distinct terms."""
    return " ".join(sorted(set(terms(question))))[:500]


def record_unanswered(ctx: Context, question: str, unsure_section_id: str | None = None
                      ) -> int | None:
    """The question's number, for the programme team to see and answer; None when the team
    asked it: their own look-ups are nobody's question to pass on, nor a gap in the documents
    participants met."""
    if ctx.participant is not None and ctx.participant.is_team:
        return None
    row = UnansweredQuestion(
        text=question[:1000],
        unsure_section_id=unsure_section_id,
        normalised=normalised_question(question),
        asked_at=ctx.now,
        platform=ctx.msg.platform,
        asker_id=ctx.participant.id if ctx.participant else None,
        asker_platform_account=ctx.msg.account_id,
        asker_chat_id=ctx.msg.chat_id,
    )
    ctx.db.add(row)
    ctx.db.flush()
    return row.id


def show_section(ctx: Context, section_id: str) -> list[Reply]:
    refresh_team_answers(ctx)
    section = ctx.services.knowledge.section(section_id)
    if section is None:
        return [Reply("That part of the documents is no longer available. Please ask again.")]
    answer = Answer(True, excerpt(section, section.title), [section], 1.0)
    return [answer_reply(ctx, answer, section.title)]


# The documents' word on the events, cited beside the configuration's dates.
DEVELOPMENT_DAYS_ASKED = "where will the development days take place?"


def _event_kind(text: str) -> str | None:
    """Development days if the question names them; else any programme event."""
    return "development_day" if re.search(r"dev(elopment)?\s*day", text, re.I) else None


def _when(ctx: Context, day: dt.date) -> str:
    """"today", "tomorrow", "in 3 days", "yesterday", "12 days ago"."""
    days = (day - ctx.today).days
    return ("today" if days == 0 else "tomorrow" if days == 1 else "yesterday" if days == -1
            else f"in {days} days" if days > 0 else f"{-days} days ago")


def _named(ctx: Context, text: str, kind: str | None) -> list[Event]:
    """The events whose place the question names ("the development day in Leeds")."""
    return [e for e in ctx.programme.events if (kind is None or e.kind == kind)
            and re.search(rf"\b{re.escape(e.place.split()[0])}\b", text, re.I)]


def next_event(ctx: Context, text: str) -> Answer:
    """Date-dependent facts come from the configuration, never from text search."""
    kind = _event_kind(text)
    named = _named(ctx, text, kind)
    if named:  # "the next development day in Leeds": that one, even if another comes first
        event = min(named, key=lambda e: (e.date < ctx.today, e.date))
        if event.date < ctx.today:
            return configured(ctx, f"That one has taken place: {event.describe()}.",
                              "Programme events", DEVELOPMENT_DAYS_ASKED)
    else:
        event = ctx.programme.next_event(ctx.today, kind)
    if event is None:
        events = "development days" if kind else "programme events"
        return configured(ctx, f"There are no more {events} in the {ctx.programme.short_name} "
                          f"{ctx.programme.cohort} programme.", "Programme events",
                          DEVELOPMENT_DAYS_ASKED)
    backing = (DEVELOPMENT_DAYS_ASKED if event.kind == "development_day"
               else "what does the programme consist of?")
    return configured(ctx, f"The next one is {event.describe()} ({_when(ctx, event.date)}).",
                      "Programme events", backing)


# "The last development day" is the most recent to some and the final one to others: the
# tense says which ("when was", "when is"), and without one both are given.
_ASKS_RECENT = re.compile(r"\b(was|were|did|had|held|happened|went|previous|most recent)\b",
                          re.IGNORECASE)
_ASKS_FINAL = re.compile(r"\b(is|will|final)\b|'s\b", re.IGNORECASE)


def last_event(ctx: Context, text: str) -> Answer:
    """The last (or the first) development day or event, or the one in a place named."""
    kind = _event_kind(text)
    events = sorted((e for e in ctx.programme.events if kind is None or e.kind == kind),
                    key=lambda e: e.date)
    named = _named(ctx, text, kind)
    first = re.search(r"\bfirst\b", text, re.IGNORECASE)
    if named or (first and events):  # "the last one in Leeds" is that one, as is "the first"
        event = named[-1] if named else events[0]
        tense = "was" if event.date < ctx.today else "is"
        said = f"It {tense} {event.describe()} ({_when(ctx, event.date)})."
        return configured(ctx, said, "Programme events", DEVELOPMENT_DAYS_ASKED)
    held = [e for e in events if e.date <= ctx.today]  # today's has taken place, or is
    if held:
        said = f"The last one was {held[-1].describe()} ({_when(ctx, held[-1].date)})."
    else:
        said = f"There has been no {'development day' if kind else 'event'} yet."
    final = events[-1] if events else None
    if final is not None and final.date > ctx.today and not _ASKS_RECENT.search(text):
        to_come = f"The final one is {final.describe()} ({_when(ctx, final.date)})."
        said = to_come if _ASKS_FINAL.search(text) else f"{said} {to_come}"
    return configured(ctx, said, "Programme events", DEVELOPMENT_DAYS_ASKED)


def session_length(ctx: Context, text: str) -> Answer:
    rules = ctx.programme.sessions
    return configured(ctx, f"Peer sessions last {rules.min_hours} to {rules.max_hours} hours, "
                      f"and each pair holds {rules.min_count} to {rules.max_count} of them by "
                      f"{format_date(ctx.programme.ends)}.", "Peer sessions",
                      "how long is each peer support session?")


def programme_contact(ctx: Context, text: str) -> Answer:
    contacts = (ctx.programme.contact, *ctx.programme.other_contacts)
    return configured(ctx, f"For anything about the programme, contact "
                      f"{' or '.join(c.describe() for c in contacts)}.", "Contacts",
                      "who should I contact if I have any queries about the programme?")


def configured(ctx: Context, text: str, topic: str, backing_question: str) -> Answer:
    """A fact from the programme configuration, cited with it and with the document section
    that states it, found by asking the documents `backing_question` (a fixed wording, so the
    citation survives a re-worded document and disappears with a removed one)."""
    programme = ctx.programme
    setting = Section(id=f"programme-configuration/{slugify(topic)}",
                      document=f"Programme configuration ({programme.name} {programme.cohort})",
                      source="programme configuration", title=topic, text=text)
    backing = ctx.services.knowledge.ask(backing_question)
    documents = backing.sources[:1] if backing.answered and not backing.unsure else []
    return Answer(True, text, [*documents, setting], 1.0)


# Questions answered from the configuration rather than the documents: (intent, answer).
CONFIGURED_FACTS: list[tuple[re.Pattern[str], Callable[[Context, str], Answer]]] = [
    (NEXT_EVENT, next_event), (LAST_EVENT, last_event), (SESSION_LENGTH, session_length),
    (PROGRAMME_CONTACT, programme_contact)]


# ---------------------------------------------------------------- the programme-team loop
def escalate(ctx: Context, value: str) -> list[Reply]:
    question = _question(ctx, value)
    if question is None or question.asker_platform_account != ctx.msg.account_id:
        return [Reply("I can't find that question any more. Please ask it again.")]
    if question.sent_to_team_at is not None:
        return [Reply("The programme team already has that question.")]
    question.sent_to_team_at = ctx.now
    guessed = (ctx.services.knowledge.section(question.unsure_section_id)
               if question.unsure_section_id else None)
    guess = ""
    confirm: tuple[Choice, ...] = ()
    if guessed is not None:
        guess = (f"I answered from \u201c{guessed.title}\u201d ({guessed.document}) but was "
                 "not sure.\n")
        if guessed.document != TEAM_DOCUMENT:  # only a document section takes a phrasing
            # One tap confirms the guess, as /cite would: the asker hears it was right and
            # the next person asking this way is answered surely.
            confirm = (Choice("That section answers it", "faq.cite",
                              f"{question.id}:{guessed.key}"),)
    team = ctx.db.scalars(select(Participant).where(Participant.role == "programme_team"))
    for member in team:
        ctx.notify(member, f"Question #{question.id} from a participant:\n\u201c{question.text}"
                   f"\u201d\n{guess}Reply with /answer {question.id} YOUR ANSWER (given to "
                   f"anyone who asks the same), /reply {question.id} YOUR ANSWER (to this "
                   f"person only, for anything personal), or, if the documents answer it, "
                   f"/cite {question.id} WORDS FROM THE SECTION HEADING",
                   kind="team_question", key=f"question:{question.id}:to:{member.id}",
                   choices=confirm)
    return [Reply("I've passed your question to the programme team. I'll send you their "
                  "answer here.")]


def answer_question(ctx: Context, args: str) -> list[Reply]:
    """`/answer N TEXT` (programme team): reply to the asker and add it to the corpus;
    `/answer` alone lists the questions waiting for one."""
    if not args.strip():
        return _waiting_questions(ctx)
    found = _asked(ctx, args, "Use /answer N YOUR ANSWER, where N is the question number.")
    if isinstance(found, list):
        return found
    question, text = found
    anyway = args.partition(" ")[0].endswith("!")
    named = _people_named(ctx, f"{question.text} {text}")
    if named and not anyway:
        return [Reply(f"Question #{question.id} or your answer names {', '.join(named)}. An "
                      "/answer is given to anyone who asks the like, under the question's own "
                      f"words. For a personal question, /reply {question.id} YOUR ANSWER goes "
                      f"to the asker alone; to share it all the same, /answer {question.id}! "
                      "YOUR ANSWER.")]
    answer, told = _close(ctx, question, TeamAnswer(answer=text.strip()),
                          lambda asked: f"The programme team answered your question "
                                        f"\u201c{asked}\u201d:\n{text.strip()}")
    return [Reply(f"Thanks. Answer #{answer.id} (to question #{question.id}) is {told}, and "
                  "will be given to anyone who asks the same. Withdraw it with /withdraw "
                  f"{answer.id}; for a personal question, /reply answers the asker alone.")]


WAITING_SHOWN = 10


def _waiting_questions(ctx: Context) -> list[Reply]:
    waiting = ctx.db.scalars(select(UnansweredQuestion).where(
        UnansweredQuestion.sent_to_team_at.is_not(None), UnansweredQuestion.answer_id.is_(None))
        .order_by(UnansweredQuestion.sent_to_team_at).limit(WAITING_SHOWN)).all()
    if not waiting:
        return [Reply("No questions are waiting for your answer.")]
    lines = ["*Questions waiting for an answer*, oldest first:"]
    lines += [f"- #{q.id} \u201c{_shortened(q.text)}\u201d" for q in waiting]
    lines.append("Answer with /answer N YOUR ANSWER, /reply N YOUR ANSWER (to the asker "
                 "alone) or /cite N HEADING WORDS.")
    return [Reply("\n".join(lines), private_only=True)]


def _people_named(ctx: Context, text: str) -> list[str]:
    """Participants whose first name the text uses, as a word (a surname alone is too often
    an everyday word: "Price"). The programme team's names are published as its contacts, and
    an erased row's "Erased participant #3" names no one."""
    found = []
    for (name,) in ctx.db.execute(select(Participant.name).where(
            Participant.role.not_in([*TEAM, ERASED_ROLE]))):
        given = given_name(name)
        if given and re.search(rf"\b{re.escape(given)}\b", text, re.IGNORECASE):
            found.append(name)
    return sorted(set(found))


def reply_privately(ctx: Context, args: str) -> list[Reply]:
    """`/reply N TEXT` (programme team): for a personal question ("my partner is off sick"),
    an answer to the asker alone. It joins no corpus, and the question is not kept."""
    found = _asked(ctx, args, "Use /reply N YOUR ANSWER, where N is the question number.")
    if isinstance(found, list):
        return found
    question, text = found
    for asked in _asked_alike(ctx, question):
        _tell_asker(ctx, asked, f"The programme team replied to your question "
                                f"\u201c{asked.text}\u201d:\n{text.strip()}",
                    key=f"reply:q:{asked.id}")
        ctx.db.delete(asked)
    ctx.audit("faq.reply", f"question:{question.id}")
    return [Reply(f"Sent to the person who asked question #{question.id}, and to no one else. "
                  "The question is no longer kept.")]


def cite_question(ctx: Context, args: str) -> list[Reply]:
    """`/cite N WORDS` (programme team): a document section does answer question N; the words
    find it. The asker gets that section, and the question joins its "Also asked" phrasings,
    so the next person who asks it that way is answered at once."""
    found = _asked(ctx, args, "Use /cite N WORDS FROM THE SECTION HEADING, where N is the "
                              "question number.")
    if isinstance(found, list):
        return found
    question, words = found
    hits = [h for h in ctx.services.knowledge.search(words, limit=4)
            if h.section.document != TEAM_DOCUMENT]
    # A wrong citation would teach the index a wrong phrasing: only a sure, clear winner is
    # taken at once; otherwise the team member chooses.
    if hits and hits[0].confidence >= SURE and all(h.confidence < ANSWER_THRESHOLD
                                                   for h in hits[1:]):
        return _cite(ctx, question, hits[0].section)
    if not hits:
        return [Reply(f"No section matches \u201c{words.strip()}\u201d. Try words from its "
                      f"heading, for example: /cite {question.id} will expenses be paid")]
    return [Reply(f"Which section answers question #{question.id}?",
                  choices=tuple(Choice(button_label(h.section.title), "faq.cite",
                                       f"{question.id}:{h.section.key}") for h in hits[:3]))]


def cite_chosen(ctx: Context, value: str) -> list[Reply]:
    """A section chosen from the /cite shortlist."""
    number, _, key = value.partition(":")
    question = _question(ctx, number)
    section = ctx.services.knowledge.section(key)
    if question is None or section is None:
        return [Reply("That question or section is no longer there. Please use /cite again.")]
    return _answered_already(ctx, question) or _cite(ctx, question, section)


def _answered_already(ctx: Context, question: UnansweredQuestion) -> list[Reply] | None:
    """A question has one live answer: a second tap, or a second team member, is told so."""
    answer = ctx.db.get(TeamAnswer, question.answer_id) if question.answer_id else None
    if answer is None or answer.withdrawn_at is not None:
        return None
    return [Reply(f"Question #{question.id} is already answered (answer #{answer.id}). To "
                  f"replace that answer, /withdraw {answer.id} first.")]


def _cite(ctx: Context, question: UnansweredQuestion, section: Section) -> list[Reply]:
    answer, told = _close(ctx, question, TeamAnswer(answer="", section_id=section.id),
                          lambda asked: f"The programme team found the answer to your "
                                        f"question \u201c{asked}\u201d in the programme "
                                        f"documents:\n\n{excerpt(section, asked)}\n\n"
                                        f"{citation(section)}")
    return [Reply(f"Thanks. Question #{question.id} now leads to \u201c{section.title}\u201d "
                  f"({section.document}); it was {told}. Undo with /withdraw {answer.id}.")]


def _close(ctx: Context, question: UnansweredQuestion, answer: TeamAnswer,
           message: Callable[[str], str]) -> tuple[TeamAnswer, str]:
    """Record the team's answer to a question, send `message(question text)` to everyone who
    asked the same and passed it to the team, and forget who asked. Also returns who was
    told, in words for the team."""
    answer.question = question.text
    answer.answered_at = ctx.now
    answer.answered_by = ctx.me.id
    ctx.db.add(answer)
    ctx.db.flush()
    told = unasked = 0
    for asked in _asked_alike(ctx, question):
        asked.answer_id = answer.id
        sent = _tell_asker(ctx, asked, message(asked.text), key=f"answer:{answer.id}:q:{asked.id}")
        told += sent
        unasked += not sent and asked.asker_id is not None
        # Once answered, the question is kept without who asked it.
        asked.forget_asker()
    ctx.audit("faq.answer", f"team_answer:{answer.id}", question=question.id,
              section=answer.section_id)
    team_answers_changed(ctx)
    if told:
        return answer, f"sent to the {'person' if told == 1 else f'{told} people'} who asked"
    if unasked:  # a reply only goes to those who asked for one
        return answer, ("sent to nobody: whoever asked it did not pass it to the programme "
                        "team, so nobody is waiting for a reply")
    # After a /withdraw nobody is waiting: who asked was not kept once they had an answer.
    return answer, ("sent to nobody, as nobody is waiting for it (who asked before is not "
                    "kept once answered)")


def _asked_alike(ctx: Context, question: UnansweredQuestion) -> list[UnansweredQuestion]:
    """Every open question worded as this one (it included): one reply answers them all."""
    return list(ctx.db.scalars(select(UnansweredQuestion).where(
        UnansweredQuestion.normalised == question.normalised,
        UnansweredQuestion.answer_id.is_(None))))


def _tell_asker(ctx: Context, asked: UnansweredQuestion, text: str, key: str) -> bool:
    """The team's reply, to whoever asked this and passed it to the team; whether it went."""
    if asked.sent_to_team_at is not None and asked.asker_id is not None:
        asker = ctx.db.get(Participant, asked.asker_id)
        if asker is not None:
            ctx.notify(asker, text, kind="team_answer", key=key)
            return True
    return False


def withdraw_answer(ctx: Context, args: str) -> list[Reply]:
    answer = by_number(ctx.db, TeamAnswer, args)
    if answer is None or answer.withdrawn_at is not None:
        return [Reply("Use /withdraw N with the number of an answer that is still in use.")]
    answer.withdrawn_at = ctx.now
    ctx.audit("faq.withdraw", f"team_answer:{answer.id}")
    team_answers_changed(ctx)
    # Named in full: answer and question numbers are separate, and "/withdraw 3" meant for
    # question #3 would otherwise withdraw some other answer without anyone noticing.
    return [Reply(f"Answer #{answer.id} to \u201c{_shortened(answer.question)}\u201d is "
                  "withdrawn; I won't give it again. Those it was already sent to are not told "
                  "(who asked is not kept once answered).")]


def _question(ctx: Context, value: str) -> UnansweredQuestion | None:
    return by_number(ctx.db, UnansweredQuestion, value)


def _asked(ctx: Context, args: str, usage: str
           ) -> tuple[UnansweredQuestion, str] | list[Reply]:
    """`N REST` of a team command: the open question N names and the rest, or the replies
    that say what is wrong (no such question, no rest, answered already). A trailing "!" on
    N is the caller's to read."""
    number, _, rest = args.partition(" ")
    number = number.rstrip("!")
    question = _question(ctx, number)
    if question is not None and rest.strip():
        return _answered_already(ctx, question) or (question, rest)
    if rest.strip() and number.lstrip("#").isdigit():
        return [Reply(f"There is no question #{number.lstrip('#')[:12]}. Its number is in the "
                      "message that passed it to you.")]
    return [Reply(usage)]


TEAM_ANSWERS_CHECK_EVERY = 1.0  # seconds: another process's new answer shows within this


def team_answers_changed(ctx: Context) -> None:
    """This process changed the programme-team answers: the next question reloads them."""
    ctx.services.knowledge.extra_signature = None


def refresh_team_answers(ctx: Context) -> None:
    """Keep the index's programme-team answers in step with the database (other processes
    may add or withdraw them). A signature query, at most once a second, avoids reloading
    when nothing moved; this process's own /answer and /withdraw force the next check."""
    kb = ctx.services.knowledge
    checked = time.monotonic()
    if kb.extra_signature is not None and checked - kb.extra_checked_at < \
            TEAM_ANSWERS_CHECK_EVERY:
        return
    kb.extra_checked_at = checked
    signature = ctx.db.execute(select(func.count(), func.max(TeamAnswer.id),
                                      func.sum(TeamAnswer.revision))).one()
    if kb.extra_signature == tuple(signature):
        return
    live = list(ctx.db.scalars(select(TeamAnswer).where(TeamAnswer.withdrawn_at.is_(None))))
    kb.replace_extra((team_section(ctx, a) for a in live if a.section_id is None),
                     ((a.section_id, a.question) for a in live if a.section_id is not None),
                     tuple(signature))


def team_section(ctx: Context, answer: TeamAnswer) -> Section:
    day = format_date(answer.answered_at.astimezone(ctx.programme.timezone).date())
    return Section(id=f"programme-team-answers/answer-{answer.id}", document=TEAM_DOCUMENT,
                   source="programme team", title=f"{answer.question} (answered {day})",
                   text=answer.answer)
