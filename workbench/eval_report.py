"""The evaluation part of the report: metrics with paired bootstrap intervals, a breakdown by a
meta column, held-out loss, loss curves, the lineage of every system and the rating design.

Reads the workspace (``workbench.store.evaluation``) and computes with the pure steps
(``evaluation.bootstrap``); the Report page, the HTML export and ``workbench report`` use it.
"""

from __future__ import annotations

import json
from pathlib import Path

from evaluation.bootstrap import breakdown, paired_interval
from workbench.store import Workspace
from workbench.store import evaluation as store


def meta_keys(meta: dict[int, dict]) -> list[str]:
    """Meta columns with a scalar value on at least one example, sorted (breakdown choices)."""
    return sorted({key for row in meta.values() for key, value in row.items()
                   if isinstance(value, (str, int, float, bool))})


def _aligned(scores: dict[str, dict[int, float | None]], metric: str,
             example_ids: list[int]) -> list[float | None]:
    values = scores.get(metric, {})
    return [values.get(example_id) for example_id in example_ids]


def intervals(per_example: dict, example_ids: list[int], baseline: str = "base",
              **options) -> dict[str, dict[str, dict]]:
    """{system: {metric: paired interval of system − baseline}} for every non-baseline system.

    ``per_example``: {system: {metric: {example_id: value}}} (``store.example_scores``).
    """
    base = per_example.get(baseline, {})
    return {system: {metric: paired_interval(_aligned(scores, metric, example_ids),
                                             _aligned(base, metric, example_ids), **options)
                     for metric in scores if metric in base}
            for system, scores in per_example.items() if system != baseline}


def _lineage(train_run: dict) -> dict:
    adapter = (train_run.get("summary") or {}).get("adapter")
    path = Path(adapter) / "lineage.json" if adapter else None
    lineage = json.loads(path.read_text()) if path and path.exists() else None
    return {"train_run": train_run["id"], "adapter": adapter,
            "steps": (train_run.get("summary") or {}).get("steps"), "lineage": lineage}


def system_lineage(generate_config: dict, train_runs: dict[str, dict]) -> dict[str, dict]:
    """{system: lineage}: the base model for "base", the adapter's lineage.json and train run
    for each tuned system (``generate_config["system_runs"]``: {system: train run id})."""
    runs = generate_config.get("system_runs") or {"tuned": generate_config.get("train_run")}
    out = {"base": {"model_dir": generate_config.get("model_dir")}}
    for system, run_id in runs.items():
        out[system] = _lineage(train_runs[run_id]) if run_id in train_runs else {
            "train_run": run_id, "lineage": None}
    tuned = [v["lineage"] for v in out.values() if v.get("lineage")]
    if tuned:
        out["base"]["base_model"] = tuned[0].get("base_model")
    return out


def evaluation_report(ws: Workspace, meta_key: str | None = None, seed: int = 0,
                      n_resamples: int = 2000) -> dict | None:
    """Everything the report shows about the latest generate run; None before any.

    Returns {"run_id", "decoding", "systems", "metrics" {system: {metric: value}},
    "intervals" {system: {metric: interval}}, "breakdown" {"key", "metric" {group:
    interval}}, "meta_keys", "lineage" {system: ...}, "loss_curves" [{run_id, step, loss}],
    "rating_design" {...}, "examples"}. Intervals: paired bootstrap 95% (BCa, ``seed``).
    """
    run = ws.latest_run("generate")
    if run is None:
        return None
    per_example = store.example_scores(ws, run["id"])
    example_ids = sorted({i for scores in per_example.values() for values in scores.values()
                          for i in values})
    meta = store.example_meta(ws, run["dataset_id"], example_ids)
    options = {"seed": seed, "n_resamples": n_resamples}
    train_runs = {r["id"]: r for r in store.succeeded_runs(ws, "train")}
    lineage = system_lineage(run["config"], train_runs)
    curve_runs = [v["train_run"] for v in lineage.values() if v.get("train_run")]
    report = {"run_id": run["id"], "decoding": (run["summary"] or {}).get("decoding", "greedy"),
              "max_new_tokens": run["config"].get("max_new_tokens"),
              "systems": list(run["config"].get("systems") or per_example),
              "metrics": store.metric_table(ws, run["id"]),
              "intervals": intervals(per_example, example_ids, **options),
              "meta_keys": meta_keys(meta), "breakdown": None, "lineage": lineage,
              "loss_curves": store.train_logs(ws, curve_runs),
              "rating_design": store.rating_design(ws, run["id"]),
              "examples": len(example_ids)}
    if meta_key and "tuned" in per_example and "base" in per_example:
        groups = [meta.get(i, {}).get(meta_key) for i in example_ids]
        report["breakdown"] = {"key": meta_key, "by_metric": {
            metric: breakdown(groups, _aligned(per_example["tuned"], metric, example_ids),
                              _aligned(per_example["base"], metric, example_ids), **options)
            for metric in per_example["tuned"] if metric in per_example["base"]}}
    return report
