"""Search over the corpus: BM25F on normalised terms, typo repair, synonyms, honest confidence.

Why our own BM25 rather than a package: the corpus is a few hundred sections (twenty thousand
at most), the term normalisation (British/American spelling, domain synonyms, typo repair) has
to happen inside the index anyway, and a small inverted index with the per-posting weights
computed at build time answers in well under a millisecond with no numpy start-up cost, which
keeps `sps-bot ask` fast from a cold start.

Ranking, in order:
1. Known paraphrases are rewritten into the documents' wording. The question then becomes
   *concepts*: each informative word (repaired if misspelt) with its domain synonyms. A concept
   scores a section by its best variant, so a synonym never counts twice.
2. BM25 over one bag per section in which the section heading counts TITLE_WEIGHT times and
   the document title once (FAQ headings are the questions themselves).
3. The best candidates are re-scored with features BM25 does not see: how much of the
   question's information (IDF) the heading covers, adjacent word pairs shared with the
   section, and whether the section holds the kind of fact the question type asks for.
4. Confidence is the IDF-weighted share of the question the section accounts for, lifted by
   heading agreement; words the corpus has never seen count against it, which is how questions
   about things the documents do not cover ("parking", "wifi") are refused.
"""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import process
from rapidfuzz.distance import OSA

from knowledge.corpus import Section
from knowledge.terms import (
    NEGATIONS,
    RELATED,
    RELATED_WEIGHT,
    STOPWORDS,
    british,
    normalise_term,
    rewrite,
    terms,
    words,
)

__all__ = ["Hit", "SearchIndex", "terms", "words"]

# What a question type asks for, and a pattern for text that can supply it.
_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
QUESTION_TYPES = [
    (re.compile(r"\bhow\s+much\b|\bcost\b|\bprice\b|\bmaximum\b|\bmost\b.*\bclaim\b"),
     re.compile(r"£\s?\d")),
    (re.compile(r"\bhow\s+long\b|\bduration\b|\bhow\s+soon\b"),
     re.compile(r"\b(?:minutes?|mins|hours?|days?|weeks?|months?)\b")),
    (re.compile(r"\bhow\s+many\b|\bhow\s+often\b|\bnumber\s+of\b"),
     re.compile(r"\b(?:\d+|two|three|four|five|six|seven|eight|nine|ten|twelve)\b")),
    (re.compile(r"\bwhen\b|\bwhat\s+time\b|\bwhat\s+date\b|\bdates?\b"),
     re.compile(rf"\b(?:{_MONTHS}|monday|tuesday|wednesday|thursday|friday|\d{{1,2}}[.:]\d\d"
                r"|\d{1,2}\s?[ap]m|weeks?|evening|night|day)\b", re.IGNORECASE)),
    (re.compile(r"\bwho\b|\bcontact\b|\bphone\b|\bemail\b"),
     re.compile(r"@|\b0\d{3,4}\s?\d{3}\s?\d{3,4}\b|\b[A-Z][a-z]+ [A-Z][a-z]+\b")),
    (re.compile(r"\bwhere\b|\bvenue\b|\blocation\b"),
     re.compile(r"\b(?:venue|location|held|hotel|site|room|London|Leeds|Birmingham|Manchester)"
                r"\b")),
]


@dataclass(frozen=True)
class Hit:
    section: Section
    score: float  # BM25 with the re-scoring features, for ranking
    confidence: float  # 0..1: how much of the question the section accounts for
    coverage: float = 0.0  # share of the question's information (IDF) found in the section
    title_cover: float = 0.0  # share found in its headings
    unknown: float = 0.0  # share of the question's information the corpus has no word for


@dataclass(frozen=True)
class Concept:
    """One informative idea in the question and the indexed terms that can express it."""

    term: str  # the normalised question word
    variants: tuple[tuple[str, float], ...]  # (indexed term, weight)
    weight: float  # IDF of the idea: what matching it is worth; unknown words weigh most


class SearchIndex:
    """An inverted BM25 index over sections, heading terms counted extra."""

    K1 = 1.2
    B = 0.6
    TITLE_WEIGHT = 3
    DOCUMENT_WEIGHT = 1
    RESCORE = 30  # candidates that get the feature re-scoring
    COMMON_POSTINGS = 200  # an idea in more sections than this (or 1%) is "common"
    # A corpus word is a known spelling; an unknown question word within this many edits of one
    # is taken to be a typo of it (OSA counts a swapped pair of letters as one edit).
    MAX_EDITS = ((8, 2), (5, 1))

    def __init__(self, sections: list[Section], parents: dict[str, str] | None = None) -> None:
        """`parents` maps a subsection's id to its parent heading, which is context for it."""
        parents = parents or {}
        self.sections: list[Section] = list(sections)
        postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        lengths: list[int] = []
        self._title_terms: list[frozenset[str]] = []
        self._pairs: list[frozenset[tuple[str, str]]] = []
        self._title_asks: list[frozenset[str]] = []
        spellings: Counter[str] = Counter()
        for index, section in enumerate(self.sections):
            title_words = words(section.title)
            if section.title.strip().lower() in GENERIC_HEADINGS:
                title_words += words(section.document)  # an introduction is about its document
            body_words = words(section.text)
            spellings.update(title_words)
            spellings.update(body_words)
            title = [normalise_term(w) for w in title_words if w not in STOPWORDS]
            body = [normalise_term(w) for w in body_words if w not in STOPWORDS]
            counts = Counter(body)
            for term in title:
                counts[term] += self.TITLE_WEIGHT
            for term in terms(f"{section.document} {parents.get(section.id, '')}"):
                counts[term] += self.DOCUMENT_WEIGHT
            for term, count in counts.items():
                postings[term].append((index, count))
            lengths.append(sum(counts.values()))
            self._title_terms.append(frozenset(title))
            self._title_asks.append(_asks(section.title))
            self._pairs.append(frozenset(zip(title, title[1:], strict=False))
                               | frozenset(zip(body, body[1:], strict=False)))
        count = max(len(self.sections), 1)
        average = sum(lengths) / count if lengths else 1.0
        self._idf = {term: math.log(1 + (count - len(posts) + 0.5) / (len(posts) + 0.5))
                     for term, posts in postings.items()}
        self._max_idf = math.log(1 + (count + 0.5) / 0.5)
        # BM25 term weights are fixed per posting, so they are computed once here.
        norms = [self.K1 * (1 - self.B + self.B * length / average) for length in lengths]
        self._postings: dict[str, list[tuple[int, float]]] = {
            term: [(i, self._idf[term] * tf * (self.K1 + 1) / (tf + norms[i])) for i, tf in posts]
            for term, posts in postings.items()
        }
        self._spellings = spellings
        # Known spellings grouped by length, so a typo is compared with few candidates.
        self._by_length: dict[int, list[str]] = defaultdict(list)
        for word in list(spellings) + sorted(STOPWORDS):
            if word.isalpha():
                self._by_length[len(word)].append(word)

    def idf(self, term: str) -> float:
        return self._idf.get(term, self._max_idf)

    def known(self, term: str) -> bool:
        return term in self._postings

    @lru_cache(maxsize=16384)  # noqa: B019 - the index lives as long as the process
    def correct(self, word: str) -> str | None:
        """The known spelling an unknown word most likely is, or None.

        Fewest edits wins, then a content word over a function word, then the commoner word.
        """
        if len(word) == 4 and word.isalpha():
            return self._correct_short(word)
        limit = next((edits for size, edits in self.MAX_EDITS if len(word) >= size), 0)
        if not limit or not word.isalpha():
            return None
        best: tuple[int, bool, int, str] | None = None
        for size in range(len(word) - limit, len(word) + limit + 1):
            for candidate, distance, _ in process.extract(
                    word, self._by_length.get(size, ()), scorer=OSA.distance,
                    score_cutoff=limit, limit=None):
                key = (int(distance), candidate in STOPWORDS, -self._spellings[candidate],
                       candidate)
                if best is None or key < best:
                    best = key
        return best[3] if best else None

    def _correct_short(self, word: str) -> str | None:
        """Four letters leave too many real words one edit apart ("code"/"come"), so only a
        swapped pair of letters, or a function word with one letter missing, is repaired."""
        for i in range(3):
            swapped = word[:i] + word[i + 1] + word[i] + word[i + 2:]
            if swapped in self._spellings or swapped in STOPWORDS:
                return swapped
        return next((w for w in self._by_length.get(5, ()) if w in STOPWORDS
                     and OSA.distance(word, w) == 1), None)

    def concepts(self, text: str) -> list[Concept]:
        """The question's informative ideas, typos repaired and synonyms attached."""
        found: dict[str, Concept] = {}
        for word in words(rewrite(text)):
            term = normalise_term(word)
            if word in STOPWORDS or term in STOPWORDS:
                continue
            if term not in self._postings and british(word) not in self._spellings:
                repaired = self.correct(word)
                if repaired is not None:
                    if repaired in STOPWORDS:
                        continue  # a misspelt function word ("waht")
                    term = normalise_term(repaired)
            if term in found:
                continue
            variants = [(term, 1.0)] if term in self._postings else []
            variants += [(other, RELATED_WEIGHT) for other in RELATED.get(term, ())
                         if other in self._postings]
            idf = max((self._idf[t] for t, _ in variants), default=self._max_idf)
            found[term] = Concept(term, tuple(variants), idf)
        return list(found.values())

    def search(self, text: str, limit: int = 3) -> list[Hit]:
        concepts = self.concepts(text)
        total = sum(c.weight for c in concepts)
        if not concepts or total <= 0:
            return []
        unknown = sum(c.weight for c in concepts if not c.variants) / total
        scores: dict[int, float] = defaultdict(float)
        matched: dict[int, float] = defaultdict(float)
        # Rare ideas first. A long posting list of a synonym, or of any idea past the two rarest,
        # only re-weighs the sections already found: this keeps 20,000 sections fast.
        common = max(self.COMMON_POSTINGS, len(self.sections) // 100)
        for rank, concept in enumerate(sorted(concepts, key=lambda c: -c.weight)):
            best: dict[int, tuple[float, float]] = {}
            for term, weight in concept.variants:
                postings = self._postings[term]
                found = scores or best
                if len(postings) > common and found and (rank >= 2 or weight < 1.0):
                    postings = [(i, v) for i, v in postings if i in found]
                for index, value in postings:
                    value *= weight
                    if index not in best or value > best[index][0]:
                        best[index] = (value, weight)
            for index, (value, weight) in best.items():
                scores[index] += value
                matched[index] += concept.weight * weight
        if not scores:
            return []
        folded = text.lower()
        wanted = [answer for question, answer in QUESTION_TYPES if question.search(folded)]
        query_pairs = frozenset(zip((c.term for c in concepts),
                                    (c.term for c in concepts[1:]), strict=False))
        negative = any(w in NEGATIONS for w in words(text))
        asks = _asks(text)
        shortlist = heapq.nlargest(self.RESCORE, scores, key=scores.__getitem__)
        hits = []
        for index in shortlist:
            section = self.sections[index]
            title_share = sum(c.weight for c in concepts
                              if any(t in self._title_terms[index] for t, _ in c.variants))
            title_cover = title_share / total
            coverage = min(1.0, matched[index] / total)
            pairs = len(query_pairs & self._pairs[index])
            fits = sum(1 for pattern in wanted if pattern.search(section.text))
            states_exception = negative and _NEGATIVE_TEXT.search(section.text) is not None
            # A heading that is itself a question agrees or disagrees on what is asked.
            title_asks = self._title_asks[index]
            agree = 1.0 if not asks or not title_asks else 1.25 if asks & title_asks else 0.85
            score = scores[index] * (1 + 0.6 * title_cover) * (1 + 0.15 * pairs) \
                * (1 + 0.15 * fits) * (1.1 if states_exception else 1.0) * (0.5 + coverage) * agree
            # Weights fitted on one half of the development questions, checked on the other.
            confidence = max(0.0, min(1.0, 0.8 * coverage + 0.4 * title_cover - 0.2 * unknown))
            hits.append(Hit(section, score, confidence, coverage, title_cover, unknown))
        hits.sort(key=lambda h: (h.score, h.confidence), reverse=True)
        return hits[:limit]


GENERIC_HEADINGS = frozenset({"introduction", "overview", "background", "summary"})
# What a question asks for, by the words that ask it.
_ASKS = [(kind, re.compile(pattern)) for kind, pattern in (
    ("where", r"\b(?:where|venue|location)\b"),
    ("when", r"\b(?:when|what time|what date|how often)\b"),
    ("who", r"\b(?:who|whom)\b"),
    ("why", r"\bwhy\b"),
    ("how long", r"\bhow long\b"),
    ("how many", r"\bhow many\b"),
    ("how much", r"\bhow much\b"),
)]


def _asks(text: str) -> frozenset[str]:
    text = text.lower()
    return frozenset(kind for kind, pattern in _ASKS if pattern.search(text))


_NEGATIVE_TEXT = re.compile(r"\b(?:not|no|unless|rather than|never|cannot)\b", re.IGNORECASE)
