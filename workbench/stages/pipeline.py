"""The whole path, raw file → verdict: every automatic stage in order, with timings.

``pipeline`` is what ``workbench pipeline`` prints and what the app's Run page starts as a
job. After the split, the leakage stage checks every held-out row against its nearest
training row; rows at or above the semantic-duplicate threshold become ``test_leakage``
findings (``leakage.above_threshold`` in the summary; zero for the default split). A dataset too small for a test (or train) split completes with ``metrics: null`` and a
reason instead of failing. Train and generate run as jobs through ``run_job``: a child process
from the CLI, this process when the pipeline itself runs as a job (the Run page).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from evaluation.verdict import verdict
from training.config import MAX_SEQ_LEN
from common.errors import StageError
from workbench.jobs.execute import Execute, in_child
from workbench.stages import STAGES
from workbench.stages import curation as stages
from workbench.stages import evaluation, training
from workbench.stages.report import gather
from workbench.store import open_workspace

log = logging.getLogger("workbench.pipeline")


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
    max_seq_len: int = MAX_SEQ_LEN  # validate and train: training's default
    dedup_policy: str = "longest"  # which row a duplicate cluster keeps: longest|first|fewest_findings
    dedup_scope: str = "conversation"  # what dedup compares: conversation|prompt
    stratify_by: str | None = None  # meta column the split stratifies by (e.g. "category")
    sampling: dict | None = None  # generate: None = greedy, else {seed, temperature, top_p}
    tuned_runs: list[str] | None = None  # generate: train run ids (None: the latest)
    batch_size: int = 32  # generate: prompts per left-padded batch
    extractor: str = "auto"  # score: answer extractor (auto, none, or a name in EXTRACTORS)
    prompted: list[dict] | None = None  # generate: prompted systems (PromptedSystem.to_dict)
    engine: str = "local"  # validate, dedup, pii: local or ray (curation.engine_ray)
    ray_address: str | None = None  # engine ray: None = a local Ray; 'auto' or ray://HOST:10001
    ray_cpus: int = 2  # engine ray without an address: CPUs of the local Ray
    ray_batch_size: int = 512  # engine ray: rows per map_batches batch (one progress update)


Progress = Callable[[dict], None]
StageProgress = Callable[[str], Progress]  # stage name -> where its progress dicts go


def log_progress(stage: str) -> Progress:
    """A stage's progress dicts ({"step", "total", "message"}) as log lines
    ``[stage] step/total message`` (the CLI's stderr)."""
    def show(progress: dict) -> None:
        log.info("[%s] %s/%s %s", stage, progress.get("step"), progress.get("total"),
                 progress.get("message", ""))
    return show


def stage_runners(o: PipelineOptions, run_job: Execute = in_child,
                  progress: StageProgress = log_progress) -> dict[str, Callable[[], dict]]:
    """{stage name: zero-argument function running it with the options}, in order; train and
    generate run their job through ``run_job``. ``progress(name)``: where the stages that
    report progress (validate, dedup, pii, train, generate) send it."""
    ws = Path(o.workspace)
    ray = _ray_options(o)
    return {
        "ingest": lambda: stages.ingest(ws, o.input, o.format),
        "validate": lambda: stages.validate(ws, o.max_seq_len, engine=o.engine, ray=ray,
                                            on_progress=progress("validate")),
        "dedup": lambda: stages.dedup(ws, plan=_dedup_plan(o), engine=o.engine, ray=ray,
                                      on_progress=progress("dedup")),
        "pii": lambda: stages.pii(ws, redact=o.redact, engine=o.engine, ray=ray,
                                  on_progress=progress("pii")),
        "split": lambda: stages.split(ws, o.seed, stratify_by=o.stratify_by),
        "leakage": lambda: stages.leakage(ws),
        "train": lambda: training.train(ws, o.max_train_steps, o.seed,
                                        on_progress=progress("train"), run_job=run_job,
                                        max_seq_len=o.max_seq_len),
        "generate": lambda: evaluation.generate(ws, o.eval_size, o.max_new_tokens,
                                                on_progress=progress("generate"),
                                                sampling=o.sampling, tuned_runs=o.tuned_runs,
                                                batch_size=o.batch_size, run_job=run_job,
                                                prompted=o.prompted, seed=o.seed),
        "score": lambda: evaluation.score(ws, o.extractor),
    }


def _ray_options(o: PipelineOptions):
    """RayOptions of the pipeline's Ray engine (None for the local engine)."""
    from curation.engine_ray import RayOptions, check_engine

    if check_engine(o.engine) == "local":
        return None
    return RayOptions(address=o.ray_address, num_cpus=o.ray_cpus,
                      concurrency=o.ray_cpus if o.ray_address is None else 2,
                      batch_size=o.ray_batch_size)


def _dedup_plan(o: PipelineOptions):
    from curation.dedup import DedupPlan

    plan = DedupPlan(policy=o.dedup_policy)
    plan.exact.scope = plan.near.scope = plan.semantic.scope = o.dedup_scope
    plan.check()
    return plan


def pipeline(o: PipelineOptions, on_stage: Callable[[int, int, str], None] | None = None,
             run_job: Execute = in_child, progress: StageProgress = log_progress) -> dict:
    """Run every stage; returns the summary (counts, train, metrics, timings in seconds).
    ``run_job``: how train and generate run their job (``workbench.jobs.execute``);
    ``on_stage(i, n, name)`` as each stage starts, ``progress``: see ``stage_runners``."""
    ws = Path(o.workspace)
    results: dict[str, dict | None] = {}
    timings: dict[str, float] = {}
    reason = None
    for i, (name, run) in enumerate(stage_runners(o, run_job, progress).items()):
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
        summary["verdict"] = gather(ws)["verdict"]
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
        "prompted": (results.get("generate") or {}).get("prompted") or None,
        "metrics_reason": reason, "timings": timings,
        "verdict": verdict(None, reason=reason),
    }


