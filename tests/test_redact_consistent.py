"""Redaction covers a found value wherever it occurs as a whole word in its example, with one
replacement per value, so the re-scan check passes and no mention is left in clear text."""

from __future__ import annotations

import json

import pytest

from curation.pii import Span
from curation.pii_redact import (
    RedactionPolicy,
    check_redacted,
    example_spans,
    redact_example,
    replacement,
)
from tests.conftest import write_jsonl
from workbench.stages import privacy as privacy_stage
from workbench.stages import curation as stages
from workbench.store import open_workspace
from workbench.store import privacy as store

SALT = "0123456789abcdef0123"
STORY = "Randy has 3 apples. Randy gives 1 to Samantha. Samantha and Randy eat."
# Found: "Randy" twice of three times (0-5, 20-25), "Samantha" once of twice (37-45).
FOUND = [Span("PERSON", 0, 5, 0.85), Span("PERSON", 20, 25, 0.85),
         Span("PERSON", 37, 45, 0.6)]


def test_every_mention_of_a_found_name_is_redacted_in_the_message():
    texts, _ = redact_example([STORY], [FOUND], RedactionPolicy(), SALT)
    assert texts == ["<PERSON> has 3 apples. <PERSON> gives 1 to <PERSON>. <PERSON> and "
                     "<PERSON> eat."]


def test_the_added_mentions_are_the_undetected_ones_with_the_found_type_and_score():
    spans = example_spans([STORY], [FOUND])[0]
    assert [(s.entity_type, s.start, s.end, s.score) for s in spans] == [
        ("PERSON", 0, 5, 0.85), ("PERSON", 20, 25, 0.85), ("PERSON", 37, 45, 0.6),
        ("PERSON", 47, 55, 0.6), ("PERSON", 60, 65, 0.85)]


def test_a_name_found_in_the_question_is_redacted_in_the_answer_too():
    question, answer = "How many apples does Randy keep?", "Randy keeps 2 apples."
    texts, spans = redact_example([question, answer], [[Span("PERSON", 21, 26, 0.85)], []],
                                  RedactionPolicy(), SALT)
    assert texts == ["How many apples does <PERSON> keep?", "<PERSON> keeps 2 apples."]
    assert [[(s.start, s.end) for s in found] for found in spans] == [[(21, 26)], [(0, 5)]]


def test_hash_gives_one_token_per_name_at_every_mention():
    texts, _ = redact_example([STORY], [FOUND], RedactionPolicy(default="hash"), SALT)
    randy = replacement("Randy", "PERSON", "hash", SALT)
    samantha = replacement("Samantha", "PERSON", "hash", SALT)
    assert randy != samantha
    assert texts == [f"{randy} has 3 apples. {randy} gives 1 to {samantha}. {samantha} and "
                     f"{randy} eat."]


def test_fake_gives_one_fake_name_per_name_at_every_mention():
    texts, _ = redact_example([STORY], [FOUND], RedactionPolicy(default="fake"), SALT)
    randy = replacement("Randy", "PERSON", "fake", SALT)
    samantha = replacement("Samantha", "PERSON", "fake", SALT)
    assert texts == [f"{randy} has 3 apples. {randy} gives 1 to {samantha}. {samantha} and "
                     f"{randy} eat."]


def test_only_whole_words_of_the_same_case_are_redacted():
    text = "May met Mayra in may. Randyland is May's."
    texts, _ = redact_example([text], [[Span("PERSON", 0, 3, 0.85)]], RedactionPolicy(), SALT)
    assert texts == ["<PERSON> met Mayra in may. Randyland is <PERSON>'s."]


def test_a_longer_found_value_wins_over_a_shorter_one_inside_it():
    text = "Ann Lee called. Ann Lee and Ann left."
    found = [Span("PERSON", 0, 7, 0.85), Span("PERSON", 28, 31, 0.85)]
    texts, _ = redact_example([text], [found], RedactionPolicy(default="hash"), SALT)
    full = replacement("Ann Lee", "PERSON", "hash", SALT)
    short = replacement("Ann", "PERSON", "hash", SALT)
    assert texts == [f"{full} called. {full} and {short} left."]


def test_values_shorter_than_three_characters_are_not_looked_for_elsewhere():
    text = "Al and Al went."
    texts, _ = redact_example([text], [[Span("PERSON", 0, 2, 0.85)]], RedactionPolicy(), SALT)
    assert texts == ["<PERSON> and Al went."]


def test_the_recheck_passes_when_every_mention_is_redacted():
    texts, spans = redact_example([STORY], [FOUND], RedactionPolicy(), SALT)
    rescan = [[]]  # "<PERSON>" holds no name
    assert check_redacted([STORY], texts, spans, rescan) == {"rescan_findings": 0}


def test_the_stage_redacts_an_accepted_name_in_a_message_with_no_finding(tmp_path):
    rows = [{"messages": [{"role": "user", "content": "Marta Kowalczyk has 3 apples."},
                          {"role": "assistant", "content": "Then Marta Kowalczyk eats one."}]}]
    ws = tmp_path / "ws"
    stages.ingest(ws, str(write_jsonl(tmp_path / "rows.jsonl", rows)))
    with open_workspace(ws) as w:  # the scan found the question's mention only
        w.replace_rows("pii_spans", 1, [{"example_id": 1, "message_index": 0,
                                         "entity_type": "PERSON", "start_char": 0,
                                         "end_char": 15, "score": 0.85}])
        store.decide_entity(w, 1, "PERSON", "accept", "rita", "real customer")
    done = privacy_stage.redact(ws, "rita")
    assert (done["examples"], done["spans"]) == (1, 1)
    with open_workspace(ws) as w:
        messages = w.examples(1)[0]["redacted_messages"]
    assert [m["content"] for m in messages] == [
        "<PERSON> has 3 apples.", "Then <PERSON> eats one."]


@pytest.mark.slow
def test_pipeline_redaction_of_the_first_60_gsm8k_rows_passes_its_recheck(tmp_path, shared_data):
    rows = json.loads((shared_data / "alpaca_gsm8k_train.json").read_text())[:60]
    ws = tmp_path / "ws"
    stages.ingest(ws, str(write_jsonl(tmp_path / "gsm8k60.jsonl", rows)))
    summary = stages.pii(ws, redact=True)
    with open_workspace(ws) as w:
        texts = [e["redacted_messages"] for e in w.examples(1) if e["redacted_messages"]]
    assert summary["redacted"] == len(texts) > 0
    assert not any("Natalia" in m["content"] for messages in texts for m in messages)
