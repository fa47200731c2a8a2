"""BLEU and chrF through sacrebleu, as one local `evaluate` module (``evaluate.load(<this file>)``).

Run as: ``evaluate.load(".../sacrebleu_local.py").compute(predictions=[...], references=[...],
metric="bleu")``. evaluate's loader reads this file line by line and imports each
``import x`` / ``from x import y`` it sees: keep one plain import per line.
"""

import datasets
import evaluate
from sacrebleu.metrics import BLEU, CHRF

_CITATION = """\
@inproceedings{post-2018-call,
    title = "A Call for Clarity in Reporting {BLEU} Scores",
    author = "Post, Matt",
    booktitle = "Proceedings of the Third Conference on Machine Translation",
    year = "2018",
    url = "https://www.aclweb.org/anthology/W18-6319",
}
"""

_DESCRIPTION = """\
BLEU (Papineni et al., 2002) and chrF (Popovic, 2015) with sacrebleu's reference
implementation and defaults, on sacrebleu's 0-100 scale.
- BLEU: 4-gram, tokenizer "13a" (sacrebleu's default, the WMT mteval tokenization; it
  splits punctuation and keeps any script's space-separated words), no lowercasing. The
  aggregate is the corpus BLEU (n-gram counts summed over examples, one brevity penalty);
  per-example values are sentence BLEU with effective order (sacrebleu's sentence_score).
- chrF: character 6-grams, beta 2, whitespace ignored (chrF, not chrF++). The aggregate is
  corpus chrF; per-example values are sentence chrF.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list[str], one generated text per example.
    references: list[str], one reference per example.
    metric: "bleu" or "chrf".
    tokenize: BLEU tokenizer name (sacrebleu's: "13a", "intl", "char", "none", ...).
    char_order, word_order, beta: chrF parameters (defaults 6, 0, 2).
Returns:
    {metric: corpus score (0-100), "per_example": [sentence score per example], "signature": str}
Examples:
    >>> m = evaluate.load("/abs/path/sacrebleu_local.py")
    >>> m.compute(predictions=["a b c d"], references=["a b c d"], metric="bleu")["bleu"]
    100.0
"""

METRICS = ("bleu", "chrf")


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class SacrebleuLocal(evaluate.Metric):
    """Corpus and sentence BLEU / chrF through sacrebleu."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
            codebase_urls=["https://github.com/mjpost/sacrebleu"],
        )

    def _compute(self, predictions, references, metric="bleu", tokenize="13a",
                 char_order=6, word_order=0, beta=2):
        """Corpus score plus one sentence score per example; 0.0 and [] for no examples."""
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        if metric == "bleu":
            corpus = BLEU(tokenize=tokenize)
            sentence = BLEU(tokenize=tokenize, effective_order=True)
        else:
            corpus = CHRF(char_order=char_order, word_order=word_order, beta=beta)
            sentence = corpus
        if not predictions:
            return {metric: 0.0, "per_example": [], "signature": str(corpus.get_signature())}
        score = corpus.corpus_score(list(predictions), [list(references)])
        per_example = [float(sentence.sentence_score(p, [r]).score)
                       for p, r in zip(predictions, references, strict=True)]
        return {metric: float(score.score), "per_example": per_example,
                "signature": str(corpus.get_signature())}
