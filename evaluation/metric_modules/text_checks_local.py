"""Exact match, length ratio, JSON validity and extracted-answer accuracy, as one local
`evaluate` module (``evaluate.load(<this file>)``).

Run as: ``evaluate.load(".../text_checks_local.py").compute(predictions=[...],
references=[...], check="exact_match")``. evaluate's loader reads this file line by line and
imports each ``import x`` / ``from x import y`` it sees: keep one plain import per line.
"""

import json
import unicodedata

import datasets
import evaluate
import regex

from evaluation.extract import get_extractor

_DESCRIPTION = """\
Per-example checks, each returning a mean and one value per example:
- exact_match: 1.0 when prediction and reference are equal after NFKC normalization,
  whitespace collapsing and trimming (casefolded unless ignore_case=False), else 0.0.
- length_ratio: prediction tokens / reference tokens, tokens as in the "unicode" ROUGE
  tokenizer (runs of letters, marks and digits; one token per Han/kana character). The
  aggregate is total prediction tokens / total reference tokens (BLEU's ratio); a reference
  with no token gives None for that example.
- json_valid: 1.0 when the prediction parses with json.loads after trimming whitespace and
  one surrounding Markdown code fence (```json ... ```), else 0.0. References are ignored.
- answer_accuracy: 1.0 when the answer extracted from the prediction equals the answer
  extracted from the reference (extractor= a name of evaluation.extract.EXTRACTORS, e.g.
  "gsm8k"); 0.0 otherwise. A reference with no extractable answer gives None and is counted
  in "unextractable_references".
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list[str]; references: list[str] (same length).
    check: "exact_match" | "length_ratio" | "json_valid" | "answer_accuracy".
    ignore_case: exact_match only, default True.
    extractor: answer_accuracy only, default "gsm8k".
Returns:
    {check: aggregate or None, "per_example": [float or None per example]}
Examples:
    >>> m = evaluate.load("/abs/path/text_checks_local.py")
    >>> m.compute(predictions=["Paris "], references=["paris"], check="exact_match")["exact_match"]
    1.0
"""

CHECKS = ("exact_match", "length_ratio", "json_valid", "answer_accuracy")
TOKEN = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}]|[\p{L}\p{M}\p{N}]+")
FENCE = regex.compile(r"^```[\w-]*\s*\n(.*)\n\s*```$", flags=regex.DOTALL)


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class TextChecksLocal(evaluate.Metric):
    """Exact match, length ratio, JSON validity, extracted-answer accuracy."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references, check="exact_match", ignore_case=True,
                 extractor="gsm8k"):
        """Dispatch to one check; see the module description for each definition."""
        if check not in CHECKS:
            raise ValueError(f"check must be one of {CHECKS}, got {check!r}")
        if check == "exact_match":
            values = [float(_norm(p, ignore_case) == _norm(r, ignore_case))
                      for p, r in zip(predictions, references, strict=True)]
            return {check: _mean(values), "per_example": values}
        if check == "json_valid":
            values = [float(_is_json(p)) for p in predictions]
            return {check: _mean(values), "per_example": values}
        if check == "length_ratio":
            return _length_ratio(predictions, references)
        return _answer_accuracy(predictions, references, get_extractor(extractor))


def _norm(text, ignore_case):
    text = " ".join(unicodedata.normalize("NFKC", text).split())
    return text.casefold() if ignore_case else text


def _is_json(text):
    text = text.strip()
    fenced = FENCE.match(text)
    try:
        json.loads(fenced.group(1) if fenced else text)
    except ValueError:
        return False
    return True


def _length_ratio(predictions, references):
    pred = [len(TOKEN.findall(unicodedata.normalize("NFKC", p))) for p in predictions]
    ref = [len(TOKEN.findall(unicodedata.normalize("NFKC", r))) for r in references]
    values = [p / r if r else None for p, r in zip(pred, ref, strict=True)]
    total = sum(ref)
    return {"length_ratio": sum(pred) / total if total else None, "per_example": values}


def _answer_accuracy(predictions, references, extractor):
    values = []
    for prediction, reference in zip(predictions, references, strict=True):
        expected = extractor.reference(reference)
        values.append(None if expected is None
                      else float(extractor.prediction(prediction) == expected))
    scored = [v for v in values if v is not None]
    return {"answer_accuracy": _mean(scored) if scored else None, "per_example": values,
            "unextractable_references": len(values) - len(scored)}


def _mean(values):
    return sum(values) / len(values) if values else 0.0
