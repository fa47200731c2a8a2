"""The report, gathered in one place: ``gather`` builds the dict that the Report page shows,
``workbench report`` prints and ``evaluation.report.render_html`` turns into the HTML export.

It holds counts per stage, metrics with paired bootstrap intervals, a breakdown by a meta
column, held-out loss, loss curves, the lineage of every system (``workbench.stages.lineage``),
the cost per request and break-even of every system (``cost_section``) and the statistics
and design of every rating session (``session_reports``). Reads the
workspace through the store and computes with the pure steps (``evaluation.bootstrap``).
"""

from __future__ import annotations

from pathlib import Path

from evaluation.bootstrap import breakdown, paired_interval
from evaluation.verdict import PROMPT_RULE, best_prompted, report_verdict
from workbench.session_statistics import rouge_scores, statistics
from workbench.stages import lineage
from workbench.stages.judge import judge_report
from workbench.stages import STAGES
from workbench.store import Workspace, open_workspace
from workbench.store import evaluation as store
from workbench.store import sessions as session_store
from workbench.store.runs import score_summary

REPORT_STAGES = STAGES + ("pipeline",)  # run kinds whose latest summary the report shows
# Per-example metrics compared with the human verdicts, and their direction (+1: higher is
# better). Length ratio has no better direction, so it is left out.
AGREEMENT_METRICS = {"rouge1": 1, "rouge2": 1, "rougeL": 1, "rougeLsum": 1, "bleu": 1,
                     "chrf": 1, "exact_match": 1, "json_valid": 1, "answer_accuracy": 1,
                     "heldout_loss": -1}
# Metrics of the report's systems table (the verdict's metric first).
TABLE_METRICS = ("rougeL", "chrf", "answer_accuracy", "heldout_loss")


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


def evaluation_report(ws: Workspace, meta_key: str | None = None, seed: int = 0,
                      n_resamples: int = 2000) -> dict | None:
    """Everything the report shows about the latest generate run; None before any.

    Returns {"run_id", "decoding", "systems", "metrics" {system: {metric: value}},
    "intervals" {system: {metric: interval}}, "breakdown" {"key", "metric" {group:
    interval}}, "meta_keys", "lineage" {system: ...}, "loss_curves" [{run_id, step, loss}],
    "extractor" {"name", "choice"} or None (before scoring), "rouge" {"tokenizer",
    "empty_after_tokenization", "warnings"} or None (before scoring), "examples"}, and the
    entries of ``prompted_report`` ("prompted", "best_prompt", "vs_best_prompt",
    "systems_table", "rule"; "breakdown" then also holds "vs_best_prompt"). Intervals:
    paired bootstrap 95% (BCa, ``seed``).
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
    systems_lineage = lineage.of_systems(run["config"], train_runs)
    curve_runs = [v["train_run"] for v in systems_lineage.values() if v.get("train_run")]
    report = {"run_id": run["id"], "decoding": (run["summary"] or {}).get("decoding", "greedy"),
              "max_new_tokens": run["config"].get("max_new_tokens"),
              "systems": list(run["config"].get("systems") or per_example),
              "metrics": store.metric_table(ws, run["id"]),
              "intervals": intervals(per_example, example_ids, **options),
              "meta_keys": meta_keys(meta), "breakdown": None, "lineage": systems_lineage,
              "loss_curves": store.train_logs(ws, curve_runs),
              "extractor": _extractor_note(ws, run["id"]),
              "rouge": _rouge_note(ws, run["id"]),
              "examples": len(example_ids)}
    report.update(prompted_report(ws, run, per_example, example_ids, report["metrics"],
                                  options))
    if meta_key and "tuned" in per_example and "base" in per_example:
        groups = [meta.get(i, {}).get(meta_key) for i in example_ids]
        report["breakdown"] = {"key": meta_key, "by_metric": _breakdown(
            groups, per_example, "tuned", "base", example_ids, options)}
        if report["best_prompt"]:
            report["breakdown"]["vs_best_prompt"] = _breakdown(
                groups, per_example, "tuned", report["best_prompt"], example_ids, options)
    return report


def _breakdown(groups: list, per_example: dict, system: str, baseline: str,
               example_ids: list[int], options: dict) -> dict[str, dict]:
    """{metric: {group: paired interval of system − baseline}}."""
    return {metric: breakdown(groups, _aligned(per_example[system], metric, example_ids),
                              _aligned(per_example[baseline], metric, example_ids), **options)
            for metric in per_example[system] if metric in per_example[baseline]}


def prompted_report(ws: Workspace, run: dict, per_example: dict, example_ids: list[int],
                    metrics: dict[str, dict], options: dict) -> dict:
    """The prompted systems of a generate run: {"prompted" {name: {"k", "shots",
    "mean_shots", "min_shots"}}, "best_prompt" (highest mean ROUGE-L, or None),
    "vs_best_prompt" {system: {metric: paired interval of system − best prompt}} for base
    and the tuned systems, "systems_table" [{system, kind, k, shots, mean_shots, metrics}],
    "rule" (``evaluation.verdict.PROMPT_RULE`` when there is a prompted system)}."""
    from workbench.store.prompted import shot_counts

    specs = run["config"].get("prompted") or {}
    counts = shot_counts(ws, run["id"])
    prompted = {}
    for name, spec in specs.items():
        shots = list(counts.get(name, {}).values())
        prompted[name] = {"k": spec.get("k", 0), "shots": spec.get("shots", "fixed"),
                          "mean_shots": round(sum(shots) / len(shots), 2) if shots else None,
                          "min_shots": min(shots) if shots else None}
    best = best_prompted(metrics, list(prompted)) if prompted else None
    others = {s: v for s, v in per_example.items() if s not in prompted or s == best}
    vs_best = intervals(others, example_ids, best, **options) if best in per_example else {}
    systems = list(run["config"].get("systems") or per_example)
    table = [{"system": s, "kind": "base" if s == "base" else
              "prompted" if s in prompted else "tuned",
              **{k: (prompted.get(s) or {}).get(k) for k in ("k", "shots", "mean_shots")},
              "metrics": {m: (metrics.get(s) or {}).get(m) for m in TABLE_METRICS},
              "vs_best_prompt": {m: (vs_best.get(s) or {}).get(m) for m in TABLE_METRICS}}
             for s in systems]
    return {"prompted": prompted, "best_prompt": best, "vs_best_prompt": vs_best,
            "systems_table": table, "rule": PROMPT_RULE if prompted else None}


def _extractor_note(ws: Workspace, run_id: str) -> dict | None:
    """{"name", "choice"}: the answer extractor the latest score of ``run_id`` used and why."""
    summary = score_summary(ws, run_id)
    if summary is None:
        return None
    return {"name": summary.get("extractor"),
            "choice": summary.get("extractor_choice") or (
                f"named: {summary['extractor']}" if summary.get("extractor") else "none")}


def _rouge_note(ws: Workspace, run_id: str) -> dict | None:
    """{"tokenizer", "empty_after_tokenization", "warnings"}: the ROUGE tokens the latest
    score of ``run_id`` used and the texts that had none."""
    summary = score_summary(ws, run_id)
    if summary is None:
        return None
    return {"tokenizer": summary.get("rouge_tokenizer", "unicode"),
            "empty_after_tokenization": summary.get("empty_after_tokenization"),
            "warnings": summary.get("warnings", [])}


def cost_section(ws: Workspace) -> dict | None:
    """Cost per request of every system of the latest generate run and each tuned system's
    break-even against the best prompted system (``evaluation.cost.cost_report``), plus
    "run_id" and "payback" (``evaluation.cost.payback_clause`` of "tuned"); None before any
    generate run.

    Seconds per request come from the run's recorded timings, else (a run generated before
    they were recorded) from its summary's seconds per system; training cost from the step
    log of each tuned system's train run."""
    from evaluation import cost

    run = ws.latest_run("generate")
    if run is None:
        return None
    config, summary = run["config"], run["summary"] or {}
    requests = store.request_costs(ws, run["id"])
    for name, entry in requests.items():
        if entry["seconds"] is None and name in (summary.get("seconds") or {}):
            entry["seconds"] = summary["seconds"][name]
            entry["requests"] = summary.get("prompts") or len(entry["new_tokens"])
    train_runs = config.get("system_runs") or (
        {"tuned": config["train_run"]} if config.get("train_run") else {})
    kinds = cost.system_kinds(list(config.get("systems") or requests),
                              ["tuned", *train_runs])
    training = {name: cost.training_cost(store.train_steps(ws, run_id))
                for name, run_id in train_runs.items()}
    result = cost.cost_report(requests, kinds, training, store.metric_table(ws, run["id"]))
    return {"run_id": run["id"], **result, "payback": cost.payback_clause(result)}


def session_metric_scores(ws: Workspace, run_id: str) -> dict[str, dict[tuple[int, str], float]]:
    """{metric: {(example_id, system): score}} of the stored per-example scores of ``run_id``
    for ``AGREEMENT_METRICS`` (lower-is-better metrics negated, so + always means better);
    ROUGE-L computed on the fly (``session_statistics.rouge_scores``) when the run was never
    scored."""
    per_example = store.example_scores(ws, run_id)
    out: dict[str, dict[tuple[int, str], float]] = {}
    for system, by_metric in per_example.items():
        for metric, values in by_metric.items():
            if metric not in AGREEMENT_METRICS:
                continue
            name = metric if AGREEMENT_METRICS[metric] > 0 else f"{metric} (negated)"
            for example_id, value in values.items():
                if value is not None:
                    out.setdefault(name, {})[(example_id, system)] = (
                        AGREEMENT_METRICS[metric] * value)
    return out


def session_reports(ws: Workspace, n_boot: int = 200) -> list[dict]:
    """Statistics and design of every rating session of the workspace, oldest first.

    Each entry is ``workbench.session_statistics.statistics`` (de-randomized labels only: pairs with
    win/tie/loss, win rate and Wilson 95% interval, both-bad apart, sign-test p; Bradley–Terry
    with ``n_boot`` bootstrap resamples when > 2 systems; Cohen / Fleiss kappa and
    Krippendorff's alpha; position bias; intra-rater consistency; agreement of each stored
    per-example metric with the verdicts) plus ``"design"`` (``sessions.design``) and
    ``"judge"`` (``workbench.stages.judge.judge_report``: the latest judge run's win rates and
    calibration, None before one).
    """
    out = []
    for info in reversed(session_store.sessions(ws)):
        scores = session_metric_scores(ws, info["run_id"])
        if not scores:
            scores = rouge_scores(ws, info["id"])
        result = statistics(ws, info["id"], scores, n_boot=n_boot)
        out.append({**result, "design": session_store.design(ws, info["id"]),
                    "judge": judge_report(ws, info["id"])})
    return out


def gather(workspace: Path, meta_key: str | None = None, n_boot: int = 200,
           rouge_tokenizer: str | None = None) -> dict:
    """The report of a workspace: {"dataset_id", "stages" (latest summary per stage), "split",
    "metrics" (score's ROUGE per system), "rouge" (the latest score's tokenizer, texts with no
    token, warnings), "sessions" (``session_reports``, Bradley–Terry with ``n_boot``
    resamples), "lineage" (of the latest train run's adapter), "evaluation"
    (``evaluation_report``: intervals, breakdown by ``meta_key``, lineage of every system),
    "cost" (``cost_section``: cost per request and break-even)}, led by "verdict"
    (``evaluation.verdict.report_verdict``). With ``rouge_tokenizer`` the latest generations
    are scored again first when their latest score used other tokens."""
    if rouge_tokenizer:
        _rescore(workspace, rouge_tokenizer)
    with open_workspace(workspace, create=False) as ws:
        dataset_id = ws.current_dataset()
        recipe_runs = {k: ws.latest_run(k, dataset_id=dataset_id) for k in REPORT_STAGES}
        split = ws.split_counts(dataset_id)
        evaluation = evaluation_report(ws, meta_key)
        cost = cost_section(ws)
        sessions = session_reports(ws, n_boot=n_boot)
    summaries = {k: (r["summary"] if r else None) for k, r in recipe_runs.items()}
    train = summaries.get("train")
    score = summaries.get("score") or {}
    result = {"dataset_id": dataset_id, "stages": summaries, "split": split,
              "metrics": score.get("metrics"),
              "rouge": {"tokenizer": score.get("rouge_tokenizer", "unicode"),
                        "empty_after_tokenization": score.get("empty_after_tokenization"),
                        "warnings": score.get("warnings", [])} if score else None,
              "sessions": sessions, "lineage": lineage.of_adapter((train or {}).get("adapter")),
              "evaluation": evaluation, "cost": cost}
    return {"verdict": report_verdict(result), **result}


def _rescore(workspace: Path, rouge_tokenizer: str) -> None:
    """Score the latest generations again with ``rouge_tokenizer`` (same extractor) unless
    their latest score already used it."""
    from workbench.stages.evaluation import score

    with open_workspace(workspace, create=False) as ws:
        latest = ws.latest_run("score")
    summary = (latest or {}).get("summary") or {}
    if latest and summary.get("rouge_tokenizer", "unicode") == rouge_tokenizer:
        return
    score(workspace, summary.get("extractor") or ("none" if latest else "auto"), rouge_tokenizer)
