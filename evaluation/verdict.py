"""The verdict: one plain sentence from the scored metric and the blind ratings.

Run as: ``verdict(paired_interval(tuned, base), win_rate_interval(9, 5, 2))``

Pure: takes the paired bootstrap interval of tuned − base on one metric
(``evaluation.bootstrap.paired_interval``) and the de-randomized win rate of tuned over base
with its Wilson interval (a row of ``evaluation.session_stats.pair_table``), and says what
they support. An interval that includes 0 (the metric) or ½ (the win rate) is "no clear
difference", whatever the point estimate; few rows or few ratings are said so.
"""

from __future__ import annotations

# Below this many paired rows or ratings the sentence says the conclusion is not firm: the
# bootstrap's and Wilson's 95% intervals are approximations whose coverage falls short of
# 95% on small samples (Efron & Tibshirani 1993, ch. 14; Brown, Cai & DasGupta 2001), and
# 30 is the conventional floor for such large-sample approximations.
MIN_FIRM_N = 30
METRIC = "rougeL"
METRIC_LABEL = "ROUGE-L"
SCRIPTED_MARK = "(scripted ratings)"  # in a session's name: its ratings come from a script


def metric_clause(interval: dict, system: str = "tuned", label: str = METRIC_LABEL) -> str:
    """"Tuned beats base on ROUGE-L by +0.041 (95% CI +0.012 to +0.070, n=8)", or "trails",
    or "No clear difference ..." when the interval includes 0.

    ``interval``: ``{"n", "diff", "low", "high"}`` of system − base (metric units).

    >>> metric_clause({"n": 8, "diff": 0.041, "low": 0.012, "high": 0.07})
    'Tuned beats base on ROUGE-L by +0.041 (95% CI +0.012 to +0.070, n=8)'
    >>> metric_clause({"n": 8, "diff": 0.01, "low": -0.02, "high": 0.05})
    'No clear difference between tuned and base on ROUGE-L: +0.010 (95% CI -0.020 to +0.050, n=8)'
    """
    ci = f"(95% CI {interval['low']:+.3f} to {interval['high']:+.3f}, n={interval['n']})"
    if interval["low"] <= 0 <= interval["high"]:
        return (f"No clear difference between {system} and base on {label}: "
                f"{interval['diff']:+.3f} {ci}")
    word = "beats" if interval["diff"] > 0 else "trails"
    return f"{system.capitalize()} {word} base on {label} by {interval['diff']:+.3f} {ci}"


def ratings_clause(pair: dict, system: str = "tuned", scripted: bool = False) -> str:
    """"raters preferred tuned in 70% of pairs (95% CI 55-82%, n=40)", "raters preferred
    base ...", or "raters show no clear preference ..." when the Wilson interval includes ½.

    ``pair``: ``{"n", "win_rate", "low", "high", "both_bad"}`` of system over base (rates in
    0-1, ties as half wins). ``scripted``: the ratings came from a script (the demo), and
    the clause says so instead of "raters".

    >>> ratings_clause({"n": 40, "win_rate": 0.7, "low": 0.55, "high": 0.82, "both_bad": 1})
    'raters preferred tuned in 70% of pairs (95% CI 55-82%, n=40); 1 rated both bad'
    """
    who = "scripted demo raters (not people)" if scripted else "raters"
    ci = f"(95% CI {pair['low']:.0%}-{pair['high']:.0%}, n={pair['n']})".replace("%-", "-")
    if pair["low"] > 0.5:
        text = f"{who} preferred {system} in {pair['win_rate']:.0%} of pairs {ci}"
    elif pair["high"] < 0.5:
        text = f"{who} preferred base: {system} won {pair['win_rate']:.0%} of pairs {ci}"
    else:
        text = f"{who} show no clear preference: {system} won {pair['win_rate']:.0%} of pairs {ci}"
    if pair.get("both_bad"):
        text += f"; {pair['both_bad']} rated both bad"
    return text


def verdict(metric: dict | None, pair: dict | None = None, *, reason: str | None = None,
            system: str = "tuned", label: str = METRIC_LABEL, scripted: bool = False) -> str:
    """The verdict sentence of ``system`` against base.

    ``metric``: ``paired_interval`` of system − base on the verdict's metric (None or n = 0:
    "no verdict: ``reason``"); ``pair``: the session's pair row of system over base (None or
    n = 0: "no blind ratings yet"). A last sentence says when the held-out rows or the
    ratings number fewer than ``MIN_FIRM_N`` (30).

    >>> verdict({"n": 8, "diff": 0.041, "low": 0.012, "high": 0.07}, None).split(". ")
    ['Tuned beats base on ROUGE-L by +0.041 (95% CI +0.012 to +0.070, n=8); no blind ratings \
yet (rate the pairs in a rating session)', 'Too few held-out rows for a firm conclusion.']
    """
    if not metric or not metric.get("n"):
        return f"no verdict: {reason or 'no scored held-out rows yet'}"
    rated = bool(pair and pair.get("n"))
    text = metric_clause(metric, system, label) + "; " + (
        ratings_clause(pair, system, scripted) if rated else
        "no blind ratings yet (rate the pairs in a rating session)")
    few = [what for what, n in (("held-out rows", metric["n"]),
                                ("ratings", pair["n"] if rated else None))
           if n is not None and n < MIN_FIRM_N]
    if few:
        text += f". Too few {' and '.join(few)} for a firm conclusion"
    return text + "."


def report_verdict(report: dict, metric: str = METRIC) -> str:
    """The verdict of a report (``workbench.stages.report.gather``'s dict): ``metric``'s interval
    for "tuned" (else the first tuned system) against base, and the pair of that system
    with base in the newest rating session over the same generate run (a session named
    with ``SCRIPTED_MARK`` counts as scripted)."""
    ev = report.get("evaluation") or {}
    reason = ((report.get("stages") or {}).get("pipeline") or {}).get("metrics_reason")
    systems = [s for s in ev.get("intervals") or {} if metric in ev["intervals"][s]]
    if not systems:
        return verdict(None, reason=reason or "no scored held-out rows yet")
    system = "tuned" if "tuned" in systems else systems[0]
    pair, scripted = None, False
    for session in reversed(report.get("sessions") or []):
        if session["session"]["run_id"] != ev.get("run_id"):
            continue
        rows = [p for p in session["pairs"] if (p["system"], p["other"]) == (system, "base")]
        if rows:
            pair, scripted = rows[0], SCRIPTED_MARK in session["session"]["name"]
            break
    return verdict(ev["intervals"][system][metric], pair, system=system, scripted=scripted)
