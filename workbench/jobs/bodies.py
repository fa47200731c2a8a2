"""Job bodies: what runs inside ``python -m workbench job DIR`` for the compute job kinds.

Train and generate read their inputs from the job folder and write their outputs there; they
never open the workspace database (the owner imports the outputs: ``workbench.stages.training``
and ``workbench.stages.evaluation``). They import only the steps and the job-folder helpers.
The job kinds that run stages (pipeline, stage, train_launch) are in
``workbench.stages.background``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from workbench.jobs.files import read_jsonl, write_jsonl
from workbench.jobs.runner import Cancelled, Reporter, write_json
from workbench.jobs.slot import compute_slot

log = logging.getLogger("workbench.tasks")


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

    ``systems``: {name: adapter folder or None for the base model}; a prompted system answers
    its row's ``system_prompts[name]`` messages (on ``model_dirs[name]`` when given), every
    other system the row's ``prompt``; all get the same decoding (``max_new_tokens``,
    ``batch_size``, ``sampling``: None for greedy or
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

    sampling = Sampling(**config["sampling"]) if config.get("sampling") else None
    systems, out, losses = config["systems"], [], []
    timing: dict[str, dict] = {"seconds": {}, "new_tokens": {}}
    for k, (system, adapter) in enumerate(systems.items()):
        # a prompted system answers its own messages (system prompt + shots + test prompt)
        prompts = [(row.get("system_prompts") or {}).get(system, row["prompt"]) for row in rows]
        model_dir = Path((config.get("model_dirs") or {}).get(system, config["model_dir"]))
        report(k, len(systems), f"generating with {system} ({len(prompts)} prompts)")
        model, tokenizer = load_for_generation(model_dir, Path(adapter) if adapter else None)
        start = time.perf_counter()
        answers = generate_detailed(model, tokenizer, prompts, config["max_new_tokens"],
                                    config.get("batch_size", 32), sampling=sampling)
        timing["seconds"][system] = round(time.perf_counter() - start, 2)
        timing["new_tokens"][system] = sum(n for _, n in answers)
        out += [{"example_id": row["example_id"], "system": system, "output": text,
                 "new_tokens": n} for row, (text, n) in zip(rows, answers, strict=True)]
        scored = answer_losses(model, tokenizer, [(prompt, r["reference"])
                                                  for prompt, r in zip(prompts, rows, strict=True)])
        losses += [{"example_id": row["example_id"], "system": system, "loss_sum": loss,
                    "tokens": n} for row, (loss, n) in zip(rows, scored, strict=True)]
    return out, losses, timing


REGISTRY = {"train": train_task, "generate": generate_task}
