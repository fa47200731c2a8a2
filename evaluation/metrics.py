"""Text-overlap metrics over generated answers, through `evaluate` modules kept in this repository.

Run as: ``from evaluation.metrics import rouge; rouge(["the cat sat"], ["the cat sat on the mat"])``

Loading a metric by its hub name (evaluate.load with "rouge") fetches the module from the
Hugging Face hub, so every metric here is loaded from a local file under ``evaluation/metric_modules/`` instead. Loading a local file
does no network call; evaluate copies the script into ``HF_MODULES_CACHE`` (by default under
``~/.cache/huggingface/modules``) and imports it from there.
"""

from __future__ import annotations

import functools
from pathlib import Path

METRIC_MODULES_DIR = Path(__file__).resolve().parent / "metric_modules"
METRIC_FILES = {"rouge": METRIC_MODULES_DIR / "rouge_local.py"}
ROUGE_KEYS = ("rouge1", "rouge2", "rougeL")


@functools.lru_cache(maxsize=None)
def load_metric(name: str):
    """The `evaluate` module for ``name`` (a key of ``METRIC_FILES``), loaded once per process.

    ``keep_in_memory=True``: predictions are buffered in memory rather than in an Arrow file
    under ``~/.cache/huggingface/metrics``, so a compute writes nothing to disk. The returned
    module holds per-compute state: do not share it between threads.
    Raises KeyError for an unknown name.
    """
    import evaluate  # deferred: importing evaluate pulls in datasets (~1 s)

    return evaluate.load(str(METRIC_FILES[name]), keep_in_memory=True)


def rouge(predictions: list[str], references: list[str]) -> dict:
    """ROUGE-1/2/L F-measure (0–1) of each prediction against its reference, and their means.

    Shapes: ``predictions[i]`` is scored against ``references[i]``; both lists have length n.
    Returns ``{"rouge1": mean, "rouge2": mean, "rougeL": mean, "per_example": [n dicts with
    the same three keys]}``; means are 0.0 when n == 0. Tokens are lowercased ASCII letters and
    digits, no stemming (rouge_score's defaults, as in the hub's evaluate-metric/rouge).
    Raises ValueError when the lengths differ.
    Source: Lin (2004), "ROUGE: A Package for Automatic Evaluation of Summaries".

    >>> round(rouge(["the cat sat"], ["the cat sat on the mat"])["rouge1"], 4)
    0.6667
    """
    if len(predictions) != len(references):
        raise ValueError(
            f"{len(predictions)} predictions but {len(references)} references: need one each"
        )
    if not predictions:
        return {**{key: 0.0 for key in ROUGE_KEYS}, "per_example": []}
    out = load_metric("rouge").compute(
        predictions=list(predictions), references=list(references), rouge_types=list(ROUGE_KEYS)
    )
    return {**{key: out[key] for key in ROUGE_KEYS}, "per_example": out["per_example"]}
