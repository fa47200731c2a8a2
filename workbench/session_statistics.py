"""Statistics of a rating session: the one computation the Sessions page, ``workbench
session-stats`` and the Report show.

Run as: ``with open_workspace(path) as ws: statistics(ws, session_id)``

Reads the de-randomized ratings and the tied items from the store
(``workbench.store.sessions``) and computes with ``evaluation.session_stats.summarize``.
"""

from __future__ import annotations

from evaluation.session_stats import summarize
from workbench.store import Workspace
from workbench.store import sessions as store


def statistics(ws: Workspace, session_id: int, metric_scores: dict | None = None,
               n_boot: int = 200) -> dict:
    """Every statistic of a session (``evaluation.session_stats.summarize``) plus
    ``"session"``: its id, name, run_id, systems, k and repeat_share.

    ``metric_scores``: optional ``{metric: {(example_id, system): score}}`` for the
    metric–human agreement (see ``rouge_scores``); ``n_boot``: Bradley–Terry bootstrap
    resamples. Raises RatingError for an unknown session.
    """
    info = store.session(ws, session_id)
    result = summarize(store.raw_ratings(ws, session_id), store.auto_ties(ws, session_id),
                       tuple(info["systems"]), metric_scores, n_boot=n_boot)
    return {"session": {k: info[k] for k in ("id", "name", "run_id", "systems", "k",
                                             "repeat_share")}, **result}


def rouge_scores(ws: Workspace, session_id: int) -> dict:
    """Per-example ROUGE-L F of every system of a session against the reference:
    ``{"rougeL": {(example_id, system): score}}`` (for the metric–human agreement)."""
    from evaluation.metrics import rouge

    rows = store.session_outputs(ws, session_id)
    per = rouge([r["output"] for r in rows], [r["reference"] or "" for r in rows])["per_example"]
    return {"rougeL": {(r["example_id"], r["system"]): s["rougeL"]
                       for r, s in zip(rows, per, strict=True)}}
