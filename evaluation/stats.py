"""Statistics on de-randomized pairwise labels: win rate, sign test, agreement, bias, strengths.

Run as: ``from evaluation.stats import win_rate_interval; win_rate_interval(7, 3, 0)``

Inputs are de-randomized labels (``LABELS``: a system name such as "tuned" / "base", "tie",
"both_bad"), except ``position_bias_rate``, which needs the choices as shown (A = left). Every
number comes from a maintained library (statsmodels, scipy, scikit-learn, krippendorff); this
module only shapes the inputs, checks them and documents the choices made. Errors are
``ValueError`` with a message that says what was wrong.
"""

from __future__ import annotations

import numpy as np

from evaluation.sessions import CHOICES

LABELS = ("tuned", "base", "tie", "both_bad")  # de-randomized labels of a base-vs-tuned pair

# Ridge on Bradley-Terry strengths (a Gaussian prior with sd 100 logits): negligible when the
# maximum likelihood estimate exists (it moves 6-2 wins by 2e-5), yet keeps the fit finite when
# it does not (a system that never lost), as in choix's ``alpha`` (Maystre, choix docs).
BT_RIDGE = 1e-4


def _check_counts(**counts: int) -> None:
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence!r}")


def _wilson(count, n: int, confidence: float):
    """Wilson score bounds for ``count`` successes out of ``n`` (arrays allowed)."""
    from statsmodels.stats.proportion import proportion_confint

    return proportion_confint(count, n, alpha=1 - confidence, method="wilson")


def win_rate_interval(wins: int, losses: int, ties: int, confidence: float = 0.95) -> dict:
    """Win rate (wins + ½ ties) / n with a Wilson score interval; n = wins + losses + ties.

    Counts are judgments of one system against the other; "both_bad" verdicts are not passed
    here (callers report them apart). The interval is statsmodels'
    ``proportion_confint(wins + ties / 2, n, method="wilson")``: a tie counts as half a win.
    Wilson's formula assumes binomial 0/1 judgments; a tie is a 0.5 judgment, which makes each
    judgment's variance p(1 - p) - t/4 for tie rate t, never more than the binomial p(1 - p),
    so treating half-ties as half-wins leaves the interval conservative, not too narrow
    (``wilson_coverage(..., tie_rate=t)`` measures this exactly).
    Returns ``{"wins", "losses", "ties", "n", "win_rate", "low", "high", "confidence"}``, rates
    in 0–1; win_rate, low and high are None when n == 0.
    Raises ValueError for a negative or non-integer count, or confidence outside (0, 1).
    Source: Wilson (1927), JASA 22:209; Brown, Cai & DasGupta (2001), Statistical Science 16.

    >>> result = win_rate_interval(7, 3, 0)
    >>> round(result["low"], 4), round(result["high"], 4)
    (0.3968, 0.8922)
    """
    _check_counts(wins=wins, losses=losses, ties=ties)
    _check_confidence(confidence)
    n = wins + losses + ties
    out = {"wins": wins, "losses": losses, "ties": ties, "n": n, "confidence": confidence}
    if n == 0:
        return {**out, "win_rate": None, "low": None, "high": None}
    low, high = _wilson(wins + ties / 2, n, confidence)
    return {**out, "win_rate": (wins + ties / 2) / n, "low": float(low), "high": float(high)}


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact sign test p-value for wins vs losses under H0: P(win) = ½.

    Ties (and both_bad) are dropped before the test, as in the classical sign test: they carry
    no evidence about which system is better. Returns 1.0 when wins + losses == 0 (no
    evidence either way).
    Raises ValueError for a negative or non-integer count.
    Source: Dixon & Mood (1946), JASA 41:557; ``scipy.stats.binomtest``.

    >>> sign_test(8, 2)
    0.109375
    """
    from scipy.stats import binomtest

    _check_counts(wins=wins, losses=losses)
    if wins + losses == 0:
        return 1.0
    return float(binomtest(wins, wins + losses, 0.5, alternative="two-sided").pvalue)


def cohens_kappa(labels_a: list[str], labels_b: list[str]) -> float:
    """Cohen's kappa between two raters who labelled the same items (item i = position i).

    Shapes: two lists of equal length n ≥ 1, no missing labels (for missing data or more
    raters use ``krippendorff_alpha``). Returns kappa in [-1, 1]; 1 = perfect agreement,
    0 = agreement expected by chance.
    Raises ValueError when the lengths differ, the lists are empty, a label is None, or both
    raters used one single label throughout (kappa is 0/0 there).
    Source: Cohen (1960), Educ. Psychol. Meas. 20:37; ``sklearn.metrics.cohen_kappa_score``.
    """
    from sklearn.metrics import cohen_kappa_score

    if len(labels_a) != len(labels_b):
        raise ValueError(f"{len(labels_a)} labels from rater a but {len(labels_b)} from rater b")
    if not labels_a:
        raise ValueError("no items: kappa needs at least one item rated by both raters")
    if None in labels_a or None in labels_b:
        raise ValueError("a label is missing (None): use krippendorff_alpha for missing data")
    if len(set(labels_a) | set(labels_b)) < 2:
        raise ValueError("both raters used one single label: kappa is undefined (0/0)")
    return float(cohen_kappa_score(list(labels_a), list(labels_b)))


def fleiss_kappa(table: list[list[int]]) -> float:
    """Fleiss' kappa for a fixed number of raters per item.

    Shapes: ``table[i][j]`` = how many raters put item i in category j; shape (n_items,
    n_categories), every row summing to the same number of raters m ≥ 2. Build it from an
    (n_items, m) array of integer-coded labels with
    ``statsmodels.stats.inter_rater.aggregate_raters``. Returns kappa (≤ 1).
    Raises ValueError for a table that is not 2-D, has a negative or fractional count, rows
    with different sums or fewer than 2 raters, or all ratings in one category (0/0).
    Source: Fleiss (1971), Psychol. Bull. 76:378; ``statsmodels.stats.inter_rater``.
    """
    from statsmodels.stats import inter_rater

    counts = np.asarray(table, dtype=float)
    if counts.ndim != 2 or counts.size == 0:
        raise ValueError(f"table must be 2-D (items × categories), got shape {counts.shape}")
    if (counts < 0).any() or (counts != np.round(counts)).any():
        raise ValueError("table cells must be non-negative integer counts")
    raters = counts.sum(axis=1)
    if (raters != raters[0]).any() or raters[0] < 2:
        raise ValueError(f"every item needs the same number (≥ 2) of raters, got {raters}")
    if np.count_nonzero(counts.sum(axis=0)) < 2:
        raise ValueError("all ratings fall in one category: kappa is undefined (0/0)")
    return float(inter_rater.fleiss_kappa(counts, method="fleiss"))


def krippendorff_alpha(ratings_by_rater: list[list[str | None]]) -> float:
    """Krippendorff's alpha (nominal) for any number of raters, with missing ratings.

    Shapes: ``ratings_by_rater[r][i]`` = rater r's label for item i, None where r did not rate
    i; all rows have the same length. Items rated by fewer than two raters do not count.
    Labels are coded as categories in sorted order (nominal: the codes carry no order).
    Returns alpha (≤ 1; 1 = perfect agreement, 0 = chance).
    Raises ValueError for fewer than two raters, rows of different lengths, no item rated by
    two raters, or no disagreement possible (one label among paired ratings: 0/0).
    Source: Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability"; the
    ``krippendorff`` package (Castro).
    """
    import krippendorff

    if len(ratings_by_rater) < 2:
        raise ValueError(f"alpha needs at least two raters, got {len(ratings_by_rater)}")
    if len({len(row) for row in ratings_by_rater}) != 1:
        raise ValueError("every rater's row must have one entry per item (None = not rated)")
    labels = sorted({label for row in ratings_by_rater for label in row if label is not None})
    if len(labels) < 2:
        raise ValueError(f"one single label {labels}: alpha is undefined (0/0)")
    code = {label: float(i) for i, label in enumerate(labels)}
    data = [[np.nan if x is None else code[x] for x in row] for row in ratings_by_rater]
    with np.errstate(invalid="ignore", divide="ignore"):
        alpha = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal",
                                   value_domain=list(code.values()))
    if np.isnan(alpha):
        raise ValueError("paired ratings use one single label: alpha is undefined (0/0)")
    return float(alpha)


def position_bias_rate(choices: list[str]) -> float | None:
    """Share of decisive choices (A or B, as shown) that went to the left answer A.

    Input is the raw shown choices (``evaluation.sessions.CHOICES``), not de-randomized labels;
    "tie" and "both_bad" are left out. With sides drawn at random, 0.5 means no position bias;
    test the departure with ``sign_test(n_A, n_B)``. Returns None when no choice is decisive.
    Raises ValueError for an unknown choice.
    Source: Zheng et al. (2023), "Judging LLM-as-a-Judge with MT-Bench and Chatbot Arena" §3.3.

    >>> position_bias_rate(["A", "A", "B", "tie"])
    0.6666666666666666
    """
    unknown = set(choices) - set(CHOICES)
    if unknown:
        raise ValueError(f"unknown choices {sorted(unknown)}; expected {CHOICES}")
    left, right = choices.count("A"), choices.count("B")
    return left / (left + right) if left + right else None


def intra_rater_consistency(pairs: list[tuple[str, str]],
                            labels: tuple[str, ...] = LABELS) -> float | None:
    """Share of repeated items where one rater gave the same de-randomized label both times.

    Shapes: one (first_label, repeat_label) tuple per repeated item; ``labels`` are the
    allowed de-randomized labels (system names, "tie", "both_bad"). Compare de-randomized
    labels: sides are drawn again for the repeat, so equal raw A/B choices can mean opposite
    verdicts. All labels count, so "tie" then "tie" is consistent. Returns None when
    there are no pairs.
    Raises ValueError for a label outside ``labels`` (e.g. a raw "A").

    >>> intra_rater_consistency([("tuned", "tuned"), ("tie", "base")])
    0.5
    """
    unknown = {label for pair in pairs for label in pair} - set(labels)
    if unknown:
        raise ValueError(f"unknown labels {sorted(unknown)}; expected {labels}")
    if not pairs:
        return None
    return sum(first == repeat for first, repeat in pairs) / len(pairs)


def metric_agreement(metric_diffs: list[float], human: list[int]) -> dict:
    """How well an automatic metric agrees with human pairwise verdicts.

    Shapes: for judgment i, ``metric_diffs[i]`` = metric(second) − metric(first) and
    ``human[i]`` = +1 (second won), −1 (first won) or 0 (tie); drop both_bad before calling.
    Returns ``{"n", "decisive", "agreement", "metric_ties", "kendall_tau", "p_value"}``:
    agreement = share of decisive human verdicts whose winner the metric also scores higher
    (a metric tie counts as disagreement; None without decisive verdicts); Kendall's tau-b
    between the metric difference and the verdict, with its two-sided p-value (None when
    either side is constant).
    Raises ValueError for lists of different lengths or a verdict outside {-1, 0, 1}.
    Source: Kendall (1945), Biometrika 33:239 (tau-b); ``scipy.stats.kendalltau``; the
    metric–human agreement of Zheng et al. (2023) §4.
    """
    from scipy.stats import kendalltau

    if len(metric_diffs) != len(human):
        raise ValueError(f"{len(metric_diffs)} metric differences but {len(human)} verdicts")
    if set(human) - {-1, 0, 1}:
        raise ValueError(f"verdicts must be -1, 0 or 1, got {sorted(set(human) - {-1, 0, 1})}")
    diffs, verdicts = np.asarray(metric_diffs, dtype=float), np.asarray(human)
    decisive = verdicts != 0
    agree = np.sign(diffs[decisive]) == verdicts[decisive]
    tau, p_value = (None, None)
    if len(set(diffs)) > 1 and len(set(human)) > 1:
        result = kendalltau(diffs, verdicts, variant="b")
        tau, p_value = float(result.statistic), float(result.pvalue)
    return {"n": len(human), "decisive": int(decisive.sum()),
            "agreement": float(agree.mean()) if decisive.any() else None,
            "metric_ties": int((diffs[decisive] == 0).sum()), "kendall_tau": tau,
            "p_value": p_value}


def _bt_loss(strengths, pairs, scores, weights):
    """Negative weighted Bradley-Terry log-likelihood plus ridge, and its gradient."""
    from scipy.special import expit, log_expit

    diff = strengths[pairs[:, 0]] - strengths[pairs[:, 1]]
    loss = -(weights * (scores * log_expit(diff) + (1 - scores) * log_expit(-diff))).sum()
    residual = weights * (scores - expit(diff))
    n = len(strengths)
    grad = np.bincount(pairs[:, 1], residual, n) - np.bincount(pairs[:, 0], residual, n)
    return loss + 0.5 * BT_RIDGE * strengths @ strengths, grad + BT_RIDGE * strengths


def _bt_fit(pairs, scores, weights, n_systems: int):
    from scipy.optimize import minimize

    result = minimize(_bt_loss, np.zeros(n_systems), args=(pairs, scores, weights), jac=True,
                      method="L-BFGS-B", options={"gtol": 1e-9, "maxiter": 1000})
    return result.x - result.x.mean()


def bradley_terry(comparisons: list[tuple[str, str, float]], n_boot: int = 200, seed: int = 0,
                  confidence: float = 0.95) -> dict[str, dict]:
    """Bradley-Terry strengths of two or more systems, with bootstrap percentile intervals.

    Shapes: one ``(first, second, score)`` tuple per judgment, score = first's share of the
    point: 1.0 first won, 0.0 second won, 0.5 tie (half a win each way, as Chatbot Arena
    codes ties). One tuple per judgment keeps a tie whole when the bootstrap resamples
    judgments. Drop both_bad verdicts before calling.
    Strengths s are natural-log odds, centred on mean 0: P(i beats j) = 1 / (1 + e^-(s_i - s_j)).
    Fit: maximum likelihood by scipy L-BFGS-B (as FastChat's ``fit_bt``) with a tiny ridge
    (``BT_RIDGE``) that keeps strengths finite for a system that never lost: there the
    estimate is large (≈ ±5 for 10-0) and its interval should be read as unbounded.
    Bootstrap: ``n_boot`` multinomial resamples of the judgments from
    ``numpy.random.default_rng(seed)``, so the result is deterministic for a seed.
    Returns ``{system: {"strength", "low", "high", "n"}}`` (n = judgments involving it),
    strongest first.
    Raises ValueError for no comparisons, a system compared with itself, a score outside
    [0, 1], n_boot < 1, or confidence outside (0, 1).
    Source: Bradley & Terry (1952), Biometrika 39:324; Chiang et al. (2024), "Chatbot Arena"
    §5; Efron & Tibshirani (1993) for the percentile bootstrap.
    """
    from threadpoolctl import threadpool_limits

    pairs, scores, systems = _bt_arrays(comparisons)
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    _check_confidence(confidence)
    rng = np.random.default_rng(seed)
    resamples = rng.multinomial(len(scores), np.full(len(scores), 1 / len(scores)), size=n_boot)
    # One BLAS thread: on these tiny problems OpenBLAS threads spin against each other on a
    # busy machine (measured on 2 cores: 30 ms per fit instead of 0.3 ms).
    with threadpool_limits(limits=1):
        strengths = _bt_fit(pairs, scores, np.ones(len(scores)), len(systems))
        boot = np.array([_bt_fit(pairs, scores, w, len(systems)) for w in resamples])
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(boot, [tail, 100 - tail], axis=0)
    seen = np.bincount(pairs.ravel(), minlength=len(systems))
    order = np.argsort(-strengths, kind="stable")
    return {systems[i]: {"strength": float(strengths[i]), "low": float(low[i]),
                         "high": float(high[i]), "n": int(seen[i])} for i in order}


def _bt_arrays(comparisons):
    """(pairs int array (m, 2), scores (m,), sorted system names) from judgment tuples."""
    if not comparisons:
        raise ValueError("no comparisons: Bradley-Terry needs at least one judgment")
    systems = sorted({name for first, second, _ in comparisons for name in (first, second)})
    index = {name: i for i, name in enumerate(systems)}
    for first, second, score in comparisons:
        if first == second:
            raise ValueError(f"{first!r} is compared with itself")
        if not 0 <= score <= 1:
            raise ValueError(f"score must be in [0, 1] (1 = first won, 0.5 = tie), got {score}")
    pairs = np.array([[index[first], index[second]] for first, second, _ in comparisons])
    return pairs, np.array([float(score) for _, _, score in comparisons]), systems


def wilson_coverage(n: int, p: float, confidence: float = 0.95, tie_rate: float = 0.0) -> float:
    """Exact probability that ``win_rate_interval`` over n judgments covers the true rate p.

    Computed, not sampled: the sum, over every possible outcome, of its probability where the
    interval contains p. Without ties the outcomes are k wins ~ Binomial(n, p); with
    ``tie_rate`` t > 0 they are (wins, ties, losses) ~ Multinomial(n; p - t/2, t, 1 - p - t/2),
    so the true win rate is still p. Returns a probability in [0, 1]; compare with
    ``confidence``.
    Raises ValueError for n < 1, p outside [0, 1], confidence outside (0, 1), or a tie_rate
    that no (win, loss) probabilities can match (t/2 > min(p, 1 - p)).
    Source: Brown, Cai & DasGupta (2001), Statistical Science 16:101, who plot this function.
    """
    if n < 1 or not 0 <= p <= 1:
        raise ValueError(f"need n ≥ 1 and 0 ≤ p ≤ 1, got n={n}, p={p}")
    _check_confidence(confidence)
    if not 0 <= tie_rate / 2 <= min(p, 1 - p) + 1e-12:  # 1e-12: 1 - 0.9 < 0.1 in floats
        raise ValueError(f"tie_rate {tie_rate} cannot give win rate {p}")
    if tie_rate == 0:
        return _coverage_without_ties(n, p, confidence)
    return _coverage_with_ties(n, p, confidence, tie_rate)


def _coverage_without_ties(n: int, p: float, confidence: float) -> float:
    from scipy.stats import binom

    wins = np.arange(n + 1)
    low, high = _wilson(wins, n, confidence)
    return float(binom.pmf(wins, n, p)[(low <= p) & (p <= high)].sum())


def _coverage_with_ties(n: int, p: float, confidence: float, tie_rate: float) -> float:
    from scipy.stats import multinomial

    wins, ties = (grid.ravel() for grid in np.mgrid[0:n + 1, 0:n + 1])
    keep = wins + ties <= n
    wins, ties = wins[keep], ties[keep]
    probs = np.clip([p - tie_rate / 2, tie_rate, 1 - p - tie_rate / 2], 0, 1)
    pmf = multinomial.pmf(np.stack([wins, ties, n - wins - ties], axis=1), n, probs)
    low, high = _wilson(wins + ties / 2, n, confidence)
    return float(pmf[(low <= p) & (p <= high)].sum())
