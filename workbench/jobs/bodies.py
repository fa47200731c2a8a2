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
    With ``processes`` > 1 (or an accelerate config) the recipe runs as that many ranks
    under a launcher (``workbench.jobs.launch``); this process turns rank 0's step log into
    progress and passes a cancel on to every rank.
    """
    from training import checkpoint
    from training.config import TrainConfig
    from training.distributed import is_distributed
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
        if is_distributed(train_config.processes, train_config.accelerate_config):
            from workbench.jobs.launch import run_ranks

            result = run_ranks(report, train_config,
                               lambda record: report(record["step"], record["total"],
                                                     _progress_line(record)))
        else:
            result = train_lora([row["messages"] for row in rows], train_config, report.dir,
                                on_log=on_log,
                                validation=[row["messages"] for row in validation],
                                stop_exceptions=(Cancelled, KeyboardInterrupt))
    excluded = [{"example_id": rows[e["index"]].get("example_id"), "reason": e["reason"],
                 "detail": e["detail"]} for e in result.pop("excluded")]
    write_jsonl(report.dir / "excluded.jsonl", excluded)
    write_json(Path(result["adapter"]) / "lineage.json", config.get("lineage", {}))
    return {**result, "excluded_examples": len(excluded)}


def preference_task(config: dict, report: Reporter) -> dict:
    """Preference-tune (DPO or ORPO, ``config["train"]["method"]``) on ``pairs.jsonl`` of the
    job folder (TRL conversational rows {"prompt", "chosen", "rejected"} with provenance).

    ``config["start_adapter"]``: the LoRA adapter trained further, or None for a fresh LoRA.
    Resumes from the folder's newest checkpoint. Writes ``train_log.jsonl`` (one
    ``training.preference._record`` per step: loss, reward margin and accuracy) and the
    adapter with ``lineage.json``. A SIGTERM ends the job cancelled.
    """
    from training.config import TrainConfig
    from training.preference import train_preferences

    train_config = TrainConfig.from_dict(config["train"])
    rows = [{key: row[key] for key in ("prompt", "chosen", "rejected")}
            for row in read_jsonl(report.dir / "pairs.jsonl")]
    log_path = report.dir / "train_log.jsonl"
    if log_path.is_file():  # a resumed run logs again from its newest checkpoint on
        kept = [int(p.name.rsplit("-", 1)[1])
                for p in (report.dir / "checkpoints").glob("checkpoint-*")]
        write_jsonl(log_path, [r for r in read_jsonl(log_path) if r["step"] <= max(kept, default=0)])

    def on_log(record: dict) -> None:
        with open(log_path, "a") as handle:
            handle.write(json.dumps(record) + "\n")
        report(record["step"], record["total"], _preference_line(record))

    start = config.get("start_adapter")
    with compute_slot(report):
        result = train_preferences(rows, train_config, report.dir, on_log=on_log,
                                   start_adapter=Path(start) if start else None)
    write_json(Path(result["adapter"]) / "lineage.json", config.get("lineage", {}))
    return result


def _preference_line(record: dict) -> str:
    """``step 3/20 · loss 0.6764 · reward margin 0.034 · reward accuracy 1.00 · ETA 0m18s``."""
    eta = int(record["eta_s"])
    parts = [f"step {record['step']}/{record['total']}", f"loss {record['loss']:.4f}"]
    if record.get("reward_margin") is not None:
        parts += [f"reward margin {record['reward_margin']:.3f}",
                  f"reward accuracy {record['reward_accuracy']:.2f}"]
    return " · ".join([*parts, f"ETA {eta // 60}m{eta % 60:02d}s"])


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
    system, output, new_tokens, prompt_tokens} and ``losses.jsonl`` rows {example_id, system,
    loss_sum, tokens}. Returns {"generations": n, "seconds": {system: s}, "new_tokens":
    {system: n}, "device": "cpu, 2 threads"-like} (seconds: generation only, per system).
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

    from evaluation.generate import (
        Sampling,
        device_label,
        generate_detailed,
        load_for_generation,
        prompt_lengths,
    )
    from evaluation.heldout import answer_losses

    sampling = Sampling(**config["sampling"]) if config.get("sampling") else None
    systems, out, losses = config["systems"], [], []
    timing: dict = {"seconds": {}, "cpu_seconds": {}, "new_tokens": {}}
    for k, (system, adapter) in enumerate(systems.items()):
        # a prompted system answers its own messages (system prompt + shots + test prompt)
        prompts = [(row.get("system_prompts") or {}).get(system, row["prompt"]) for row in rows]
        model_dir = Path((config.get("model_dirs") or {}).get(system, config["model_dir"]))
        report(k, len(systems), f"generating with {system} ({len(prompts)} prompts)")
        model, tokenizer = load_for_generation(model_dir, Path(adapter) if adapter else None)
        start, cpu_start = time.perf_counter(), time.process_time()
        answers = generate_detailed(model, tokenizer, prompts, config["max_new_tokens"],
                                    config.get("batch_size", 32), sampling=sampling)
        timing["seconds"][system] = round(time.perf_counter() - start, 2)
        timing["cpu_seconds"][system] = round(time.process_time() - cpu_start, 2)
        timing["new_tokens"][system] = sum(n for _, n in answers)
        timing["device"] = device_label(model)
        out += [{"example_id": row["example_id"], "system": system, "output": text,
                 "new_tokens": n, "prompt_tokens": p} for row, (text, n), p in
                zip(rows, answers, prompt_lengths(tokenizer, prompts), strict=True)]
        scored = answer_losses(model, tokenizer, [(prompt, r["reference"])
                                                  for prompt, r in zip(prompts, rows, strict=True)])
        losses += [{"example_id": row["example_id"], "system": system, "loss_sum": loss,
                    "tokens": n} for row, (loss, n) in zip(rows, scored, strict=True)]
    return out, losses, timing


def quality_task(config: dict, report: Reporter) -> dict:
    """Model-based quality signals (``curation.ifd.score_rows``) of ``rows.jsonl``
    ({"example_id", "messages"}) with the model folder ``config["model_dir"]``.

    Writes ``scores.jsonl`` rows {example_id, ppl_conditioned, ppl_answer, ifd,
    answer_tokens} or {example_id, unscored_reason, unscored_detail}. A folder that does not
    load raises ``InputError`` naming it. Returns {"scored", "unscored", "seconds"}.
    """
    import time

    from curation.ifd import score_rows

    rows = read_jsonl(report.dir / "rows.jsonl")
    with compute_slot(report):
        model, tokenizer = _load_scoring_model(Path(config["model_dir"]))
        report(0, 2 * len(rows), f"scoring {len(rows)} rows with {config['model_dir']}")
        start = time.perf_counter()
        scores = score_rows(model, tokenizer, [row["messages"] for row in rows],
                            config["max_seq_len"], config["max_batch_tokens"],
                            on_batch=lambda done, total: report(
                                done, total, f"{done}/{total} sequences (2 per row)"))
    out = [{"example_id": row["example_id"], **score} for row, score in zip(rows, scores)]
    write_jsonl(report.dir / "scores.jsonl", out)
    unscored = sum("unscored_reason" in score for score in scores)
    return {"scored": len(rows) - unscored, "unscored": unscored,
            "seconds": round(time.perf_counter() - start, 2)}


def _load_scoring_model(model_dir: Path):
    """(model, tokenizer) of a local folder; InputError when either does not load."""
    import torch

    from common.errors import InputError
    from training.model import load_model, load_tokenizer

    try:
        model, tokenizer = load_model(model_dir), load_tokenizer(model_dir)
    except Exception as exc:  # any loader failure is the folder's fault: say which folder
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise InputError(f"model folder {model_dir} does not load: {reason}") from None
    return model.to("cuda" if torch.cuda.is_available() else "cpu"), tokenizer


def judge_task(config: dict, report: Reporter) -> dict:
    """Judge answers to ``requests.jsonl`` ({"prompt", ...} per line) of the job folder.

    ``config["judge"]``: {"backend": "model", "model_dir"} or {"backend": "url", "url",
    "name", "timeout_s"}, plus "max_new_tokens" and (model) "batch_size". Writes
    ``answers.jsonl`` (each request's fields plus "answer", the judge's raw text) and
    returns {"answers", "seconds"}. A judge that cannot run raises
    ``evaluation.judge.JudgeError`` with its one-line reason.
    """
    import time

    from evaluation.judge_backends import answer_local, answer_url

    rows, spec = read_jsonl(report.dir / "requests.jsonl"), config["judge"]
    prompts = [row["prompt"] for row in rows]
    doing = f"judging {len(prompts) // 2} items in both orders"
    report(0, len(prompts), doing)
    start = time.perf_counter()
    answered = _judge_progress(report, doing)
    if spec["backend"] == "url":
        answers = answer_url(spec["url"], spec["name"], prompts, spec["max_new_tokens"],
                             spec.get("timeout_s", 60.0), on_answer=answered)
    else:
        with compute_slot(report):
            answers = answer_local(Path(spec["model_dir"]), prompts, spec["max_new_tokens"],
                                   spec.get("batch_size", 16), on_batch=answered)
    write_jsonl(report.dir / "answers.jsonl",
                [{**row, "answer": answer} for row, answer in zip(rows, answers, strict=True)])
    return {"answers": len(answers), "seconds": round(time.perf_counter() - start, 2)}


def _judge_progress(report: Reporter, doing: str, clock=None):
    """``on_answer(done, total)`` for the judge backends: reports ``done`` of ``total``
    answers with ``doing`` and the time left (``training.eta.eta_seconds`` over the measured
    seconds per answer; the first report, which carries the model's loading, is not
    measured). ``clock``: seconds, default ``time.perf_counter``."""
    import time

    from training.eta import duration, eta_seconds

    clock = clock or time.perf_counter
    start, records = clock(), []

    def answered(done: int, total: int) -> None:
        records.append({"step": done, "total": total, "elapsed_s": clock() - start})
        eta = eta_seconds(records)
        report(done, total, doing + ("" if eta is None else f" · ETA {duration(eta)}"))

    return answered


REGISTRY = {"train": train_task, "generate": generate_task, "quality": quality_task,
            "dpo": preference_task, "orpo": preference_task, "judge": judge_task}
