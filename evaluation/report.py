"""The report as one self-contained HTML file: tables, plots as inline PNG, lineage as JSON.

Pure: takes the report dict (``workbench.stages.report.gather``) and returns a string; the plots
are drawn with matplotlib's Agg backend and embedded as base64 ``data:`` URIs, so the file
opens anywhere, offline, with no script and no external resource.

Run as: ``Path("report.html").write_text(render_html(gather(ws_path)))``.
"""

from __future__ import annotations

import base64
import html
import json
import math

from evaluation.formatting import flat_rows
from evaluation.report_figures import (
    DEFINITIONS_NOTE,
    METRIC_LABELS,
    POOLED,
    breakdown_figure,
    cost_figure,
    interval_figure,
    loss_figure,
    png_bytes,
    win_figure,
)
from evaluation.verdict import MIN_FIRM_N

STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:right}th:first-child,td:first-child{text-align:left}pre{background:#f6f6f6;
padding:1em;overflow:auto;font-size:12px}.note{color:#555;font-size:13px}img{max-width:100%}
.warning{background:#fdf3e7;border-left:4px solid #c05621;padding:.4em 1em}
.verdict{background:#eef4fb;border-left:4px solid #2b6cb0;padding:.6em 1em;font-size:15px}"""


def fmt(value, digits: int = 4) -> str:
    """A number for a table cell: 4 significant digits, "–" for None/NaN.

    >>> fmt(0.123456), fmt(None), fmt(12)
    ('0.1235', '–', '12')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return html.escape(str(value))


def table(header: list[str], rows: list[list]) -> str:
    """An HTML table; cells go through ``fmt`` (so they are escaped)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{fmt(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def png(figure) -> str:
    """An <img> with the figure as an inline base64 PNG; the figure is closed. "" for None."""
    if figure is None:
        return ""
    data = base64.b64encode(png_bytes(figure)).decode("ascii")
    return f'<img alt="plot" src="data:image/png;base64,{data}">'


def loss_plot(curves: list[dict]) -> str:
    """Training loss per step, one line per train run; "" without rows."""
    return png(loss_figure(curves))


def interval_plot(intervals: dict[str, dict[str, dict]]) -> str:
    """One small panel per metric: system − base with its interval, a line at 0."""
    return png(interval_figure(intervals))


def win_plot(ratings: dict) -> str:
    """Win / tie / loss bar and the win rate's Wilson interval of one pair; "" without
    ratings."""
    return png(win_figure(ratings))


def cost_rows(cost: dict) -> list[list]:
    """Table rows of the cost section: system, kind, requests, prompt tokens mean / p95,
    generated tokens mean / p95, seconds per request, training seconds and tokens,
    break-even requests (None where it does not apply)."""
    return [[name, row["kind"], row["requests"], row["prompt_tokens"]["mean"],
             row["prompt_tokens"]["p95"], row["new_tokens"]["mean"], row["new_tokens"]["p95"],
             row["seconds_per_request"], row["training_seconds"], row["training_tokens"],
             row["payback_requests"]] for name, row in cost["systems"].items()]


COST_HEADER = ["system", "kind", "requests", "prompt tokens (mean)", "prompt tokens (p95)",
               "generated tokens (mean)", "generated tokens (p95)", "seconds per request",
               "training seconds", "training tokens", "break-even (requests)"]


def _cost_section(cost: dict | None) -> str:
    from evaluation.cost import payback_note

    if not cost or not cost["systems"]:
        return ""
    where = ", ".join(str(x) for x in (cost.get("device"), cost.get("batch_size") and
                                       f"batch {cost['batch_size']}") if x)
    best = (f" Best prompted system: {cost['best_prompted']} ({cost['best_prompted_by']})."
            if cost.get("best_prompted") else " No prompted system in this evaluation.")
    figure = cost_figure(cost)
    return (f"<h2>Cost per request (generate run {html.escape(cost['run_id'])})</h2>"
            + table(COST_HEADER, cost_rows(cost))
            + (png(figure) if figure is not None else "")
            + f'<p class="note">{html.escape(payback_note(cost) or "")} Seconds measured on '
              f"{html.escape(where or 'this machine')} while generating (model loading "
              f"excluded; batched, so a request's share of its batch). "
              f"{html.escape(cost['rule'][0].upper() + cost['rule'][1:])}.{html.escape(best)}"
              "</p>")


def _metrics_section(ev: dict) -> str:
    systems = list(ev["metrics"])
    names = sorted({m for values in ev["metrics"].values() for m in values},
                   key=lambda m: list(METRIC_LABELS).index(m) if m in METRIC_LABELS else 99)
    rows = [[METRIC_LABELS.get(m, m)] + [ev["metrics"][s].get(m) for s in systems] for m in names]
    diffs = [[system, METRIC_LABELS.get(m, m), v["n"], v["mean"], v["baseline_mean"],
              v["diff"], v["low"], v["high"]]
             for system, by_metric in ev["intervals"].items() for m, v in by_metric.items()]
    extractor = ev.get("extractor") or {}
    extractor_note = ("" if not extractor else
                      f'<p class="note">Answer extractor: {html.escape(extractor["choice"])}'
                      ".</p>")
    rouge = ev.get("rouge") or {}
    rouge_note = ("" if not rouge else
                  f'<p class="note">ROUGE tokens: {html.escape(rouge["tokenizer"])}.</p>'
                  + "".join(f'<p class="note">Warning: {html.escape(line)}.</p>'
                            for line in rouge.get("warnings") or []))
    small = ev["examples"] < MIN_FIRM_N
    return (f"<h2>Automatic metrics ({ev['examples']} held-out examples)</h2>"
            + (f'<p class="warning">Only {ev["examples"]} held-out rows (fewer than '
               f"{MIN_FIRM_N}): the 95% intervals are approximate and too wide or too narrow "
               "to support a firm conclusion.</p>" if small else "")
            + extractor_note + rouge_note
            + "<h3>Paired comparison: system − base, mean over rows, paired bootstrap 95% "
              "interval</h3>"
            + table(["system", "metric", "n", "system mean", "base mean", "difference",
                     "low", "high"], diffs)
            + interval_plot(ev["intervals"])
            + "<h3>Corpus-level scores per system</h3>"
            + table(["metric", "pooled as", *systems],
                    [[row[0], POOLED.get(m, "mean over rows"), *row[1:]]
                     for m, row in zip(names, rows, strict=True)])
            + f'<p class="note">{html.escape(DEFINITIONS_NOTE)}</p>'
            + '<p class="note">ROUGE tokenizer "unicode" (NFKC, casefold, letters/marks/digits,'
              " one token per Han/kana character); BLEU (13a tokens) and chrF on sacrebleu's"
              " 0–100 scale; held-out loss = cross-entropy on the reference answer tokens;"
              " intervals resample examples with their pairs (BCa, 2,000 resamples).</p>")


def _breakdown_section(ev: dict) -> str:
    if not ev.get("breakdown"):
        return ""
    rows = [[METRIC_LABELS.get(metric, metric), group, v["n"], v["mean"],
             v["baseline_mean"], v["diff"], v["low"], v["high"]]
            for metric, groups in ev["breakdown"]["by_metric"].items()
            for group, v in groups.items()]
    figures = "".join(png(breakdown_figure(ev["breakdown"], metric))
                      for metric in ev["breakdown"]["by_metric"] if metric == "rougeL")
    return (f"<h3>By {html.escape(ev['breakdown']['key'])}</h3>" + figures
            + table(["metric", "group", "n", "tuned", "base", "difference", "low", "high"],
                    rows))


def _pair_label(pair: dict) -> str:
    return f"{pair['system']} vs {pair['other']}"


def _session_section(result: dict) -> str:
    """One rating session: design, win/tie/loss per pair, Bradley–Terry, agreement, position
    bias, consistency on repeats and metric–human agreement (numbers through ``fmt``)."""
    info, design = result["session"], result["design"]
    parts = [(f"<h3>Session {fmt(info['id'])}: {html.escape(str(info['name']))} (generate run "
             f"{html.escape(str(info['run_id']))})</h3>"),
             "<h4>Rating design</h4>",
             table(["systems", "raters per item (k)", "repeat share", "raters", "revoked",
                    "items shown", "auto ties", "showings", "repeats",
                    "first system left"],
                   [[", ".join(design["systems"]), design["k"], design["repeat_share"],
                     design["raters"], design["revoked_raters"], design["items"],
                     design["auto_ties"], design["assignments"], design["repeats"],
                     design["first_system_left_share"]]]),
             (f'<p class="note">Randomisation: {html.escape(design["randomisation"])}. '
             f"{fmt(result['ratings'])} first ratings and {fmt(result['repeats'])} repeats by "
             f"{fmt(result['raters'])} raters.</p>"),
             "<h4>Win / tie / loss</h4>",
             table(["pair", "wins", "ties", "losses", "both bad", "auto ties", "n", "win rate",
                    "Wilson 95% low", "high", "sign test p"],
                   [[_pair_label(p), p["wins"], p["ties"], p["losses"], p["both_bad"],
                     p["auto_ties"], p["n"], p["win_rate"], p["low"], p["high"],
                     p["sign_test_p"]] for p in result["pairs"]])]
    parts += [win_plot(p) for p in result["pairs"]]
    if result["bradley_terry"]:
        parts += ["<h4>Bradley–Terry strengths (log-odds, bootstrap 95% interval)</h4>",
                  table(["system", "strength", "low", "high", "judgments"],
                        [[name, v["strength"], v["low"], v["high"], v["n"]]
                         for name, v in result["bradley_terry"].items()])]
    agreement, bias, same = result["agreement"], result["position_bias"], result["consistency"]
    parts += ["<h4>Agreement and bias</h4>",
              table(["items rated by ≥ 2", "raters", "Cohen's kappa", "Fleiss' kappa",
                     "Krippendorff's alpha", "left wins", "right wins", "position bias rate",
                     "position sign test p", "repeat pairs", "intra-rater consistency"],
                    [[agreement["items"], agreement["raters"], agreement["cohen_kappa"],
                      agreement["fleiss_kappa"], agreement["krippendorff_alpha"], bias["left"],
                      bias["right"], bias["rate"], bias["sign_test_p"], same["pairs"],
                      same["rate"]]])]
    if agreement["notes"]:
        parts.append(f'<p class="note">{html.escape("; ".join(agreement["notes"]))}</p>')
    if result["metric_agreement"]:
        parts += ["<h4>Automatic metric vs human verdicts</h4>",
                  table(["metric", "judgments", "decisive", "agreement", "metric ties",
                         "Kendall's tau-b", "p"],
                        [[METRIC_LABELS.get(m.split(" ")[0], m) + m[len(m.split(" ")[0]):],
                          v["n"], v["decisive"], v["agreement"], v["metric_ties"],
                          v["kendall_tau"], v["p_value"]]
                         for m, v in result["metric_agreement"].items()])]
    parts.append(_judge_section(result.get("judge")))
    return "\n".join(part for part in parts if part)


def _judge_section(judge: dict | None) -> str:
    """The latest pairwise judge run of a session: its one-line calibration verdict, win
    rates raw and length-controlled, unparsed answers and the calibration table."""
    if not judge:
        return ""
    cal = judge["calibration"]
    rows = [[_pair_label(p), p["wins"], p["ties"], p["losses"], p["n"], p["win_rate"],
             p["low"], p["high"], p["lc_win_rate"], p["length_coef"]]
            for p in judge["win_rates"]]
    notes = "; ".join(f"{_pair_label(p)}: {p['lc_note']}" for p in judge["win_rates"]
                      if p["lc_note"])
    missing = judge["unparsed"]["message"]
    return "\n".join(part for part in [
        f"<h4>Pairwise judge {html.escape(str(judge['judge']))} (run "
        f"{html.escape(judge['run_id'])}, prompt {html.escape(str(judge['prompt_file']))})</h4>",
        f'<p class="verdict"><b>Judge</b> · {html.escape(cal["line"])} '
        f'<span class="note">({html.escape(cal["reason"])})</span></p>',
        table(["pair", "wins", "ties", "losses", "n", "win rate", "Wilson 95% low", "high",
               "length-controlled win rate", "length coefficient"], rows),
        f'<p class="note">{html.escape(notes)}</p>' if notes else "",
        f'<p class="warning">{html.escape(missing)}</p>' if missing else "",
        table(["calibration statistic", "value", "95% low", "95% high"],
              judge["calibration_table"]),
        (f'<p class="note">Each item judged in both orders; a verdict that changes with the '
         f"order is a tie (MT-Bench). Length-controlled win rate: logistic GLM of the outcome "
         f"on tanh(length difference / sd), read at equal length (AlpacaEval 2). "
         f"Calibration on {fmt(cal['items'])} items rated by the judge and the raters "
         f"({fmt(cal['items_two_raters'])} by two or more raters); both-bad counts as tie; "
         f"bootstrap over items, {fmt(cal['n_boot'])} resamples.</p>")] if part)


def _sessions_section(sessions: list[dict]) -> str:
    head = ("<h2>Human ratings (blind rating sessions)</h2>"
            '<p class="note">Pairwise and blind: system names hidden; identical outputs are'
            " tied automatically and never shown. Win rate = (wins + ½ ties) / n with a Wilson"
            " 95% interval, both-bad verdicts apart; sign test on wins vs losses (ties"
            " dropped); agreement, win rates and metric agreement use each rater's first"
            " showing, repeats serve consistency only; position bias uses every choice."
            " Statistics use de-randomized labels only.</p>")
    if not sessions:
        return head + "<p>No rating session yet: create one on the Sessions page.</p>"
    return head + "\n".join(_session_section(result) for result in sessions)


def _lineage_section(lineage: dict | None) -> str:
    """Per system, a table of its lineage fields (nested keys joined with ›), then the whole
    document as JSON in a closed <details> for machines."""
    if not lineage or not any(lineage.values()):
        return "<p>No trained model yet.</p>"
    parts = []
    for system, document in lineage.items():
        parts += [f"<h3>{html.escape(str(system))}</h3>",
                  table(["field", "value"], [list(row) for row in flat_rows(document)])]
    parts.append("<details><summary>Lineage as JSON</summary><pre>"
                 f"{html.escape(json.dumps(lineage, indent=2, default=str))}</pre></details>")
    return "\n".join(parts)


def _prompted_section(ev: dict) -> str:
    """Every system against the best prompted system (ROUGE-L difference and interval) and
    the verdict's rule; empty without prompted systems."""
    if not ev.get("prompted"):
        return ""
    rows = []
    for r in ev["systems_table"]:
        vs = r["vs_best_prompt"].get("rougeL") or {}
        rows.append([r["system"], r["kind"],
                     "" if r["k"] is None else f"{r['k']} {r['shots']} (mean {r['mean_shots']})",
                     r["metrics"].get("rougeL"), r["metrics"].get("heldout_loss"),
                     vs.get("diff"), vs.get("low"), vs.get("high")])
    return ("<h2>Fine-tune or prompt</h2>" + table(
        ["system", "kind", "shots", "ROUGE-L", "held-out loss",
         f"ROUGE-L − {ev['best_prompt']}", "95% low", "95% high"], rows) +
        f'<p class="note">{html.escape(ev["rule"] or "")}</p>')


def render_html(report: dict, title: str = "SLM Workbench report") -> str:
    """The whole report as one HTML document (UTF-8 string, no external resources).

    ``report``: ``workbench.stages.report.gather``'s dict (``verdict``, shown first;
    ``stages``, ``split``, ``sessions`` as from ``session_reports``, ``lineage``,
    ``evaluation`` as from ``evaluation_report`` or None, ``cost`` as from ``cost_section``
    or None).
    """
    ev = report.get("evaluation")
    parts = [(f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
             f"</title><style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"),
             (f'<p class="verdict"><b>Verdict</b> · '
              f'{html.escape(report.get("verdict") or "–")}</p>'),
             _prompted_section(ev or {}),
             "<h2>Data</h2>", table(["split", "rows"], list(report["split"].items()))]
    if ev:
        parts += [(f'<p class="note">Generate run {html.escape(ev["run_id"])} · decoding '
                  f'{html.escape(json.dumps(ev["decoding"]))} · max new tokens '
                  f'{fmt(ev["max_new_tokens"])} · systems {html.escape(", ".join(ev["systems"]))}'
                  "</p>"), _metrics_section(ev), _breakdown_section(ev)]
    else:
        parts.append("<p>No generations yet: run generate and score.</p>")
    parts.append(_cost_section(report.get("cost")))
    parts.append(_sessions_section(report.get("sessions") or []))
    if ev and ev["loss_curves"]:
        parts += ["<h2>Training loss</h2>", loss_plot(ev["loss_curves"])]
    lineage = ev["lineage"] if ev else {"tuned": report.get("lineage")}
    parts += ["<h2>Lineage of every system</h2>", _lineage_section(lineage), "</body></html>"]
    return "\n".join(parts)
