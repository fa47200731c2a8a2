"""The training stage: train as a managed job; resume after a cancel or kill -9; re-run from
a lineage; start from the Train page.

The owner side of ``workbench.jobs.bodies.train_task``: it checks the privacy gate, writes the
job's inputs (train and validation rows with their example ids, the config and the lineage),
runs the job through ``run_job`` (a child process, or this process when the caller is itself
a job), and imports the step log, the exclusion findings and the summary into the store, also
when the job failed or was cancelled, so the page can show how far it got.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from common.errors import JobFailed, StageError
from training.config import PREFERENCE_METHODS, TrainConfig
from workbench.jobs import runner as jobs
from workbench.jobs.execute import Execute, in_child
from workbench.jobs.files import read_jsonl, write_jsonl
from workbench.stages import lineage as lineage_document
from workbench.store import open_workspace
from workbench.store import training as store
from workbench.store.runs import run_dataset, run_dataset_version

Progress = Callable[[dict], None]


def train(workspace: Path, max_steps: int = 30, seed: int = 0, base_model: str = "embedded",
          on_progress: Progress | None = None, config=None, dataset_id: int | None = None,
          expect_version: str | None = None, run_job: Execute = in_child,
          max_seq_len: int | None = None, version_id: str | None = None) -> dict:
    """Fine-tune on the train split as a job (``launch``).

    Every way to start a training (CLI, Train page, pipeline, --from-lineage) comes through
    here. ``config`` (a ``training.config.TrainConfig``) overrides max_steps/seed/base_model/
    max_seq_len (default: ``training.config.MAX_SEQ_LEN``, the one validation uses);
    ``dataset_id``/``expect_version`` pin the data (a lineage re-run); ``version_id`` trains
    on a stored version's rows instead of the current split.
    Summary: run_id, steps, first/final loss, adapter, train_examples, dataset_version, ...
    """
    config = config or TrainConfig(max_steps=max_steps, seed=seed, base_model=base_model,
                                   **({"max_seq_len": max_seq_len} if max_seq_len else {}))
    return launch(workspace, config, on_progress, dataset_id=dataset_id,
                  expect_version=expect_version, run_job=run_job, version_id=version_id)


def check_processes(config: TrainConfig) -> None:
    """Raise ``StageError`` (one line, before any job starts) when this machine cannot run
    ``config.processes`` training processes: more than its CPU cores, or its CUDA GPUs."""
    from training.distributed import is_distributed, processes_problem

    if is_distributed(config.processes, config.accelerate_config) and (
            problem := processes_problem(config.processes, config.accelerate_config)):
        raise StageError(problem)


def frozen_rows(ws, version_id: str) -> tuple[int, list[dict], list[dict]]:
    """(dataset id, train rows, validation rows) of a stored version, rows as
    ``Workspace.split_examples`` gives them ({id, meta, messages}; the id from the row's
    origin "dataset:example"). Raises StageError for an unknown version."""
    from workbench.store.versions import version_rows

    def rows_of(split: str) -> list[dict]:
        return [{"id": int(r["origin"].split(":")[1]), "meta": r["meta"],
                 "messages": r["messages"]} for r in version_rows(ws, version_id, split)]

    train_rows, validation = rows_of("train"), rows_of("validation")
    dataset_id = store.version_exists(ws, version_id)
    return dataset_id, train_rows, validation


def launch(workspace: Path, config: TrainConfig, on_progress: Progress | None = None,
           dataset_id: int | None = None, expect_version: str | None = None,
           run_job: Execute = in_child, version_id: str | None = None) -> dict:
    """Train on the train split of ``dataset_id`` (default: the current dataset) as a job,
    or with ``version_id`` on the train rows of that stored version (``frozen_rows``).

    Returns the summary {run_id, steps, first_loss, final_loss, adapter, train_examples (the
    examples trained on: the train split less the excluded), excluded_examples,
    dataset_version, resumed_from, stopped_early, best_val_loss}. Raises
    ``WorkbenchError`` for an invalid config, ``StageError`` for an empty train split, for
    QLoRA without CUDA, or when ``expect_version`` is not the data's version any more, and
    ``JobFailed`` when the job fails or is cancelled; the privacy gate's error when the
    version has unreviewed PII findings and no admin override. ``run_job``: how the job runs
    (``workbench.jobs.execute``).
    """
    from training.recipe import qlora_unavailable
    from workbench.stages.privacy import check_gate as check_privacy_gate
    from workbench.store.versions import record_version

    config.validate()
    if config.method in PREFERENCE_METHODS:
        raise StageError(f"method {config.method} trains on rated preference pairs, not on the "
                         "train split: use `workbench train-preferences` (or the Sessions page)")
    if config.method == "qlora" and (reason := qlora_unavailable()):
        raise StageError(reason)
    check_processes(config)
    with open_workspace(workspace, create=False) as ws:
        if version_id:  # a frozen version: its own rows, whatever the dataset holds now
            dataset_id, rows, validation = frozen_rows(ws, version_id)
            version = version_id
        else:
            dataset_id = dataset_id or ws.current_dataset()
            rows = ws.split_examples(dataset_id, "train")
            validation = ws.split_examples(dataset_id, "validation")
            version = record_version(ws, dataset_id) if rows else None
        if not rows:
            raise StageError("the train split is empty: nothing to train on")
        if expect_version and version != expect_version:
            raise StageError(f"dataset version {expect_version} no longer exists: dataset "
                             f"{dataset_id}'s split rows are now version {version} "
                             "(re-curated or re-split since)")
        lineage = lineage_document.document(ws, dataset_id, version, config.to_dict())
        lineage["privacy"] = check_privacy_gate(ws, dataset_id, version)  # or PrivacyGateError
        job_dir = jobs.new_job(ws.artifacts / "jobs", "train",
                               {"train": config.to_dict(), "lineage": lineage})
        ws.add_run(job_dir.name, "train", dataset_id, str(job_dir), {"train": config.to_dict(),
                                                                     "lineage": lineage})
    write_jsonl(job_dir / "train.jsonl", [{"example_id": r["id"], "messages": r["messages"]}
                                          for r in rows])
    write_jsonl(job_dir / "validation.jsonl", [{"example_id": r["id"], "messages": r["messages"]}
                                               for r in validation])
    return _run(workspace, job_dir, dataset_id, on_progress, run_job)


def resume(workspace: Path, run_id: str, on_progress: Progress | None = None,
           run_job: Execute = in_child) -> dict:
    """Restart a failed or cancelled train run in its folder from its newest checkpoint.

    Raises ``StageError`` when the run is unknown, still running, already succeeded, or has
    no checkpoint; ``CheckpointError`` (inside the job, reported as ``JobFailed``) when the
    newest checkpoint is corrupt.
    """
    from training import checkpoint

    with open_workspace(workspace, create=False) as ws:
        run = store.train_run(ws, run_id)
        if run is None:
            raise StageError(f"no train run {run_id!r} in this workspace")
        job_dir = Path(run["dir"])
        state = jobs.status(job_dir)["state"]
        if state not in ("failed", "cancelled"):
            raise StageError(f"run {run_id} is {state}: only a failed or cancelled run resumes")
        if checkpoint.latest(job_dir / "checkpoints") is None:
            raise StageError(f"run {run_id} has no checkpoint to resume from (it stopped "
                             "before its first one); start a new run")
        check_processes(TrainConfig.from_dict(jobs.read_json(job_dir / "config.json")["train"]))
        store.set_run_state(ws, run_id, "queued")
        dataset_id = run_dataset(ws, run_id)
    jobs.write_json(job_dir / "status.json", {"state": "queued", "created": jobs.now()})
    return _run(workspace, job_dir, dataset_id, on_progress, run_job)


def from_lineage(workspace: Path, lineage_path: Path,
                 on_progress: Progress | None = None) -> dict:
    """Re-run the training a ``lineage.json`` describes: same dataset version, split, base
    model, config and seed. Raises ``InputError`` for an unreadable file, ``StageError`` when
    the dataset version no longer exists here or the base model's hash differs."""
    from common.errors import InputError

    try:
        lineage = json.loads(Path(lineage_path).read_text())
        version, config = lineage["dataset_version"], TrainConfig.from_dict(lineage["training"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{lineage_path}: not a readable lineage.json ({exc})") from None
    with open_workspace(workspace, create=False) as ws:
        dataset_id = store.version_exists(ws, version)
    if dataset_id is None:
        raise StageError(f"dataset version {version} no longer exists in {workspace}: "
                         "it was never recorded here or its dataset was removed")
    expected = (lineage.get("base_model") or {}).get("sha256")
    actual = lineage_document.base_model_identity(config.base_model).get("sha256")
    if expected and expected != actual:
        raise StageError(f"base model {config.base_model!r} has changed since this lineage "
                         f"(sha256 {actual[:12]}…, lineage says {expected[:12]}…)")
    return train(workspace, config=config, on_progress=on_progress, dataset_id=dataset_id,
                 expect_version=version)


def _run(workspace: Path, job_dir: Path, dataset_id: int, on_progress: Progress | None,
         run_job: Execute) -> dict:
    """Run the job through ``run_job``, import its log and findings; record the final state."""
    try:
        result = run_job(job_dir, on_progress)
    except (JobFailed, jobs.Cancelled, KeyboardInterrupt):
        state = jobs.status(job_dir)
        _import(workspace, job_dir, dataset_id, state["state"], {"error": state.get("error", "")})
        raise
    with open_workspace(workspace, create=False) as ws:
        version = run_dataset_version(ws, job_dir.name)
    summary = {"run_id": job_dir.name, "method": result.get("method"),
               "steps": result["steps"], "first_loss": result["first_loss"],
               "final_loss": result["final_loss"], "adapter": result["adapter"],
               "train_examples": (len(read_jsonl(job_dir / "train.jsonl"))
                                  - result["excluded_examples"]),  # trained on, not given
               "excluded_examples": result["excluded_examples"], "dataset_version": version,
               "resumed_from": result["resumed_from"], "stopped_early": result["stopped_early"],
               "best_val_loss": result["best_val_loss"],
               "tokens_per_s": round(result["tokens_per_s"], 1),
               "processes": result.get("processes", 1)}
    _import(workspace, job_dir, dataset_id, "succeeded", summary)
    return summary


def _import(workspace: Path, job_dir: Path, dataset_id: int, state: str, summary: dict) -> None:
    log_path, excluded_path = job_dir / "train_log.jsonl", job_dir / "excluded.jsonl"
    with open_workspace(workspace) as ws:
        store.import_train_log(ws, job_dir.name,
                               read_jsonl(log_path) if log_path.is_file() else [])
        if excluded_path.is_file():
            store.add_exclusion_findings(ws, dataset_id, job_dir.name, read_jsonl(excluded_path))
        ws.finish_run(job_dir.name, state, summary)


def live_log(job_dir: Path) -> list[dict]:
    """The step records a (possibly still running) train job has written so far."""
    path = Path(job_dir) / "train_log.jsonl"
    try:
        return read_jsonl(path)
    except (FileNotFoundError, json.JSONDecodeError):  # a line being written right now
        return []


def start_in_background(workspace: Path, config: TrainConfig | None = None,
                        resume_run: str | None = None, version_id: str | None = None) -> Path:
    """Start a ``train_launch`` job (the app's Start/Resume buttons); returns its folder.
    ``version_id``: train on that stored version's rows (default: the current split).

    The config is validated here (with the machine's room for ``processes``), so an invalid
    form is refused before any job starts.
    """
    body = {"workspace": str(workspace)}
    if resume_run:
        body["resume"] = resume_run
    else:
        body["train"] = config.validate().to_dict()
        check_processes(config)
        if version_id:
            body["version_id"] = version_id
    job_dir = jobs.new_job(Path(workspace) / "artifacts" / "jobs", "train_launch", body)
    jobs.start(job_dir)
    return job_dir


def live_state(run: dict) -> dict:
    """A run's state: the store's once final, else its job folder's (which notices a killed
    job). Returns {"state", "error"?}."""
    if run["state"] in jobs.FINAL:
        return {"state": run["state"], "error": (run["summary"] or {}).get("error", "")}
    return jobs.status(Path(run["dir"]))


def snapshot(run: dict) -> dict:
    """One read of a train run (a ``store.train_runs`` row) for the Train page's table and
    status line alike: {"state", "error", "log" (step records), "steps", "total", "loss",
    "val", "eta" (seconds, ``training.eta.eta_seconds``: measured step times, counting down
    between steps; None when not running or before two step times)}. A running run reads
    its live log only (a resumed run keeps its old summary)."""
    import time

    from training.eta import eta_seconds

    job_dir = Path(run["dir"])
    state, log = live_state(run), live_log(job_dir)
    summary, last = run["summary"] or {}, (log[-1] if log else {})
    since = time.time() - (job_dir / "train_log.jsonl").stat().st_mtime if log else 0.0
    running = state["state"] in ("queued", "running")
    if running:  # the log is newer than any summary (a resumed run keeps its old one)
        summary = {}
    return {"state": state["state"], "error": state.get("error"), "log": log,
            "steps": summary.get("steps", last.get("step")), "total": last.get("total"),
            "loss": summary.get("final_loss", last.get("loss")),
            "val": summary.get("best_val_loss"),
            "eta": eta_seconds(log, since) if running else None}


def status_line(snap: dict) -> str:
    """``running · step 3/10 · loss 1.700 · ETA 14s`` from a ``snapshot``.

    >>> status_line({"state": "succeeded", "steps": 4, "total": None, "loss": 1.1, "eta": None})
    'succeeded · step 4 · loss 1.100'
    """
    from training.eta import duration

    parts = [snap["state"]]
    if snap["steps"] is not None:
        parts.append(f"step {snap['steps']}" + (f"/{snap['total']}" if snap["total"] else ""))
    if snap["loss"] is not None:
        parts.append(f"loss {snap['loss']:.3f}")
    if snap["state"] in ("queued", "running"):
        parts.append(f"ETA {duration(snap['eta'])}" if snap["eta"] is not None
                     else "ETA after two measured steps")
    return " · ".join(parts)
