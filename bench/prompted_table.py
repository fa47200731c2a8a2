"""The fine-tune-or-prompt verdict table of a ``workbench report`` JSON, as Markdown.

Run as: ``workbench report --workspace ws/ | python bench/prompted_table.py``
(``bench/prompted_acceptance.sh`` does this after its pipeline run).

Prints the report's verdict line, then one row per system (base, the prompted systems,
tuned): kind, shots (k and mode, mean shots a prompt got), ROUGE-L, chrF and answer accuracy
(means over the held-out rows; answer accuracy only where an extractor ran), each metric's
difference to the best prompted system with its paired bootstrap 95% interval (the report's
``vs_best_prompt``), mean / p95 prompt tokens and measured seconds per request; then the
tuned system's training time and break-even against the best prompt, and the verdict's rule.
Reads only the JSON (no workspace); values are as the report stores them, rounded here.
"""

from __future__ import annotations

import json
import sys

METRICS = (("rougeL", "ROUGE-L"), ("chrf", "chrF"), ("answer_accuracy", "answer acc."))


def _num(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _interval(interval: dict | None, digits: int = 3) -> str:
    """"+0.080 [+0.030, +0.130]" for an interval of system − best prompt; "" for none."""
    if not interval or interval.get("diff") is None:
        return ""
    return (f"{interval['diff']:+.{digits}f} [{interval['low']:+.{digits}f}, "
            f"{interval['high']:+.{digits}f}]")


def table(report: dict) -> str:
    """The Markdown text (verdict, table, cost lines, rule) of a ``gather`` dict."""
    evaluation = report.get("evaluation") or {}
    rows = evaluation.get("systems_table") or []
    cost = (report.get("cost") or {}).get("systems") or {}
    best = evaluation.get("best_prompt")
    shown = [(key, label) for key, label in METRICS
             if any((row["metrics"] or {}).get(key) is not None for row in rows)]
    lines = [f"Verdict: {report.get('verdict')}", "",
             f"{evaluation.get('examples')} held-out rows; best prompt: {best!r} "
             f"(highest mean ROUGE-L); intervals: paired bootstrap 95% (BCa) of system − "
             f"best prompt.", ""]
    header = ["system", "kind", "shots"]
    for _, label in shown:
        header += [label, f"{label} − best prompt"]
    unit = "CPU s" if (report.get("cost") or {}).get("basis") == "CPU seconds" else "s"
    header += ["prompt tokens mean / p95", f"{unit} / request"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        name = row["system"]
        shots = "" if row["kind"] != "prompted" else (
            f"k={row['k']} {row['shots']} (mean {_num(row['mean_shots'], 2)})")
        cells = [name, row["kind"], shots]
        for key, _ in shown:
            cells += [_num(row["metrics"].get(key)),
                      "(best)" if name == best else _interval(row["vs_best_prompt"].get(key))]
        entry = cost.get(name) or {}
        tokens = entry.get("prompt_tokens") or {}
        cells += [f"{_num(tokens.get('mean'), 1)} / {_num(tokens.get('p95'), 0)}",
                  _num(entry.get("seconds_per_request"), 2)]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for name, entry in cost.items():
        if entry.get("kind") == "tuned":
            lines.append(
                f"{name}: training {_num(entry.get('training_seconds'), 0)} {unit}, "
                f"{entry.get('training_tokens')} tokens; break-even against "
                f"{(report.get('cost') or {}).get('best_prompted')!r}: "
                + (f"{entry['payback_requests']:,} requests" if entry.get("payback_requests")
                   else "none (not faster per request)"))
    if evaluation.get("rule"):
        lines += ["", f"Rule: {evaluation['rule']}"]
    return "\n".join(lines)


def main() -> int:
    print(table(json.load(sys.stdin)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
