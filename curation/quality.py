"""Quality signals of one example (heuristics) and the combined score a selection ranks by.

Every signal is a number (or a flag) per row; ``SIGNALS`` names each with its definition,
its direction (whether higher reads as better) and its source. The heuristics here need no
model; the model-based signals (perplexities and IFD) are computed in ``curation.ifd``.

The *prompt* of a row is every turn before its last assistant turn, the *answer* is that last
assistant turn (as ``training.data.prompt_and_reference`` splits a row for evaluation).

Run as: ``heuristics([{"role": "user", "content": "Hi"},
{"role": "assistant", "content": "Hello"}])``
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

DUP_NGRAM = 5  # Gopher's smallest duplicate n-gram size (its range is 5..10 words)
FLAG_CODES = ("refusal", "boilerplate", "unsupported_language")  # validation findings

# name -> (definition, higher_is_better, source)
SIGNALS: dict[str, tuple[str, bool | None, str]] = {
    "prompt_chars": ("characters of the prompt turns' content", None, "Data-Juicer text_length"),
    "answer_chars": ("characters of the answer (last assistant turn)", None,
                     "Data-Juicer text_length"),
    "length_ratio": ("answer characters / prompt characters", None,
                     "AlpaGasus/Deita length baselines"),
    "dup_ngram_fraction": (f"share of the answer's word characters inside a repeated word "
                           f"{DUP_NGRAM}-gram", False,
                           "Gopher rules, Rae et al. 2021, App. A; datatrove "
                           "find_all_duplicate"),
    "non_alnum_share": ("share of the answer's non-space characters that are not letters or "
                        "digits", False, "Data-Juicer alphanumeric_filter"),
    "ppl_conditioned": ("perplexity of the answer tokens given the prompt", None,
                        "Li et al., NAACL 2024 (Cherry LLM)"),
    "ppl_answer": ("perplexity of the answer tokens alone (after the assistant header)", None,
                   "Li et al., NAACL 2024 (Cherry LLM)"),
    "ifd": ("instruction-following difficulty: ppl_conditioned / ppl_answer", True,
            "Li et al., NAACL 2024 'From Quantity to Quality'"),
    "answer_tokens": ("answer tokens scored by the model (after truncation)", None,
                      "base model tokenizer"),
}
FLAGS = FLAG_CODES  # boolean signals: the row has a validation finding of that code


def _f(default, help_text: str):
    return field(default=default, metadata={"help": help_text})


@dataclass
class QualityConfig:
    """What ``workbench quality`` computes; field help is the CLI help."""

    model: bool = _f(True, "Compute the model-based signals (perplexities, IFD); off: "
                           "heuristics only.")
    base_model: str = _f("embedded", "'embedded' (SmolLM2-135M-Instruct) or a local model "
                                     "folder.")
    max_seq_len: int = _f(1024, "Tokens per templated conversation; longer ones are cut, as "
                                "training cuts them.")
    max_batch_tokens: int = _f(8192, "Padded tokens per forward pass (rows x longest row).")
    ngram: int = _f(DUP_NGRAM, "Word n-gram size of dup_ngram_fraction.")

    def to_dict(self) -> dict:
        return asdict(self)


def split_prompt_answer(messages: list[dict]) -> tuple[list[dict], str | None]:
    """(turns before the last assistant turn, its content); (all turns, None) without one.

    >>> split_prompt_answer([{"role": "user", "content": "Q"},
    ...                      {"role": "assistant", "content": "A"}])
    ([{'role': 'user', 'content': 'Q'}], 'A')
    """
    for index in range(len(messages) - 1, -1, -1):
        if messages[index]["role"] == "assistant":
            return list(messages[:index]), messages[index]["content"] or ""
    return list(messages), None


def duplicate_ngram_chars(words: list[str], n: int) -> int:
    """Characters of ``words`` inside a word n-gram seen earlier in the text.

    Scans left to right; a repeated n-gram counts its characters and the scan jumps past it,
    so no character counts twice (datatrove ``gopher_repetition_filter.find_all_duplicate``,
    after Rae et al. 2021, Gopher, Appendix A).

    >>> duplicate_ngram_chars("a b a b a b".split(), 2)
    4
    """
    seen: set[tuple[str, ...]] = set()
    repeated, index = 0, 0
    while index < len(words) - n + 1:
        gram = tuple(words[index:index + n])
        if gram in seen:
            repeated += sum(len(word) for word in gram)
            index += n
        else:
            seen.add(gram)
            index += 1
    return repeated


def dup_ngram_fraction(text: str, n: int = DUP_NGRAM) -> float | None:
    """Share (0..1) of the text's word characters (whitespace split, spaces not counted) in
    repeated word n-grams; None for a text without words. Gopher drops a document above
    0.15 at n = 5 (Rae et al. 2021, Table A1)."""
    words = text.split()
    total = sum(len(word) for word in words)
    return duplicate_ngram_chars(words, n) / total if total else None


def non_alnum_share(text: str) -> float | None:
    """Share (0..1) of non-whitespace characters that are not alphanumeric (``str.isalnum``,
    so letters of every script count as alphanumeric); None without such characters."""
    chars = [c for c in text if not c.isspace()]
    return sum(not c.isalnum() for c in chars) / len(chars) if chars else None


def heuristics(messages: list[dict], n: int = DUP_NGRAM) -> dict:
    """The model-free signals of one row: prompt_chars, answer_chars, length_ratio,
    dup_ngram_fraction, non_alnum_share. Without an assistant turn the answer signals are
    None and ``unscored_reason`` is ``no_assistant_turn``."""
    prompt, answer = split_prompt_answer(messages)
    prompt_chars = sum(len(m.get("content") or "") for m in prompt)
    out = {"prompt_chars": prompt_chars, "answer_chars": None, "length_ratio": None,
           "dup_ngram_fraction": None, "non_alnum_share": None}
    if answer is None:
        return {**out, "unscored_reason": "no_assistant_turn"}
    return {**out, "answer_chars": len(answer),
            "length_ratio": len(answer) / prompt_chars if prompt_chars else None,
            "dup_ngram_fraction": dup_ngram_fraction(answer, n),
            "non_alnum_share": non_alnum_share(answer)}


# -- the combined score ----------------------------------------------------------------

@dataclass(frozen=True)
class Formula:
    """How the combined score is made from the signals.

    ``kind``: ``ifd`` (the IFD, only where IFD < 1: Li et al. drop rows whose answer the
    prompt does not make easier), ``signal`` (one signal; weight -1 ranks low values first)
    or ``weighted`` (sum of weight × z-score of each signal over the rows that have it).
    """

    kind: str
    weights: tuple[tuple[str, float], ...] = ()

    def describe(self) -> str:
        if self.kind == "ifd":
            return "ifd (rows with IFD < 1)"
        if self.kind == "signal":
            name, weight = self.weights[0]
            return name if weight > 0 else f"-{name}"
        return " + ".join(f"{w:g}·z({name})" for name, w in self.weights)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "weights": dict(self.weights), "text": self.describe()}


def parse_formula(text: str) -> Formula:
    """``ifd`` | ``NAME`` | ``-NAME`` | ``NAME=W,NAME=W`` (weighted sum of z-scores).

    Raises ValueError naming an unknown signal or a weight that is not a number.

    >>> parse_formula("ifd=1,dup_ngram_fraction=-0.5").weights
    (('ifd', 1.0), ('dup_ngram_fraction', -0.5))
    """
    text = text.strip()
    if text == "ifd":
        return Formula("ifd", (("ifd", 1.0),))
    if "=" not in text:
        name, weight = (text[1:], -1.0) if text.startswith("-") else (text, 1.0)
        _known(name)
        return Formula("signal", ((name, weight),))
    weights = []
    for part in text.split(","):
        name, _, value = part.partition("=")
        _known(name.strip())
        try:
            weights.append((name.strip(), float(value)))
        except ValueError:
            raise ValueError(f"weight of {name.strip()!r} is not a number: {value!r}") from None
    return Formula("weighted", tuple(weights))


def _known(name: str) -> None:
    if name not in SIGNALS and name not in FLAGS:
        raise ValueError(f"unknown signal {name!r}; known: {', '.join([*SIGNALS, *FLAGS])}")


def _zscores(values: list[float | None]) -> list[float | None]:
    present = [float(v) for v in values if v is not None]
    if not present:
        return [None] * len(values)
    mean = sum(present) / len(present)
    std = math.sqrt(sum((v - mean) ** 2 for v in present) / len(present))
    return [None if v is None else (0.0 if std == 0 else (float(v) - mean) / std)
            for v in values]


def combined_scores(rows: list[dict], formula: Formula) -> list[float | None]:
    """The combined score of each row (a dict of signals), None where it has none.

    ``weighted``: population z-scores per signal (flags as 0/1), a row missing any weighted
    signal gets None. ``ifd``: None where IFD is missing or ≥ 1.

    >>> combined_scores([{"ifd": 0.5}, {"ifd": 1.2}, {"ifd": None}], Formula("ifd"))
    [0.5, None, None]
    """
    if formula.kind == "ifd":
        return [r.get("ifd") if r.get("ifd") is not None and r["ifd"] < 1 else None
                for r in rows]
    if formula.kind == "signal":
        name, weight = formula.weights[0]
        return [None if r.get(name) is None else weight * float(r[name]) for r in rows]
    columns = [_zscores([r.get(name) for r in rows]) for name, _ in formula.weights]
    out = []
    for i in range(len(rows)):
        parts = [column[i] for column in columns]
        out.append(None if any(p is None for p in parts) else
                   sum(w * p for (_, w), p in zip(formula.weights, parts, strict=True)))
    return out
