"""Answer quality on the development questions, with focused checks per question style."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowledge.base import MAX_EXCERPT, SURE, KnowledgeBase
from knowledge.corpus import slugify

DEV_SET = Path(__file__).with_name("faq_dev_set.jsonl")
ACCURACY_FLOOR = 0.95  # the target; achieved 0.951 on 449 questions (5-fold CV 0.942)
# Written from the documents alone by three writers who saw neither the development set nor the
# code, and never fitted on: the nearest thing to the questions real participants will type.
BLIND_SET = Path(__file__).with_name("faq_blind_set.jsonl")
BLIND_FLOOR = 0.80  # achieved 0.828 on 783 questions


@pytest.fixture(scope="module")
def kb(knowledge: KnowledgeBase) -> KnowledgeBase:
    return knowledge


def read_set(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def expected(row):
    if row["document"] is None:
        return None
    return f"{slugify(row['document'])}/{slugify(row['section'])}"


def answered_id(kb, question):
    answer = kb.ask(question)
    return answer.sources[0].id if answer.answered else None


@pytest.mark.parametrize(("question_set", "floor"), [(DEV_SET, ACCURACY_FLOOR),
                                                     (BLIND_SET, BLIND_FLOOR)])
def test_accuracy_floor(kb, question_set, floor):
    rows = read_set(question_set)
    right = sum(answered_id(kb, row["question"]) == expected(row) for row in rows)
    assert right / len(rows) >= floor


FAQ = "sps-programme-faq/"
BRIEFING = "peer-challenge-team-briefing/"


@pytest.mark.parametrize(("question", "section"), [
    ("is accomodation paid for on the developmnet days", FAQ + "will-expenses-be-paid"),
    ("time comittment for the programe", FAQ + "what-is-the-time-commitment-involved"),
    ("personnal data protection princples", BRIEFING + "data-protection-principles-and-guidance"),
    # a misspelt word of a phrase the documents use ("third sector") still makes the phrase
    ("benefits for the thrid sector",
     "ppe-action-learning-set-report/outcomes-for-third-sector-organisations"),
])
def test_typos(kb, question, section):
    assert answered_id(kb, question) == section


@pytest.mark.parametrize(("question", "section"), [
    ("is accom paid 4 dev days", FAQ + "will-expenses-be-paid"),
    ("how long shud the pairs exercise take in the focus grp",
     BRIEFING + "opening-up-discussions"),
    ("how do i close a meting w an interviewee", BRIEFING + "at-the-end-of-the-meeting"),
    ("max places on the action learning set",
     "ppe-action-learning-set-report/action-learning-set-membership"),
])
def test_text_speak_is_answered_surely(kb, question, section):
    """Short forms count as the words they stand for, so no "Not quite it?" buttons."""
    answer = kb.ask(question)
    assert answer.sources[0].id == section and answer.score >= SURE


@pytest.mark.parametrize(("question", "section"), [
    ("what does the program consist of", FAQ + "what-does-the-programme-consist-of"),
    ("how do we prioritize a positive experience for the client",
     BRIEFING + "prioritise-a-positive-experience-for-the-client"),
    ("what behavior is expected of an expert peer",
     FAQ + "what-will-be-expected-of-me-as-an-expert-peer"),
])
def test_american_spelling(kb, question, section):
    assert answered_id(kb, question) == section


@pytest.mark.parametrize(("question", "section"), [
    ("hotel costs for the development days", FAQ + "will-expenses-be-paid"),
    ("location of the July dev day",
     FAQ + "where-will-the-three-regional-development-days-take-place"),
    ("guidance for one-to-one interviews", BRIEFING + "meetings-with-individuals"),
])
def test_synonyms(kb, question, section):
    assert answered_id(kb, question) == section


@pytest.mark.parametrize(("question", "section"), [
    ("is accommodation covered for the peer sessions?",
     FAQ + "will-overnight-accommodation-be-provided"),
    ("travel isn't reimbursed by the programme, right?", FAQ + "will-expenses-be-paid"),
    ("do I not get to choose my own expert peer?", FAQ + "how-has-my-expert-peer-been-chosen"),
])
def test_negative_questions(kb, question, section):
    assert answered_id(kb, question) == section


@pytest.mark.parametrize(("question", "section"), [
    ("I'm between clinics and my phone is dying, but quickly — what's the most I can claim "
     "for a hotel outside London?", FAQ + "will-expenses-be-paid"),
    ("sat in a very long board meeting. what kinds of peer review did the survey ask people "
     "about", "larger-networks-of-peer-support/how-peer-review-is-used"),
    # the padding ends at a comma before the question word
    ("I've been asked by my CEO and my inbox is a disaster, what do I do with my notes "
     "afterwards?", "peer-challenge-team-briefing/data-protection-principles-and-guidance"),
])
def test_padded_questions(kb, question, section):
    assert answered_id(kb, question) == section


@pytest.mark.parametrize("question", [
    "recipe for a quick lasagne", "what's the capital of Australia", "tell me a joke",
    "how do I reset my NHSmail password", "what's the wifi password at the Ambassadors Hotel",
    "will the development days be livestreamed",
])
def test_off_topic_is_refused(kb, question):
    answer = kb.ask(question)
    assert not answer.answered
    assert answer.excerpt == ""


@pytest.mark.parametrize("question", [
    "can you send the teams link for the orientation?",
    "is the launch event going to be recorded?",
    "is there step-free access at the Leeds venue?",
    "what time does the Leeds development day finish?",
    "what time does the development day start?",  # the section gives the orientation's time
    "how many clinicians are in this year's cohort?",
    "how much funding did the learning set get?",
])
def test_a_detail_the_documents_do_not_give_is_refused_not_answered_by_its_topic(kb, question):
    # The section about the event matches every other word; it gives no link, time or access.
    answer = kb.ask(question)
    assert not answer.answered, answer.sources
    assert answer.suggestions  # that section is still one tap away


@pytest.mark.parametrize(("question", "section"), [
    ("how many peer sessions are there?", "When will the peer to peer sessions take place?"),
    ("how many hours is the time commitment?", "What is the time commitment involved?"),
])
def test_a_count_given_in_other_words_still_answers(kb, question, section):
    # "six to eight times", "five and a half to six and a half days"
    answer = kb.ask(question)
    assert answer.answered and answer.sources[0].title == section


@pytest.mark.parametrize(("question", "section"), [
    ("sorry, typing this from the car park - where are the development days?",
     "Where will the three regional development days take place?"),
    ("reading this on my lunch break: what does the orientation session cover?",
     "What does the programme consist of?"),
])
def test_a_detail_mentioned_in_an_aside_is_not_what_is_asked(kb, question, section):
    answer = kb.ask(question)
    assert answer.answered and answer.sources[0].title == section


def test_expenses_excerpt_is_short_and_has_the_amount(kb):
    answer = kb.ask("how much can I claim for a hotel in London?")
    assert answer.answered
    assert len(answer.excerpt) <= MAX_EXCERPT
    assert "£150" in answer.excerpt


def test_long_section_excerpt_keeps_the_relevant_sentence(kb):
    answer = kb.ask("what do I do with my notes once the report is signed off?")
    assert answer.answered
    assert len(answer.excerpt) <= MAX_EXCERPT
    assert "destroyed" in answer.excerpt


def test_every_dev_answer_fits_a_chat_message(kb):
    for row in read_set(DEV_SET):
        answer = kb.ask(row["question"])
        assert len(answer.excerpt) <= MAX_EXCERPT


@pytest.mark.parametrize("question_set", [DEV_SET, BLIND_SET])
def test_every_expected_section_exists(kb, question_set):
    """A renamed heading must not quietly turn its questions into wrong answers."""
    ids = {section.id for section in kb.sections}
    rows = read_set(question_set)
    assert {expected(row) for row in rows} - {None} <= ids
