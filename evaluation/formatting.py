"""Numbers, stage summaries and lineage for people: what the Report page and the HTML export
print instead of raw floats and dicts.

Run as: ``from evaluation.formatting import number; number(0.123456)`` → ``'0.123'``

Pure: strings in, strings out; no Streamlit, no HTML.
"""

from __future__ import annotations

import math
import re
from datetime import date

DASH = "–"


def number(value) -> str:
    """A figure for a table cell or a sentence.

    None / NaN → "–"; a bool → "yes" / "no"; an int → thousands separated; a float: 0 → "0",
    |x| ≥ 1,000 → no decimals, |x| ≥ 100 → one decimal, |x| ≥ 1 → two decimals, |x| ≥ 0.001
    → three decimals, smaller → two significant digits in scientific notation.

    >>> [number(v) for v in (None, 12345, 0.0, 1234.5, 86.3172, 3.76349, 0.1052631, 1.2e-07)]
    ['–', '12,345', '0', '1,234', '86.32', '3.76', '0.105', '1.2e-07']
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if not isinstance(value, float):
        return str(value)
    size = abs(value)
    if size == 0:
        return "0"
    if size >= 1000:
        return f"{value:,.0f}"
    if size >= 100:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    if size >= 0.001:
        return f"{value:.3f}"
    return f"{value:.1e}"


def signed(value: float | None) -> str:
    """A difference with its sign, three decimals below 10 (``number`` above it).

    >>> signed(0.8321), signed(-2.15), signed(73.108), signed(None)
    ('+0.832', '-2.150', '+73.11', '–')
    """
    if value is None or math.isnan(value):
        return DASH
    return f"{value:+.3f}" if abs(value) < 10 else ("+" if value > 0 else "") + number(value)


def share(value: float | None) -> str:
    """A rate in 0–1 as a whole percent.

    >>> share(0.862), share(1.0), share(None)
    ('86%', '100%', '–')
    """
    return DASH if value is None or math.isnan(value) else f"{value:.0%}"


def p_value(value: float | None) -> str:
    """A p-value: "< 0.001" below a thousandth, else three decimals.

    >>> p_value(1.19e-07), p_value(0.0432), p_value(None)
    ('< 0.001', '0.043', '–')
    """
    if value is None or math.isnan(value):
        return DASH
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def interval(low: float | None, high: float | None) -> str:
    """A 95% interval of a difference, signed.

    >>> interval(0.7552, 0.8756)
    '+0.755 to +0.876'
    """
    return f"{signed(low)} to {signed(high)}"


def pair_rows(pairs: list[dict]) -> list[dict]:
    """A rating session's pairs (``evaluation.session_stats.pair_table`` rows) as text rows:
    the counts, the win rate and its Wilson 95% interval in whole percent, the sign-test p.

    >>> pair_rows([{"system": "tuned", "other": "base", "wins": 3, "ties": 1, "losses": 1,
    ...             "both_bad": 0, "auto_ties": 1, "n": 5, "win_rate": 0.7, "low": 0.3,
    ...             "high": 0.93, "sign_test_p": 0.625}])[0]["Wilson 95% interval"]
    '30% to 93%'
    """
    return [{"pair": f"{p['system']} vs {p['other']}", "wins": p["wins"], "ties": p["ties"],
             "losses": p["losses"], "both bad": p["both_bad"], "auto ties": p["auto_ties"],
             "n": p["n"], "win rate": share(p["win_rate"]),
             "Wilson 95% interval": f"{share(p['low'])} to {share(p['high'])}",
             "sign test p": p_value(p["sign_test_p"])} for p in pairs]


def summary_line(summary: dict, skip: tuple = ("run_id", "adapter", "dataset_id", "metrics",
                                                 "all_metrics", "empty_after_tokenization",
                                                 "warnings", "job")) -> str:
    """One line from a stage summary: ``key value · key value``; a flat dict inline
    (``key a 1, b 2``), a nested one and the keys in ``skip`` left out (they have their own
    tables), every number through ``number``.

    >>> summary_line({"rows_in": 1200, "by_code": {"a": 1}, "final_loss": 1.10293,
    ...               "all_metrics": {"base": {"rouge1": 0.1052631}}})
    'rows in 1,200 · by code a 1 · final loss 1.10'
    """
    parts = []
    for key, value in summary.items():
        if key in skip or value is None:
            continue
        if isinstance(value, dict):
            if any(isinstance(v, (dict, list)) for v in value.values()):
                continue
            value = ", ".join(f"{k} {number(v)}" for k, v in value.items())
        elif isinstance(value, list):
            if any(isinstance(v, (dict, list)) for v in value):
                continue
            value = ", ".join(number(v) for v in value)
        else:
            value = number(value)
        parts.append(f"{key.replace('_', ' ')} {value}")
    return " · ".join(parts)


def flat_rows(document, prefix: str = "") -> list[tuple[str, str]]:
    """A nested dict / list as (path, value) rows, paths joined with " › ", values through
    ``number``; an empty dict or list is one row "–".

    >>> flat_rows({"training": {"lora_rank": 8, "lr": 0.0002}, "modules": ["q", "v"]})
    [('training › lora rank', '8'), ('training › lr', '2.0e-04'), ('modules', 'q, v')]
    """
    if isinstance(document, dict) and document:
        return [row for key, value in document.items()
                for row in flat_rows(value, f"{prefix} › {_words(key)}" if prefix
                                     else _words(key))]
    if isinstance(document, list) and document and not any(
            isinstance(v, (dict, list)) for v in document):
        return [(prefix, ", ".join(number(v) for v in document))]
    if isinstance(document, list) and document:
        return [row for k, value in enumerate(document, start=1)
                for row in flat_rows(value, f"{prefix} › {k}")]
    if isinstance(document, (dict, list)):
        return [(prefix, DASH)]
    return [(prefix, number(document))]


def _words(key) -> str:
    return str(key).replace("_", " ")


def report_file_name(workspace_name: str, day: date, extension: str = "html") -> str:
    """The export's file name: ``report-<workspace>-<YYYY-MM-DD>.<extension>``, the
    workspace folder's name reduced to letters, digits, ``-``, ``_`` and ``.``.

    >>> report_file_name("my demo/ws", date(2026, 12, 4))
    'report-my-demo-ws-2026-12-04.html'
    """
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", workspace_name).strip("-.") or "workspace"
    return f"report-{safe}-{day.isoformat()}.{extension}"
