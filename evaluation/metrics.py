"""Automatic metrics over generated answers, through `evaluate` modules kept in this repository.

Run as: ``from evaluation.metrics import score_all; score_all(["the cat sat"], ["the cat sat
on the mat"])``

Loading a metric by its hub name (evaluate.load with "rouge") fetches the module from the
Hugging Face hub, so every metric here is loaded from a local file under
``evaluation/metric_modules/`` instead. Loading a local file does no network call; evaluate
copies the script into ``HF_MODULES_CACHE`` (by default under ``~/.cache/huggingface/modules``)
and imports it from there.

Metrics (``METRICS``), each with a mean (or corpus value) and one value per example:
ROUGE-1/2/L/Lsum F (0–1, "unicode" tokenizer by default: see rouge_local.py), BLEU and chrF (sacrebleu,
0–100), exact match, length ratio, JSON validity (0–1), and, with an answer extractor
(``evaluation.extract``), answer accuracy (0–1).
"""

from __future__ import annotations

import functools
from pathlib import Path

METRIC_MODULES_DIR = Path(__file__).resolve().parent / "metric_modules"
METRIC_FILES = {"rouge": METRIC_MODULES_DIR / "rouge_local.py",
                "sacrebleu": METRIC_MODULES_DIR / "sacrebleu_local.py",
                "text_checks": METRIC_MODULES_DIR / "text_checks_local.py"}
ROUGE_KEYS = ("rouge1", "rouge2", "rougeL")
ROUGE_ALL = ("rouge1", "rouge2", "rougeL", "rougeLsum")
# The ROUGE tokenizers of rouge_local.py (its TOKENIZERS; the module is loaded by evaluate
# from its file, so it is not imported here). "unicode" is the default.
ROUGE_TOKENIZERS = ("unicode", "whitespace", "char", "rouge_score")
# metric name -> (module, compute kwargs); the module answers with {name: value, per_example}
METRICS: dict[str, tuple[str, dict]] = {
    "bleu": ("sacrebleu", {"metric": "bleu"}),
    "chrf": ("sacrebleu", {"metric": "chrf"}),
    "exact_match": ("text_checks", {"check": "exact_match"}),
    "length_ratio": ("text_checks", {"check": "length_ratio"}),
    "json_valid": ("text_checks", {"check": "json_valid"}),
}
HIGHER_IS_BETTER = {**{k: True for k in ROUGE_ALL}, "bleu": True, "chrf": True,
                    "exact_match": True, "json_valid": True, "answer_accuracy": True,
                    "length_ratio": None}  # None: closer to 1 is better, no direction


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


def _check_lengths(predictions: list[str], references: list[str]) -> None:
    if len(predictions) != len(references):
        raise ValueError(
            f"{len(predictions)} predictions but {len(references)} references: need one each"
        )


def rouge(predictions: list[str], references: list[str],
          rouge_types: tuple[str, ...] = ROUGE_KEYS, tokenizer: str = "unicode",
          measure: str = "fmeasure") -> dict:
    """ROUGE F-measure (0–1) of each prediction against its reference, and their means.

    Shapes: ``predictions[i]`` is scored against ``references[i]``; both lists have length n.
    Returns ``{type: mean, ..., "per_example": [n dicts {type: value}],
    "empty_after_tokenization": {"references": r, "predictions": p}}`` (the texts with no
    token, which score 0); means are 0.0 when n == 0. ``tokenizer`` (``ROUGE_TOKENIZERS``):
    "unicode" (NFKC + casefold, runs of letters/marks/digits, one token per Han/kana
    character), "whitespace", "char" or "rouge_score"; no stemming (see rouge_local.py).
    ``measure``: "fmeasure", "precision" or "recall". Raises ValueError when the lengths
    differ or for an unknown tokenizer. Source: Lin (2004), "ROUGE: A Package for Automatic
    Evaluation of Summaries".

    >>> round(rouge(["the cat sat"], ["the cat sat on the mat"])["rouge1"], 4)
    0.6667
    """
    _check_lengths(predictions, references)
    if tokenizer not in ROUGE_TOKENIZERS:
        raise ValueError(f"unknown ROUGE tokenizer {tokenizer!r}; known: "
                         f"{', '.join(ROUGE_TOKENIZERS)}")
    if not predictions:
        return {**{key: 0.0 for key in rouge_types}, "per_example": [],
                "empty_after_tokenization": {"references": 0, "predictions": 0}}
    out = load_metric("rouge").compute(
        predictions=list(predictions), references=list(references), rouge_types=list(rouge_types),
        tokenizer=tokenizer, measure=measure)
    return {**{key: out[key] for key in rouge_types}, "per_example": out["per_example"],
            "empty_after_tokenization": out["empty_after_tokenization"]}


def empty_warning(empty: dict[str, int], tokenizer: str) -> str | None:
    """The line that says how many texts had no token under ``tokenizer`` (None if none).

    >>> empty_warning({"references": 1, "predictions": 0}, "unicode")
    "1 reference(s) and 0 prediction(s) have no token under ROUGE tokenizer 'unicode' and score 0 (try --rouge-tokenizer char)"
    """
    if not (empty["references"] or empty["predictions"]):
        return None
    return (f"{empty['references']} reference(s) and {empty['predictions']} prediction(s) "
            f"have no token under ROUGE tokenizer {tokenizer!r} and score 0 (try "
            f"--rouge-tokenizer char)")


def metric(name: str, predictions: list[str], references: list[str], **kwargs) -> dict:
    """One metric of ``METRICS`` (or "answer_accuracy" with ``extractor=``): aggregate + per example.

    Returns ``{"value": aggregate or None, "per_example": [n floats or None]}``. Raises
    ValueError for an unknown name or differing lengths.
    """
    _check_lengths(predictions, references)
    if name == "answer_accuracy":
        module, options = "text_checks", {"check": "answer_accuracy"}
    elif name in METRICS:
        module, options = METRICS[name]
    else:
        raise ValueError(f"unknown metric {name!r}; known: {', '.join(METRICS)}")
    out = load_metric(module).compute(predictions=list(predictions),
                                      references=list(references), **options, **kwargs)
    return {"value": out[name], "per_example": out["per_example"]}


def score_all(predictions: list[str], references: list[str],
              extractor: str | None = None, rouge_tokenizer: str = "unicode") -> dict:
    """Every metric for one system: ``{"aggregate": {metric: value}, "per_example": {metric:
    [n]}, "rouge_tokenizer", "empty_after_tokenization": {"references", "predictions"}}``.

    ROUGE-1/2/L/Lsum (tokens: ``rouge_tokenizer``), BLEU, chrF, exact match, length ratio,
    JSON validity, plus ``answer_accuracy`` when ``extractor`` names one of
    ``evaluation.extract.EXTRACTORS``. Per-example values may be None where a metric is
    undefined (length ratio against an empty reference, accuracy against a reference with
    no answer).
    """
    scores = rouge(predictions, references, ROUGE_ALL, rouge_tokenizer)
    aggregate = {key: scores[key] for key in ROUGE_ALL}
    per_example = {key: [row[key] for row in scores["per_example"]] for key in ROUGE_ALL}
    names = list(METRICS) + (["answer_accuracy"] if extractor else [])
    for name in names:
        kwargs = {"extractor": extractor} if name == "answer_accuracy" else {}
        out = metric(name, predictions, references, **kwargs) if predictions else {
            "value": None, "per_example": []}
        aggregate[name], per_example[name] = out["value"], out["per_example"]
    return {"aggregate": aggregate, "per_example": per_example, "rouge_tokenizer": rouge_tokenizer,
            "empty_after_tokenization": scores["empty_after_tokenization"]}
