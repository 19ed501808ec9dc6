"""The learned part of FAQ search: how the features of a candidate section combine into a
ranking score, and how the best candidate's features become the probability that it answers.

Both are linear models small enough to read. The weights are constants fitted offline by
`bench/fit_faq.py` on the development questions (tests/knowledge/faq_dev_set.jsonl):

- RANK_WEIGHTS: a listwise (softmax) logistic ranker. Per question, the shortlist of sections
  from BM25 is scored w·x, and training maximises the softmax probability of the right section.
  Features that are the same for every candidate of a question (unknown share, question size)
  have no ranking weight.
- ANSWER_WEIGHTS: logistic regression on the top candidate (its rank score, its margin over the
  runner-up, how much of the question it covers, ...) for "the top section is the right answer";
  off-topic questions and wrong top sections are the negatives, so refusing is learned too.

Both use L2 regularisation and features standardised while fitting (the scaling is folded back
into the constants below). The fitting script reports 5-fold cross-validated accuracy, which is
the honest estimate for unseen questions; rerun it and paste its output here when the features
or the corpus change.
"""

from __future__ import annotations

import math
from operator import mul

# The candidate features, in the order SearchIndex.candidates produces them.
FEATURES = (
    "log_bm25",  # log(1 + BM25F score)
    "bm25_ratio",  # BM25F score / best BM25F score for the question
    "coverage",  # IDF share of the question's ideas found in the section (synonyms partly)
    "title_cover",  # IDF share found in the section heading
    "pairs",  # adjacent question-word pairs also adjacent in the section (capped at 3) / 3
    "fits",  # share of asked-for fact types ("how much" -> £) the section text can supply
    "misfit",  # 1 if the question asks for a fact type the section cannot supply
    "agree",  # +1 the heading asks the same kind of question (where/when/...), -1 another
    "exception",  # negative question and the section states an exception ("not", "unless")
    "heading_set",  # rapidfuzz token_set_ratio of question terms and heading terms / 100
    "heading_sort",  # rapidfuzz token_sort_ratio of the same / 100
    "length",  # log(body length / median body length)
    "generic",  # 1 if the heading is "Introduction", "Overview", ...
    "document_cover",  # IDF share of the question found in the document title
    "unknown",  # IDF share of the question the corpus has no word for (same for all)
    "size",  # log(1 + number of informative ideas in the question) (same for all)
    "sentence_cover",  # the largest IDF share of the question found in one sentence
    "unknown_words",  # informative question words the corpus has never seen, up to 3, / 3
    "sentence_fits",  # 1 if the best-matching sentence supplies an asked-for fact type
    "unknown_short",  # "unknown", in a question of at most SHORT_QUESTION ideas; else 0
    "asked_match",  # best F1 of the question against the heading or an "Also asked" phrasing
    "asked_cover",  # the largest IDF share of the question found in one such phrasing
)
# What the answer/refuse decision looks at (see answer_features).
ANSWER_FEATURES = ("score", "margin", "log_bm25", "coverage", "title_cover", "misfit",
                   "heading_set", "document_cover", "unknown", "size", "sentence_cover",
                   "unknown_words", "pairs", "agree", "sentence_fits",
                   "unknown_short", "coverage_lead", "title_lead", "asked_match",
                   "asked_cover", "asked_lead")
MAX_MARGIN = 4.0  # a rank-score lead beyond this says nothing more

# fitted by bench/fit_faq.py: 5-fold cross-validated accuracy 0.938,
# 0.942 on all 449 development questions it was fitted on
# Kept through the later vocabulary and numbered-part changes, with which they score 0.951 on
# the development set and 0.828 on the blind set; a refit scored 0.944 and 0.824 (CV 0.942).
RANK_WEIGHTS = (
    1.2138,  # log_bm25
    3.0333,  # bm25_ratio
    1.7063,  # coverage
    0.9626,  # title_cover
    1.6809,  # pairs
    0.0553,  # fits
    -0.0235,  # misfit
    1.1369,  # agree
    -0.2115,  # exception
    0.6269,  # heading_set
    0.6325,  # heading_sort
    0.1910,  # length
    -0.7270,  # generic
    0.2910,  # document_cover
    0.0000,  # unknown
    0.0000,  # size
    1.0323,  # sentence_cover
    0.0000,  # unknown_words
    0.9958,  # sentence_fits
    0.0000,  # unknown_short
    2.5537,  # asked_match
    1.2993,  # asked_cover
)
ANSWER_BIAS = -4.9884
ANSWER_WEIGHTS = (
    0.0970,  # score
    0.2645,  # margin
    0.5709,  # log_bm25
    1.1619,  # coverage
    0.1105,  # title_cover
    -0.1116,  # misfit
    0.3602,  # heading_set
    -0.1587,  # document_cover
    -0.8256,  # unknown
    0.4507,  # size
    0.4409,  # sentence_cover
    -0.2503,  # unknown_words
    0.3872,  # pairs
    0.1475,  # agree
    0.2634,  # sentence_fits
    -1.2952,  # unknown_short
    0.7100,  # coverage_lead
    0.1948,  # title_lead
    0.6065,  # asked_match
    0.2782,  # asked_cover
    0.6434,  # asked_lead
)


def rank_score(features: tuple[float, ...]) -> float:
    return sum(map(mul, RANK_WEIGHTS, features))


def answer_features(features: tuple[float, ...], score: float, rival: float,
                    rival_features: tuple[float, ...] | None = None) -> tuple[float, ...]:
    """What the answer/refuse decision looks at, for the top candidate and its runner-up
    (`rival` is the runner-up's rank score, `rival_features` its features if there is one)."""
    other = rival_features or (0.0,) * len(features)
    return (
        score,
        min(max(score - rival, 0.0), MAX_MARGIN),
        features[0],  # log_bm25
        features[2],  # coverage
        features[3],  # title_cover
        features[6],  # misfit
        features[9],  # heading_set
        features[13],  # document_cover
        features[14],  # unknown
        features[15],  # size
        features[16],  # sentence_cover
        features[17],  # unknown_words
        features[4],  # pairs
        features[7],  # agree
        features[18],  # sentence_fits
        features[19],  # unknown_short
        features[2] - other[2],  # coverage lead over the runner-up
        features[3] - other[3],  # heading cover lead over the runner-up
        features[20],  # asked_match
        features[21],  # asked_cover
        features[20] - other[20],  # asked_match lead over the runner-up
    )


def answer_probability(features: tuple[float, ...], score: float, rival: float,
                       rival_features: tuple[float, ...] | None = None) -> float:
    z = ANSWER_BIAS + sum(map(mul, ANSWER_WEIGHTS,
                              answer_features(features, score, rival, rival_features)))
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
