"""Answering a question from the corpus: best section, short excerpt, or an honest 'not found'."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

from knowledge.corpus import DEFAULT_DOCS, Section, load_corpus, slugify
from knowledge.search import Hit, SearchIndex
from knowledge.terms import terms

# Confidence is the fitted probability that the top section answers (knowledge.model): below
# an even chance a fallback is more honest than a guess.
ANSWER_THRESHOLD = 0.5
SUGGESTION_THRESHOLD = 0.15
# Below this, an answer was wrong as often as right on the development set, so it also
# offers the runner-up sections: one tap reaches the right one when it is there.
SURE = 0.7
CERTAIN = 0.8  # in every question set we have, no part of a question beats a whole this sure
# A part of a padded question is read for its few best sections only: it is there to catch
# a question the padding drowned, and that question's section leads its part's BM25.
PART_SHORTLIST = 6
MAX_ANSWER = 800  # characters: what reads as one chat message on a phone
MAX_EXCERPT = 600  # leaves room for the citation inside MAX_ANSWER
TEAM_DOCUMENT = "Programme team answers"

# Splits padded questions into the parts that may carry the actual question.
_CLAUSES = re.compile(r"(?:[.;:!?\u2014\u2013]|\s-\s|,\s*(?:but|so|and|anyway)\b|\bbut\b"
                      r"|,(?=\s*(?:what|when|where|who|how|which|why|is|are|can|could|do|does"
                      r"|will|should|am)\b))\s*", re.IGNORECASE)


# A sentence ends at . ! or ? before a capital, but not after "NB", "e.g", "i.e" or "St".
_SENTENCE_END = re.compile(
    r"(?<!\bNB\.)(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\bSt\.)(?<=[.!?])\s+(?=[A-Z(])")


@dataclass(frozen=True)
class Answer:
    answered: bool
    excerpt: str
    sources: list[Section]
    score: float
    # Sections to offer: "did you mean" for a fallback, the runners-up for an unsure answer.
    suggestions: list[Section] = field(default_factory=list)

    @property
    def unsure(self) -> bool:
        """Answered, but below SURE: right too rarely to stand without alternatives."""
        return self.answered and self.score < SURE


class KnowledgeBase:
    def __init__(self, sections: Iterable[Section], parents: dict[str, str] | None = None,
                 document_index: SearchIndex | None = None) -> None:
        self._documents = list(sections)
        self._parents = parents or {}
        self._extra: tuple[dict[str, Section], dict[str, tuple[str, ...]]] = ({}, {})
        self.extra_signature: tuple[object, ...] | None = None  # what the extras were built from
        self.extra_checked_at = 0.0  # time.monotonic() of the last look at the database
        # An index is never changed in place, so copies of one corpus can share it.
        self._document_index = document_index or SearchIndex(self._documents, self._parents)
        self.index = self._document_index

    @classmethod
    def load(cls, folder: Path | str = DEFAULT_DOCS) -> KnowledgeBase:
        return cls(load_corpus(folder).sections, heading_parents(folder))

    def fresh_copy(self) -> KnowledgeBase:
        """The same documents without this one's programme-team answers, built at no cost."""
        return KnowledgeBase(self._documents, self._parents, self._document_index)

    @property
    def sections(self) -> list[Section]:
        return self.index.sections

    def section(self, id_or_key: str) -> Section | None:
        """A section by its id or its short button key."""
        return next((s for s in self.index.sections if id_or_key in (s.id, s.key)), None)

    def replace_extra(self, extra: Iterable[Section], phrasings: Iterable[tuple[str, str]],
                      signature: tuple[object, ...]) -> None:
        """Swap in the current programme-team answers (they live in the database): sections
        in their own words, and questions they said a document section answers, as
        (section id, question) pairs that join that section's "Also asked" phrasings."""
        self.extra_signature = signature
        asked: dict[str, list[str]] = {}
        for section_id, question in phrasings:
            asked.setdefault(section_id, []).append(question)
        new = ({s.id: s for s in extra}, {k: tuple(v) for k, v in asked.items()})
        if new != self._extra:
            self._extra = new
            if new == ({}, {}):
                self.index = self._document_index
                return
            documents = [replace(s, asked=s.asked + new[1][s.id]) if s.id in new[1] else s
                         for s in self._documents]
            self.index = SearchIndex([*documents, *new[0].values()], self._parents)

    def search(self, question: str, limit: int = 3) -> list[Hit]:
        """Best hits for the question or for its most question-like part."""
        best: dict[str, Hit] = {}
        for place, candidate in enumerate(_candidates(question)):
            hits = self.index.search(candidate, limit=limit + 2,
                                     shortlist=None if place == 0 else PART_SHORTLIST)
            for hit in hits:
                known = best.get(hit.section.id)
                if known is None or hit.confidence > known.confidence:
                    best[hit.section.id] = hit
            if place == 0 and hits and hits[0].confidence >= CERTAIN:
                break  # the parts of a question answered this surely need no closer reading
        ranked = sorted(best.values(), key=lambda h: (h.confidence, h.score), reverse=True)
        return ranked[:limit]

    def ask(self, question: str) -> Answer:
        hits = self.search(question, limit=4)
        if hits and hits[0].confidence >= ANSWER_THRESHOLD and not detail_missing(
                question, hits[0].section):
            top = hits[0]
            answer = Answer(True, excerpt(top.section, question), [top.section],
                            round(top.confidence, 3))
            if not answer.unsure:
                return answer
            return replace(answer, suggestions=[h.section for h in hits[1:3]
                                                if h.confidence >= SUGGESTION_THRESHOLD])
        suggestions = [h.section for h in hits if h.confidence >= SUGGESTION_THRESHOLD][:3]
        score = round(hits[0].confidence, 3) if hits else 0.0
        return Answer(False, "", [], score, suggestions)


# A question after one particular detail (a start time, a joining link, a fee) is answered
# only by a section that states such a detail: the section about the event is not the answer
# to "what time does it start?" when it gives no time, however well it matches the rest.
DETAIL_ASKS = [(re.compile(ask, re.IGNORECASE), re.compile(supply, re.IGNORECASE))
               for ask, supply in (
    (r"\bwhat time\b|\b(start|finish|end) time\b",
     r"\b\d{1,2}(?:[:.]\d\d)?\s?[ap]m\b|\b\d{1,2}[:.]\d\d\b|\bnoon\b|o'clock"),
    (r"\b(zoom|webex|joining link|link to join|log ?in|password|url|microsoft teams"
     r"|teams (link|meeting|call)|(on|via|over|use|using) teams)\b",
     r"https?:|www\.|\b(zoom|teams|webex|log ?in|password)\b"),
    (r"\b(is|are|be|was|were|get|gets)\b[^.?,;]{0,40}\brecorded\b|\brecording of\b",
     # a video or audio recording, not notes ("recording the key points")
     r"\b(audio|video|recorded|recordings?\s+(of|will|is|are|available)|livestream\w*"
     r"|webcast\w*)\b"),
    (r"\bdress code\b|\bwhat (should|do) (i|we) wear\b", r"\b(dress|wear|attire)\b"),
    (r"\b(lunch|catering|refreshments|food|meals?|dinner)\b",
     r"\b(lunch|catering|refreshments|food|meals?|dinner|subsistence)\b"),
    (r"\b(parking|car park)\b", r"\bpark"),
    (r"\b(wheelchair|step-free|accessib\w*|disabled access)\b",
     r"\b(wheelchair|step-free|accessib\w*|disab\w*)\b"),
    (r"\b(certificate|cpd|accredit\w*)\b", r"\b(certificat\w*|cpd|accredit\w*)\b"),
    (r"\bdeadline\b", r"\b(deadline|no later than|by the end|once|as soon as|before|after"
                       r"|until|within (\d+|a|one|two|three|four|six) (days?|weeks?|months?))\b"),
    (r"\b(insurance|insured|indemnity)\b", r"\b(insur\w*|indemn\w*)\b"),
    # a fee is not an expense paid back, so "£150 for a hotel" does not answer it
    (r"\b(fee|fees|subscription)\b", r"\b(fee|fees|free of charge|no charge|no cost)\b"),
    (r"\bhow much (money|funding)\b|\bhow much did\b", r"£\s?\d"),
    (r"\b(which|what) room\b", r"\broom\b"),
    # the documents name no one's partner (the chat answers it from the pairing on record)
    (r"\bwho('?s| is| will be) my (expert )?(peer|partner|mentor|pair|buddy)\b", r"(?!)"),
    (r"\be-?mail address\b", r"@"),
    (r"\b(phone|telephone|mobile) (number|no)\b", r"\b0\d{2,4}\s?\d{3}\s?\d{3,4}\b"),
    (r"\b(download|website|web page|web site)\b", r"https?:|www\.|\bwebsite\b"),
    (r"\b(which|what) hotel\b|\bname of the hotel\b", r"(?-i:\b[A-Z][a-z]+ Hotel\b)"),
    (r"\btemplate\b", r"\b(template|proforma|pro forma)\b"),
    # someone else coming along: only a section that says who may attend answers it
    (r"\bbring (a|my|another|an|someone)\b( \w+){0,3}? (colleague|guest|friend|partner"
     r"|spouse|plus[- ]one|deputy|trainee|registrar|else)\b",
     r"\b(guests?|accompan\w*|open to|invite (a|your)|bring (a|your))\b"),
    (r"\bhow (do|can|should) (i|we|you|people) (apply|sign up|register|enrol|nominate)\b"
     r"|\bapplications? (open|close|deadline)\b",
     r"\b(apply|applications?|sign up|register|registration|enrol\w*|nominat\w*|recruit\w*"
     r"|select\w*|invit\w*)\b"),
)]
# A clause about the asker's situation ("reading this on my lunch break", "sorry, typing
# this from the car park") asks nothing, unless it is itself the question.
_ASIDE = re.compile(r"\b(i'm|i am|i've|i have|my|me|this|sorry)\b(?![^?]*\?)", re.IGNORECASE)


# "How many X?" wants a number of X: "six to eight peer support sessions", "8-12 participants".
_HOW_MANY = re.compile(r"\bhow many (?:more )?(?P<thing>[a-z]+)(?: (?P<then>[a-z]+))?",
                       re.IGNORECASE)
_NUMBER = (r"(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen"
           r"|twenty|thirty|forty|fifty|hundred|several|a few|a number of)")


# Counts are given in any word of the family asked about: people as "a maximum of 12 places",
# sessions as "six to eight times", hours as "five and a half days".
_COUNT_FAMILIES = (
    frozenset({"peopl", "perso", "parti", "membe", "place", "clini", "peers", "deleg", "atten",
               "staff", "repre"}),
    frozenset({"sessi", "meeti", "visit", "event", "calls", "times"}),
    frozenset({"minut", "hours", "days", "weeks", "month", "years"}),
)


def _counted(text: str) -> set[str]:
    """What "how many" asks to count: its first word, or the next ("how many focus groups")."""
    how_many = _HOW_MANY.search(text)
    if how_many is None:
        return set()
    things = {word[:5].lower() for word in (how_many["thing"], how_many["then"] or "")
              if len(word) > 2}
    return things.union(*(family for family in _COUNT_FAMILIES if things & family))


def _count_missing(asked: str, section: Section, text: str) -> bool:
    things = _counted(asked)
    if not things or any(things & _counted(phrasing) for phrasing in section.asked):
        return False
    return not re.search(rf"\b{_NUMBER}\b(?:\W+\w+){{0,4}}?\W+(?:{'|'.join(things)})", text,
                         re.IGNORECASE)


def detail_missing(question: str, section: Section) -> bool:
    """The question asks for a detail the section does not state. A programme-team answer,
    or a section the team said answers such a question (an "Also asked" phrasing asking for
    the same detail), is taken at its word."""
    if section.document == TEAM_DOCUMENT:
        return False
    asked = " ".join(part for part in _CLAUSES.split(question)
                     if not _ASIDE.search(part)) or question
    text = f"{section.title}\n{section.text}"
    if _count_missing(asked, section, text):
        return True
    for ask, supply in DETAIL_ASKS:
        found = ask.search(asked)
        if found is None:
            continue
        topic = set(terms(asked[: found.start()] + " " + asked[found.end():]))
        if not _supplied(supply, topic, section) and not any(
                ask.search(phrasing) and (not topic or topic & set(terms(phrasing)))
                for phrasing in section.asked):
            return True
    return False


def _supplied(supply: re.Pattern[str], topic: set[str], section: Section) -> bool:
    """The detail is in the heading, or in a sentence about what is asked (`topic`: the
    question's terms besides the asking words) where the section names it: the 2pm of the
    orientation session does not say when a development day starts, though both are in the
    same section."""
    if supply.search(section.title):
        return True
    units, unit_terms = _unit_terms(section.text)
    supplying = [(unit, terms_of) for unit, terms_of in zip(units, unit_terms, strict=True)
                 if supply.search(unit)]
    if not supplying:
        return False
    if not any(topic & terms_of for terms_of in unit_terms):
        return True  # the section never names what is asked: it is judged as a whole
    return any(topic & terms_of or _LABEL.match(unit) for unit, terms_of in supplying)


# "Email: ...", "Website: ...": a detail given for the whole section, not one sentence.
_LABEL = re.compile(r"\s*[A-Z][A-Za-z ]{1,20}:\s")


def heading_parents(folder: Path | str) -> dict[str, str]:
    """Section id -> the `##` heading a `###` section sits under (Markdown documents only).

    A subsection such as one key line of enquiry is answered in its own words but asked about
    in its parent's ("lines of enquiry on governance"), so the parent heading is its context.
    """
    parents: dict[str, str] = {}
    for path in sorted(Path(folder).glob("*.md")):
        parent = ""
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("## "):
                parent = line[3:].strip()
            elif line.startswith("### ") and parent:
                parents[f"{slugify(path.stem)}/{slugify(line[4:].strip())}"] = parent
    return parents


def _candidates(question: str) -> list[str]:
    parts = [p.strip() for p in _CLAUSES.split(question) if len(terms(p)) >= 2]
    return list(dict.fromkeys([question, *parts]))


def excerpt(section: Section, question: str, limit: int = MAX_EXCERPT) -> str:
    """The sentences or bullets of the section that answer, in their order, within `limit`."""
    if len(section.text) <= limit:
        return section.text
    units, unit_terms = _unit_terms(section.text)
    wanted = set(terms(question))
    ranked = sorted(range(len(units)), key=lambda i: (-len(wanted & unit_terms[i]), i))
    chosen: list[int] = []
    used = 0
    for i in ranked:
        if used + len(units[i]) + 1 > limit:
            continue
        chosen.append(i)
        used += len(units[i]) + 1
    if not chosen:
        return units[ranked[0]][: limit - 1].rsplit(" ", 1)[0] + "…"
    return "\n".join(units[i] for i in sorted(chosen))


@lru_cache(maxsize=256)
def _unit_terms(text: str) -> tuple[tuple[str, ...], tuple[frozenset[str], ...]]:
    """A long section's sentences and bullets with their terms (sections are answered again
    and again, so this is kept)."""
    units = tuple(_units(text))
    return units, tuple(frozenset(terms(unit)) for unit in units)


def _units(text: str) -> list[str]:
    units = []
    for paragraph in text.split("\n\n"):
        for line in paragraph.split("\n"):
            if line.startswith("- "):
                units.append(line)
            else:
                units.extend(s for s in _SENTENCE_END.split(line) if s)
    return units
