"""The report's plots as matplotlib figures, shared by the Report page (``st.pyplot``) and the
HTML export (``evaluation.report.png`` inlines them).

Run as: ``figure = interval_figure(gather(ws)["evaluation"]["intervals"])``

Pure: report dicts in (``workbench.stages.report.gather``), a ``matplotlib.figure.Figure``
out, or None when there is nothing to draw. Drawn with the Agg backend (no display); the
caller closes the figure (``matplotlib.pyplot.close``) once shown or saved.
"""

from __future__ import annotations

import math

METRIC_LABELS = {"rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL": "ROUGE-L",
                 "rougeLsum": "ROUGE-Lsum", "bleu": "BLEU", "chrf": "chrF",
                 "exact_match": "exact match", "length_ratio": "length ratio",
                 "json_valid": "JSON valid", "answer_accuracy": "answer accuracy",
                 "heldout_loss": "held-out loss (nats/token)", "perplexity": "perplexity"}
COLOURS = {"wins": "#2a9d8f", "ties": "#bbbbbb", "losses": "#e76f51", "both_bad": "#555555"}


def label(metric: str) -> str:
    """A metric's name for people (``METRIC_LABELS``), the key itself when unknown."""
    return METRIC_LABELS.get(metric, metric)


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display; set before pyplot's import)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_bytes(figure, dpi: int = 90) -> bytes | None:
    """The figure as PNG bytes (tight bounding box), the figure closed; None for None."""
    if figure is None:
        return None
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    pyplot().close(figure)
    return buffer.getvalue()


def loss_figure(curves: list[dict]):
    """Training loss per step, one line per train run (``curves``: rows {run_id, step,
    loss}); None without rows."""
    if not curves:
        return None
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(7, 3))
    for run_id in sorted({row["run_id"] for row in curves}):
        rows = [r for r in curves if r["run_id"] == run_id and r.get("loss") is not None]
        axis.plot([r["step"] for r in rows], [r["loss"] for r in rows], marker=".", label=run_id)
    axis.set_xlabel("training step")
    axis.set_ylabel("training loss (nats/token)")
    axis.set_title("Training loss", fontsize=10)
    axis.legend(fontsize=8)
    return figure


def interval_figure(intervals: dict[str, dict[str, dict]]):
    """One panel per metric: system − base with its 95% interval, a line at 0.

    ``intervals``: {system: {metric: {"diff", "low", "high", ...}}}; None when no metric has
    a difference."""
    metrics = sorted({m for by_metric in intervals.values() for m, v in by_metric.items()
                      if v.get("diff") is not None})
    if not metrics:
        return None
    plt = pyplot()
    cols = min(4, len(metrics))
    rows = math.ceil(len(metrics) / cols)
    figure, axes = plt.subplots(rows, cols, figsize=(11, 2.1 * rows), squeeze=False)
    systems = list(intervals)
    for axis, metric in zip(axes.flat, metrics, strict=False):
        for k, system in enumerate(systems):
            value = intervals[system].get(metric) or {}
            if value.get("diff") is None:
                continue
            low, high = value.get("low"), value.get("high")
            low = value["diff"] if low is None else low
            high = value["diff"] if high is None else high
            axis.errorbar([value["diff"]], [k], fmt="o", capsize=4,
                          xerr=[[value["diff"] - low], [high - value["diff"]]])
        axis.axvline(0, color="grey", linewidth=0.8)
        axis.set_yticks(range(len(systems)), systems, fontsize=8)
        axis.set_ylim(-0.7, len(systems) - 0.3)
        axis.set_title(label(metric), fontsize=9)
        axis.set_xlabel("system − base", fontsize=8)
    for axis in list(axes.flat)[len(metrics):]:
        axis.axis("off")
    figure.tight_layout()
    return figure


def win_figure(pair: dict):
    """Wins / ties / losses / both bad of one pair as a stacked bar, and the win rate with its
    Wilson 95% interval against ½ (``pair``: a row of ``evaluation.session_stats.pair_table``,
    "system" vs "other"); None without ratings."""
    if not pair or not (pair.get("n") or pair.get("both_bad")):
        return None
    plt = pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 1.9))
    start = 0
    for key, colour in COLOURS.items():
        left.barh([0], [pair[key]], left=[start], color=colour, label=key.replace("_", " "))
        start += pair[key]
    left.set_yticks([])
    left.set_xlabel("ratings", fontsize=8)
    left.set_title(f"{pair.get('system', 'tuned')} vs {pair.get('other', 'base')}: "
                   "win / tie / loss", fontsize=9)
    left.legend(fontsize=8, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.45))
    if pair.get("win_rate") is not None:
        rate = pair["win_rate"]
        right.errorbar([rate], [0], xerr=[[rate - pair["low"]], [pair["high"] - rate]],
                       fmt="o", capsize=5)
        right.axvline(0.5, color="grey", linewidth=0.8)
        right.set_xlim(0, 1)
        right.set_yticks([])
        right.set_xlabel("win rate (ties count ½)", fontsize=8)
        right.set_title(f"{pair.get('system', 'tuned')} win rate over "
                        f"{pair.get('other', 'base')}, Wilson 95%", fontsize=9)
    else:
        right.axis("off")
    return figure


def breakdown_figure(breakdown: dict | None, metric: str):
    """tuned − base on ``metric`` per group of the breakdown's meta column, with 95%
    intervals (``breakdown``: {"key", "by_metric": {metric: {group: interval}}}); None when
    the metric has no group with a difference."""
    groups = ((breakdown or {}).get("by_metric") or {}).get(metric) or {}
    shown = {g: v for g, v in groups.items() if v.get("diff") is not None}
    if not shown:
        return None
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(7, 0.5 + 0.45 * len(shown)))
    for k, (group, value) in enumerate(shown.items()):
        low = value["diff"] if value.get("low") is None else value["low"]
        high = value["diff"] if value.get("high") is None else value["high"]
        axis.errorbar([value["diff"]], [k], fmt="o", capsize=4,
                      xerr=[[value["diff"] - low], [high - value["diff"]]])
    axis.axvline(0, color="grey", linewidth=0.8)
    axis.set_yticks(range(len(shown)), [f"{g} (n={v['n']})" for g, v in shown.items()],
                    fontsize=8)
    axis.set_ylim(-0.7, len(shown) - 0.3)
    axis.set_xlabel(f"tuned − base, {label(metric)}", fontsize=8)
    axis.set_title(f"By {breakdown['key']}", fontsize=9)
    figure.tight_layout()
    return figure


# Metrics whose corpus-level value is not the mean of the per-row values, and how it is
# pooled (the sacrebleu corpus scores; ``evaluation.heldout.perplexity``; the length check of
# ``metric_modules/text_checks_local.py``). Every other metric's corpus value is the mean.
POOLED = {"bleu": "n-gram counts pooled over all rows, one brevity penalty (sacrebleu)",
          "chrf": "character n-gram statistics pooled over all rows (sacrebleu)",
          "length_ratio": "all answer tokens ÷ all reference tokens",
          "heldout_loss": "summed loss ÷ all reference tokens, so longer references weigh more",
          "perplexity": "exp of the pooled held-out loss"}
DEFINITIONS_NOTE = (
    "Two ways to sum a metric over the held-out rows. The paired comparison averages the "
    "per-row scores (each row counts once; this is what the intervals and the verdict use). "
    "The corpus-level table pools over all rows where the metric defines it so: "
    + "; ".join(f"{label(m)}: {how}" for m, how in POOLED.items())
    + ". Where rows differ in length the two differ; every other metric is the same mean "
      "in both.")


def cost_figure(cost: dict):
    """Cumulative cost in seconds vs requests served, one line per system with a measured
    time (tuned systems start at their training seconds), each tuned system's break-even
    against the best prompted system marked; a matplotlib figure, or None without a line."""
    from evaluation.cost import cumulative_lines

    lines = cumulative_lines(cost)
    if not lines:
        return None
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(7, 3))
    for name, points in lines.items():
        axis.plot([x for x, _ in points], [y for _, y in points], label=name)
    for name, row in cost["systems"].items():
        if row.get("break_even"):
            seconds = row["training_seconds"] + row["break_even"] * row["seconds_per_request"]
            axis.plot([row["break_even"]], [seconds], "o", color="black")
            axis.annotate(f"{name} pays back: {row['payback_requests']:,} requests",
                          (row["break_even"], seconds), textcoords="offset points",
                          xytext=(6, -12), fontsize=8)
    axis.set_title("cumulative cost: training + seconds per request × requests", fontsize=9)
    axis.set_xlabel("requests served")
    axis.set_ylabel("cumulative seconds")
    axis.legend(fontsize=8)
    return figure
