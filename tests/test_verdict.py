"""The verdict sentence: what the metric interval and the blind ratings support, in words."""

from evaluation.verdict import report_verdict, verdict

FIRM = {"n": 120, "diff": 0.041, "low": 0.012, "high": 0.07}
ZERO_INSIDE = {"n": 120, "diff": 0.012, "low": -0.02, "high": 0.045}
WORSE = {"n": 120, "diff": -0.05, "low": -0.08, "high": -0.021}
PREFERRED = {"n": 64, "win_rate": 0.7, "low": 0.578, "high": 0.799, "both_bad": 0}
UNDECIDED = {"n": 64, "win_rate": 0.55, "low": 0.428, "high": 0.666, "both_bad": 3}
REJECTED = {"n": 64, "win_rate": 0.3, "low": 0.2, "high": 0.42, "both_bad": 0}


def test_a_firm_win_on_both_counts_says_so_with_both_intervals():
    assert verdict(FIRM, PREFERRED) == (
        "Tuned beats base on ROUGE-L by +0.041 (95% CI +0.012 to +0.070, n=120); raters "
        "preferred tuned in 70% of pairs (95% CI 58-80%, n=64).")


def test_an_interval_that_includes_zero_or_one_half_is_no_clear_difference():
    assert verdict(ZERO_INSIDE, UNDECIDED) == (
        "No clear difference between tuned and base on ROUGE-L: +0.012 (95% CI -0.020 to "
        "+0.045, n=120); raters show no clear preference: tuned won 55% of pairs (95% CI "
        "43-67%, n=64); 3 rated both bad.")


def test_a_loss_is_called_a_loss():
    assert verdict(WORSE, REJECTED) == (
        "Tuned trails base on ROUGE-L by -0.050 (95% CI -0.080 to -0.021, n=120); raters "
        "preferred base: tuned won 30% of pairs (95% CI 20-42%, n=64).")


def test_few_rows_and_few_ratings_are_named_in_a_last_sentence():
    small = {**FIRM, "n": 8}
    assert verdict(small, PREFERRED).endswith(
        "(95% CI +0.012 to +0.070, n=8); raters preferred tuned in 70% of pairs (95% CI "
        "58-80%, n=64). Too few held-out rows for a firm conclusion.")
    assert verdict(small, {**PREFERRED, "n": 16}).endswith(
        "Too few held-out rows and ratings for a firm conclusion.")
    assert verdict(FIRM, {**PREFERRED, "n": 29}).endswith(
        "Too few ratings for a firm conclusion.")


def test_without_ratings_or_metrics_it_says_what_is_missing():
    assert verdict(FIRM, None) == (
        "Tuned beats base on ROUGE-L by +0.041 (95% CI +0.012 to +0.070, n=120); no blind "
        "ratings yet (rate the pairs in a rating session).")
    assert verdict(None, reason="the test split is empty") == (
        "no verdict: the test split is empty")
    assert verdict({"n": 0, "diff": None, "low": None, "high": None}) == (
        "no verdict: no scored held-out rows yet")


def test_scripted_ratings_are_not_called_raters():
    assert "; scripted demo raters (not people) preferred tuned in 70% of pairs" in verdict(
        FIRM, PREFERRED, scripted=True)


def _report(sessions: list[dict], run_id: str = "gen-2") -> dict:
    return {"evaluation": {"run_id": "gen-2", "intervals": {"tuned": {"rougeL": FIRM}}},
            "sessions": sessions, "stages": {}}


def _session(name: str, run_id: str, pair: dict) -> dict:
    return {"session": {"name": name, "run_id": run_id},
            "pairs": [{"system": "tuned", "other": "base", **pair}]}


def test_the_report_verdict_takes_the_newest_session_over_the_reported_run():
    sessions = [_session("first", "gen-2", REJECTED), _session("second", "gen-2", PREFERRED),
                _session("old run", "gen-1", UNDECIDED)]
    assert report_verdict(_report(sessions)) == verdict(FIRM, PREFERRED)
    scripted = [_session("demo (scripted ratings)", "gen-2", PREFERRED)]
    assert report_verdict(_report(scripted)) == verdict(FIRM, PREFERRED, scripted=True)


def test_a_report_without_scores_gives_the_pipeline_reason():
    empty = {"evaluation": None, "sessions": [],
             "stages": {"pipeline": {"metrics_reason": "the test split is empty"}}}
    assert report_verdict(empty) == "no verdict: the test split is empty"
