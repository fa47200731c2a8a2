"""Statistics of one rating session, from its de-randomized ratings (never the raw A/B).

Run as: ``summarize(raw_ratings, auto_ties, systems=("base", "tuned"))``

Input rows are ``workbench.store.sessions.raw_ratings`` rows: rater_id, item_no, example_id,
is_repeat, choice (as shown), label (system name / "tie" / "both_bad"), first_system,
second_system. Win rates, agreement and metric agreement use each rater's *first* showing of
an item; repeats serve intra-rater consistency only. Position bias uses every human choice.
Every number comes from ``evaluation.stats`` (statsmodels, scipy, scikit-learn, krippendorff).
"""

from __future__ import annotations

from collections import Counter, defaultdict

from evaluation import stats

REFERENCE = "base"  # a pair with the base model reports the other system's win rate over it


def orient(first: str, second: str) -> tuple[str, str]:
    """(system, other) for a pair: the non-base system against base, else second vs first.

    >>> orient("base", "tuned"), orient("a", "b")
    (('tuned', 'base'), ('b', 'a'))
    """
    if first == REFERENCE:
        return second, first
    if second == REFERENCE:
        return first, second
    return second, first


def pair_table(firsts: list[dict], auto_ties: list[dict]) -> list[dict]:
    """Per pair of systems: wins/losses/ties of ``system`` over ``other``, both_bad apart,
    automatic ties (identical outputs) counted as ties and also reported as ``auto_ties``;
    win rate (wins + ½ ties) / n with its Wilson 95% interval; sign-test p (ties dropped)."""
    counts: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for row in firsts:
        system, other = orient(row["first_system"], row["second_system"])
        label = row["label"]
        key = {system: "wins", other: "losses"}.get(label, "ties" if label == "tie" else label)
        counts[(system, other)][key] += 1
    for row in auto_ties:
        counts[orient(row["first_system"], row["second_system"])]["auto_ties"] += 1
    table = []
    for (system, other), c in sorted(counts.items()):
        ties = c["ties"] + c["auto_ties"]
        interval = stats.win_rate_interval(c["wins"], c["losses"], ties)
        table.append({"system": system, "other": other, **interval,
                      "both_bad": c["both_bad"], "auto_ties": c["auto_ties"],
                      "sign_test_p": stats.sign_test(c["wins"], c["losses"])})
    return table


def _bt(firsts: list[dict], n_boot: int, seed: int) -> dict | None:
    comparisons = [(r["first_system"], r["second_system"],
                    1.0 if r["label"] == r["first_system"] else
                    0.0 if r["label"] == r["second_system"] else 0.5)
                   for r in firsts if r["label"] != "both_bad"]
    return stats.bradley_terry(comparisons, n_boot=n_boot, seed=seed) if comparisons else None


def _try(notes: list[str], name: str, func, *args):
    try:
        return func(*args)
    except ValueError as exc:
        notes.append(f"{name}: {exc}")
        return None


def agreement(firsts: list[dict]) -> dict:
    """Inter-rater agreement over items rated by two or more raters (first showings).

    Cohen's kappa when exactly two raters rated common items; Fleiss' kappa when every such
    item has the same number of ratings; Krippendorff's alpha (nominal, missing allowed)
    always. A statistic that is undefined on these data is None, its reason in ``notes``.
    """
    by_item: dict[int, dict[str, str]] = defaultdict(dict)
    for row in firsts:
        by_item[row["item_no"]][row["rater_id"]] = row["label"]
    shared = {item: labels for item, labels in by_item.items() if len(labels) >= 2}
    raters = sorted({r for labels in shared.values() for r in labels})
    notes: list[str] = []
    out = {"items": len(shared), "raters": len(raters), "cohen_kappa": None,
           "fleiss_kappa": None, "krippendorff_alpha": None, "notes": notes}
    if not shared:
        notes.append("no item was rated by two raters")
        return out
    items = sorted(shared)
    if len(raters) == 2:
        out["cohen_kappa"] = _try(notes, "Cohen's kappa", stats.cohens_kappa,
                                  [shared[i][raters[0]] for i in items],
                                  [shared[i][raters[1]] for i in items])
    categories = sorted({label for labels in shared.values() for label in labels.values()})
    if len({len(shared[i]) for i in items}) == 1:
        table = [[list(shared[i].values()).count(c) for c in categories] for i in items]
        out["fleiss_kappa"] = _try(notes, "Fleiss' kappa", stats.fleiss_kappa, table)
    else:
        notes.append("Fleiss' kappa: items have different numbers of ratings")
    matrix = [[shared[i].get(r) for i in items] for r in raters]
    out["krippendorff_alpha"] = _try(notes, "Krippendorff's alpha", stats.krippendorff_alpha,
                                     matrix)
    return out


def consistency(rows: list[dict], labels: tuple[str, ...]) -> dict:
    """Intra-rater consistency: a repeat's label against the same rater's first label."""
    first = {(r["rater_id"], r["item_no"]): r["label"] for r in rows if not r["is_repeat"]}
    pairs = [(first[(r["rater_id"], r["item_no"])], r["label"]) for r in rows
             if r["is_repeat"] and (r["rater_id"], r["item_no"]) in first]
    return {"pairs": len(pairs), "rate": stats.intra_rater_consistency(pairs, labels)}


def position_bias(rows: list[dict]) -> dict:
    """How often the left answer (A) won among decisive choices, with a sign test vs ½."""
    choices = [r["choice"] for r in rows]
    left, right = choices.count("A"), choices.count("B")
    return {"left": left, "right": right, "rate": stats.position_bias_rate(choices),
            "sign_test_p": stats.sign_test(left, right)}


def metric_agreements(firsts: list[dict], scores: dict[str, dict[tuple[int, str], float]]
                      ) -> dict[str, dict]:
    """Per metric: ``stats.metric_agreement`` over first showings (both_bad dropped).

    ``scores[metric][(example_id, system)]`` = that system's per-example score.
    """
    out = {}
    for metric, by_key in scores.items():
        diffs, verdicts = [], []
        for r in firsts:
            a, b = (r["example_id"], r["first_system"]), (r["example_id"], r["second_system"])
            if r["label"] == "both_bad" or a not in by_key or b not in by_key:
                continue
            diffs.append(by_key[b] - by_key[a])
            verdicts.append(1 if r["label"] == r["second_system"] else
                            -1 if r["label"] == r["first_system"] else 0)
        out[metric] = stats.metric_agreement(diffs, verdicts)
    return out


def summarize(rows: list[dict], auto_ties: list[dict], systems: tuple[str, ...],
              metric_scores: dict | None = None, n_boot: int = 200, seed: int = 0) -> dict:
    """Every statistic of a session; see the module docstring for the input rows.

    Returns ``{"ratings", "repeats", "raters", "pairs", "bradley_terry", "agreement",
    "position_bias", "consistency", "metric_agreement"}``; Bradley–Terry strengths with
    bootstrap intervals only when more than two systems are rated (else None).
    """
    firsts = [r for r in rows if not r["is_repeat"]]
    labels = (*systems, "tie", "both_bad")
    return {"ratings": len(firsts), "repeats": len(rows) - len(firsts),
            "raters": len({r["rater_id"] for r in rows}),
            "pairs": pair_table(firsts, auto_ties),
            "bradley_terry": _bt(firsts, n_boot, seed) if len(systems) > 2 else None,
            "agreement": agreement(firsts), "position_bias": position_bias(rows),
            "consistency": consistency(rows, labels),
            "metric_agreement": metric_agreements(firsts, metric_scores or {})}
