"""The whole path, raw file → verdict: every automatic stage in order, with timings.

``pipeline`` is what ``workbench pipeline`` prints and what the app's Run page starts as a
job. After the split, the leakage stage checks every held-out row against its nearest
training row; rows at or above the semantic-duplicate threshold become ``test_leakage``
findings (``leakage.above_threshold`` in the summary; zero for the default split). A dataset too small for a test (or train) split completes with ``metrics: null`` and a
reason instead of failing. ``report`` gathers the workspace's state for the Report page.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from evaluation.verdict import report_verdict, verdict
from workbench import model_stages, stages
from common.errors import StageError
from workbench.store import open_workspace

log = logging.getLogger("workbench.pipeline")
STAGES = ("ingest", "validate", "dedup", "pii", "split", "leakage", "train", "generate",
          "score")
REPORT_STAGES = STAGES + ("pipeline",)  # run kinds whose latest summary the report shows


@dataclass
class PipelineOptions:
    """Options of ``workbench pipeline`` (the CLI flags and the Run page form)."""

    input: str
    workspace: str
    format: str = "auto"
    max_train_steps: int = 30
    eval_size: int = 50
    max_new_tokens: int = 256
    seed: int = 0
    redact: bool = False
    max_seq_len: int = 2048
    dedup_policy: str = "longest"  # which row a duplicate cluster keeps: longest|first|fewest_findings
    dedup_scope: str = "conversation"  # what dedup compares: conversation|prompt
    stratify_by: str | None = None  # meta column the split stratifies by (e.g. "category")
    sampling: dict | None = None  # generate: None = greedy, else {seed, temperature, top_p}
    tuned_runs: list[str] | None = None  # generate: train run ids (None: the latest)
    batch_size: int = 32  # generate: prompts per left-padded batch
    extractor: str = "auto"  # score: answer extractor (auto, none, or a name in EXTRACTORS)


def log_progress(stage: str) -> Callable[[dict], None]:
    def show(progress: dict) -> None:
        log.info("[%s] %s/%s %s", stage, progress.get("step"), progress.get("total"),
                 progress.get("message", ""))
    return show


def stage_runners(o: PipelineOptions) -> dict[str, Callable[[], dict]]:
    """{stage name: zero-argument function running it with the options}, in order."""
    ws = Path(o.workspace)
    return {
        "ingest": lambda: stages.ingest(ws, o.input, o.format),
        "validate": lambda: stages.validate(ws, o.max_seq_len),
        "dedup": lambda: stages.dedup(ws, plan=_dedup_plan(o)),
        "pii": lambda: stages.pii(ws, redact=o.redact),
        "split": lambda: stages.split(ws, o.seed, stratify_by=o.stratify_by),
        "leakage": lambda: stages.leakage(ws),
        "train": lambda: model_stages.train(ws, o.max_train_steps, o.seed,
                                            on_progress=log_progress("train")),
        "generate": lambda: model_stages.generate(ws, o.eval_size, o.max_new_tokens,
                                                  on_progress=log_progress("generate"),
                                                  sampling=o.sampling, tuned_runs=o.tuned_runs,
                                                  batch_size=o.batch_size),
        "score": lambda: model_stages.score(ws, o.extractor),
    }


def _dedup_plan(o: PipelineOptions):
    from curation.dedup import DedupPlan

    plan = DedupPlan(policy=o.dedup_policy)
    plan.exact.scope = plan.near.scope = plan.semantic.scope = o.dedup_scope
    plan.check()
    return plan


def pipeline(o: PipelineOptions, on_stage: Callable[[int, int, str], None] | None = None) -> dict:
    """Run every stage; returns the summary (counts, train, metrics, timings in seconds)."""
    ws = Path(o.workspace)
    results: dict[str, dict | None] = {}
    timings: dict[str, float] = {}
    reason = None
    for i, (name, run) in enumerate(stage_runners(o).items()):
        if on_stage:
            on_stage(i, len(STAGES), name)
        log.info("[%s] starting", name)
        start = time.perf_counter()
        try:
            results[name] = run()
        except StageError as exc:
            if name not in ("train", "generate"):
                raise
            reason = str(exc)
            log.warning("[%s] skipped: %s", name, reason)
            break
        finally:
            timings[name] = round(time.perf_counter() - start, 2)
    summary = summarize(results, reason, timings)
    if "score" in results:  # the verdict with its intervals, as the report states it
        summary["verdict"] = report(ws)["verdict"]
    with open_workspace(ws) as store:
        store.record_stage("pipeline", store.current_dataset(), asdict(o), summary)
    return summary


def summarize(results: dict, reason: str | None, timings: dict) -> dict:
    """The pipeline's JSON object from the stage summaries."""
    ingest, train = results["ingest"], results.get("train")
    return {
        "format": ingest["format"], "rows_in": ingest["rows_in"],
        "examples": ingest["examples"], "rejects": ingest["rejects"],
        "validation_findings": results["validate"]["validation_findings"],
        "validation_by_severity": results["validate"]["by_severity"],
        "exact_duplicates": results["dedup"]["exact_duplicates"],
        "near_duplicates": results["dedup"]["near_duplicates"],
        "semantic_duplicates": results["dedup"]["semantic_duplicates"],
        "pii_spans": results["pii"]["pii_spans"], "redacted": results["pii"]["redacted"],
        "split": results["split"],
        "leakage": {k: results["leakage"][k] for k in (
            "held_out", "above_threshold", "max_similarity", "threshold")},
        "train": None if train is None else {k: train[k] for k in (
            "steps", "first_loss", "final_loss", "adapter", "dataset_version")},
        "metrics": results["score"]["metrics"] if "score" in results else None,
        "metrics_reason": reason, "timings": timings,
        "verdict": verdict(None, reason=reason),
    }


def report(workspace: Path, meta_key: str | None = None, n_boot: int = 200) -> dict:
    """Counts per stage, metrics and lineage of the workspace's latest runs, ``evaluation``
    (``workbench.eval_report.evaluation_report``: intervals, breakdown by ``meta_key``,
    lineage of every system) and ``sessions``: statistics and design of every rating session
    (``workbench.eval_report.session_reports``, Bradley–Terry with ``n_boot`` resamples);
    ``verdict`` first: the sentence of ``evaluation.verdict.report_verdict``."""
    from workbench.eval_report import evaluation_report, session_reports

    with open_workspace(workspace, create=False) as ws:
        dataset_id = ws.current_dataset()
        recipe_runs = {k: ws.latest_run(k) for k in REPORT_STAGES}
        split = ws.split_counts(dataset_id)
        evaluation = evaluation_report(ws, meta_key)
        sessions = session_reports(ws, n_boot=n_boot)
    summaries = {k: (r["summary"] if r else None) for k, r in recipe_runs.items()}
    train = summaries.get("train")
    lineage = _read_lineage(train)
    result = {"dataset_id": dataset_id, "stages": summaries, "split": split,
              "metrics": (summaries.get("score") or {}).get("metrics"),
              "sessions": sessions, "lineage": lineage, "evaluation": evaluation}
    return {"verdict": report_verdict(result), **result}


def _read_lineage(train: dict | None) -> dict | None:
    if not train or not train.get("adapter"):
        return None
    path = Path(train["adapter"]) / "lineage.json"
    return json.loads(path.read_text()) if path.exists() else None
