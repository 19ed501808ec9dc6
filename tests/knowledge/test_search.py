"""Unit tests for term normalisation, typo repair and ranking on a tiny corpus."""

from __future__ import annotations

import pytest

from knowledge.corpus import Section
from knowledge.search import QUESTION_TYPES, SearchIndex
from knowledge.terms import RELATED, normalise_term, rewrite, standard_spelling, stem, terms


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
    assert standard_spelling("organization") == "organisation"
    assert standard_spelling("analyze") == "analyse"
    assert standard_spelling("program") == "programme"
    assert normalise_term("prioritize") == normalise_term("prioritise")
    assert normalise_term("behavior") == normalise_term("behaviour")


def test_accommodation_is_not_merged_with_accommodate():
    assert normalise_term("accommodation") != normalise_term("accommodate")


def test_multi_word_forms_fold_to_one_token():
    assert terms("B&B") == terms("bed and breakfast") == terms("accommodation")
    assert terms("patient and public engagement") == terms("PPE")
    assert terms("key lines of inquiry") == terms("KLOE") == terms("lines of enquiry")


def test_stopwords_are_dropped():
    assert terms("what is the") == []


def test_paraphrases_add_the_documents_wording():
    assert "partnership not working" in rewrite("what if my partnership breaks down")
    assert "expected to" in rewrite("what am I supposed to do")
    assert "contribute" in rewrite("everyone gets a say")
    assert "contribute" in rewrite("do we have a say in it")
    assert "member of" in rewrite("who sits on the peer team")


def test_scribbled_jottings_are_notes():
    for word in ("scribbled", "jottings", "handwritten"):
        assert normalise_term("notes") in RELATED[normalise_term(word)]


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


def test_three_letter_words_are_repaired_only_into_a_longer_function_word(index):
    assert index.correct("wat") in {"what", "want"} and index.correct("wen") == "when"
    assert index.correct("won") is None  # a swap would make "own": both are real words
    assert index.correct("gym") is None


def test_ranking_uses_typo_repair(index):
    assert top(index, "expences for my hotel") == "faq/expenses"


def test_ranking_uses_synonyms(index):
    assert top(index, "hotel costs in London") == "faq/expenses"
    assert top(index, "do I need to shred my notebook") == "brief/notes"


def test_question_word_in_the_heading_decides_between_twins(index):
    assert top(index, "where will the peer to peer sessions take place") == "faq/where"
    assert top(index, "when will the peer to peer sessions take place") == "faq/when"


def test_a_numbered_part_is_never_answered_by_another_number():
    phases = SearchIndex([
        Section("r/one", "Report", "r.txt", "Phase 1 - Getting started (Sessions 1-2)",
                "What's planned for sessions 1 and 2: getting to know each other."),
        Section("r/two", "Report", "r.txt", "Phase 2 - A shared model (Sessions 3-4)",
                "Developing a picture of what a shared model might be."),
        Section("r/three", "Report", "r.txt", "Phase 3 - Testing approaches (Sessions 5-10)",
                "An action research cycle."),
    ])
    assert top(phases, "phase 2 sessions") == "r/two"
    assert top(phases, "what happens in session 7?") == "r/three"  # inside a range
    assert top(phases, "what happens in sessions 1 and 2") == "r/one"
    assert [hit.section.id for hit in phases.search("phase 4", limit=3)] == []


def test_negative_question_finds_the_exception(index):
    assert top(index, "is accommodation covered for the peer sessions?") == "faq/overnight"


def test_unknown_words_lower_confidence(index):
    known = index.search("overnight accommodation", limit=1)[0].confidence
    unknown = index.search("overnight accommodation wifi password", limit=1)[0].confidence
    assert unknown < known


def test_empty_and_stopword_questions_find_nothing(index):
    assert index.search("") == []
    assert index.search("what is the") == []


def test_model_weights_match_the_features():
    from knowledge import model

    assert len(model.RANK_WEIGHTS) == len(model.FEATURES)
    assert len(model.ANSWER_WEIGHTS) == len(model.ANSWER_FEATURES)
    features = (0.5,) * len(model.FEATURES)
    assert len(model.answer_features(features, 1.0, 0.0)) == len(model.ANSWER_FEATURES)


def test_candidates_have_one_value_per_feature(index):
    from knowledge import model

    found = index.candidates("expenses for my hotel in London")
    assert found
    assert all(len(features) == len(model.FEATURES) for _, features in found)


def test_confidence_is_a_probability(index):
    for question in ("hotel costs in London", "where will the sessions take place", "lasagne"):
        for hit in index.search(question, limit=3):
            assert 0.0 <= hit.confidence <= 1.0


def test_best_sentence_covers_the_question(index):
    # "destroyed" and "report" share one sentence of the notes section.
    found = dict(index.candidates("are notes destroyed after the report"))
    position = SECTIONS.index(next(s for s in SECTIONS if s.id == "brief/notes"))
    assert found[position][model_feature("sentence_cover")] > 0.5


def test_everyday_words_weigh_less_than_topic_words(index):
    weights = {c.term: c.weight for c in index.concepts("people notes")}
    assert weights[normalise_term("people")] < weights[normalise_term("notes")]


def test_large_corpus_fills_section_facts_on_demand():
    many = [Section(f"d/{n}", "Doc", "d.txt", f"Heading {n}", f"Text number {n}. It costs £{n}.")
            for n in range(30)]
    small = SearchIndex(many)
    assert len(small._facts) == 30 * len(QUESTION_TYPES)  # a small corpus: filled at build
    SearchIndex.EAGER_FACTS, saved = 10, SearchIndex.EAGER_FACTS
    try:
        lazy = SearchIndex(many)
        assert lazy._facts == {}
        assert lazy.search("number 7", limit=1)
        assert lazy._facts == {}  # a question that asks for no fact type reads none
        assert lazy.search("how much does number 7 cost", limit=1)[0].section.id == "d/7"
        # only the asked-for type ("how much": a £ amount), for the shortlisted sections only
        assert {kind for _, kind in lazy._facts} == {0}
        assert 0 < len(lazy._facts) <= SearchIndex.RESCORE
    finally:
        SearchIndex.EAGER_FACTS = saved


def model_feature(name):
    from knowledge import model

    return model.FEATURES.index(name)


def test_every_section_has_a_short_unique_button_key(knowledge):
    kb = knowledge
    keys = [s.key for s in kb.sections]
    assert len(set(keys)) == len(keys) and all(len(k) == 12 for k in keys)
    section = kb.sections[5]
    assert kb.section(section.key) is section and kb.section(section.id) is section


def test_also_asked_lines_are_matched_but_never_shown(tmp_path):
    from knowledge.base import KnowledgeBase
    from knowledge.corpus import load_corpus

    (tmp_path / "guide.md").write_text(
        "# Guide\nSource: guide.txt\n\n"
        "## Will expenses be paid?\n"
        "Also asked: can I get my money back for the train\n"
        "also asked:   \n"
        "Peers can claim up to £150 for accommodation within London.\n\n"
        "## Data protection\n"
        "Notes should be destroyed once the report is signed off.\n", encoding="utf-8")
    report = load_corpus(tmp_path)
    expenses = report.sections[0]
    assert expenses.asked == ("can I get my money back for the train",)
    assert "Also asked" not in expenses.text and "money back" not in expenses.text
    assert report.documents == [("guide.md", 2, 1)]
    index = SearchIndex(report.sections)
    # "money back" and "train" are nowhere in the text: only the phrasing connects them.
    assert top(index, "money back for the train?") == "guide/will-expenses-be-paid"
    answer = KnowledgeBase(report.sections).ask("can I get my money back for the train")
    assert "Also asked" not in answer.excerpt


def test_a_detail_asked_for_needs_a_section_that_states_it():
    from knowledge.base import TEAM_DOCUMENT, detail_missing

    venue = Section(id="faq/venue", document="FAQ", source="faq.md", title="Where is it?",
                    text="The day is held at the Met Hotel, Leeds.")
    assert detail_missing("is there parking at the venue?", venue)
    assert not detail_missing("where is the venue?", venue)
    parked = Section(id="faq/venue", document="FAQ", source="faq.md", title="Where is it?",
                     text="The Met Hotel, Leeds, has a car park.")
    assert not detail_missing("is there parking at the venue?", parked)
    # the programme team's word stands: their own answer, or their "Also asked" for a section
    team = Section(id="team/1", document=TEAM_DOCUMENT, source="programme team",
                   title="Is there parking?", text="Yes, at the NCP next door.")
    assert not detail_missing("is there parking at the venue?", team)
    cited = Section(id="faq/venue", document="FAQ", source="faq.md", title="Where is it?",
                    text="The day is held at the Met Hotel, Leeds.",
                    asked=("is there parking at the venue",))
    assert not detail_missing("is there parking at the venue?", cited)
    assert detail_missing("is there parking for the workshop?", cited)  # about another thing
    contact = Section(id="faq/contact", document="FAQ", source="faq.md", title="Contact",
                      text="Gareth Davies, gareth.davies@fmlm.ac.uk")
    assert not detail_missing("what is Gareth's email address?", contact)
    assert detail_missing("what is Gareth's phone number?", contact)
    assert detail_missing("where can I download the charter?", contact)
    stay = Section(id="faq/stay", document="FAQ", source="faq.md", title="Accommodation",
                   text="One night in a hotel is paid for each development day.")
    assert detail_missing("which hotel are we staying in?", stay)  # no hotel is named
    assert not detail_missing("which hotel are we staying in?", Section(
        id="faq/stay", document="FAQ", source="faq.md", title="Venue",
        text="The day is at the Ambassadors Hotel, Bloomsbury."))
    assert detail_missing("is there a template for the report?", stay)
    assert detail_missing("can I bring a colleague along to the development day?", stay)
    assert not detail_missing("can I bring a colleague along?", Section(
        id="faq/guests", document="FAQ", source="faq.md", title="Guests",
        text="Each participant may bring a guest to the celebration event."))
    assert detail_missing("how do I apply for next year?", stay)
    assert detail_missing("how do I apply for next year?", Section(  # 'applicable' is no way in
        id="faq/defer", document="FAQ", source="faq.md", title="Deferring",
        text="A deferral to next year is not applicable after misconduct."))
    notes = Section(id="b/notes", document="Briefing", source="b.md", title="Evidence",
                    text="Post-it notes are a way of recording the key points from meetings.")
    assert detail_missing("are the peer sessions recorded?", notes)  # notes, not a video
    assert detail_missing("who is my expert peer?", notes)  # no document names a partner


def test_how_many_wants_a_number_of_the_thing_counted():
    from knowledge.base import detail_missing

    def section(text: str) -> Section:
        return Section(id="d/s", document="D", source="d.md", title="Meetings", text=text)

    assert not detail_missing("how many sessions will we have?",
                              section("Peers take part in six to eight peer support sessions."))
    assert not detail_missing("how many people can join?",  # people are counted as places
                              section("There was a maximum of 12 places on the set."))
    assert detail_missing("how many people are on the programme?",
                          section("The programme has three development days."))


def test_a_detail_counts_only_in_a_sentence_about_what_is_asked():
    from knowledge.base import detail_missing

    events = Section(id="faq/events", document="FAQ", source="faq.md", title="Events",
                     text="The orientation session is on 28 January, 2:00pm to 3:30pm.\n\n"
                          "Development days are held on 18 March and 8 July.\n\n"
                          "Email: team@example.org",
                     asked=("what time is the orientation webinar",))
    assert not detail_missing("what time is the orientation session?", events)
    # the 2pm is the orientation's, and the team's "Also asked" is about the orientation too
    assert detail_missing("what time does the development day start?", events)
    assert not detail_missing("what is the email address for the events team?", events)
