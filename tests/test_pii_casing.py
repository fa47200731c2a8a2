"""Names in capitals or lower case: a second NER pass on title-cased copies of texts written
in one case (curation.pii.analyze_texts, title_case)."""

from __future__ import annotations

from curation.pii import Span, scan, title_case


def test_a_name_in_capitals_title_case_or_lower_case_is_a_person():
    texts = ["DELIA FARNSWORTH", "Delia Farnsworth", "delia farnsworth"]
    assert scan(texts) == [[Span("PERSON", 0, 16, 0.85)]] * 3


def test_title_case_keeps_the_length_of_every_text():
    text = "DELIA O'NEIL-FARNSWORTH, straße ﬁne"
    assert title_case(text) == "Delia O'neil-Farnsworth, Straße ﬁne"
    assert len(title_case(text)) == len(text)


def test_a_function_word_read_as_a_name_in_lower_case_text_is_dropped():
    assert scan(["what is my zip code"]) == [[]]
