"""Job bodies: what runs inside ``python -m workbench job DIR`` for each job kind.

Train and generate read their inputs from the job folder and write their outputs there; they
never open the workspace database (the owner imports the outputs, see ``workbench.stages``).
A pipeline job is an orchestrator: it runs the stages, each opening the workspace briefly.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from workbench.jobs import Reporter, compute_slot, write_json

log = logging.getLogger("workbench.tasks")


def read_jsonl(path: Path) -> list[dict]:
    """Rows of a JSONL file written by ``write_jsonl``.

    Split on "\n" only: str.splitlines() also breaks at U+2028, U+0085 and other characters
    that JSON strings may hold unescaped (GSM8K has them).
    """
    text = path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.split("\n") if line.strip()]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                   encoding="utf-8")
    tmp.replace(path)


def train_task(config: dict, report: Reporter) -> dict:
    """Fine-tune on ``train.jsonl`` ({"example_id", "messages"} per line) of the job folder.

    Resumes from the folder's newest checkpoint when there is one (a restarted job after a
    cancel or a kill -9). Writes ``train_log.jsonl`` (one ``training.recipe.StepRecord`` per
    step), ``excluded.jsonl`` ({"example_id", "reason", "detail"}) and the adapter (or model
    folder) with ``lineage.json``. A SIGTERM saves a checkpoint and ends the job cancelled.
    """
    from training import checkpoint
    from training.config import TrainConfig
    from training.recipe import train_lora
    from workbench.jobs import Cancelled

    train_config = TrainConfig.from_dict(config["train"])
    rows = read_jsonl(report.dir / "train.jsonl")
    validation = _optional_jsonl(report.dir / "validation.jsonl")
    log_path = report.dir / "train_log.jsonl"
    _truncate_log(log_path, checkpoint.latest(report.dir / "checkpoints"))

    def on_log(record: dict) -> None:
        with open(log_path, "a") as handle:
            handle.write(json.dumps(record) + "\n")
        report(record["step"], record["total"], _progress_line(record))

    with compute_slot(report):
        result = train_lora([row["messages"] for row in rows], train_config, report.dir,
                            on_log=on_log, validation=[row["messages"] for row in validation],
                            stop_exceptions=(Cancelled, KeyboardInterrupt))
    excluded = [{"example_id": rows[e["index"]].get("example_id"), "reason": e["reason"],
                 "detail": e["detail"]} for e in result.pop("excluded")]
    write_jsonl(report.dir / "excluded.jsonl", excluded)
    write_json(Path(result["adapter"]) / "lineage.json", config.get("lineage", {}))
    return {**result, "excluded_examples": len(excluded)}


def _optional_jsonl(path: Path) -> list[dict]:
    return read_jsonl(path) if path.is_file() else []


def _truncate_log(log_path: Path, latest: Path | None) -> None:
    """Keep only the log lines up to the checkpoint a resumed run restarts from."""
    if not log_path.is_file():
        return
    step = json.loads((latest / "state.json").read_text())["step"] if latest else 0
    write_jsonl(log_path, [r for r in read_jsonl(log_path) if r["step"] <= step])


def _progress_line(record: dict) -> str:
    """``step 3/30 · epoch 0.25 · loss 1.234 · 812 tok/s · ETA 1m05s`` (+ validation loss)."""
    eta = int(record["eta_s"])
    parts = [f"step {record['step']}/{record['total']}", f"epoch {record['epoch']:.2f}",
             f"loss {record['loss']:.4f}", f"{record['tokens_per_s']:.0f} tok/s",
             f"ETA {eta // 60}m{eta % 60:02d}s"]
    if record.get("val_loss") is not None:
        parts.append(f"val {record['val_loss']:.4f}")
    return " · ".join(parts)


def generate_task(config: dict, report: Reporter) -> dict:
    """Generations and held-out losses of each system in ``config["systems"]`` for ``prompts.jsonl``.

    ``systems``: {name: adapter folder or None for the base model}; every system gets the same
    prompts and decoding (``max_new_tokens``, ``batch_size``, ``sampling``: None for greedy or
    ``evaluation.generate.Sampling`` fields). Writes ``generations.jsonl`` rows {example_id,
    system, output, new_tokens} and ``losses.jsonl`` rows {example_id, system, loss_sum,
    tokens}. Returns {"generations": n, "seconds": {system: s}, "new_tokens": {system: n}}.
    """
    rows = read_jsonl(report.dir / "prompts.jsonl")
    with compute_slot(report):
        out, losses, timing = _generate_all(rows, config, report)
    write_jsonl(report.dir / "generations.jsonl", out)
    write_jsonl(report.dir / "losses.jsonl", losses)
    report(len(config["systems"]), len(config["systems"]), "done")
    return {"generations": len(out), **timing}


def _generate_all(rows: list[dict], config: dict, report: Reporter):
    import time

    from evaluation.generate import Sampling, generate_detailed, load_for_generation
    from evaluation.heldout import answer_losses

    prompts, model_dir = [row["prompt"] for row in rows], Path(config["model_dir"])
    sampling = Sampling(**config["sampling"]) if config.get("sampling") else None
    systems, out, losses = config["systems"], [], []
    timing: dict[str, dict] = {"seconds": {}, "new_tokens": {}}
    for k, (system, adapter) in enumerate(systems.items()):
        report(k, len(systems), f"generating with {system} ({len(prompts)} prompts)")
        model, tokenizer = load_for_generation(model_dir, Path(adapter) if adapter else None)
        start = time.perf_counter()
        answers = generate_detailed(model, tokenizer, prompts, config["max_new_tokens"],
                                    config.get("batch_size", 32), sampling=sampling)
        timing["seconds"][system] = round(time.perf_counter() - start, 2)
        timing["new_tokens"][system] = sum(n for _, n in answers)
        out += [{"example_id": row["example_id"], "system": system, "output": text,
                 "new_tokens": n} for row, (text, n) in zip(rows, answers, strict=True)]
        scored = answer_losses(model, tokenizer, [(r["prompt"], r["reference"]) for r in rows])
        losses += [{"example_id": row["example_id"], "system": system, "loss_sum": loss,
                    "tokens": n} for row, (loss, n) in zip(rows, scored, strict=True)]
    return out, losses, timing


def pipeline_task(config: dict, report: Reporter) -> dict:
    """Run every automatic stage (``workbench.stages.pipeline``) as one job."""
    from workbench.pipeline import PipelineOptions, pipeline

    options = PipelineOptions(**config["options"])
    return pipeline(options, on_stage=lambda i, n, name: report(i, n, name))


def stage_task(config: dict, report: Reporter) -> dict:
    """Run one stage (``config["stage"]``) of ``workbench.pipeline.STAGE_RUNNERS`` as a job."""
    from workbench.pipeline import PipelineOptions, stage_runners

    options = PipelineOptions(**config["options"])
    report(0, 1, config["stage"])
    result = stage_runners(options)[config["stage"]]()
    report(1, 1, "done")
    return result


def train_launch_task(config: dict, report: Reporter) -> dict:
    """Start (or resume) a training run from the app and wait for it, as one job."""
    from workbench import train_runs

    return train_runs.launch_from_job(config, lambda p: report(p.get("step", 0),
                                                               p.get("total", 0),
                                                               p.get("message", "")))


REGISTRY = {"train": train_task, "generate": generate_task, "pipeline": pipeline_task,
            "stage": stage_task, "train_launch": train_launch_task}
