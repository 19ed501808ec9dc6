"""The route table and the reminder rules: every feature module contributes its ROUTES and
FLOWS here, and optionally SCHEDULED rules (what automatic messages are due when)."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy.orm import Session

from handlers import booking, broadcast, claims, faq, general, home, notes, privacy, reminders
from handlers.core import Context, Route, ScheduledMessage
from handlers.identity import TEAM
from handlers.messages import Reply
from handlers.router import Router
from handlers.services import Services
from knowledge.programme import Programme

# each has ROUTES and FLOWS; some have SCHEDULED
FEATURES = [booking, claims, reminders, privacy, notes, broadcast, home]


def build_router(services: Services) -> Router:
    routes: list[Route] = []

    def show_help(ctx: Context, _args: str) -> list[Reply]:
        return general.help_reply(ctx, router.commands_for(ctx.participant))

    routes += [
        Route("help", show_help, command="/help", public=True, help="what I can do"),
        Route("greeting", show_help, intent=faq.GREETING, public=True),
        Route("small-talk", general.small_talk, intent=general.SMALL_TALK, public=True),
        Route("no-form-open", general.no_form_open, intent=general.FORM_ANSWER, public=True),
        Route("start", lambda ctx, args: general.link(ctx, args) if args.strip()
              else show_help(ctx, args), command="/start", public=True),
        Route("link", general.link, command="/link", public=True,
              help="link this chat account with a code from the programme team",
              usage="/link CODE"),
        Route("whoami", general.whoami, command="/whoami", help="who I think you are",
              intent=general.MY_PARTNER, aside=True, personal=True),
        Route("ask", faq.ask, command="/ask", public=True,
              help="ask about the programme (or just type your question)",
              usage="/ask QUESTION"),
        *(Route(fact.__name__, faq.ask, intent=intent, public=True)
          for intent, fact in faq.CONFIGURED_FACTS),
        Route("faq-section", faq.show_section, action="faq.section", public=True),
        Route("faq-escalate", faq.escalate, action="faq.escalate", public=True),
        Route("answer", faq.answer_question, command="/answer", roles=TEAM,
              help="answer a participant's question (alone: the ones waiting)",
              usage="/answer [N TEXT]"),
        Route("answer-said", lambda ctx, _text: faq.answer_question(ctx, ""), roles=TEAM,
              intent=re.compile(r"\b(any|new|waiting|unanswered|outstanding)\b.*\bquestions?\b"
                                r"|\bquestions?\b.*\b(for (me|us)|waiting|to answer)\b"
                                r"|\bhas anyone asked\b", re.IGNORECASE), aside=True),
        Route("reply", faq.reply_privately, command="/reply", roles=TEAM,
              help="answer a participant's personal question, to them alone",
              usage="/reply N TEXT"),
        Route("cite", faq.cite_question, command="/cite", roles=TEAM,
              help="answer a participant's question from the documents",
              usage="/cite N HEADING WORDS"),
        Route("faq-cite", faq.cite_chosen, action="faq.cite", roles=TEAM),
        Route("withdraw", faq.withdraw_answer, command="/withdraw", roles=TEAM,
              help="withdraw a programme-team answer", usage="/withdraw N"),
    ]
    flows = []
    for feature in FEATURES:
        routes += feature.ROUTES
        flows += feature.FLOWS
    router = Router(services, routes, flows, fallback=Route("faq", faq.ask, public=True),
                    aside=_mid_form)
    return router


def _mid_form(ctx: Context, text: str) -> list[Reply] | None:
    """A message that does not fit the form in progress: thanks or goodbye gets its reply
    and a question the documents surely answer its answer; anything else is the form's (an
    "okay" or "perfect" is more likely a yes the form should ask for plainly)."""
    if general.SMALL_TALK.search(text) and (general.THANKS.search(text)
                                             or general.BYE.search(text)):
        return general.small_talk(ctx, text)
    return faq.answer_aside(ctx, text)


def due_between(db: Session, programme: Programme, since: dt.datetime,
                until: dt.datetime) -> list[ScheduledMessage]:
    """Every automatic message due in (since, until], opt-outs applied, in time order."""
    due = [message for feature in FEATURES for rule in getattr(feature, "SCHEDULED", [])
           for message in rule(db, programme, since, until)]
    return sorted(reminders.without_opt_outs(db, due), key=lambda m: (m.due_at, m.key))
