"""One reasoning-block stripper (metrics.reasoning.strip_reasoning) for every reader of
model replies: MGSM extraction, QA answer cleaning, FLORES reply cleaning, language
identification and the judge. Its rule: complete <think>/<thinking>/<reasoning>
blocks (any case) are dropped; a reply that only closes a block (the template opened
it) starts after the last closing tag; text from an unclosed opening tag on is no
answer.

Before the unification QA, FLORES and the judge had their own strippers; the inputs
below are the ones whose outcome changed (each noted with the old outcome)."""

from __future__ import annotations

import pytest

from lm_eval_ext.families import flores, mgsm, qa
from lm_eval_ext.judge import protocols as P
from lm_eval_ext.metrics.reasoning import strip_reasoning


@pytest.mark.parametrize("reply,kept", [
    ("<think>a</think>Paris", " Paris"),
    ("<THINKING>a</THINKING>\nParis", " \nParis"),
    ("<reasoning>a\nb</reasoning>Paris", " Paris"),
    ("first we look</think>Paris", "Paris"),  # the template opened the block
    ("<think>a</think>x</think>Paris", "Paris"),  # the last closing tag counts
    ("<think>still thinking", ""),  # no answer
    ("Paris <think>but maybe", "Paris "),  # an unclosed block ends the answer
    ("Paris", "Paris"),
])
def test_the_rule(reply, kept):
    assert strip_reasoning(reply) == kept


# The same inputs through every reader: the reasoning never reaches what is scored.
def test_mgsm_qa_flores_and_the_judge_read_the_same_answer():
    assert mgsm.extract("<thinking>17?</thinking>The answer is 18.", "en", "native_cot", "strict") == "18"
    assert qa.clean_answer("<thinking>Berlin?</thinking>\nParis", "en", "en") == "Paris"
    assert flores.clean_translation("<thinking>Hallo?</thinking>\nGuten Tag.", "eng_Latn", "deu_Latn")[0] == "Guten Tag."
    sample = {"resps": [["<thinking>hmm</thinking>\nParis"]]}
    assert P.response_text(sample) == "Paris"


@pytest.mark.parametrize("reply,now,before", [
    # <thinking>/<reasoning> blocks: QA kept them as the answer's first line
    ("<thinking>Berlin?</thinking>\nParis", "Paris", "<thinking>Berlin?</thinking>"),
    # a reply that only closes the block: QA kept the reasoning before the tag
    ("the context says Berlin</think>\nParis", "Paris", "the context says Berlin"),
    ("the context says Berlin</THINK>\nParis", "Paris", "the context says Berlin</THINK>"),
    # an answer, then an unclosed block: QA gave no answer at all
    ("Paris\n<think>or was it", "Paris", ""),
])
def test_qa_answer_cleaning_on_the_inputs_that_changed(reply, now, before):
    assert qa.clean_answer(reply, "en", "en") == now != before


@pytest.mark.parametrize("reply,now,before", [
    # <thinking>/<reasoning> blocks: FLORES kept them in the translation
    ("<thinking>German?</thinking>\nGuten Tag.", "Guten Tag.", "<thinking>German?</thinking>\nGuten Tag."),
    # a translation, then an unclosed block: FLORES kept the block in the translation
    ("Guten Tag. <think>is that right", "Guten Tag.", "Guten Tag. <think>is that right"),
    # a block mid-sentence: FLORES joined the two sides without a space
    ("Guten<think>x</think>Tag.", "Guten Tag.", "GutenTag."),
])
def test_flores_reply_cleaning_on_the_inputs_that_changed(reply, now, before):
    text, cleaned = flores.clean_translation(reply, "eng_Latn", "deu_Latn")
    assert text == now != before and cleaned


@pytest.mark.parametrize("resp,now,before", [
    # the judged reply: an unclosed block was shown to the judge as the answer
    ("<think>let me see Paris", "", "<think>let me see Paris"),
    # a reply that only closes the block: the judge saw the reasoning too
    ("Berlin? no</think>Paris", "Paris", "Berlin? no</think>Paris"),
    ("<reasoning>x</reasoning>Paris", "Paris", "<reasoning>x</reasoning>Paris"),
])
def test_the_judged_reply_on_the_inputs_that_changed(resp, now, before):
    assert P.response_text({"resps": [[resp]]}) == now != before


def test_a_judge_that_never_closes_its_reasoning_gave_no_verdict():
    # the judge's own reply: before, a score line inside an unclosed block was read
    assert P.parse("da", "<think>the reference says...\nScore: 30") is None
    assert P.parse("da", "<think>unsure</think>\nScore: 70") == {"score": 70.0}
    assert P.parse("qa_equiv", "<thinking>same entity</thinking>\nVerdict: yes") == {"score": 1.0}
