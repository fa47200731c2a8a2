"""The evaluation stages: generate (base and tuned answers, held-out losses) and score.

Generate runs as a job (``workbench.jobs``): the stage writes the job's inputs into its
folder, runs it through ``run_job`` (reporting progress), then imports its outputs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

from common.errors import JobFailed, StageError
from workbench.jobs import runner as jobs
from workbench.jobs.execute import Execute, in_child
from workbench.jobs.files import read_jsonl, write_jsonl
from workbench.store import Workspace, open_workspace

log = logging.getLogger("workbench.stages")
Progress = Callable[[dict], None]


def _run_job(workspace: Path, kind: str, dataset_id: int, config: dict,
             inputs: dict[str, list[dict]], on_progress: Progress | None,
             run_job: Execute = in_child) -> tuple[str, Path, dict]:
    """Create and run a job through ``run_job``; record its run row. Returns (run id, dir,
    result)."""
    with open_workspace(workspace) as ws:
        job_dir = jobs.new_job(ws.artifacts / "jobs", kind, config)
        ws.add_run(job_dir.name, kind, dataset_id, str(job_dir), config)
    for name, rows in inputs.items():
        write_jsonl(job_dir / name, rows)
    try:
        result = run_job(job_dir, on_progress)
    except (JobFailed, jobs.Cancelled, KeyboardInterrupt):
        with open_workspace(workspace) as ws:
            state = jobs.status(job_dir)
            ws.finish_run(job_dir.name, state["state"], {"error": state.get("error", "")})
        raise
    return job_dir.name, job_dir, result


def _tuned_systems(ws: Workspace, tuned_runs: list[str] | None) -> dict[str, dict]:
    """{system name: train run}: "tuned" is the first of ``tuned_runs`` (default: the latest
    train run); every further run is named by its run id. A preference run (dpo, orpo) is
    used when named in ``tuned_runs``."""
    from training.config import PREFERENCE_METHODS
    from workbench.store.evaluation import succeeded_runs

    runs = {run["id"]: run for run in succeeded_runs(ws, "train")}
    if not runs and not tuned_runs:
        raise StageError("no successful train run yet: run `workbench train` first")
    wanted = list(tuned_runs or [next(iter(runs))])
    runs |= {run["id"]: run for kind in PREFERENCE_METHODS for run in succeeded_runs(ws, kind)}
    unknown = [run_id for run_id in wanted if run_id not in runs]
    if unknown:
        raise StageError(f"unknown or unfinished train run(s): {', '.join(unknown)}; "
                         f"known: {', '.join(runs)}")
    return {("tuned" if k == 0 else run_id): runs[run_id] for k, run_id in enumerate(wanted)}


def generate(workspace: Path, eval_size: int = 50, max_new_tokens: int = 256,
             on_progress: Progress | None = None, sampling: dict | None = None,
             tuned_runs: list[str] | None = None, batch_size: int = 32,
             run_job: Execute = in_child, rows: list[dict] | None = None,
             prompted: list[dict] | None = None, seed: int = 0) -> dict:
    """Base, tuned and prompted outputs (and held-out losses) for the first ``eval_size`` test
    rows, as a job.

    Every system answers the same prompts with the same decoding: greedy, or ``sampling``
    (``evaluation.generate.Sampling`` fields: seed, temperature, top_p). ``tuned_runs``: train
    run ids to compare (default: the latest); the first is the system "tuned", the others are
    named by their run id. All tuned runs must share one base model. ``run_job``: how the job
    runs (``workbench.jobs.execute``). ``rows``: the held-out rows ({id, messages}) to answer
    instead of the current dataset's test split (still the first ``eval_size``).
    ``prompted``: prompted systems (``evaluation.prompted.PromptedSystem.to_dict`` dicts), each
    the base model (or its own ``base_model``) with its system prompt and shots
    (``workbench.stages.prompted.prepare``, fixed shots drawn with ``seed``); their generations
    record ``shots`` and ``full_prompt``. Raises StageError.
    """
    from training.data import prompt_and_reference
    from training.model import ensure_base_model

    with open_workspace(workspace, create=False) as ws:
        dataset_id = ws.current_dataset()
        rows = (ws.split_examples(dataset_id, "test") if rows is None else rows)[:eval_size]
        tuned = _tuned_systems(ws, tuned_runs)
    if not rows:
        raise StageError("the test split is empty: too few rows for a held-out evaluation")
    bases = {run["config"]["train"].get("base_model", "embedded") for run in tuned.values()}
    if len(bases) > 1:
        raise StageError(f"the tuned runs have different base models ({', '.join(sorted(bases))})"
                         ": compare runs of one base model")
    prompts = []
    for row in rows:
        prompt, reference = prompt_and_reference(row["messages"])
        prompts.append({"example_id": row["id"], "prompt": prompt, "reference": reference})
    model_dir = ensure_base_model(bases.pop())
    prompted, model_dirs = _prompted_prompts(workspace, prompted or [], rows, prompts, model_dir,
                                             max_new_tokens, seed, on_progress, tuple(tuned))
    config = {"model_dir": str(model_dir),
              "systems": {"base": None, **{name: run["summary"]["adapter"]
                                           for name, run in tuned.items()},
                          **{spec["name"]: None for spec in prompted}},
              "system_runs": {name: run["id"] for name, run in tuned.items()},
              "prompted": {spec["name"]: spec for spec in prompted},
              "model_dirs": {name: str(d) for name, d in model_dirs.items() if d != model_dir},
              "max_new_tokens": max_new_tokens, "batch_size": batch_size,
              "sampling": sampling, "train_run": tuned["tuned"]["id"], "seed": seed}
    run_id, job_dir, result = _run_job(workspace, "generate", dataset_id, config,
                                       {"prompts.jsonl": prompts}, on_progress, run_job)
    records = _records(run_id, prompts, read_jsonl(job_dir / "generations.jsonl"))
    summary = {"run_id": run_id, "prompts": len(prompts), "max_new_tokens": max_new_tokens,
               "systems": list(config["systems"]),
               "prompted": _shot_summary(prompts, prompted),
               "decoding": "greedy" if sampling is None else {"sampling": sampling},
               "seconds": result.get("seconds"), "new_tokens": result.get("new_tokens")}
    cpu = result.get("cpu_seconds") or {}
    timings = [{"system": system, "requests": len(prompts), "seconds": seconds,
                "cpu_seconds": cpu.get(system), "batch_size": batch_size,
                "device": result.get("device")}
               for system, seconds in (result.get("seconds") or {}).items()]
    with open_workspace(workspace) as ws:
        from workbench.store.evaluation import save_losses, save_timings

        ws.insert("generations", records)
        losses = job_dir / "losses.jsonl"
        save_losses(ws, run_id, read_jsonl(losses) if losses.exists() else [])
        save_timings(ws, run_id, timings)
        ws.finish_run(run_id, "succeeded", summary)
    return summary


def _prompted_prompts(workspace: Path, prompted: list[dict], rows: list[dict],
                      prompts: list[dict], model_dir: Path, max_new_tokens: int, seed: int,
                      on_progress: Progress | None, tuned: tuple[str, ...] = ("tuned",)
                      ) -> tuple[list[dict], dict[str, Path]]:
    """Add each prompted system's fitted messages, shot count and shot ids to ``prompts``
    (under ``system_prompts`` / ``shots`` / ``shot_ids``); returns (the specs, {system: base
    model folder})."""
    from training.model import ensure_base_model
    from workbench.stages.prompted import check_names, prepare

    if not prompted:
        return [], {}
    check_names(prompted, ("base", *tuned))
    model_dirs = {s["name"]: (ensure_base_model(s["base_model"]) if s.get("base_model")
                              else model_dir) for s in prompted}
    fitted = prepare(workspace, prompted, rows, model_dirs, max_new_tokens, seed, on_progress)
    for p in prompts:
        p["system_prompts"] = {name: f[p["example_id"]]["messages"] for name, f in fitted.items()}
        p["shots"] = {name: f[p["example_id"]]["shots"] for name, f in fitted.items()}
        p["shot_ids"] = {name: f[p["example_id"]]["shot_ids"] for name, f in fitted.items()}
    return prompted, model_dirs


def _shot_summary(prompts: list[dict], prompted: list[dict]) -> dict[str, dict]:
    """{system: {"k", "shots" (fixed|retrieved), "mean_shots", "min_shots"}} per prompted
    system."""
    out = {}
    for spec in prompted:
        counts = [p["shots"][spec["name"]] for p in prompts]
        out[spec["name"]] = {"k": spec["k"], "shots": spec["shots"],
                             "mean_shots": round(sum(counts) / len(counts), 2),
                             "min_shots": min(counts)}
    return out


def _records(run_id: str, prompts: list[dict], generations: list[dict]) -> list[dict]:
    """Rows of ``generations``: the test prompt (the same for every system, what raters see),
    and for a prompted system its shot count and the messages it was sent."""
    by_id = {p["example_id"]: p for p in prompts}
    records = []
    for g in generations:
        p, system = by_id[g["example_id"]], g["system"]
        full = (p.get("system_prompts") or {}).get(system)
        records.append({"run_id": run_id, "example_id": g["example_id"], "system": system,
                        "prompt": json.dumps(p["prompt"], ensure_ascii=False),
                        "reference": p["reference"], "output": g["output"],
                        "new_tokens": g.get("new_tokens"),
                        "prompt_tokens": g.get("prompt_tokens"),
                        "shots": (p.get("shots") or {}).get(system),
                        "full_prompt": None if full is None else json.dumps(
                            full, ensure_ascii=False)})
    return records


def _score_systems(gens: list[dict], losses: list[dict], extractor: str | None,
                   rouge_tokenizer: str = "unicode", empty: dict | None = None):
    """(aggregates {system: {metric: value}}, per-example rows) from generations and losses;
    ``empty`` (when given) receives {system: texts with no ROUGE token}."""
    from evaluation.heldout import perplexity
    from evaluation.metrics import score_all

    by_system: dict[str, list[dict]] = {}
    for g in gens:
        by_system.setdefault(g["system"], []).append(g)
    aggregates, rows = {}, []
    for system, items in by_system.items():
        scores = score_all([g["output"] for g in items], [g["reference"] for g in items],
                           extractor, rouge_tokenizer)
        if empty is not None:
            empty[system] = scores["empty_after_tokenization"]
        mine = [row for row in losses if row["system"] == system]
        ppl = perplexity([(row["loss_sum"], row["tokens"]) for row in mine])
        aggregates[system] = {**scores["aggregate"], "heldout_loss": ppl["loss"],
                              "perplexity": ppl["perplexity"]}
        for metric, values in scores["per_example"].items():
            rows += [{"example_id": g["example_id"], "system": system, "metric": metric,
                      "value": value} for g, value in zip(items, values, strict=True)]
        rows += [{"example_id": row["example_id"], "system": system, "metric": "heldout_loss",
                  "value": row["loss_sum"] / row["tokens"] if row["tokens"] else None}
                 for row in mine]
    return aggregates, rows


def score(workspace: Path, extractor: str | None = "auto",
          rouge_tokenizer: str = "unicode") -> dict:
    """Every metric of every system against the references; stores aggregates and per-example
    scores.

    Metrics: ROUGE-1/2/L/Lsum, BLEU, chrF, exact match, length ratio, JSON validity, held-out
    loss and perplexity, and answer accuracy with an answer extractor: ``extractor`` "auto"
    (default) picks "gsm8k" when every reference ends with ``#### <number>`` and none
    otherwise (``evaluation.extract.resolve_extractor``), "none" switches it off, any name of
    ``evaluation.extract.EXTRACTORS`` forces it. The summary's ``metrics`` keeps ROUGE-1/2/L
    per system (rounded), ``all_metrics`` has everything, ``extractor`` / ``extractor_choice``
    say which extractor ran and why, ``rouge_tokenizer`` which ROUGE tokens
    (``evaluation.metrics.ROUGE_TOKENIZERS``), ``empty_after_tokenization`` {system:
    {"references", "predictions"}} the texts with no token (they score 0) and ``warnings``
    a line about them. Human verdicts come from rating sessions
    (``workbench.store.sessions``), not from this stage. Raises StageError.
    """
    from evaluation.extract import resolve_extractor
    from evaluation.metrics import ROUGE_TOKENIZERS, empty_warning
    from workbench.store import evaluation as store

    if rouge_tokenizer not in ROUGE_TOKENIZERS:
        raise StageError(f"unknown ROUGE tokenizer {rouge_tokenizer!r}; known: "
                         f"{', '.join(ROUGE_TOKENIZERS)}")
    with open_workspace(workspace, create=False) as ws:
        run_id = ws.require_run("generate")["id"]
        gens = store.generations(ws, run_id)
        losses = store.losses(ws, run_id)
    references = list({g["example_id"]: g["reference"] or "" for g in gens}.values())
    try:
        extractor, choice = resolve_extractor(extractor, references)
    except ValueError as exc:
        raise StageError(str(exc)) from None
    empty: dict[str, dict] = {}
    aggregates, rows = _score_systems(gens, losses, extractor, rouge_tokenizer, empty)
    metrics = {system: {k: round(values[k], 4) for k in ("rouge1", "rouge2", "rougeL")}
               for system, values in aggregates.items()}
    warnings = [f"{system}: {line}" for system, counts in empty.items()
                if (line := empty_warning(counts, rouge_tokenizer))]
    summary = {"run_id": run_id, "metrics": metrics, "all_metrics": aggregates,
               "extractor": extractor, "extractor_choice": choice,
               "rouge_tokenizer": rouge_tokenizer, "empty_after_tokenization": empty,
               "warnings": warnings, "examples": len({g["example_id"] for g in gens})}
    for line in warnings:
        log.warning("[score] %s", line)
    with open_workspace(workspace) as ws:
        store.replace_scores(ws, run_id, aggregates, rows)
        ws.record_stage("score", ws.current_dataset(), {"generate_run": run_id,
                                                        "extractor": extractor,
                                                        "rouge_tokenizer": rouge_tokenizer},
                        summary)
    return summary
