"""Calibration of a pairwise judge against the human panel, on the items both rated.

Run as: ``calibrate(firsts, verdicts, lengths)`` → the table and the one line that says
whether the judge can stand in for the panel on this data.

Human labels are each rater's first showing of an item (``evaluation.session_stats``); a
"both_bad" verdict states no preference between the two answers, so it is compared as
"tie" (the judge's labels are a system or "tie"). Agreement uses the existing statistics:
``evaluation.stats.cohens_kappa`` (the judge against the panel's majority label; each rater
against the majority of the other raters) and ``evaluation.session_stats.agreement``
(Krippendorff's alpha of the raters, and of the raters with the judge as one more rater).
Intervals: percentile bootstrap over items (Efron & Tibshirani 1993, ch. 13), resamples
where a statistic is undefined left out of that statistic's interval.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from evaluation import stats
from evaluation.judge import length_bias, position_consistency
from evaluation.session_stats import agreement

WITHIN = "agreement with the panel is within the raters' own agreement"
DO_NOT_USE = "do not use this judge here"
JUDGE_RATER = "\x00judge"  # a rater id no session rater can have
STATISTICS = ("judge_kappa", "human_kappa", "alpha_humans", "alpha_with_judge")


def panel_label(label: str) -> str:
    """A human label on the judge's scale: "both_bad" (no preference) becomes "tie"."""
    return "tie" if label == "both_bad" else label


def majority(labels: list[str]) -> str | None:
    """The label most raters chose; None for no label or a tie for the most votes.

    >>> majority(["a", "a", "b"]), majority(["a", "b"]), majority([])
    ('a', None, None)
    """
    tally = Counter(labels).most_common()
    if not tally or (len(tally) > 1 and tally[1][1] == tally[0][1]):
        return None
    return tally[0][0]


def _defined(func, *args):
    try:
        return func(*args)
    except ValueError:
        return None


def _judge_kappa(records: list[dict]) -> float | None:
    pairs = [(r["judge"], m) for r in records
             if (m := majority(list(r["humans"].values()))) is not None]
    return _defined(stats.cohens_kappa, *map(list, zip(*pairs))) if pairs else None


def _human_kappa(records: list[dict]) -> float | None:
    """Mean over raters of Cohen's kappa between the rater and the majority of the others
    (equal to the two raters' kappa when there are two)."""
    raters = sorted({name for r in records for name in r["humans"]})
    kappas = []
    for rater in raters:
        pairs = [(r["humans"][rater], m) for r in records if rater in r["humans"]
                 and (m := majority([v for k, v in r["humans"].items() if k != rater]))]
        kappa = _defined(stats.cohens_kappa, *map(list, zip(*pairs))) if pairs else None
        if kappa is not None:
            kappas.append(kappa)
    return float(np.mean(kappas)) if kappas else None


def _rows(records: list[dict], with_judge: bool) -> list[dict]:
    rows = [{"item_no": i, "rater_id": rater, "label": label}
            for i, r in enumerate(records) for rater, label in r["humans"].items()]
    if with_judge:
        rows += [{"item_no": i, "rater_id": JUDGE_RATER, "label": r["judge"]}
                 for i, r in enumerate(records)]
    return rows


def _statistics(records: list[dict]) -> dict[str, float | None]:
    return {"judge_kappa": _judge_kappa(records), "human_kappa": _human_kappa(records),
            "alpha_humans": agreement(_rows(records, False))["krippendorff_alpha"],
            "alpha_with_judge": agreement(_rows(records, True))["krippendorff_alpha"]}


def _intervals(records: list[dict], n_boot: int, seed: int) -> dict[str, tuple]:
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {name: [] for name in STATISTICS}
    for _ in range(n_boot):
        sample = [records[i] for i in rng.integers(0, len(records), len(records))]
        for name, value in _statistics(sample).items():
            if value is not None:
                draws[name].append(value)
    return {name: (tuple(float(x) for x in np.percentile(values, [2.5, 97.5]))
                   if values else (None, None)) for name, values in draws.items()}


def decide(table: dict[str, dict]) -> tuple[str, str]:
    """(line, reason): ``WITHIN`` when the judge's kappa against the panel majority is at
    least the lower end of the raters' own kappa interval and Krippendorff's alpha with the
    judge added is at least the lower end of the raters' alpha interval; else
    ``DO_NOT_USE``, with what failed or could not be measured."""
    judge, human = table["judge_kappa"], table["human_kappa"]
    with_judge, humans = table["alpha_with_judge"], table["alpha_humans"]
    if human["low"] is None or humans["low"] is None:
        return DO_NOT_USE, ("the raters' own agreement cannot be measured here (too few "
                            "items rated by two raters, or a single label throughout)")
    if judge["value"] is None or with_judge["value"] is None:
        return DO_NOT_USE, "the judge's agreement with the panel is undefined on these items"
    failed = []
    if judge["value"] < human["low"]:
        failed.append(f"judge kappa {judge['value']:.2f} < raters' kappa low "
                      f"{human['low']:.2f}")
    if with_judge["value"] < humans["low"]:
        failed.append(f"alpha with the judge {with_judge['value']:.2f} < raters' alpha low "
                      f"{humans['low']:.2f}")
    if failed:
        return DO_NOT_USE, "; ".join(failed)
    return WITHIN, (f"judge kappa {judge['value']:.2f} ≥ {human['low']:.2f} and alpha with "
                    f"the judge {with_judge['value']:.2f} ≥ {humans['low']:.2f}")


def calibrate(firsts: list[dict], verdicts: list[dict], lengths: dict[tuple[int, str], int],
              n_boot: int = 500, seed: int = 0) -> dict:
    """The judge's calibration on the items both the raters and the judge rated.

    ``firsts``: human first-showing ratings {"rater_id", "item_no", "label"};
    ``verdicts``: ``evaluation.judge.item_verdicts`` rows (unparsed items are not rated);
    ``lengths[(item_no, system)]``: answer length in characters.
    Returns {"items" (rated by both), "items_with_majority", "items_two_raters", per
    statistic of ``STATISTICS`` {"value", "low", "high"} (bootstrap 95%, ``n_boot``
    resamples from ``seed``), "position_consistency" (the judge's, over all its verdicts),
    "length_bias" {"panel" (majority labels), "judge"} (``evaluation.judge.length_bias``),
    "n_boot", "line" (``WITHIN`` or ``DO_NOT_USE``), "reason"}.
    """
    judged = {v["item_no"]: v for v in verdicts if v["verdict"] is not None}
    humans: dict[int, dict[str, str]] = {}
    for row in firsts:
        if row["item_no"] in judged:
            humans.setdefault(row["item_no"], {})[row["rater_id"]] = panel_label(row["label"])
    items = sorted(humans)
    records = [{"humans": humans[i], "judge": judged[i]["verdict"]} for i in items]
    point = _statistics(records) if records else dict.fromkeys(STATISTICS)
    bounds = _intervals(records, n_boot, seed) if records else {}
    table = {name: {"value": point[name], "low": bounds.get(name, (None, None))[0],
                    "high": bounds.get(name, (None, None))[1]} for name in STATISTICS}
    systems = {i: (judged[i]["first_system"], judged[i]["second_system"]) for i in judged}
    panel = {i: m for i in items if (m := majority(list(humans[i].values())))}
    line, reason = decide(table)
    return {"items": len(items), "items_with_majority": len(panel),
            "items_two_raters": sum(len(humans[i]) >= 2 for i in items), **table,
            "position_consistency": position_consistency(verdicts),
            "length_bias": {"panel": length_bias(panel, lengths, systems),
                            "judge": length_bias({i: v["verdict"] for i, v in judged.items()},
                                                 lengths, systems)},
            "n_boot": n_boot, "line": line, "reason": reason}


def table_rows(calibration: dict) -> list[list]:
    """The calibration table as rows [statistic, value, 95% low, 95% high] for the report and
    the Sessions page."""
    names = {"judge_kappa": "judge vs panel majority: Cohen's kappa",
             "human_kappa": "rater vs other raters' majority: Cohen's kappa (mean)",
             "alpha_with_judge": "Krippendorff's alpha, raters + judge",
             "alpha_humans": "Krippendorff's alpha, raters only"}
    rows = [[names[n], calibration[n]["value"], calibration[n]["low"], calibration[n]["high"]]
            for n in ("judge_kappa", "human_kappa", "alpha_with_judge", "alpha_humans")]
    pc = calibration["position_consistency"]
    rows.append(["judge position consistency (same verdict both orders)", pc["rate"], None,
                 None])
    for who in ("panel", "judge"):
        bias = calibration["length_bias"][who]
        rows.append([f"{who}: longer answer wins (share of decisive; sign test p "
                     f"{bias['sign_test_p']:.3g}{', bias detected' if bias['detected'] else ''})",
                     bias["longer_share"], None, None])
    return rows
