"""Unit tests for term normalisation, typo repair and ranking on a tiny corpus."""

from __future__ import annotations

import pytest

from knowledge.corpus import Section
from knowledge.search import SearchIndex
from knowledge.terms import british, normalise_term, rewrite, stem, terms


@pytest.mark.parametrize(("word", "expected"), [
    ("caresses", "caress"), ("ponies", "poni"), ("hopping", "hop"), ("relational", "relat"),
    ("generalization", "gener"), ("meetings", "meet"), ("destroyed", "destroi"),
])
def test_porter_stemmer_matches_reference_outputs(word, expected):
    assert stem(word) == expected


def test_inflections_share_a_stem():
    assert normalise_term("triangulating") == normalise_term("triangulate")
    assert normalise_term("expectations") == normalise_term("expected")
    assert normalise_term("confidentiality") == normalise_term("confidential")


def test_american_spellings_become_british():
    assert british("organization") == "organisation"
    assert british("analyze") == "analyse"
    assert british("program") == "programme"
    assert normalise_term("prioritize") == normalise_term("prioritise")
    assert normalise_term("behavior") == normalise_term("behaviour")


def test_accommodation_is_not_merged_with_accommodate():
    assert normalise_term("accommodation") != normalise_term("accommodate")


def test_multi_word_forms_fold_to_one_token():
    assert terms("B&B") == terms("bed and breakfast") == terms("accommodation")
    assert terms("patient and public engagement") == terms("PPE")
    assert terms("key lines of inquiry") == terms("KLOE")


def test_stopwords_are_dropped():
    assert terms("what is the") == []


def test_paraphrases_add_the_documents_wording():
    assert "partnership not working" in rewrite("what if my partnership breaks down")
    assert "expected to" in rewrite("what am I supposed to do")


SECTIONS = [
    Section("faq/expenses", "FAQ", "faq.txt", "Will expenses be paid?",
            "Peers can claim up to £150 for accommodation (bed and breakfast) within London."),
    Section("faq/overnight", "FAQ", "faq.txt", "Will overnight accommodation be provided?",
            "We will not reimburse overnight accommodation for the peer to peer sessions."),
    Section("faq/where", "FAQ", "faq.txt", "Where will the peer to peer sessions take place?",
            "Sessions are held face to face or virtually to accommodate the needs of each pair."),
    Section("faq/when", "FAQ", "faq.txt", "When will the peer to peer sessions take place?",
            "Sessions are held six to eight times on agreed dates."),
    Section("brief/notes", "Briefing", "b.txt", "Data protection",
            "Notes should be destroyed once the report is signed off."),
]


@pytest.fixture(scope="module")
def index():
    return SearchIndex(SECTIONS)


def top(index, question):
    return index.search(question, limit=1)[0].section.id


def test_typo_is_repaired_against_the_vocabulary(index):
    assert index.correct("accomodation") == "accommodation"
    assert index.correct("expences") == "expenses"
    assert index.correct("waht") == "what"  # a misspelt function word
    assert index.correct("lasagne") is None


def test_four_letter_words_are_not_repaired_by_substitution(index):
    # "code" is one substitution from "come": a real word, not a typo.
    assert index.correct("code") is None


def test_ranking_uses_typo_repair(index):
    assert top(index, "expences for my hotel") == "faq/expenses"


def test_ranking_uses_synonyms(index):
    assert top(index, "hotel costs in London") == "faq/expenses"
    assert top(index, "do I need to shred my notebook") == "brief/notes"


def test_question_word_in_the_heading_decides_between_twins(index):
    assert top(index, "where will the peer to peer sessions take place") == "faq/where"
    assert top(index, "when will the peer to peer sessions take place") == "faq/when"


def test_negative_question_finds_the_exception(index):
    assert top(index, "is accommodation covered for the peer sessions?") == "faq/overnight"


def test_unknown_words_lower_confidence(index):
    known = index.search("overnight accommodation", limit=1)[0].confidence
    unknown = index.search("overnight accommodation wifi password", limit=1)[0].confidence
    assert unknown < known


def test_empty_and_stopword_questions_find_nothing(index):
    assert index.search("") == []
    assert index.search("what is the") == []
