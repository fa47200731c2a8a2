"""Time left in a training run, from the step times measured so far.

Run as: ``eta_seconds(read_jsonl(job / "train_log.jsonl"), since_last_s=1.5)``

Pure: the step records a run writes (``training.recipe.StepRecord`` as dicts: ``step``,
``total``, ``elapsed_s``) in, seconds out. A run's first step carries the start-up cost (model
on the device, first batch), so it is not measured; the estimate waits until two steps after
it are, as tqdm's rate does after its first iterations.
"""

from __future__ import annotations

MIN_MEASURED_STEPS = 2  # step times needed before an estimate is shown
WINDOW = 10  # the most recent step times averaged: follows a change of pace


def step_times(records: list[dict]) -> list[float]:
    """Seconds per optimizer step between consecutive records of one process (a resumed
    run restarts ``elapsed_s``; the gap across the restart is not a step time).

    >>> step_times([{"step": 1, "elapsed_s": 4.0}, {"step": 2, "elapsed_s": 5.0},
    ...             {"step": 4, "elapsed_s": 7.0}])
    [1.0, 1.0, 1.0]
    """
    times = []
    for before, after in zip(records, records[1:], strict=False):
        steps = after["step"] - before["step"]
        took = after.get("elapsed_s", 0.0) - before.get("elapsed_s", 0.0)
        if steps > 0 and took >= 0:
            times += [took / steps] * steps
    return times


def eta_seconds(records: list[dict], since_last_s: float = 0.0) -> float | None:
    """Seconds left: the mean of the last ``WINDOW`` measured step times × the steps left,
    less ``since_last_s`` (time since the newest record was written, so the estimate counts
    down between steps; never below 0). None before ``MIN_MEASURED_STEPS`` step times are
    measured, or without records.

    >>> log = [{"step": s, "total": 10, "elapsed_s": 3.0 + 2 * s} for s in (1, 2, 3)]
    >>> eta_seconds(log[:2]), eta_seconds(log), eta_seconds(log, since_last_s=5)
    (None, 14.0, 9.0)
    """
    times = step_times(records)
    if len(times) < MIN_MEASURED_STEPS:
        return None
    last = records[-1]
    recent = times[-WINDOW:]
    left = (last["total"] - last["step"]) * sum(recent) / len(recent)
    return max(left - since_last_s, 0.0)


def duration(seconds: float | None) -> str:
    """``1m05s`` / ``42s`` / ``1h02m``; "–" for None.

    >>> duration(65), duration(42.4), duration(3725), duration(None)
    ('1m05s', '42s', '1h02m', '–')
    """
    if seconds is None:
        return "–"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"
