"""The model stages: train, generate, score, plus the report that gathers every stage.

Train and generate run as background jobs (``workbench.jobs``): the stage writes the job's
inputs into its folder, starts it, waits (reporting progress), then imports its outputs.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
from pathlib import Path
from typing import Callable

from workbench import jobs
from workbench.errors import JobFailed, StageError
from workbench.store import Workspace, open_workspace
from workbench.tasks import read_jsonl, write_jsonl

log = logging.getLogger("workbench.stages")
Progress = Callable[[dict], None]


def _run_job(workspace: Path, kind: str, dataset_id: int, config: dict,
             inputs: dict[str, list[dict]], on_progress: Progress | None) -> tuple[str, Path, dict]:
    """Create, start and wait for a job; record its run row. Returns (run id, dir, result)."""
    with open_workspace(workspace) as ws:
        job_dir = jobs.new_job(ws.artifacts / "jobs", kind, config)
        ws.add_run(job_dir.name, kind, dataset_id, str(job_dir), config)
    for name, rows in inputs.items():
        write_jsonl(job_dir / name, rows)
    jobs.start(job_dir)
    try:
        result = jobs.wait(job_dir, on_progress)
    except (JobFailed, jobs.Cancelled, KeyboardInterrupt):
        with open_workspace(workspace) as ws:
            state = jobs.status(job_dir)
            ws.finish_run(job_dir.name, state["state"], {"error": state.get("error", "")})
        raise
    return job_dir.name, job_dir, result


def _lineage(ws: Workspace, dataset_id: int, version: str, train_config: dict) -> dict:
    from workbench.lineage import base_model_identity, library_versions

    dataset = ws.query("SELECT name, source, format FROM datasets WHERE id = ?", [dataset_id])[0]
    split_run = ws.query("SELECT DISTINCT seed FROM splits WHERE dataset_id = ?", [dataset_id])
    return {"dataset_version": version, "dataset": dataset,
            "split": {"seed": split_run[0]["seed"] if split_run else None,
                      "sizes": ws.split_counts(dataset_id)},
            "curation": ws.curation_recipe(dataset_id),
            "base_model": base_model_identity(train_config.get("base_model", "embedded")),
            "training": train_config, "libraries": library_versions()}


def train(workspace: Path, max_steps: int = 30, seed: int = 0, base_model: str = "embedded",
          on_progress: Progress | None = None, config=None, dataset_id: int | None = None,
          expect_version: str | None = None) -> dict:
    """Fine-tune on the train split as a job (``workbench.train_runs.launch``).

    Every way to start a training (CLI, Train page, pipeline, --from-lineage) comes through
    here. ``config`` (a ``training.config.TrainConfig``) overrides max_steps/seed/base_model;
    ``dataset_id``/``expect_version`` pin the data (a lineage re-run).
    Summary: run_id, steps, first/final loss, adapter, train_examples, dataset_version, ...
    """
    from training.config import TrainConfig
    from workbench import train_runs

    config = config or TrainConfig(max_steps=max_steps, seed=seed, base_model=base_model)
    return train_runs.launch(workspace, config, on_progress, dataset_id=dataset_id,
                             expect_version=expect_version)


def generate(workspace: Path, eval_size: int = 50, max_new_tokens: int = 256,
             on_progress: Progress | None = None) -> dict:
    """Base and tuned outputs for the first ``eval_size`` test rows, greedy, as a job."""
    from training.data import prompt_and_reference
    from training.model import ensure_base_model

    with open_workspace(workspace, create=False) as ws:
        dataset_id = ws.current_dataset()
        rows = ws.split_examples(dataset_id, "test")[:eval_size]
        trained = ws.require_run("train")
    if not rows:
        raise StageError("the test split is empty: too few rows for a held-out evaluation")
    prompts = []
    for row in rows:
        prompt, reference = prompt_and_reference(row["messages"])
        prompts.append({"example_id": row["id"], "prompt": prompt, "reference": reference})
    config = {"model_dir": str(ensure_base_model(trained["config"]["train"]["base_model"])),
              "systems": {"base": None, "tuned": trained["summary"]["adapter"]},
              "max_new_tokens": max_new_tokens, "train_run": trained["id"]}
    run_id, job_dir, _ = _run_job(workspace, "generate", dataset_id, config,
                                  {"prompts.jsonl": prompts}, on_progress)
    by_id = {p["example_id"]: p for p in prompts}
    records = [{"run_id": run_id, "example_id": g["example_id"], "system": g["system"],
                "prompt": json.dumps(by_id[g["example_id"]]["prompt"], ensure_ascii=False),
                "reference": by_id[g["example_id"]]["reference"], "output": g["output"]}
               for g in read_jsonl(job_dir / "generations.jsonl")]
    summary = {"run_id": run_id, "prompts": len(prompts), "max_new_tokens": max_new_tokens}
    with open_workspace(workspace) as ws:
        ws.insert("generations", records)
        ws.finish_run(run_id, "succeeded", summary)
    return summary


def _rating_items(ws: Workspace, run_id: str, outputs: dict[int, dict[str, str]]) -> dict:
    """One blind item per example; sides drawn now and stored; identical outputs auto-tied."""
    from evaluation.rating import draw_sides

    rng = random.Random(secrets.randbits(64))
    start = ws.scalar("SELECT coalesce(max(id), 0) FROM rating_items")
    items, ties = [], []
    for k, (example_id, by_system) in enumerate(sorted(outputs.items()), start=start + 1):
        left, right = draw_sides(rng)
        auto_tie = by_system["base"].strip() == by_system["tuned"].strip()
        items.append({"id": k, "run_id": run_id, "example_id": example_id,
                      "left_system": left, "right_system": right, "auto_tie": auto_tie})
        if auto_tie:
            ties.append({"item_id": k, "rater": "auto", "choice": "tie", "label": "tie"})
    ws.insert("rating_items", items)
    ws.insert("ratings", ties)
    return {"rating_items": len(items) - len(ties), "auto_ties": len(ties)}


def score(workspace: Path) -> dict:
    """ROUGE-1/2/L of base and tuned against the references; creates the rating items."""
    from evaluation.metrics import rouge

    with open_workspace(workspace, create=False) as ws:
        run_id = ws.require_run("generate")["id"]
        gens = ws.query("SELECT example_id, system, reference, output FROM generations "
                        "WHERE run_id = ? ORDER BY example_id, system", [run_id])
    outputs: dict[int, dict[str, str]] = {}
    for g in gens:
        outputs.setdefault(g["example_id"], {"reference": g["reference"]})[g["system"]] = g["output"]
    metrics = {}
    for system in ("base", "tuned"):
        scores = rouge([o[system] for o in outputs.values()],
                       [o["reference"] for o in outputs.values()])
        metrics[system] = {k: round(scores[k], 4) for k in ("rouge1", "rouge2", "rougeL")}
    with open_workspace(workspace) as ws:
        ws.con.execute("DELETE FROM metric_scores WHERE run_id = ?", [run_id])
        ws.insert("metric_scores", [{"run_id": run_id, "system": s, "metric": m, "value": v}
                                    for s, values in metrics.items() for m, v in values.items()])
        done = ws.scalar("SELECT count(*) FROM rating_items WHERE run_id = ?", [run_id])
        items = {} if done else _rating_items(ws, run_id, outputs)
        summary = {"run_id": run_id, "metrics": metrics, "examples": len(outputs), **items}
        ws.record_stage("score", ws.current_dataset(), {"generate_run": run_id}, summary)
    return summary
