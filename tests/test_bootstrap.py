"""Paired bootstrap intervals for tuned − base: exact cases and agreement with a by-hand resample."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.bootstrap import breakdown, paired_interval

TUNED = [0.9, 0.4, 0.7, 0.2, 0.8, 0.5]
BASE = [0.6, 0.5, 0.3, 0.2, 0.4, 0.5]  # differences 0.3, -0.1, 0.4, 0, 0.4, 0 -> mean 1/6


def test_percentile_interval_equals_percentiles_of_resampled_mean_differences():
    out = paired_interval(TUNED, BASE, method="percentile", n_resamples=1000, seed=3)
    diffs = np.array(TUNED) - np.array(BASE)
    rows = np.random.default_rng(3).integers(0, 6, (1000, 6))  # resample examples, keep pairs
    low, high = np.percentile(diffs[rows].mean(axis=1), [2.5, 97.5])
    assert out["low"] == pytest.approx(low) and out["high"] == pytest.approx(high)
    assert out["diff"] == pytest.approx(1 / 6)
    assert out["mean"] == pytest.approx(3.5 / 6) and out["baseline_mean"] == pytest.approx(2.5 / 6)


def test_same_seed_gives_the_same_interval():
    assert paired_interval(TUNED, BASE, seed=7) == paired_interval(TUNED, BASE, seed=7)


def test_pairing_makes_a_constant_improvement_certain():
    base = [0.1, 0.9, 0.3, 0.7, 0.5]
    out = paired_interval([b + 0.25 for b in base], base)
    assert (out["low"], out["high"]) == (pytest.approx(0.25), pytest.approx(0.25))


def test_interval_of_a_clear_gain_excludes_zero_and_brackets_the_mean():
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 1, 60)
    tuned = base + rng.normal(0.2, 0.1, 60)
    out = paired_interval(list(tuned), list(base))
    assert 0 < out["low"] < out["diff"] < out["high"]


def test_pairs_with_a_missing_value_are_dropped():
    out = paired_interval([1.0, None, 0.5, float("nan")], [0.0, 1.0, 0.5, 0.0])
    assert out["n"] == 2 and out["diff"] == pytest.approx(0.5)


def test_no_pairs_gives_no_numbers():
    assert paired_interval([None], [1.0]) == {
        "n": 0, "mean": None, "baseline_mean": None, "diff": None, "low": None, "high": None}


def test_one_pair_is_a_point_interval():
    assert paired_interval([0.75], [0.5]) == {
        "n": 1, "mean": 0.75, "baseline_mean": 0.5, "diff": 0.25, "low": 0.25, "high": 0.25}


def test_differing_lengths_are_refused():
    with pytest.raises(ValueError, match="3 tuned scores but 2 base scores"):
        paired_interval([1, 2, 3], [1, 2])


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="method must be one of"):
        paired_interval(TUNED, BASE, method="studentized")


def test_breakdown_groups_examples_by_meta_value():
    out = breakdown(["qa", "math", "qa", None], [1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0])
    assert list(out) == ["(none)", "math", "qa"]
    assert out["qa"] == {"n": 2, "mean": 1.0, "baseline_mean": 0.0, "diff": 1.0, "low": 1.0, "high": 1.0}
    assert out["(none)"]["diff"] == -1.0 and out["math"]["diff"] == 0.0


def test_an_undefined_bca_interval_falls_back_to_percentile(monkeypatch):
    from evaluation import bootstrap

    real = bootstrap._bootstrap
    calls = []

    def bca_fails(t, b, confidence, n_resamples, seed, method):
        calls.append(method)
        return (float("nan"), float("nan")) if method == "BCa" else real(
            t, b, confidence, n_resamples, seed, method)

    monkeypatch.setattr(bootstrap, "_bootstrap", bca_fails)
    out = paired_interval(TUNED, BASE, n_resamples=1000, seed=3)
    assert calls == ["BCa", "percentile"]
    assert out == paired_interval(TUNED, BASE, n_resamples=1000, seed=3, method="percentile")
