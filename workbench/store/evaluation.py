"""Evaluation tables: generations, aggregate and per-example metric scores, held-out losses.

Functions take an open ``Workspace``; rows are dicts. Tables: ``generations`` (m001, plus
``new_tokens`` from m007 and ``prompt_tokens`` from m015), ``metric_scores`` (aggregates),
``example_scores`` (one value per run, example, system and metric) and ``heldout_losses``
(summed nats and token count per example and system), the last two from
``m007_evaluation``; ``generation_timings`` (m015: measured generation seconds per run and
system).
"""

from __future__ import annotations

import json

from workbench.store.workspace import Workspace, decoded_run


def generations(ws: Workspace, run_id: str) -> list[dict]:
    """Rows {example_id, system, reference, output, new_tokens} of a generate run, by example."""
    return ws.query("SELECT example_id, system, reference, output, new_tokens FROM generations "
                    "WHERE run_id = ? ORDER BY example_id, system", [run_id])


def replace_scores(ws: Workspace, run_id: str, aggregates: dict[str, dict[str, float | None]],
                   per_example: list[dict]) -> None:
    """Replace a run's scores in one transaction.

    ``aggregates``: {system: {metric: value}}; ``per_example``: rows {example_id, system,
    metric, value} (value may be None where the metric is undefined for that example).
    """
    with ws.transaction():
        ws.con.execute("DELETE FROM metric_scores WHERE run_id = ?", [run_id])
        ws.con.execute("DELETE FROM example_scores WHERE run_id = ?", [run_id])
        ws.insert("metric_scores", [{"run_id": run_id, "system": s, "metric": m, "value": v}
                                    for s, values in aggregates.items()
                                    for m, v in values.items()])
        ws.insert("example_scores", [{"run_id": run_id, **row} for row in per_example])


def save_losses(ws: Workspace, run_id: str, rows: list[dict]) -> None:
    """Store rows {example_id, system, loss_sum, tokens} of a generate run."""
    ws.insert("heldout_losses", [{"run_id": run_id, **row} for row in rows])


def losses(ws: Workspace, run_id: str) -> list[dict]:
    """Rows {example_id, system, loss_sum, tokens} of a generate run, by example and system."""
    return ws.query("SELECT example_id, system, loss_sum, tokens FROM heldout_losses "
                    "WHERE run_id = ? ORDER BY example_id, system", [run_id])


def metric_table(ws: Workspace, run_id: str) -> dict[str, dict[str, float | None]]:
    """Aggregates of a run: {system: {metric: value}}."""
    out: dict[str, dict[str, float | None]] = {}
    for row in ws.query("SELECT system, metric, value FROM metric_scores WHERE run_id = ? "
                        "ORDER BY system, metric", [run_id]):
        out.setdefault(row["system"], {})[row["metric"]] = row["value"]
    return out


def example_scores(ws: Workspace, run_id: str) -> dict[str, dict[str, dict[int, float | None]]]:
    """Per-example values of a run: {system: {metric: {example_id: value}}}."""
    out: dict[str, dict[str, dict[int, float | None]]] = {}
    for row in ws.query("SELECT system, metric, example_id, value FROM example_scores "
                        "WHERE run_id = ? ORDER BY example_id", [run_id]):
        out.setdefault(row["system"], {}).setdefault(row["metric"], {})[
            row["example_id"]] = row["value"]
    return out


def example_meta(ws: Workspace, dataset_id: int, example_ids: list[int]) -> dict[int, dict]:
    """{example_id: meta dict} for the given examples of a dataset."""
    if not example_ids:
        return {}
    rows = ws.query("SELECT id, meta FROM examples WHERE dataset_id = ? AND list_contains(?, id)",
                    [dataset_id, list(example_ids)])
    return {row["id"]: json.loads(row["meta"] or "{}") for row in rows}


def succeeded_runs(ws: Workspace, kind: str) -> list[dict]:
    """Every succeeded run of ``kind``, newest first, config and summary decoded."""
    rows = ws.query("SELECT id, config, summary, created_at FROM runs WHERE kind = ? AND "
                    "state = 'succeeded' ORDER BY created_at DESC, id DESC", [kind])
    return [decoded_run(row) for row in rows]


def train_logs(ws: Workspace, run_ids: list[str]) -> list[dict]:
    """Rows {run_id, step, loss} of the given train runs, by run and step."""
    if not run_ids:
        return []
    return ws.query("SELECT run_id, step, loss FROM train_log WHERE list_contains(?, run_id) "
                    "ORDER BY run_id, step", [list(run_ids)])


def heldout_rows(ws: Workspace, dataset_id: int, limit: int = 200) -> list[dict]:
    """The first ``limit`` test-split rows {id, messages, meta} (the playground's choices)."""
    return ws.split_examples(dataset_id, "test")[:limit]


def save_timings(ws: Workspace, run_id: str, rows: list[dict]) -> None:
    """Store rows {system, requests, seconds, cpu_seconds, batch_size, device} of a generate
    run (seconds: wall time of generating the system's ``requests`` answers, model loading
    excluded; cpu_seconds: the generating process's CPU time over the same span, or None)."""
    ws.insert("generation_timings", [{"run_id": run_id, **row} for row in rows])


def request_costs(ws: Workspace, run_id: str) -> dict[str, dict]:
    """What each system's requests of a generate run cost: {system: {"prompt_tokens": [...],
    "new_tokens": [...] (per generation, by example; None where not recorded), "requests",
    "seconds", "cpu_seconds", "batch_size", "device" (None for a run generated before they
    were recorded)}}."""
    out: dict[str, dict] = {}
    for row in ws.query("SELECT system, prompt_tokens, new_tokens FROM generations "
                        "WHERE run_id = ? ORDER BY system, example_id", [run_id]):
        entry = out.setdefault(row["system"], {"prompt_tokens": [], "new_tokens": [],
                                               "requests": None, "seconds": None,
                                               "cpu_seconds": None,
                                               "batch_size": None, "device": None})
        entry["prompt_tokens"].append(row["prompt_tokens"])
        entry["new_tokens"].append(row["new_tokens"])
    for row in ws.query("SELECT system, requests, seconds, cpu_seconds, batch_size, device "
                        "FROM generation_timings WHERE run_id = ?", [run_id]):
        if row["system"] in out:
            out[row["system"]].update({k: row[k] for k in ("requests", "seconds", "cpu_seconds",
                                                           "batch_size", "device")})
    return out


def train_steps(ws: Workspace, run_id: str) -> list[dict]:
    """Rows {step, tokens, elapsed_s, cpu_s} of a train run's step log, by step
    (``elapsed_s`` / ``cpu_s``: wall / CPU seconds since its training process started; a
    resumed run starts again from 0; ``cpu_s`` None where not recorded)."""
    return ws.query("SELECT step, tokens, elapsed_s, cpu_s FROM train_log WHERE run_id = ? "
                    "ORDER BY step", [run_id])
