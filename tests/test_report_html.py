"""Scores per example, intervals and breakdown in the report, the self-contained HTML export
and the de-randomized ratings CSV, on a small hand-made workspace (no model needed)."""

from __future__ import annotations

import pytest

from curation.formats import Example
from evaluation.report import render_html
from tests.prepared import conv, generated_workspace
from workbench.stages.evaluation import score
from workbench.stages.report import gather
from workbench.store import evaluation as store
from workbench.store import open_workspace

REF = "the cat sat on the mat"
# example id -> (category, base output, tuned output); all references are REF
OUTPUTS = {1: ("qa", "the cat", REF), 2: ("qa", REF, REF), 3: ("math", "a dog", "the cat sat")}


@pytest.fixture(autouse=True)
def temp_home(evaluate_cache):
    return evaluate_cache


@pytest.fixture
def scored(tmp_path):
    root = generated_workspace(tmp_path / "ws", dict.fromkeys(OUTPUTS, REF),
                               {i: (base, tuned) for i, (_, base, tuned) in OUTPUTS.items()},
                               {i: {"category": category} for i, (category, _, _) in
                                OUTPUTS.items()})
    with open_workspace(root) as ws:
        store.save_losses(ws, "gen-1", [
            {"example_id": i, "system": s, "loss_sum": loss, "tokens": 4}
            for i in OUTPUTS for s, loss in (("base", 8.0), ("tuned", 4.0))])
    score(root)
    return root


def test_score_stores_every_metric_for_every_example_and_system(scored):
    with open_workspace(scored) as ws:
        per_example = store.example_scores(ws, "gen-1")
        table = store.metric_table(ws, "gen-1")
    # rouge1: "the cat" vs REF: P = 1, R = 2/6 -> F = 1/2; "the cat sat": F = 2 * 3/6 / (1 + 3/6)
    assert per_example["base"]["rouge1"] == pytest.approx({1: 0.5, 2: 1.0, 3: 0.0})
    assert per_example["tuned"]["rouge1"] == pytest.approx({1: 1.0, 2: 1.0, 3: 2 / 3})
    assert per_example["tuned"]["exact_match"] == {1: 1.0, 2: 1.0, 3: 0.0}
    assert per_example["base"]["heldout_loss"] == {1: 2.0, 2: 2.0, 3: 2.0}
    assert len(per_example["base"]) == 10  # 4 ROUGE, BLEU, chrF, EM, length, JSON, loss
    assert table["tuned"]["perplexity"] == pytest.approx(2.718281828)  # exp(1 nat/token)


def test_report_gives_paired_intervals_and_a_breakdown_by_category(scored):
    ev = gather(scored, meta_key="category")["evaluation"]
    rouge1 = ev["intervals"]["tuned"]["rouge1"]
    assert rouge1["n"] == 3 and rouge1["diff"] == pytest.approx((0.5 + 0 + 2 / 3) / 3)
    assert rouge1["low"] <= rouge1["diff"] <= rouge1["high"]
    assert ev["intervals"]["tuned"]["heldout_loss"] == {
        "n": 3, "mean": 1.0, "baseline_mean": 2.0, "diff": -1.0, "low": -1.0, "high": -1.0}
    by_group = ev["breakdown"]["by_metric"]["exact_match"]
    assert list(by_group) == ["math", "qa"]
    qa = by_group["qa"]
    assert (qa["n"], qa["mean"], qa["baseline_mean"], qa["diff"]) == (2, 1.0, 0.5, 0.5)
    assert 0.0 <= qa["low"] <= 0.5 <= qa["high"] <= 1.0
    assert by_group["math"] == {"n": 1, "mean": 0.0, "baseline_mean": 0.0, "diff": 0.0, "low": 0.0,
                                "high": 0.0}
    assert ev["meta_keys"] == ["category"]


def test_html_export_is_self_contained_and_escapes_text(scored):
    full = gather(scored)
    full["evaluation"]["lineage"]["tuned"] = {"note": "<script>alert(1)</script>"}
    page = render_html(full)
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "http://" not in page and "https://" not in page  # no external resource
    assert page.count("data:image/png;base64,") == 1  # the interval panels
    assert "Answer extractor: none: the references are not all" in page
    assert ("<td>ROUGE-1</td><td>mean over rows</td><td>0.5</td><td>0.8889</td>"
            in page)  # base, tuned means


def test_html_export_without_generations_says_so(tmp_path):
    root = tmp_path / "ws"
    with open_workspace(root) as ws:
        ws.add_dataset("t.jsonl", "t.jsonl", "openai", [Example(1, conv("Q?", "A."))], [])
    assert "No generations yet" in render_html(gather(root))


def test_m007_adds_per_example_scores_losses_and_token_counts(tmp_path):
    from workbench.store import memory_workspace

    ws = memory_workspace(tmp_path)
    columns = {(r["table_name"], r["column_name"]) for r in ws.query(
        "SELECT table_name, column_name FROM information_schema.columns")}
    assert {("generations", "new_tokens"), ("example_scores", "metric"),
            ("example_scores", "value"), ("heldout_losses", "loss_sum"),
            ("heldout_losses", "tokens")} <= columns
