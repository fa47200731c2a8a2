"""ROUGE as a local `evaluate` metric module, loadable offline with ``evaluate.load(<this file>)``.

Run as: ``evaluate.load("/abs/path/evaluation/metric_modules/rouge_local.py")`` (see
``evaluation.metrics.rouge``). ``evaluate`` ships no metric scripts, and loading the hub name
``"rouge"`` needs the network; this file mirrors the hub module ``evaluate-metric/rouge``
(same inputs, same ``rouge_score`` scorer, same defaults) so results match it, except that the
aggregate is a plain mean (see ``_compute``).

evaluate's loader reads this file line by line to find its dependencies and imports each
``import x`` / ``from x import y`` it sees: keep one plain import per line, no ``a, b``.
"""

import unicodedata

import datasets
import evaluate
import regex
from rouge_score import rouge_scorer
from rouge_score import tokenize

_CITATION = """\
@inproceedings{lin-2004-rouge,
    title = "{ROUGE}: A Package for Automatic Evaluation of Summaries",
    author = "Lin, Chin-Yew",
    booktitle = "Text Summarization Branches Out",
    year = "2004",
    publisher = "Association for Computational Linguistics",
    url = "https://www.aclweb.org/anthology/W04-1013",
    pages = "74--81",
}
"""

_DESCRIPTION = """\
ROUGE-N (n-gram overlap), ROUGE-L (longest common subsequence) and ROUGE-Lsum (summary-level
LCS, sentences split on newlines) between predictions and references, computed with Google's
``rouge_score`` package (https://github.com/google-research/google-research/tree/master/rouge).

Tokenizer (``tokenizer=``):
- "unicode" (default here): NFKC-normalized, casefolded; a token is a run of Unicode letters,
  combining marks and digits (so Devanagari vowel signs stay inside their word), and each
  Han, Hiragana or Katakana character is a token of its own (those scripts use no spaces).
  No stemming. A Devanagari prediction equal to its reference scores 1.0.
- "whitespace": NFKC-normalized, casefolded, split on whitespace (punctuation stays on its
  word): for text already segmented into words, e.g. Japanese written with spaces.
- "char": NFKC-normalized, casefolded, every character but whitespace is a token.
- "rouge_score": rouge_score's default (the hub module's): lowercase, ASCII letters and digits
  only, optional Porter stemmer. Text in other scripts tokenizes to nothing and scores 0.

A prediction or reference with no token under the chosen tokenizer (e.g. "🎉🎉🎉" under
"unicode") scores 0 against anything; ``empty_after_tokenization`` counts them so the
caller can say so instead of reporting a silent 0.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list[str], one generated text per example.
    references: list[str], or list[list[str]] for several references per example (the
        reference with the highest F-measure is used, per rouge type, as in rouge_score).
    rouge_types: list[str], default ["rouge1", "rouge2", "rougeL", "rougeLsum"].
    use_aggregator: bool, default True. True: each rouge type maps to the mean over
        examples and "per_example" holds one {rouge_type: value} dict per example.
        False: each rouge type maps to the list of per-example values (hub behaviour).
    tokenizer: "unicode" (default), "whitespace", "char" or "rouge_score" (see the
        description).
    use_stemmer: bool, default False; Porter stemmer, only with tokenizer="rouge_score".
    measure: "fmeasure" (default), "precision" or "recall".
Returns:
    dict of floats in [0, 1] (see use_aggregator); with use_aggregator also
    "empty_after_tokenization": {"references": n, "predictions": m}, the examples whose
    reference (every reference, for a list) or prediction has no token.
Examples:
    >>> rouge = evaluate.load("/abs/path/rouge_local.py")
    >>> out = rouge.compute(predictions=["the cat sat"], references=["the cat sat on the mat"])
    >>> round(out["rouge1"], 4)
    0.6667
"""

DEFAULT_ROUGE_TYPES = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
MEASURES = ("precision", "recall", "fmeasure")
TOKENIZERS = ("unicode", "whitespace", "char", "rouge_score")
UNICODE_TOKEN = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}]|[\p{L}\p{M}\p{N}]+")


class UnicodeTokenizer:
    """Script-aware word tokenizer for rouge_score (it calls ``tokenize(text)``).

    >>> UnicodeTokenizer().tokenize("Héllo, नमस्ते 世界!")
    ['héllo', 'नमस्ते', '世', '界']
    """

    def tokenize(self, text):
        return UNICODE_TOKEN.findall(unicodedata.normalize("NFKC", text).casefold())


class WhitespaceTokenizer:
    """Tokens between whitespace, after NFKC and casefolding.

    >>> WhitespaceTokenizer().tokenize("これ は テスト。 Ｏｋ!")
    ['これ', 'は', 'テスト。', 'ok!']
    """

    def tokenize(self, text):
        return unicodedata.normalize("NFKC", text).casefold().split()


class CharTokenizer:
    """Every character but whitespace, after NFKC and casefolding.

    >>> CharTokenizer().tokenize("正解 🎉!")
    ['正', '解', '🎉', '!']
    """

    def tokenize(self, text):
        return [c for c in unicodedata.normalize("NFKC", text).casefold() if not c.isspace()]


def make_tokenizer(name):
    """The tokenizer object rouge_score calls for ``name``; None for rouge_score's own."""
    return {"unicode": UnicodeTokenizer, "whitespace": WhitespaceTokenizer,
            "char": CharTokenizer}.get(name, lambda: None)()


def tokenizes_to_nothing(tokenizer, text):
    """True when ``text`` has no token (``tokenizer`` None: rouge_score's own tokenizer)."""
    if tokenizer is None:
        return not tokenize.tokenize(text, None)
    return not tokenizer.tokenize(text)


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class RougeLocal(evaluate.Metric):
    """ROUGE-1/2/L/Lsum through rouge_score; inputs and defaults as in evaluate-metric/rouge."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=[
                datasets.Features(
                    {
                        "predictions": datasets.Value("string"),
                        "references": datasets.Sequence(datasets.Value("string")),
                    }
                ),
                datasets.Features(
                    {
                        "predictions": datasets.Value("string"),
                        "references": datasets.Value("string"),
                    }
                ),
            ],
            codebase_urls=["https://github.com/google-research/google-research/tree/master/rouge"],
            reference_urls=["https://www.aclweb.org/anthology/W04-1013"],
        )

    def _compute(
        self,
        predictions,
        references,
        rouge_types=None,
        use_aggregator=True,
        use_stemmer=False,
        measure="fmeasure",
        tokenizer="unicode",
    ):
        """Score each pair; aggregate as a plain mean.

        The hub module aggregates with rouge_score's BootstrapAggregator (the median of 1,000
        resampled means, random on every call); a mean is deterministic and is what the
        bootstrap estimates. Confidence intervals belong to the paired bootstrap elsewhere.
        An empty input gives 0.0 means and an empty per_example list.
        """
        if measure not in MEASURES:
            raise ValueError(f"measure must be one of {MEASURES}, got {measure!r}")
        if tokenizer not in TOKENIZERS:
            raise ValueError(f"tokenizer must be one of {TOKENIZERS}, got {tokenizer!r}")
        rouge_types = list(rouge_types or DEFAULT_ROUGE_TYPES)
        tokens = make_tokenizer(tokenizer)
        scorer = rouge_scorer.RougeScorer(
            rouge_types=rouge_types, use_stemmer=use_stemmer, tokenizer=tokens)
        per_example = [
            _score_pair(scorer, ref, pred, rouge_types, measure)
            for ref, pred in zip(references, predictions, strict=True)
        ]
        if not use_aggregator:
            return {key: [row[key] for row in per_example] for key in rouge_types}
        means = {key: _mean([row[key] for row in per_example]) for key in rouge_types}
        empty = {"references": sum(_all_empty(tokens, ref) for ref in references),
                 "predictions": sum(tokenizes_to_nothing(tokens, p) for p in predictions)}
        return {**means, "per_example": per_example, "empty_after_tokenization": empty}


def _score_pair(scorer, reference, prediction, rouge_types, measure):
    """One example: {rouge_type: value}; a list of references keeps the best F per type."""
    if isinstance(reference, (list, tuple)):
        scores = scorer.score_multi(list(reference), prediction)
    else:
        scores = scorer.score(reference, prediction)
    return {key: float(getattr(scores[key], measure)) for key in rouge_types}


def _all_empty(tokenizer, reference):
    """True when the reference (every one of a list) has no token."""
    refs = reference if isinstance(reference, (list, tuple)) else [reference]
    return all(tokenizes_to_nothing(tokenizer, ref) for ref in refs)


def _mean(values):
    """Arithmetic mean; 0.0 for no values."""
    return sum(values) / len(values) if values else 0.0
