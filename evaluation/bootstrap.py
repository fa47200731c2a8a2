"""Paired bootstrap confidence intervals for tuned − base on per-example metric scores.

Both systems answered the same prompts, so each example gives one paired difference
``d_i = tuned_i − base_i``; the interval is for the mean of d. Resampling examples (not the two
systems separately) keeps the pairing, which removes the between-example variance that both
systems share (Koehn 2004, "Statistical Significance Tests for Machine Translation
Evaluation"; Efron & Tibshirani 1993, ch. 13-14). Computed with ``scipy.stats.bootstrap``
(``paired=True``, BCa by default; percentile where BCa is undefined).

Run as: ``paired_interval([0.5, 0.7, 0.9], [0.4, 0.6, 0.6])``.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

METHODS = ("BCa", "percentile", "basic")


def _pairs(tuned: list, base: list) -> tuple[np.ndarray, np.ndarray]:
    """Arrays of the pairs where both values are defined (None / NaN pairs are dropped)."""
    if len(tuned) != len(base):
        raise ValueError(f"{len(tuned)} tuned scores but {len(base)} base scores: "
                         "need one pair per example")
    kept = [(t, b) for t, b in zip(tuned, base, strict=True) if _defined(t) and _defined(b)]
    if not kept:
        return np.empty(0), np.empty(0)
    t, b = zip(*kept, strict=True)
    return np.asarray(t, dtype=float), np.asarray(b, dtype=float)


def _defined(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _mean_difference(tuned, base, axis=-1):
    return np.mean(tuned - base, axis=axis)


def paired_interval(tuned: list[float | None], base: list[float | None],
                    confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0,
                    method: str = "BCa") -> dict:
    """Means of both systems and a bootstrap interval for mean(tuned − base).

    Shapes: ``tuned[i]`` and ``base[i]`` are the two systems' scores on example i (same
    length n; pairs with a None/NaN on either side are dropped). Returns ``{"n", "mean",
    "baseline_mean", "diff", "low", "high"}`` (``mean`` of the first system, ``tuned``,
    ``baseline_mean`` of the second, the one compared against; means and interval bounds in
    the metric's unit; all None when no pair remains). With fewer than 2 pairs, or when every difference is the
    same, the interval is the single point ``diff`` (no sampling variability to show).
    Deterministic for a given ``seed``. Raises ValueError on differing lengths, an unknown
    method, or a confidence outside (0, 1).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    t, b = _pairs(tuned, base)
    if t.size == 0:
        return {"n": 0, "mean": None, "baseline_mean": None, "diff": None, "low": None,
                "high": None}
    diff = float(np.mean(t - b))
    summary = {"n": int(t.size), "mean": float(t.mean()), "baseline_mean": float(b.mean()),
               "diff": diff}
    if t.size < 2 or np.ptp(t - b) == 0:
        return {**summary, "low": diff, "high": diff}
    low, high = _bootstrap(t, b, confidence, n_resamples, seed, method)
    if method == "BCa" and not (np.isfinite(low) and np.isfinite(high)):
        # BCa's acceleration is undefined on some tiny samples (scipy then warns and
        # returns NaN); the percentile interval still is
        low, high = _bootstrap(t, b, confidence, n_resamples, seed, "percentile")
    return {**summary, "low": float(low), "high": float(high)}


def _bootstrap(t, b, confidence, n_resamples, seed, method):
    import warnings

    from scipy import stats

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        result = stats.bootstrap((t, b), _mean_difference, paired=True, vectorized=True,
                                 confidence_level=confidence, n_resamples=n_resamples,
                                 method=method, rng=np.random.default_rng(seed))
    return result.confidence_interval


def breakdown(groups: list[str | None], tuned: list, base: list, **options) -> dict[str, dict]:
    """``paired_interval`` per group of a meta column (e.g. Dolly's ``category``).

    ``groups[i]`` is example i's group (None becomes "(none)"). Returns ``{group: interval
    dict}`` in group-name order.
    """
    if not len(groups) == len(tuned) == len(base):
        raise ValueError(f"{len(groups)} groups for {len(tuned)} tuned and {len(base)} base "
                         "scores: need one group per example")
    members: dict[str, list[int]] = defaultdict(list)
    for index, group in enumerate(groups):
        members["(none)" if group is None else str(group)].append(index)
    return {group: paired_interval([tuned[i] for i in idx], [base[i] for i in idx], **options)
            for group, idx in sorted(members.items())}
