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
    return text + _too_few(metric, pair if rated else None) + "."


def _too_few(metric: dict, pair: dict | None) -> str:
    """". Too few held-out rows and ratings for a firm conclusion" for the counts (``n``) of
    ``metric`` and ``pair`` (None: no ratings) under ``MIN_FIRM_N``; "" when none is."""
    few = [what for what, n in (("held-out rows", metric["n"]),
                                ("ratings", pair["n"] if pair else None))
           if n is not None and n < MIN_FIRM_N]
    return f". Too few {' and '.join(few)} for a firm conclusion" if few else ""


def report_verdict(report: dict, metric: str = METRIC) -> str:
    """The verdict of a report (``workbench.stages.report.gather``'s dict).

    With prompted systems: ``prompt_verdict`` of "tuned" (else the first tuned system)
    against the best prompted system (``evaluation["best_prompt"]``), from its interval in
    ``evaluation["vs_best_prompt"]`` and its pair in the newest rating session over the same
    generate run that rated it, with the pay-back clause ``report["cost"]["payback"]``
    when the cost section provides one. Without: ``verdict`` of that system against base.
    A session named with ``SCRIPTED_MARK`` counts as scripted."""
    ev = report.get("evaluation") or {}
    reason = ((report.get("stages") or {}).get("pipeline") or {}).get("metrics_reason")
    systems = [s for s in ev.get("intervals") or {} if metric in ev["intervals"][s]
               and s not in (ev.get("prompted") or {})]
    if not systems:
        return verdict(None, reason=reason or "no scored held-out rows yet")
    system = "tuned" if "tuned" in systems else systems[0]
    best = ev.get("best_prompt")
    against = (ev.get("vs_best_prompt") or {}).get(system, {}).get(metric) if best else None
    against = against if against and against.get("n") else None
    pair, scripted = _session_pair(report, ev.get("run_id"), system, best if against else "base")
    if against:
        payback = (report.get("cost") or {}).get("payback")
        return prompt_verdict(against, pair, best, scripted=scripted, payback=payback)
    return verdict(ev["intervals"][system][metric], pair, system=system, scripted=scripted)


def _session_pair(report: dict, run_id: str | None, system: str, other: str
                  ) -> tuple[dict | None, bool]:
    """(``system``'s pair row against ``other`` in the newest session over ``run_id`` that
    rated them, whether that session is scripted); (None, False) when none did."""
    for session in reversed(report.get("sessions") or []):
        if session["session"]["run_id"] != run_id:
            continue
        pair = pair_of(session["pairs"], system, other)
        if pair:
            return pair, SCRIPTED_MARK in session["session"]["name"]
    return None, False


def pair_of(pairs: list[dict], system: str, other: str) -> dict | None:
    """The row of ``system`` over ``other`` in a ``session_stats.pair_table``, flipped when
    the table holds it the other way round (win rate 1 − p, interval [1 − high, 1 − low]);
    rows with no ratings (n = 0) are skipped, None when no row remains.

    >>> pair_of([{"system": "b", "other": "a", "wins": 3, "losses": 1, "ties": 0, "n": 4,
    ...           "win_rate": 0.75, "low": 0.3, "high": 0.95}], "a", "b")["low"]
    0.050000000000000044
    """
    for row in pairs:
        if not row.get("n"):
            continue
        if (row["system"], row["other"]) == (system, other):
            return row
        if (row["system"], row["other"]) == (other, system):
            return {**row, "system": system, "other": other, "wins": row["losses"],
                    "losses": row["wins"], "win_rate": 1 - row["win_rate"],
                    "low": 1 - row["high"], "high": 1 - row["low"]}
    return None


# The rule behind ``prompt_verdict``, printed with it in the report.
PROMPT_RULE = (
    "The fine-tune is compared with the best prompted system: the prompt with the highest mean "
    "ROUGE-L on the held-out rows. The metric decides when the paired bootstrap 95% interval "
    "of tuned − best prompt on ROUGE-L excludes 0; the blind ratings decide when the Wilson "
    "95% interval of the fine-tune's win rate against that prompt (ties as half wins) "
    "excludes 50%. The fine-tune wins when one of them favours it and the other does not "
    "favour the prompt; the prompt wins in the mirror case; when they disagree the evidence "
    "is mixed; when neither decides, prompting is as good and the prompt is kept, since it "
    "costs no training. Fewer than 30 held-out rows or ratings are flagged as not firm.")


def best_prompted(metrics: dict[str, dict], prompted: list[str], metric: str = METRIC
                  ) -> str | None:
    """The prompted system with the highest ``metrics[system][metric]`` (ties: the first name
    in sorted order); None when none has a value.

    >>> best_prompted({"a": {"rougeL": 0.2}, "b": {"rougeL": 0.3}, "c": {}}, ["a", "b", "c"])
    'b'
    """
    scored = [(-metrics[s][metric], s) for s in sorted(prompted)
              if (metrics.get(s) or {}).get(metric) is not None]
    return min(scored)[1] if scored else None


def sign(low: float, high: float, null: float) -> int:
    """+1 when the interval [low, high] lies above ``null``, -1 below, 0 when it holds it.

    >>> sign(0.03, 0.13, 0), sign(-0.03, 0.05, 0), sign(0.2, 0.4, 0.5)
    (1, 0, -1)
    """
    return 1 if low > null else -1 if high < null else 0


def _fmt_metric(interval: dict, label: str) -> str:
    return (f"{label} {interval['diff']:+.3f} [{interval['low']:+.3f}, "
            f"{interval['high']:+.3f}]")


def _fmt_ratings(pair: dict, scripted: bool) -> str:
    what = "scripted demo ratings (not people)" if scripted else "blind ratings"
    return (f"{pair['win_rate']:.0%} [{pair['low']:.0%}, {pair['high']:.0%}] of {pair['n']} "
            f"{what}")


def prompt_verdict(metric: dict, pair: dict | None, best: str, *, label: str = METRIC_LABEL,
                   scripted: bool = False, payback: str | None = None) -> str:
    """The one-line verdict of the fine-tune against the best prompted system ``best``
    (rule: ``PROMPT_RULE``).

    ``metric``: ``paired_interval`` of tuned − best prompt ({"n", "diff", "low", "high"}),
    said as prompt − tuned in a sentence whose subject is the prompt (its lead, positive);
    ``pair``: the fine-tune's session pair row against ``best`` (``pair_of``; None or n = 0:
    no ratings); ``payback``: a clause appended after "; " (the training-cost break-even) when
    the fine-tune wins; a kept prompt has no training to pay back.

    >>> prompt_verdict({"n": 50, "diff": 0.08, "low": 0.03, "high": 0.13},
    ...                {"n": 120, "win_rate": 0.64, "low": 0.52, "high": 0.75}, "3-shot retrieved")
    'The fine-tune beats the best prompt (3-shot retrieved) by ROUGE-L +0.080 [+0.030, +0.130] \
and wins 64% [52%, 75%] of 120 blind ratings.'
    """
    rated = bool(pair and pair.get("n"))
    m = sign(metric["low"], metric["high"], 0.0)
    r = sign(pair["low"], pair["high"], 0.5) if rated else 0
    scores = _fmt_metric(metric, label)
    ratings = _fmt_ratings(pair, scripted) if rated else None
    if m * r < 0:
        text = (f"Mixed evidence against the best prompt ({best}): {scores}, but the fine-tune "
                f"wins {ratings}; look at the per-category breakdown and rate more")
    elif m > 0 or r > 0:
        text = (f"The fine-tune beats the best prompt ({best}) by {scores}" if m > 0 else
                f"The fine-tune beats the best prompt ({best}) in blind ratings ({scores}, "
                "not significant)")
        text += f" and wins {ratings}" if rated else "; no blind ratings yet"
    elif m < 0 or r < 0:
        # the prompt is the sentence's subject: its lead over the fine-tune, prompt − tuned
        lead = _fmt_metric({"diff": -metric["diff"], "low": -metric["high"],
                            "high": -metric["low"]}, label)
        text = (f"The best prompt ({best}) beats the fine-tune by {lead}" if m < 0 else
                f"The best prompt ({best}) beats the fine-tune in blind ratings ({lead}, "
                "not significant)")
        text += f"; the fine-tune wins {ratings}" if rated else ""
        text += "; keep the prompt"
    else:
        text = (f"Prompting is as good: the fine-tune's advantage over '{best}' is not "
                f"significant ({scores}" + (f"; it wins {ratings}" if rated else "") +
                "); keep the prompt")
    if payback and m * r >= 0 and (m > 0 or r > 0):  # pay-back matters only for a winner
        text += f"; {payback.rstrip('.')}"  # a sentence of its own: one final stop
    return text + _too_few(metric, pair if rated else None) + "."
