"""One language test for validation and the PII scan (curation.language.uncovered_language)."""

import pytest

from curation.language import uncovered_language
from curation.pii import language_supported, scan_messages
from curation.validate import ValidateConfig, check_language

GREEK = "Η Μαρία ζει στην Αθήνα και δουλεύει σε τράπεζα."
FRENCH = "La capitale de la France est Paris, une très belle ville au bord de la Seine."
ENGLISH = "Tom has 3 apples and gives 2 to Ann. How many are left?"


@pytest.mark.parametrize("text, expected", [
    (ENGLISH, None), ("Bonjour ?", None), ("Salut, ça va bien ?", None), (GREEK, "el"),
    (FRENCH, "fr")])
def test_uncovered_language_answers(text, expected):
    found = uncovered_language(text)
    assert (found and found[0]) == expected


def test_validation_and_pii_scan_give_the_same_answer():
    for text in (ENGLISH, GREEK, FRENCH, "Bonjour ?"):
        messages = [{"role": "user", "content": text}]
        flagged = [f.code for f in check_language(0, 1, messages, ValidateConfig())]
        rows = scan_messages([messages])
        pii_flag = any(r["entity_type"] == "UNSUPPORTED_LANGUAGE" for r in rows)
        assert (flagged == ["unsupported_language"]) == pii_flag == (not language_supported(text))
    # a short Greek row (38 letters) was below validation's old 40-letter floor: now flagged
    assert check_language(0, 7, [{"role": "user", "content": GREEK}], ValidateConfig())[0] \
        .message.startswith("row 7: looks like 'el' (p=")
