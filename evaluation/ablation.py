"""The data-ablation table: every arm's per-example scores on the same held-out rows against
a baseline arm, with paired bootstrap intervals (``evaluation.bootstrap.paired_interval``).

Run as: ``ablation_table({"all": {...}, "random": {...}}, "all")``
"""

from __future__ import annotations

from evaluation.bootstrap import paired_interval

# metric → higher is better; answer accuracy only where an extractor ran
ABLATION_METRICS = {"answer_accuracy": True, "rougeL": True, "heldout_loss": False}


def ablation_table(scores: dict[str, dict[str, dict[int, float | None]]], baseline: str,
                   metrics: dict[str, bool] | None = None, **options) -> list[dict]:
    """One row per (arm other than ``baseline``, metric): the arm's and the baseline's means
    and mean(arm − baseline) with its paired bootstrap interval.

    ``scores``: {arm: {metric: {example_id: value}}} (``workbench.store.evaluation.
    example_scores``' shape); pairs are matched by example id, a metric missing for the
    baseline is skipped. Rows: {arm, metric, n, mean, baseline_mean, diff, low, high,
    better}: ``better`` is "arm" / "baseline" when the interval excludes 0 in that arm's
    favour (``ABLATION_METRICS`` gives each metric's direction), else "no significant
    difference". ``options`` go to ``paired_interval`` (confidence, n_resamples, seed).
    Raises KeyError for an unknown baseline.
    """
    metrics = metrics or ABLATION_METRICS
    base = scores[baseline]
    rows = []
    for arm, values in scores.items():
        if arm == baseline:
            continue
        for metric, higher in metrics.items():
            if metric not in base or metric not in values:
                continue
            ids = sorted(set(base[metric]) & set(values[metric]))
            found = paired_interval([values[metric][i] for i in ids],
                                    [base[metric][i] for i in ids], **options)
            rows.append({"arm": arm, "metric": metric, "n": found["n"], "mean": found["mean"],
                         "baseline_mean": found["baseline_mean"], "diff": found["diff"],
                         "low": found["low"], "high": found["high"],
                         "better": _better(found, higher)})
    return rows


def _better(found: dict, higher: bool) -> str:
    if found["low"] is None or found["low"] <= 0 <= found["high"]:
        return "no significant difference"
    arm_above = found["low"] > 0
    return "arm" if arm_above == higher else "baseline"
