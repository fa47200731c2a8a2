"""The fine-tune-or-prompt verdict: the rule on hand-made metric tables and ratings, and the
report's best prompt, intervals against it and systems table."""

from __future__ import annotations

import html

import pytest

from evaluation.report import render_html
from evaluation.verdict import PROMPT_RULE, best_prompted, pair_of, prompt_verdict
from tests.prepared import generated_workspace
from workbench.stages.report import gather
from workbench.store import evaluation as store
from workbench.store import open_workspace


def interval(diff, low, high, n=40):
    return {"n": n, "diff": diff, "low": low, "high": high}


def pair(win_rate, low, high, n=120):
    return {"n": n, "win_rate": win_rate, "low": low, "high": high}


def test_a_significant_metric_win_with_a_rating_win_is_a_fine_tune_win():
    assert prompt_verdict(interval(0.08, 0.03, 0.13), pair(0.64, 0.52, 0.75),
                          "3-shot retrieved") == (
        "The fine-tune beats the best prompt (3-shot retrieved) by ROUGE-L +0.080 [+0.030, "
        "+0.130] and wins 64% [52%, 75%] of 120 blind ratings.")


def test_no_difference_on_either_says_prompting_is_as_good_and_keeps_the_prompt():
    assert prompt_verdict(interval(0.01, -0.03, 0.05), pair(0.52, 0.43, 0.61),
                          "3-shot retrieved") == (
        "Prompting is as good: the fine-tune's advantage over '3-shot retrieved' is not "
        "significant (ROUGE-L +0.010 [-0.030, +0.050]; it wins 52% [43%, 61%] of 120 blind "
        "ratings); keep the prompt.")


def test_a_prompt_ahead_on_the_metric_wins():
    assert prompt_verdict(interval(-0.05, -0.09, -0.01), None, "0-shot") == (
        "The best prompt (0-shot) beats the fine-tune by ROUGE-L +0.050 [+0.010, +0.090]; "
        "keep the prompt.")


def test_ratings_decide_when_the_metric_does_not():
    assert prompt_verdict(interval(0.01, -0.03, 0.05), pair(0.30, 0.22, 0.39), "p") == (
        "The best prompt (p) beats the fine-tune in blind ratings (ROUGE-L -0.010 [-0.050, "
        "+0.030], not significant); the fine-tune wins 30% [22%, 39%] of 120 blind ratings; "
        "keep the prompt.")
    assert prompt_verdict(interval(0.01, -0.03, 0.05), pair(0.70, 0.61, 0.78), "p") == (
        "The fine-tune beats the best prompt (p) in blind ratings (ROUGE-L +0.010 [-0.030, "
        "+0.050], not significant) and wins 70% [61%, 78%] of 120 blind ratings.")


def test_metric_and_ratings_pointing_apart_is_mixed_and_few_rows_are_flagged():
    assert prompt_verdict(interval(0.05, 0.01, 0.09, n=12), pair(0.30, 0.22, 0.39), "p") == (
        "Mixed evidence against the best prompt (p): ROUGE-L +0.050 [+0.010, +0.090], but the "
        "fine-tune wins 30% [22%, 39%] of 120 blind ratings; look at the per-category "
        "breakdown and rate more. Too few held-out rows for a firm conclusion.")


def test_the_payback_clause_is_appended_where_the_cost_section_gives_one():
    assert prompt_verdict(interval(0.08, 0.03, 0.13), None, "p", payback=(
        "it pays back its 14 minutes of training after ~2,300 requests")) == (
        "The fine-tune beats the best prompt (p) by ROUGE-L +0.080 [+0.030, +0.130]; no blind "
        "ratings yet; it pays back its 14 minutes of training after ~2,300 requests.")


def test_the_cost_sections_clause_ends_the_verdict_with_one_stop():
    from evaluation.cost import payback_clause

    cost = {"best_prompted": "p", "systems": {
        "tuned": {"training_seconds": 600.0, "seconds_per_request": 0.5},
        "p": {"training_seconds": None, "seconds_per_request": 1.0}}}
    assert prompt_verdict(interval(0.08, 0.03, 0.13), None, "p",
                          payback=payback_clause(cost)) == (
        "The fine-tune beats the best prompt (p) by ROUGE-L +0.080 [+0.030, +0.130]; no blind "
        "ratings yet; it pays back its 10 minutes of training after 1,200 requests.")


def test_a_kept_prompt_gets_no_pay_back_clause():
    text = prompt_verdict(interval(-0.045, -0.083, -0.002), None, "p",
                          payback="it pays back its 35 seconds of training after 88 requests.")
    assert text == ("The best prompt (p) beats the fine-tune by ROUGE-L +0.045 [+0.002, +0.083]; "
                    "keep the prompt.")


def test_a_pair_stored_the_other_way_round_is_flipped():
    row = {"system": "tuned", "other": "3-shot", "wins": 2, "losses": 6, "ties": 0, "n": 8,
           "win_rate": 0.25, "low": 0.07, "high": 0.59}
    flipped = pair_of([row], "3-shot", "tuned")
    assert (flipped["wins"], flipped["losses"], flipped["win_rate"]) == (6, 2, 0.75)
    assert (flipped["low"], flipped["high"]) == pytest.approx((0.41, 0.93))
    assert pair_of([row], "tuned", "base") is None


def test_the_best_prompt_is_the_highest_mean_rouge_l_ties_by_name():
    metrics = {"b": {"rougeL": 0.3}, "a": {"rougeL": 0.3}, "c": {"rougeL": 0.1}}
    assert best_prompted(metrics, ["c", "b", "a"]) == "a"
    assert best_prompted({"a": {}}, ["a"]) is None


# Four held-out rows; ROUGE-L per row of each system, so tuned − best prompt is exact.
# (binary fractions, so every difference is exact)
ROUGE_L = {"base": [0.125] * 4, "tuned": [0.5, 0.625, 0.75, 0.875], "0-shot": [0.25] * 4,
           "3-shot fixed": [0.375, 0.5, 0.625, 0.75]}


def _scored(root, rouge_l):
    refs = {i: f"answer {i}" for i in range(1, 5)}
    generated_workspace(root, refs, {i: ("b", "t") for i in refs})
    with open_workspace(root) as ws:
        ws.con.execute("UPDATE runs SET config = ? WHERE id = 'gen-1'", [
            '{"systems": {"base": null, "tuned": "<adapter>", "0-shot": null, '
            '"3-shot fixed": null}, "prompted": {"0-shot": {"k": 0, "shots": "fixed"}, '
            '"3-shot fixed": {"k": 3, "shots": "fixed"}}}'])
        ws.insert("generations", [
            {"run_id": "gen-1", "example_id": i, "system": s, "prompt": "[]",
             "reference": refs[i], "output": "p", "shots": k}
            for i in refs for s, k in (("0-shot", 0), ("3-shot fixed", 3 if i < 4 else 2))])
        store.replace_scores(ws, "gen-1", {
            s: {"rougeL": sum(v) / 4} for s, v in rouge_l.items()}, [
            {"example_id": i + 1, "system": s, "metric": "rougeL", "value": v}
            for s, values in rouge_l.items() for i, v in enumerate(values)])
    return root


def test_the_report_compares_every_system_with_the_best_prompt(tmp_path):
    result = gather(_scored(tmp_path / "ws", ROUGE_L), n_boot=20)
    ev = result["evaluation"]
    assert ev["best_prompt"] == "3-shot fixed"
    assert ev["prompted"] == {
        "0-shot": {"k": 0, "shots": "fixed", "mean_shots": 0.0, "min_shots": 0},
        "3-shot fixed": {"k": 3, "shots": "fixed", "mean_shots": 2.75, "min_shots": 2}}
    # every row: tuned − 3-shot = +0.125 exactly, so the interval is that point
    tuned = ev["vs_best_prompt"]["tuned"]["rougeL"]
    assert (tuned["n"], tuned["diff"], tuned["low"], tuned["high"]) == (4, 0.125, 0.125, 0.125)
    assert ev["vs_best_prompt"]["base"]["rougeL"]["diff"] == -0.4375
    assert sorted(ev["vs_best_prompt"]) == ["base", "tuned"]
    assert [(r["system"], r["kind"], r["k"], r["mean_shots"]) for r in ev["systems_table"]] == [
        ("base", "base", None, None), ("tuned", "tuned", None, None),
        ("0-shot", "prompted", 0, 0.0), ("3-shot fixed", "prompted", 3, 2.75)]
    assert ev["systems_table"][1]["metrics"]["rougeL"] == 0.6875
    assert ev["systems_table"][0]["vs_best_prompt"]["rougeL"]["diff"] == -0.4375
    assert ev["rule"] == PROMPT_RULE
    page = render_html(result)
    assert ("<th>ROUGE-L − 3-shot fixed</th>" in page and
            "<td>tuned</td><td>tuned</td><td></td><td>0.6875</td><td>–</td><td>0.125</td>"
            in page and html.escape(PROMPT_RULE) in page)
    assert result["verdict"] == (
        "The fine-tune beats the best prompt (3-shot fixed) by ROUGE-L +0.125 [+0.125, "
        "+0.125]; no blind ratings yet. Too few held-out rows for a firm conclusion.")


@pytest.mark.parametrize(("best", "verdict"), [
    ([0.5, 0.625, 0.75, 0.875], "Prompting is as good: the fine-tune's advantage over '3-shot "
     "fixed' is not significant (ROUGE-L +0.000 [+0.000, +0.000]); keep the prompt."),
    ([0.625, 0.75, 0.875, 1.0], "The best prompt (3-shot fixed) beats the fine-tune by "
     "ROUGE-L +0.125 [+0.125, +0.125]; keep the prompt."),
])
def test_the_report_verdict_on_a_tie_and_on_a_prompt_ahead(tmp_path, best, verdict):
    result = gather(_scored(tmp_path / "ws", {**ROUGE_L, "3-shot fixed": best}), n_boot=20)
    assert result["verdict"] == verdict + " Too few held-out rows for a firm conclusion."


def test_the_report_verdict_takes_the_ratings_of_tuned_against_the_best_prompt():
    from evaluation.verdict import report_verdict

    session = {"session": {"run_id": "gen-1", "name": "real"}, "pairs": [
        {"system": "tuned", "other": "base", "wins": 9, "losses": 1, "ties": 0, "n": 10,
         "win_rate": 0.9, "low": 0.6, "high": 0.98},
        # stored as prompt over tuned (names sorted): tuned won 45 of 60
        {"system": "tuned", "other": "3-shot", "wins": 0, "losses": 0, "ties": 0, "n": 0},
        {"system": "3-shot", "other": "tuned", "wins": 15, "losses": 45, "ties": 0, "n": 60,
         "win_rate": 0.25, "low": 0.16, "high": 0.37}]}
    report = {"sessions": [session], "evaluation": {
        "run_id": "gen-1", "prompted": {"3-shot": {}}, "best_prompt": "3-shot",
        "intervals": {"tuned": {"rougeL": interval(0.2, 0.1, 0.3)},
                      "3-shot": {"rougeL": interval(0.1, 0.0, 0.2)}},
        "vs_best_prompt": {"tuned": {"rougeL": interval(0.01, -0.03, 0.05)}}}}
    assert report_verdict(report) == (
        "The fine-tune beats the best prompt (3-shot) in blind ratings (ROUGE-L +0.010 "
        "[-0.030, +0.050], not significant) and wins 75% [63%, 84%] of 60 blind ratings.")
