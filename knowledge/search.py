"""Search over the corpus: BM25F on normalised terms, typo repair, synonyms, honest confidence.

Why our own BM25 rather than a package: the corpus is a few hundred sections (twenty thousand
at most), the term normalisation (British/American spelling, domain synonyms, typo repair) has
to happen inside the index anyway, and a small inverted index with the per-posting weights
computed at build time (numpy arrays, so a posting list is added in one step) answers in
well under a millisecond on the shipped corpus and a few on twenty thousand sections.

Ranking, in order:
1. Known paraphrases are rewritten into the documents' wording. The question then becomes
   *concepts*: each informative word (repaired if misspelt) with its domain synonyms. A concept
   scores a section by its best variant, so a synonym never counts twice. Everyday words
   ("people", "make") count a fraction of their IDF.
2. BM25 over one bag per section in which the section heading counts TITLE_WEIGHT times and
   the document title once (FAQ headings are the questions themselves) gives a shortlist.
3. Each shortlisted section gets a feature vector (knowledge.model.FEATURES): BM25, how much of
   the question's information (IDF) the section, its heading, its document title and its best
   single sentence cover, adjacent word pairs, fuzzy heading similarity (rapidfuzz), whether it
   holds the kind of fact the question type asks for, heading question-word agreement, length.
4. A linear ranker fitted offline (bench/fit_faq.py) orders the shortlist, and a logistic model
   over the top section's features and its lead over the runner-up gives the confidence: the
   probability that it answers the question. Words the corpus has never seen count against
   it, which is how questions about things the documents do not cover ("parking", "wifi") are
   refused.

Per-section facts (the sentences that supply each fact type, term -> sentences) are computed
at build for a corpus up to EAGER_FACTS sections and on first use beyond that (a fact type
only when a question asks for it), which keeps building a 20,000-section index quick.
"""

from __future__ import annotations

import gc
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from knowledge.corpus import Section
from knowledge.model import MAX_MARGIN as MODEL_MAX_MARGIN
from knowledge.model import answer_probability, rank_score
from knowledge.terms import (
    LIGHT_WEIGHT,
    LIGHT_WORDS,
    NEGATIONS,
    RELATED,
    RELATED_WEIGHT,
    STOPWORDS,
    fold,
    normalise_term,
    rewritten_words,
    standard_spelling,
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
    features: tuple[float, ...] = ()  # what the model saw (knowledge.model.FEATURES)


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
    ASKED_WEIGHT = 1  # a term of the section's "Also asked" phrasings, counted once
    DOCUMENT_WEIGHT = 1
    RESCORE = 10  # candidates that get the feature re-scoring
    # ... if their BM25 is at least this share of the best: in 972 development and blind
    # questions no section under 73% of the best was ever the right answer.
    RESCORE_FLOOR = 0.3
    # In a question of up to this many ideas every word is likely on its topic; in a longer one
    # an unknown word is likelier to be chat around it ("my inbox is a disaster, but...").
    SHORT_QUESTION = 5
    FREEZE_AT = 5000  # an index of this many sections is exempted from cyclic GC (see below)
    EAGER_FACTS = 2000  # corpora up to this many sections get their text facts at build
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
        self._title_parts: dict[int, dict[str, frozenset[int]]] = {}  # only headings with any
        self._title_text: list[str] = []
        self._document_terms: list[frozenset[str]] = []
        self._terms: list[frozenset[str]] = []
        # Per section: the heading and each "Also asked" phrasing as a set of terms.
        self._asked: list[tuple[frozenset[str], ...]] = []
        # Per section: term -> which of those phrasings (by position) hold it.
        self._asked_where: list[dict[str, tuple[int, ...]]] = []
        # Per section and fact type, the sentences that supply it; and whether the section
        # states an exception. Regexes over every body are the slowest part of a big build, so
        # a large corpus fills these on demand; a small one (the shipped corpus) up front.
        self._facts: dict[tuple[int, int], frozenset[int]] = {}  # see _fact_sentences
        self._exceptions: dict[int, bool] = {}
        self._generic: list[bool] = []
        body_lengths: list[int] = []
        self._sequences: list[tuple[str, ...]] = []  # body terms, "" where a sentence ends
        spellings: Counter[str] = Counter()
        # Token -> term: None for a function word, "" for a sentence end; filled as met.
        norm: dict[str, str | None] = dict.fromkeys(_BREAKS, "")
        context: dict[str, list[str]] = {}  # document title and parent heading -> terms
        for index, section in enumerate(self.sections):
            title_words = words(section.title)
            generic = section.title.strip().lower() in GENERIC_HEADINGS
            if generic:
                title_words += words(section.document)  # an introduction is about its document
            tokens = _TOKEN.findall(fold(section.text))  # words and sentence ends
            for token in set(tokens).difference(norm):
                norm[token] = None if token in STOPWORDS else normalise_term(token)
            spellings.update(title_words)
            asked = [rewritten_words(question) for question in (section.title, *section.asked)]
            for asked_words in asked[1:]:
                spellings.update(asked_words)
            self._asked.append(tuple(
                frozenset(normalise_term(w) for w in asked_words if w not in STOPWORDS)
                for asked_words in asked))
            asked_where: dict[str, list[int]] = defaultdict(list)
            for place, asked_terms in enumerate(self._asked[-1]):
                for term in asked_terms:
                    asked_where[term].append(place)
            self._asked_where.append({t: tuple(p) for t, p in asked_where.items()})
            spellings.update(t for t in tokens if norm[t])
            title = [normalise_term(w) for w in title_words if w not in STOPWORDS]
            sequence = tuple(term for term in map(norm.__getitem__, tokens) if term is not None)
            body = [t for t in sequence if t]
            counts = Counter(body)
            for term in title:
                counts[term] += self.TITLE_WEIGHT
            for term in frozenset().union(*self._asked[-1][1:]):
                counts[term] += self.ASKED_WEIGHT
            key = f"{section.document} {parents.get(section.id, '')}"
            if key not in context:
                context[key] = terms(key)
            for term in context[key]:
                counts[term] += self.DOCUMENT_WEIGHT
            for term, count in counts.items():
                postings[term].append((index, count))
            lengths.append(sum(counts.values()))
            self._terms.append(frozenset(counts))
            self._title_terms.append(frozenset(title))
            self._title_text.append(" ".join(sorted(set(title))))
            if section.document not in context:
                context[section.document] = terms(section.document)
            self._document_terms.append(frozenset(context[section.document]))
            self._title_asks.append(_asks(section.title))
            self._generic.append(generic)
            if parts := numbered_parts(section.title):
                self._title_parts[index] = parts
            body_lengths.append(len(body))
            self._sequences.append(sequence)
            self._pairs.append(frozenset(zip(title, title[1:], strict=False))
                               | frozenset(zip(body, body[1:], strict=False)))
        self._sentence_index: dict[int, dict[str, tuple[int, ...]]] = {}
        if len(self.sections) <= self.EAGER_FACTS:
            for index in range(len(self.sections)):
                for kind in range(len(QUESTION_TYPES)):
                    self._fact_sentences(index, kind)
                self._states_exception(index)
                self._where(index)
        count = max(len(self.sections), 1)
        average = sum(lengths) / count if lengths else 1.0
        self._idf = {term: math.log(1 + (count - len(posts) + 0.5) / (len(posts) + 0.5))
                     for term, posts in postings.items()}
        self._max_idf = math.log(1 + (count + 0.5) / 0.5)
        self._asked_weight = [tuple(sum(self._idf.get(t, self._max_idf) for t in asked) or 1.0
                                    for asked in phrasings)
                              for phrasings in self._asked]
        # Log of the body length against the corpus median: a long section matches more words
        # by chance, a one-line one rarely answers a question by itself.
        median = sorted(body_lengths)[len(body_lengths) // 2] if body_lengths else 1
        self._length_prior = [math.log((n + 1) / (median + 1)) for n in body_lengths]
        # BM25 term weights are fixed per posting, so they are computed once here.
        norms = [self.K1 * (1 - self.B + self.B * length / average) for length in lengths]
        self._postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # sections, weights
        for term, posts in postings.items():
            idf = self._idf[term]
            self._postings[term] = (
                np.fromiter((i for i, _ in posts), dtype=np.int64, count=len(posts)),
                np.fromiter((idf * tf * (self.K1 + 1) / (tf + norms[i]) for i, tf in posts),
                            dtype=np.float64, count=len(posts)))
        self._spellings = spellings
        # Known spellings grouped by length, so a typo is compared with few candidates.
        self._by_length: dict[int, list[str]] = defaultdict(list)
        for word in list(spellings) + sorted(STOPWORDS):
            if word.isalpha():
                self._by_length[len(word)].append(word)
        if len(self.sections) >= self.FREEZE_AT:
            # Millions of long-lived index objects make every full garbage collection a pause
            # of half a second in the middle of some question; frozen, the collector skips them.
            gc.freeze()

    def _fact_sentences(self, index: int, kind: int) -> frozenset[int]:
        """The sentences of the section (aligned with its term sequence) that supply fact type
        `kind` (QUESTION_TYPES); worked out when first asked for, as most questions ask for
        none and the regular expressions are the slow part of reading a long section."""
        found = self._facts.get((index, kind))
        if found is None:
            text = self.sections[index].text
            answer = QUESTION_TYPES[kind][1]
            sentences = self._sequences[index].count("") + 1
            parts = _SENTENCE_BREAK.split(text) if answer.search(text) else None
            if parts is None:
                found = frozenset()
            elif len(parts) == sentences:
                found = frozenset(n for n, part in enumerate(parts) if answer.search(part))
            else:  # folding moved a sentence end: fall back to the whole section
                found = frozenset(range(sentences))
            self._facts[index, kind] = found
        return found

    def _states_exception(self, index: int) -> bool:
        known = self._exceptions.get(index)
        if known is None:
            known = self._exceptions[index] = bool(_NEGATIVE_TEXT.search(self.sections[index].text))
        return known

    def idf(self, term: str) -> float:
        return self._idf.get(term, self._max_idf)

    def known(self, term: str) -> bool:
        return term in self._postings

    @lru_cache(maxsize=16384)  # noqa: B019 - the index lives as long as the process
    def correct(self, word: str) -> str | None:
        """The known spelling an unknown word most likely is, or None.

        Fewest edits wins, then a content word over a function word, then the commoner word.
        """
        if len(word) in (3, 4) and word.isalpha():
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
        """Three or four letters leave too many real words one edit apart ("code"/"come"), so
        only a function word with one letter missing ("wat", "wich") is repaired, or in four
        letters a swapped pair. Three-letter swaps, and negative contractions less a letter, are
        often real words ("won": "own", "wont")."""
        for i in range(3 if len(word) == 4 else 0):
            swapped = word[:i] + word[i + 1] + word[i] + word[i + 2:]
            if swapped in self._spellings or swapped in STOPWORDS:
                return swapped
        return next((w for w in self._by_length.get(len(word) + 1, ()) if w in STOPWORDS
                     and w not in NEGATIONS and OSA.distance(word, w) == 1), None)

    def _repair(self, word: str) -> str:
        """The word as the documents would spell it, if it is a typo the index can repair."""
        if word in STOPWORDS or normalise_term(word) in self._postings or \
                standard_spelling(word) in self._spellings:
            return word
        return self.correct(word) or word

    def concepts(self, text: str) -> list[Concept]:
        """The question's informative ideas, typos repaired and synonyms attached."""
        found: dict[str, Concept] = {}
        rewritten = rewritten_words(text)
        repairs = {word: self._repair(word) for word in rewritten}
        if any(repaired != word for word, repaired in repairs.items()):
            # Phrases and paraphrases again, now on the words meant: "thrid sector" is the
            # documents' "third sector".
            rewritten = rewritten_words(" ".join(repairs[word] for word in rewritten))
        for word in rewritten:
            term = normalise_term(word)
            if word in STOPWORDS or term in STOPWORDS:
                continue
            if len(word) == 1 and term not in self._postings:
                continue  # "w" for with, a stray initial: one unknown letter means nothing
            if term not in self._postings and standard_spelling(word) not in self._spellings:
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
            if word in LIGHT_WORDS:
                idf *= LIGHT_WEIGHT
            found[term] = Concept(term, tuple(variants), idf)
        return list(found.values())

    def candidates(self, text: str, shortlist: int | None = None
                   ) -> list[tuple[int, tuple[float, ...]]]:
        """The `shortlist` (default RESCORE) best BM25 sections for a question, each with its
        feature vector (knowledge.model.FEATURES), which the learned model turns into ranking
        and confidence."""
        concepts = self.concepts(text)
        total = sum(c.weight for c in concepts)
        if not concepts or total <= 0:
            return []
        unknown = sum(c.weight for c in concepts if not c.variants) / total
        # Rare ideas first. A long posting list of a synonym, or of any idea past the two rarest,
        # only re-weighs the sections already found: this keeps 20,000 sections fast. Scores
        # are one array over all sections (BM25 weights are positive: 0 means not found).
        scores = np.zeros(len(self.sections))
        scored = False
        common = max(self.COMMON_POSTINGS, len(self.sections) // 100)
        for rank, concept in enumerate(sorted(concepts, key=lambda c: -c.weight)):
            if not concept.variants:
                continue
            if len(concept.variants) == 1 and concept.variants[0][1] == 1.0:
                where, value = self._postings[concept.variants[0][0]]
                if scored and rank >= 2 and len(where) > common:
                    kept = scores[where] > 0
                    where, value = where[kept], value[kept]
                scores[where] += value
                scored = True
                continue
            # A concept scores a section by its best variant, so a synonym never counts twice.
            best = np.zeros(len(self.sections))
            for term, weight in concept.variants:
                where, value = self._postings[term]
                found = scores if scored else best
                if len(where) > common and (rank >= 2 or weight < 1.0) and found.any():
                    kept = found[where] > 0
                    where, value = where[kept], value[kept]
                best[where] = np.maximum(best[where], value * weight)
            scores += best
            scored = scored or bool(best.any())
        present = np.flatnonzero(scores)
        if not len(present):
            return []
        folded = text.lower()
        wanted = [kind for kind, (question, _) in enumerate(QUESTION_TYPES)
                  if question.search(folded)]
        query_pairs = frozenset(zip((c.term for c in concepts),
                                    (c.term for c in concepts[1:]), strict=False))
        negative = any(w in NEGATIONS for w in words(text))
        asks = _asks(text)
        query_terms = " ".join(sorted(c.term for c in concepts))
        wanted_count = min(shortlist or self.RESCORE, len(present))
        if len(present) > wanted_count:
            present = present[np.argpartition(scores[present], -wanted_count)[-wanted_count:]]
        chosen_scores = sorted(zip(scores[present].tolist(), present.tolist(), strict=True),
                               reverse=True)
        top_bm25 = chosen_scores[0][0]
        bm25 = {index: score for score, index in chosen_scores
                if score >= self.RESCORE_FLOOR * top_bm25}
        # "Phase 2" is never answered by the section headed "Phase 1".
        asked_parts = numbered_parts(text)
        chosen = [index for index in bm25 if not asked_parts
                  or not _other_part(asked_parts, self._title_parts.get(index, {}))]
        size = math.log1p(len(concepts))
        unknown_words = min(sum(1 for c in concepts if not c.variants), 3) / 3
        found_out: list[tuple[int, tuple[float, ...]]] = []
        forms = [(frozenset(t for t, _ in c.variants), c.weight) for c in concepts]
        concept_mask: dict[str, int] = defaultdict(int)  # term -> the ideas it expresses, as bits
        for n, (variants, _) in enumerate(forms):
            for term in variants:
                concept_mask[term] |= 1 << n
        cover_of = _IdeaCover([weight for _, weight in forms], total)
        for index in chosen:
            title_terms = self._title_terms[index]
            title_cover = sum(w for v, w in forms if not v.isdisjoint(title_terms)) / total
            document_terms = self._document_terms[index]
            document_cover = sum(w for v, w in forms if not v.isdisjoint(document_terms)) / total
            section_terms = self._terms[index]
            coverage = 0.0
            for concept in concepts:  # by its best variant: the word itself comes first
                for term, weight in concept.variants:
                    if term in section_terms:
                        coverage += concept.weight * weight
                        break
            coverage /= total
            sentence_cover, sentence = self._sentence_cover(index, concept_mask, cover_of)
            pairs = len(query_pairs & self._pairs[index])
            supplied = [self._fact_sentences(index, kind) for kind in wanted]
            fits = sum(1 for sentences in supplied if sentences)
            # The asked-for fact in the very sentence that matches the question best.
            sentence_fits = 1.0 if any(sentence in sentences for sentences in supplied) else 0.0
            # A heading that is itself a question agrees or disagrees on what is asked.
            title_asks = self._title_asks[index]
            agree = 0.0 if not asks or not title_asks else 1.0 if asks & title_asks else -1.0
            heading = self._title_text[index]
            asked_match, asked_cover = self._asked_match(index, concept_mask, cover_of)
            found_out.append((index, (
                math.log1p(bm25[index]),
                bm25[index] / top_bm25,
                coverage,
                title_cover,
                min(pairs, 3) / 3,
                fits / len(wanted) if wanted else 0.0,
                1.0 if wanted and not fits else 0.0,
                agree,
                1.0 if negative and self._states_exception(index) else 0.0,
                fuzz.token_set_ratio(query_terms, heading) / 100 if heading else 0.0,
                fuzz.token_sort_ratio(query_terms, heading) / 100 if heading else 0.0,
                self._length_prior[index],
                1.0 if self._generic[index] else 0.0,
                document_cover,
                unknown,
                size,
                sentence_cover,
                unknown_words,
                sentence_fits,
                unknown if len(concepts) <= self.SHORT_QUESTION else 0.0,
                asked_match,
                asked_cover,
            )))
        return found_out

    def _asked_match(self, index: int, concept_mask: dict[str, int], cover_of: _IdeaCover
                     ) -> tuple[float, float]:
        """How closely the question matches the section's heading or one of its "Also asked"
        phrasings: the best balance (F1) of the question's information the phrasing covers
        and the phrasing's information the question covers; and the best cover alone.
        `concept_mask` maps a term to the question's ideas it expresses, a bit each."""
        where = self._asked_where[index]
        ideas: dict[int, int] = {}  # phrasing -> the question's ideas it holds
        shared: dict[int, float] = {}  # phrasing -> the IDF of the terms it shares
        for term, bits in concept_mask.items():
            places = where.get(term)
            if places:
                idf = self._idf[term]
                for place in places:
                    ideas[place] = ideas.get(place, 0) | bits
                    shared[place] = shared.get(place, 0.0) + idf
        best_match = best_cover = 0.0
        weights = self._asked_weight[index]
        for place, mask in ideas.items():
            cover = cover_of[mask]
            precision = shared[place] / weights[place]
            best_match = max(best_match, 2 * cover * precision / (cover + precision))
            best_cover = max(best_cover, cover)
        return best_match, best_cover

    def _sentence_cover(self, index: int, concept_mask: dict[str, int], cover_of: _IdeaCover
                        ) -> tuple[float, int]:
        """The largest share of the question's information (IDF) one sentence of the section
        accounts for, and which sentence: words that answer together stand together; scattered
        ones match by chance."""
        where = self._where(index)
        found: dict[int, int] = {}  # sentence -> the question's ideas in it
        for term, bits in concept_mask.items():
            for sentence in where.get(term, ()):
                found[sentence] = found.get(sentence, 0) | bits
        best, place = 0.0, 0
        for sentence, mask in found.items():
            cover = cover_of[mask]
            if cover > best or (cover == best and sentence < place):
                best, place = cover, sentence
        return best, place

    def _where(self, index: int) -> dict[str, tuple[int, ...]]:
        """Term -> the sentences of the section body it occurs in (kept once computed)."""
        where = self._sentence_index.get(index)
        if where is None:
            positions: dict[str, list[int]] = {}
            sentence = 0
            for term in self._sequences[index]:
                if not term:
                    sentence += 1
                elif not positions.get(term) or positions[term][-1] != sentence:
                    positions.setdefault(term, []).append(sentence)
            where = {term: tuple(places) for term, places in positions.items()}
            self._sentence_index[index] = where
        return where

    def search(self, text: str, limit: int = 3, shortlist: int | None = None) -> list[Hit]:
        """The best sections for the question, ranked and with calibrated confidence."""
        found = self.candidates(text, shortlist)
        if not found:
            return []
        ranked = sorted(((rank_score(f), i, f) for i, f in found), reverse=True)
        hits = []
        for place, (score, index, features) in enumerate(ranked[:limit]):
            if place == 0:
                rival, rival_features = ((ranked[1][0], ranked[1][2]) if len(ranked) > 1
                                         else (score - MODEL_MAX_MARGIN, None))
            else:
                rival, rival_features = ranked[0][0], ranked[0][2]
            confidence = answer_probability(features, score, rival, rival_features)
            hits.append(Hit(self.sections[index], score, confidence,
                            coverage=features[2], title_cover=features[3],
                            unknown=features[14], features=features))
        return hits


class _IdeaCover(dict[int, float]):
    """A set of the question's ideas (a bit mask) -> the share of its information (IDF) they
    hold, each computed once per question."""

    def __init__(self, weights: list[float], total: float) -> None:
        super().__init__()
        self._weights = weights
        self._total = total

    def __missing__(self, mask: int) -> float:
        cover = sum(w for n, w in enumerate(self._weights) if mask >> n & 1) / self._total
        self[mask] = cover
        return cover


# A numbered part of a document: "Phase 2", "Appendix 3", "(Sessions 5–10)".
_NUMBERED_PART = re.compile(r"\b(phase|appendix|stage|step|part|session|module|annex)s?\s+"
                            r"(\d{1,2})(?:\s*(?:[-–]|to|and)\s*(\d{1,2}))?\b", re.IGNORECASE)


def numbered_parts(text: str) -> dict[str, frozenset[int]]:
    """Label ("phase", "session") -> the numbers the text gives it, a range in full."""
    parts: dict[str, frozenset[int]] = {}
    for found in _NUMBERED_PART.finditer(text):
        first = int(found[2])
        last = int(found[3]) if found[3] and int(found[3]) > first else first
        label = found[1].lower()
        parts[label] = parts.get(label, frozenset()) | frozenset(range(first, last + 1))
    return parts


def _other_part(asked: dict[str, frozenset[int]], heading: dict[str, frozenset[int]]) -> bool:
    """The heading numbers a part the question names, and never with the question's number."""
    return any(label in heading and heading[label].isdisjoint(numbers)
               for label, numbers in asked.items())


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


_SENTENCE_BREAK = re.compile(r"[.!?]+(?=\s)|\n")  # where _TOKEN finds a sentence end
_TOKEN = re.compile(r"[a-z0-9]+(?:&[a-z0-9]+)?|[.!?]+(?=\s)|\n")
_BREAKS = frozenset({"\n", ".", "!", "?", "..", "...", "?!", "!?"})
_NEGATIVE_TEXT = re.compile(r"\b(?:not|no|unless|rather than|never|cannot)\b", re.IGNORECASE)
