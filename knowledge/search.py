"""Search over the corpus: BM25 on normalised terms, typo repair, synonyms, honest confidence.

Why our own BM25 rather than a package: the corpus is a few hundred sections (twenty thousand
at most), the term normalisation (British/American spelling, domain synonyms, typo repair) has
to happen inside the index anyway, and a 60-line inverted index answers in well under a
millisecond with no numpy start-up cost, which keeps `sps-bot ask` fast from a cold start.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz, process

from knowledge.corpus import Section

# Words that carry no meaning for matching.
STOPWORDS = frozenset("""
a about above after again all also am an and any are as at be been before being below between
both but by can could did do does doing down during each few for from further had has have
having he her here hers him his how i if in into is it its itself just me more most my myself
no nor not now of off on once only or other our ours out over own same she should so some such
than that the their theirs them then there these they this those through to too under until up
very was we were what when where which while who whom why will with would you your yours
yourself yourselves ok okay please thanks thank hi hello hey quick quickly tell know need want
wondering question let get got go going im i'm ive i've dont don't does doesnt isn't anyone
sure really actually just still bit one thing things something anything way like mean
""".split())

# American or variant spellings to the British form used in the documents.
SPELLINGS = {
    "program": "programme", "programs": "programme", "center": "centre", "centers": "centre",
    "color": "colour", "favor": "favour", "behavior": "behaviour", "labor": "labour",
    "judgment": "judgement", "enroll": "enrol", "enrollment": "enrolment", "fulfill": "fulfil",
    "catalog": "catalogue", "honor": "honour", "traveling": "travelling", "traveled":
    "travelled", "canceled": "cancelled", "canceling": "cancelling", "counseling":
    "counselling", "check": "cheque",
}

# Domain synonyms: every word in a group is indexed and searched as the group's first word.
SYNONYM_GROUPS = [
    "accommodation hotel hotels b&b bnb lodging lodgings overnight stay nights night room rooms "
    "bed breakfast",
    "expense expenses claim claims claiming reimburse reimbursed reimbursement refund refunds "
    "costs cost money pay paid payment funding funded",
    "venue venues location locations where held place places",
    "session sessions meeting meetings meet",
    "destroy destroyed destruction shred shredded dispose disposed disposal delete deleted "
    "binned",
    "note notes notebook notebooks",
    "confidential confidentiality secret private privacy",
    "contact email phone ring call",
    "mentor mentoring mentee coach coaching",
    "development day days",
    "virtual online remotely remote video zoom teams",
    "face person",
    "travel train trains mileage parking taxi fares fare",
    "long duration last lasts",
    "start starts begin begins commence commences",
    "partner partnership pair paired pairs match matched matching",
]


def _build_synonyms() -> dict[str, str]:
    table: dict[str, str] = {}
    for group in SYNONYM_GROUPS:
        words = group.split()
        for word in words:
            table.setdefault(word, words[0])
    return table


SYNONYMS = _build_synonyms()
_WORD = re.compile(r"[a-z0-9]+(?:&[a-z0-9]+)?")


@lru_cache(maxsize=65536)
def normalise_term(word: str) -> str:
    """One canonical form per word: British spelling, synonym group, light stemming."""
    word = SPELLINGS.get(word, word)
    if word in SYNONYMS:
        return SYNONYMS[word]
    for american, british in (("ization", "isation"), ("izing", "ising"), ("ized", "ised"),
                              ("izes", "ises"), ("ize", "ise"), ("yze", "yse")):
        if word.endswith(american) and len(word) > len(american) + 2:
            word = word[: -len(american)] + british
            break
    stem = _stem(word)
    return SYNONYMS.get(stem, stem)


def _stem(word: str) -> str:
    if len(word) <= 4 or word.isdigit():
        return word
    for suffix, keep in (("ational", "ate"), ("isation", "ise"), ("ations", "ate"),
                         ("ation", "ate"), ("ities", "ity"), ("ingly", ""), ("ings", ""),
                         ("ing", ""), ("edly", ""), ("ies", "y"), ("ied", "y"), ("ed", ""),
                         ("es", "e"), ("ly", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                return word
            return word[: -len(suffix)] + keep
    return word


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("’", "'").replace("'", ""))


def terms(text: str) -> list[str]:
    return [normalise_term(w) for w in words(text) if w not in STOPWORDS]


@dataclass(frozen=True)
class Hit:
    section: Section
    score: float  # raw BM25 plus title bonus, for ranking
    confidence: float  # 0..1: how much of the question the section accounts for


class SearchIndex:
    """An inverted BM25 index over sections, title terms counted extra."""

    K1 = 1.4
    B = 0.7
    TITLE_WEIGHT = 3

    def __init__(self, sections: list[Section]) -> None:
        self.sections: list[Section] = []
        self._postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self._lengths: list[int] = []
        self._title_terms: list[frozenset[str]] = []
        self._vocabulary: list[str] = []
        for section in sections:
            self._add(section)
        self._refresh()

    def _add(self, section: Section) -> None:
        index = len(self.sections)
        self.sections.append(section)
        title_terms = terms(section.title)
        counts = Counter(terms(section.text))
        for term in title_terms:
            counts[term] += self.TITLE_WEIGHT
        for term, count in counts.items():
            self._postings[term].append((index, count))
        self._lengths.append(sum(counts.values()))
        self._title_terms.append(frozenset(title_terms))

    def _refresh(self) -> None:
        count = max(len(self.sections), 1)
        self._average_length = sum(self._lengths) / count if self._lengths else 1.0
        self._idf = {
            term: math.log(1 + (count - len(posts) + 0.5) / (len(posts) + 0.5))
            for term, posts in self._postings.items()
        }
        self._max_idf = math.log(1 + (count + 0.5) / 0.5)
        self._vocabulary = sorted(t for t in self._postings if len(t) >= 4)
        self._correct.cache_clear()

    @lru_cache(maxsize=16384)  # noqa: B019 - the index lives as long as the process
    def _correct(self, term: str) -> str | None:
        """The indexed term a misspelt one most likely means, or None."""
        if len(term) < 5 or term.isdigit():
            return None
        match = process.extractOne(term, self._vocabulary, scorer=fuzz.ratio,
                                   score_cutoff=80 if len(term) < 8 else 75)
        return match[0] if match else None

    def query_terms(self, text: str) -> list[str]:
        """Normalised query terms, misspellings repaired where a close indexed term exists."""
        result = []
        for term in terms(text):
            if term not in self._postings:
                term = self._correct(term) or term
            result.append(term)
        return result

    def search(self, text: str, limit: int = 3) -> list[Hit]:
        query = list(dict.fromkeys(self.query_terms(text)))
        if not query:
            return []
        weights = {t: self._idf.get(t, self._max_idf) for t in query}
        total_weight = sum(weights.values())
        scores: dict[int, float] = defaultdict(float)
        matched: dict[int, float] = defaultdict(float)
        for term in query:
            idf = self._idf.get(term)
            if idf is None:
                continue
            for index, tf in self._postings[term]:
                norm = self.K1 * (1 - self.B + self.B * self._lengths[index] / self._average_length)
                scores[index] += idf * tf * (self.K1 + 1) / (tf + norm)
                matched[index] += idf
        query_set = set(query)
        hits = []
        for index, score in scores.items():
            title_overlap = len(query_set & self._title_terms[index]) / len(query_set)
            coverage = matched[index] / total_weight
            confidence = min(1.0, 0.75 * coverage + 0.25 * title_overlap)
            hits.append(Hit(self.sections[index], score * (1 + title_overlap), confidence))
        hits.sort(key=lambda h: (h.score, h.confidence), reverse=True)
        return hits[:limit]
