"""Answer-extractor auto-detection: GSM8K-style references ('#### <number>') get the
final-number extractor, anything else none; the choice is stored and stated in the report."""

from __future__ import annotations

import pytest

from evaluation.extract import detect_extractor, is_gsm8k_reference, resolve_extractor
from evaluation.report import render_html
from tests.prepared import generated_workspace
from common.errors import StageError
from workbench.stages.evaluation import score
from workbench.stages.report import gather
from workbench.store import evaluation as store
from workbench.store import open_workspace


@pytest.fixture(autouse=True)
def temp_home(evaluate_cache):
    return evaluate_cache


@pytest.mark.parametrize(("text", "expected"), [
    ("She has 3 + 4 = 7 apples.\n#### 7", True), ("#### 1,234", True), ("#### -2.5  \n", True),
    ("#### $18", True), ("The answer is 7.", False), ("#### seven", False), ("####", False),
    ("#### 7\nThen more text.", False), ("", False)])
def test_a_gsm8k_reference_ends_with_four_hashes_and_a_number(text, expected):
    assert is_gsm8k_reference(text) is expected


def test_detection_is_all_or_nothing_over_the_filled_references():
    assert detect_extractor(["2 + 2 = 4\n#### 4", "#### 10", "  "]) == "gsm8k"
    assert detect_extractor(["#### 4", "four"]) is None
    assert detect_extractor(["a poem", "another"]) is None
    assert detect_extractor([]) is None


def test_resolve_names_the_choice_and_refuses_unknown_extractors():
    assert resolve_extractor("auto", ["#### 4"]) == (
        "gsm8k", "auto-detected: every reference ends with '#### <number>' (GSM8K)")
    assert resolve_extractor(None, ["four"])[0] is None
    assert resolve_extractor("none", ["#### 4"]) == (None, "none (switched off)")
    assert resolve_extractor("last_number", ["four"])[0] == "last_number"
    with pytest.raises(ValueError, match="unknown answer extractor 'roman'"):
        resolve_extractor("roman", ["#### 4"])


def test_score_detects_gsm8k_references_and_the_report_says_so(tmp_path):
    root = generated_workspace(
        tmp_path / "ws", {1: "3 + 4 = 7\n#### 7", 2: "2 * 600 = 1200\n#### 1,200", 3: "#### 5"},
        {1: ("It is 8.", "So 7."), 2: ("1200 dollars", "$1,200"), 3: ("5 or 6", "#### 5")})
    summary = score(root)
    assert summary["extractor"] == "gsm8k"
    with open_workspace(root) as ws:
        accuracy = {s: v["answer_accuracy"] for s, v in store.example_scores(ws, "gen-1").items()}
    # last number: base 8 ≠ 7, 1200 = 1200, 6 ≠ 5; tuned 7, 1200, 5 all right
    assert accuracy == {"base": {1: 0.0, 2: 1.0, 3: 0.0}, "tuned": {1: 1.0, 2: 1.0, 3: 1.0}}
    assert summary["all_metrics"]["tuned"]["answer_accuracy"] == 1.0
    page = render_html(gather(root))
    assert ("Answer extractor: auto-detected: every reference ends with &#x27;#### "
            "&lt;number&gt;&#x27; (GSM8K).") in page
    assert "<td>answer accuracy</td><td>mean over rows</td><td>0.3333</td><td>1</td>" in page


def test_prose_references_get_no_extractor_and_a_named_one_still_works(tmp_path):
    root = generated_workspace(tmp_path / "ws", {1: "Paris.", 2: "#### 4"},
                               {1: ("Paris", "Lyon"), 2: ("4", "5")})
    summary = score(root)
    assert (summary["extractor"], "answer_accuracy" in summary["all_metrics"]["base"]) == (
        None, False)
    named = score(root, "last_number")  # "Paris." has no number: example 2 alone counts
    assert (named["extractor"], named["all_metrics"]["base"]["answer_accuracy"],
            named["all_metrics"]["tuned"]["answer_accuracy"]) == ("last_number", 1.0, 0.0)
    with pytest.raises(StageError, match="unknown answer extractor"):
        score(root, "roman")
