"""Cost per request of every system and the fine-tune's break-even against prompting.

Pure: takes what the workspace recorded (per-request prompt and generated tokens, measured
generation seconds per system, the train run's step log) and returns plain dicts.

Cost per request (on the machine that generated): prompt tokens and generated tokens (mean
and 95th percentile over the evaluation's requests) and seconds per request = the system's
measured generation wall time / its requests (batched generation: the throughput cost of a
request, model loading excluded), and the same in CPU seconds of the generating process.

A report's seconds are CPU seconds when the training logs and every system's timing
recorded them, else wall seconds. CPU seconds measure the work done; wall seconds also
count the time other work on the machine took the cores from the job, so two systems
generated at different loads would be compared unfairly in wall time. CPU seconds are not
immune to load either (threads that spin while a sibling waits for a core are counted):
figures to quote come from a quiet machine.

Break-even: a tuned system costs ``T`` training seconds once, then ``t`` seconds per request;
a prompted system (longer prompts: instructions and shots) costs ``p`` seconds per request.
After ``n`` requests they have cost ``T + n·t`` and ``n·p``, equal at

    break-even = T / (p − t)    (training seconds / seconds saved per request)

and the tuned system has paid back its training after ``ceil(T / (p − t))`` requests. When
``p ≤ t`` (the tuned system is not faster) it never pays back in speed: no break-even.

Run as: ``break_even(840.0, 0.50, 0.14)`` → 2333.3…
"""

from __future__ import annotations

import math

import numpy as np

KINDS = ("base", "prompted", "tuned")


def token_stats(values: list[int | None]) -> dict:
    """{"n", "mean", "p95"} of per-request token counts, None entries ignored; mean and p95
    None when no value. p95: ``numpy.percentile(values, 95)`` (linear interpolation between
    order statistics, Hyndman & Fan 1996 definition 7).

    >>> token_stats([10, 20, 30, 40, 50, None])
    {'n': 5, 'mean': 30.0, 'p95': 48.0}
    """
    known = [v for v in values if v is not None]
    if not known:
        return {"n": 0, "mean": None, "p95": None}
    return {"n": len(known), "mean": float(np.mean(known)),
            "p95": float(np.percentile(known, 95))}


def training_cost(steps: list[dict]) -> dict | None:
    """{"seconds", "cpu_seconds", "tokens", "steps", "sessions"} of a train run from its step
    log, or None without steps.

    ``steps``: rows {step, tokens, elapsed_s, cpu_s} by step; ``elapsed_s`` (wall) and
    ``cpu_s`` (CPU) count from the start of the training process (model loading and the final
    save excluded), so a resumed run starts a new session where it falls. Seconds = the sum of
    each session's last ``elapsed_s``; cpu_seconds the same of ``cpu_s`` (None unless every
    step recorded it); tokens = the sum of the steps' non-padding tokens.

    >>> training_cost([{"step": 1, "tokens": 100, "elapsed_s": 2.0, "cpu_s": 3.0},
    ...                {"step": 2, "tokens": 100, "elapsed_s": 4.5, "cpu_s": 7.0},
    ...                {"step": 3, "tokens": 50, "elapsed_s": 1.5, "cpu_s": 2.5}])
    {'seconds': 6.0, 'cpu_seconds': 9.5, 'tokens': 250, 'steps': 3, 'sessions': 2}
    """
    if not steps:
        return None
    seconds, sessions = _session_total(steps, "elapsed_s")
    cpu = _session_total(steps, "cpu_s")[0] if all(
        row.get("cpu_s") is not None for row in steps) else None
    return {"seconds": seconds, "cpu_seconds": cpu,
            "tokens": sum(row.get("tokens") or 0 for row in steps),
            "steps": len(steps), "sessions": sessions}


def _session_total(steps: list[dict], key: str) -> tuple[float, int]:
    """(sum over the log's sessions of each session's last ``key``, the session count): a
    value smaller than the one before starts a new session (a resumed process)."""
    total, sessions, last = 0.0, 0, None
    for row in steps:
        value = row.get(key)
        if value is None:
            continue
        if last is None or value < last:
            sessions += 1
            total += last or 0.0
        last = value
    return total + (last or 0.0), sessions


def break_even(training_seconds: float, prompted_seconds: float,
               tuned_seconds: float) -> float | None:
    """Requests after which a tuned system's training has paid for itself against a prompted
    one: ``training_seconds / (prompted_seconds − tuned_seconds)`` (seconds per request of
    each); None when the tuned system is not faster (``prompted_seconds ≤ tuned_seconds``).

    >>> break_even(600.0, 0.75, 0.25), break_even(600.0, 0.25, 0.25)
    (1200.0, None)
    """
    saved = prompted_seconds - tuned_seconds
    if saved <= 0:
        return None
    return training_seconds / saved


def system_kinds(systems: list[str], tuned: list[str]) -> dict[str, str]:
    """{system: "base" | "tuned" | "prompted"}: "base" is the untouched base model, the names
    in ``tuned`` are fine-tunes, every other system is a prompted one.

    >>> system_kinds(["base", "tuned", "3-shot fixed"], ["tuned"])
    {'base': 'base', 'tuned': 'tuned', '3-shot fixed': 'prompted'}
    """
    return {name: "base" if name == "base" else "tuned" if name in tuned else "prompted"
            for name in systems}


def best_prompted(kinds: dict[str, str], metrics: dict[str, dict] | None,
                  metric: str = "rougeL") -> tuple[str | None, str]:
    """(the prompted system with the highest mean ``metric``, how it was chosen); the first
    prompted system when none has the metric yet (not scored); (None, "") without one."""
    prompted = [name for name, kind in kinds.items() if kind == "prompted"]
    if not prompted:
        return None, ""
    scored = [(metrics or {}).get(name, {}).get(metric) for name in prompted]
    if all(value is None for value in scored):
        return prompted[0], "the first prompted system (not scored yet)"
    best = max((value, -k) for k, value in enumerate(scored) if value is not None)
    return prompted[-best[1]], f"highest mean {metric}"


def cost_report(requests: dict[str, dict], kinds: dict[str, str],
                training: dict[str, dict | None], metrics: dict[str, dict] | None = None,
                metric: str = "rougeL") -> dict:
    """Cost per request of every system and each tuned system's break-even.

    ``requests``: {system: {"prompt_tokens": [...], "new_tokens": [...], "requests",
    "seconds", "cpu_seconds", "device", "batch_size"}} (``workbench.store.evaluation.request_costs``);
    ``kinds``: ``system_kinds``; ``training``: {tuned system: ``training_cost`` or None};
    ``metrics``: {system: {metric: mean}} to pick the best prompted system by ``metric``.

    Returns {"systems" {system (in the order of ``kinds``): {"kind", "requests", "prompt_tokens" {n, mean, p95},
    "new_tokens" {n, mean, p95}, "seconds_per_request", "training_seconds" (in the report's
    basis), "wall_seconds_per_request", "training_wall_seconds", "training_tokens" (training
    figures for tuned systems only, else None; per-request None when not measured),
    "break_even" (tuned only: requests as a float, None when not faster or not measured),
    "payback_requests" (``ceil`` of it)}}, "best_prompted", "best_prompted_by", "basis"
    ("CPU seconds" when every system and training run recorded CPU time, else "wall
    seconds"), "device", "batch_size", "rule"}. Seconds and break-even figures are
    unrounded.
    """
    best, chosen_by = best_prompted(kinds, metrics, metric)
    names = [name for name in kinds if name in requests] + [
        name for name in requests if name not in kinds]
    tuned_costs = {name: training.get(name) for name in names
                   if kinds.get(name, "prompted") == "tuned" and training.get(name)}
    on_cpu = all(requests[name].get("cpu_seconds") is not None for name in names) and all(
        cost.get("cpu_seconds") is not None for cost in tuned_costs.values())
    basis = "CPU seconds" if on_cpu else "wall seconds"
    systems = {}
    for name in names:
        entry, count = requests[name], requests[name].get("requests")
        cost = tuned_costs.get(name)
        systems[name] = {
            "kind": kinds.get(name, "prompted"), "requests": count,
            "prompt_tokens": token_stats(entry.get("prompt_tokens") or []),
            "new_tokens": token_stats(entry.get("new_tokens") or []),
            "seconds_per_request": _per(entry.get("cpu_seconds" if on_cpu else "seconds"),
                                        count),
            "wall_seconds_per_request": _per(entry.get("seconds"), count),
            "training_seconds": (cost["cpu_seconds"] if on_cpu else cost["seconds"])
            if cost else None,
            "training_wall_seconds": cost["seconds"] if cost else None,
            "training_tokens": cost["tokens"] if cost else None,
            "break_even": None, "payback_requests": None}
    against = systems.get(best, {}).get("seconds_per_request")
    for row in systems.values():
        if row["training_seconds"] is not None and against is not None \
                and row["seconds_per_request"] is not None:
            row["break_even"] = break_even(row["training_seconds"], against,
                                           row["seconds_per_request"])
            if row["break_even"] is not None:
                row["payback_requests"] = math.ceil(row["break_even"])
    devices = {entry.get("device") for entry in requests.values()} - {None}
    batches = {entry.get("batch_size") for entry in requests.values()} - {None}
    return {"systems": systems, "best_prompted": best, "best_prompted_by": chosen_by,
            "basis": basis, "device": ", ".join(sorted(devices)) or None,
            "batch_size": batches.pop() if len(batches) == 1 else None,
            "rule": (f"Seconds are {basis}"
                     + (" of the generating and training processes (other work on the "
                        "machine moves them far less than wall seconds)" if on_cpu else
                        " (CPU time was not recorded for every system: other work on the "
                        "machine while they ran stretches these)")
                     + "; break-even = training seconds / (seconds per request of the best "
                     "prompted system − seconds per request of the tuned system); none when "
                     "the tuned system is not faster")}


def _per(total: float | None, count: int | None) -> float | None:
    """``total / count``; None when either is missing or the count is 0."""
    return total / count if total is not None and count else None


def duration_label(seconds: float) -> str:
    """A training time in words: seconds below 90 s, minutes below 90 min, else hours.

    >>> duration_label(45), duration_label(840), duration_label(9000)
    ('45 seconds', '14 minutes', '2.5 hours')
    """
    if seconds < 90:
        return f"{seconds:.0f} seconds"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.1f} hours"


def requests_label(requests: int) -> str:
    """A request count to two significant figures with thousands separators, "~" when
    rounded.

    >>> requests_label(2334), requests_label(1200), requests_label(7)
    ('~2,300', '1,200', '7')
    """
    rounded = int(float(f"{requests:.2g}"))
    return f"{rounded:,}" if rounded == requests else f"~{rounded:,}"


def payback_clause(cost: dict | None, tuned: str = "tuned",
                   against: str | None = None) -> str | None:
    """The pay-back clause a verdict sentence can end with, e.g. "it pays back its 14 minutes
    of training after ~2,300 requests.", or "it does not pay back its 14 minutes of training
    in speed: it is not faster per request than '3-shot fixed' (0.52 s vs 0.50 s)." ("its 14
    minutes of CPU time in training" when the report's seconds are CPU seconds); None
    when there is nothing to compare (no cost section, no training time, no prompted system,
    or no measured seconds).

    ``cost``: ``cost_report``'s dict; ``tuned``: the tuned system; ``against``: the prompted
    system to compare with (default: the report's best prompted system).
    """
    if not cost:
        return None
    systems = cost["systems"]
    mine, other = systems.get(tuned), systems.get(against or cost.get("best_prompted"))
    if (not mine or not other or mine.get("training_seconds") is None
            or mine["seconds_per_request"] is None or other["seconds_per_request"] is None):
        return None
    trained = duration_label(mine["training_seconds"]) + (
        " of CPU time in training" if cost.get("basis") == "CPU seconds" else " of training")
    requests = break_even(mine["training_seconds"], other["seconds_per_request"],
                          mine["seconds_per_request"])
    if requests is None:
        name = against or cost["best_prompted"]
        return (f"it does not pay back its {trained} in speed: it is not faster "
                f"per request than '{name}' ({mine['seconds_per_request']:.2f} s vs "
                f"{other['seconds_per_request']:.2f} s).")
    count = requests_label(math.ceil(requests))
    return f"it pays back its {trained} after {count} requests."


def payback_note(cost: dict | None, tuned: str = "tuned") -> str | None:
    """The pay-back clause as a sentence of its own for the cost table, naming both systems:
    "tuned against '3-shot': it pays back its 14 minutes of training after ~2,300
    requests."; None where ``payback_clause`` is None."""
    clause = payback_clause(cost, tuned)
    return None if clause is None else f"{tuned} against '{cost['best_prompted']}': {clause}"


def cumulative_lines(cost: dict, requests: int | None = None) -> dict[str, list[tuple]]:
    """{system: [(0, seconds), (requests, seconds)]}: the cumulative cost in seconds of every
    system with a measured time, training included for tuned systems (straight lines).
    ``requests`` (the right end) defaults to twice the largest break-even, else 1,000."""
    systems = cost["systems"]
    if requests is None:
        ends = [row["break_even"] for row in systems.values() if row.get("break_even")]
        requests = max(10, math.ceil(2 * max(ends))) if ends else 1000
    return {name: [(0, row["training_seconds"] or 0.0),
                   (requests, (row["training_seconds"] or 0.0)
                    + requests * row["seconds_per_request"])]
            for name, row in systems.items() if row["seconds_per_request"] is not None}
