"""Pairwise judge: the prompt, the requests in both orders, strict parsing of the answers,
the order-swap rule and the judge's win rates (raw and length-controlled).

Run as: ``requests = judge_requests(items, template)``; answers come from a local model or an
OpenAI-compatible endpoint (``evaluation.judge_backends``); ``verdicts = item_verdicts(
answered)``; ``win_rates(verdicts, lengths)``.

An *item* is one session item: ``{"item_no", "example_id", "first_system", "second_system",
"question", "first_output", "second_output"}``. Each item is judged twice: once with the
first system's answer as A, once with it as B. A judge answer is parsed strictly
(``parse_choice``): its first or last non-empty line must be exactly ``A``, ``B`` or
``tie`` (the two not naming different verdicts); anything else is *unparsed*, counted and
shown, never guessed. The two orders are combined by MT-Bench's rule (``combine``): a system
wins only when it wins in both orders; a verdict that flips with the order is a tie. An item with an unparsed answer in either order has no verdict.
"""

from __future__ import annotations

import math
import re
import warnings
from collections import Counter, defaultdict
from pathlib import Path

from evaluation import stats
from evaluation.session_stats import orient

PLACEHOLDERS = ("{question}", "{answer_a}", "{answer_b}")
CHOICES = ("A", "B", "tie")
DEFAULT_PROMPT = Path(__file__).resolve().parents[1] / "configs" / "judge_prompt.txt"
_CHOICE_LINE = re.compile(r"^\s*(a|b|tie)\s*\.?\s*$", re.IGNORECASE)


class JudgeError(ValueError):
    """A judge that cannot run on this input: a prompt without its placeholders, a session
    without items, an endpoint that does not answer, a model folder that does not load."""


def load_prompt(path: Path | str | None = None) -> str:
    """The judge prompt template (``DEFAULT_PROMPT`` when ``path`` is None).

    Raises JudgeError naming the file when it cannot be read or lacks one of
    ``PLACEHOLDERS`` ({question}, {answer_a}, {answer_b}).
    """
    path = Path(path) if path is not None else DEFAULT_PROMPT
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise JudgeError(f"judge prompt {path}: cannot be read ({type(exc).__name__})") from None
    missing = [p for p in PLACEHOLDERS if p not in text]
    if missing:
        raise JudgeError(f"judge prompt {path}: missing placeholder(s) {', '.join(missing)}; "
                         f"the prompt needs {', '.join(PLACEHOLDERS)}")
    return text


def question_text(messages: list[dict]) -> str:
    """The request an item answers, as text: the last user message alone, or every turn as
    ``role: content`` lines when the prompt has several turns (system messages included)."""
    if len(messages) == 1:
        return messages[0]["content"]
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in messages)


def render(template: str, question: str, answer_a: str, answer_b: str) -> str:
    """The template with its placeholders replaced (plain replacement: braces elsewhere in
    the template or the texts stay as they are)."""
    return (template.replace("{question}", question).replace("{answer_a}", answer_a)
            .replace("{answer_b}", answer_b))


def judge_requests(items: list[dict], template: str) -> list[dict]:
    """Two requests per item, first system as A then as B: ``{"item_no", "example_id",
    "a_system", "b_system", "prompt"}``, in item order. Raises JudgeError without items."""
    if not items:
        raise JudgeError("the session has no item to judge (every pair was tied "
                         "automatically, or the session is empty)")
    out = []
    for item in items:
        first = (item["first_system"], item["first_output"])
        second = (item["second_system"], item["second_output"])
        for (a_system, a_text), (b_system, b_text) in ((first, second), (second, first)):
            out.append({"item_no": item["item_no"], "example_id": item["example_id"],
                        "a_system": a_system, "b_system": b_system,
                        "prompt": render(template, item["question"], a_text, b_text)})
    return out


def parse_choice(answer: str | None) -> str | None:
    r""""A", "B" or "tie" when the answer's first or last non-empty line is exactly that word
    (any case, an ending period allowed): a verdict given first and then explained, or
    reasoned and then given. None for anything else, and when the first and last lines name
    different verdicts.

    >>> parse_choice("A"), parse_choice("Tie."), parse_choice("B\n\nBecause it is"), parse_choice(
    ...     "A is better"), parse_choice("A\nB")
    ('A', 'tie', 'B', None, None)
    """
    lines = [line for line in (answer or "").splitlines() if line.strip()]
    found = {match.group(1).lower() for line in lines[:1] + lines[-1:]
             if (match := _CHOICE_LINE.match(line))}
    if len(found) != 1:
        return None
    word = found.pop()
    return "tie" if word == "tie" else word.upper()


def label_of(choice: str | None, a_system: str, b_system: str) -> str | None:
    """The de-randomized label of a parsed choice: the system shown as A or B, "tie", or
    None for an unparsed answer."""
    return {"A": a_system, "B": b_system, "tie": "tie"}.get(choice)


def combine(label_1: str | None, label_2: str | None) -> str | None:
    """MT-Bench's order-swap rule on the two orders' de-randomized labels: the same label
    both times is the verdict; labels that differ (a flip, or a win against a tie) make a
    tie; None when either answer was unparsed.
    Source: Zheng et al. (2023), "Judging LLM-as-a-Judge with MT-Bench and Chatbot Arena"
    §3.4 (conservative position-bias handling).

    >>> combine("tuned", "tuned"), combine("tuned", "base"), combine("tie", None)
    ('tuned', 'tie', None)
    """
    if label_1 is None or label_2 is None:
        return None
    return label_1 if label_1 == label_2 else "tie"


def item_verdicts(answered: list[dict]) -> list[dict]:
    """One verdict per item from its two answered requests.

    ``answered``: rows {"item_no", "example_id", "a_system", "b_system", "choice"} (choice
    as parsed: "A", "B", "tie" or None), two per item, the first system as A first.
    Returns rows {"item_no", "example_id", "first_system", "second_system", "labels" (the
    two orders' labels), "choices" (as shown), "verdict" (``combine``; None = unparsed),
    "consistent" (both parsed and equal; None when unparsed)}, by item_no.
    Raises JudgeError for an item without exactly two answers.
    """
    by_item: dict[int, list[dict]] = defaultdict(list)
    for row in answered:
        by_item[row["item_no"]].append(row)
    out = []
    for item_no in sorted(by_item):
        rows = by_item[item_no]
        if len(rows) != 2:
            raise JudgeError(f"item {item_no} has {len(rows)} judge answers; expected 2 "
                             "(one per order)")
        labels = [label_of(r["choice"], r["a_system"], r["b_system"]) for r in rows]
        verdict = combine(*labels)
        out.append({"item_no": item_no, "example_id": rows[0]["example_id"],
                    "first_system": rows[0]["a_system"], "second_system": rows[0]["b_system"],
                    "labels": labels, "choices": [r["choice"] for r in rows],
                    "verdict": verdict,
                    "consistent": None if verdict is None else labels[0] == labels[1]})
    return out


def position_consistency(verdicts: list[dict]) -> dict:
    """How far the judge's verdicts survive the order swap.

    Returns {"items" (both orders parsed), "consistent" (same label both orders), "rate"
    (consistent / items, None without items), "left" / "right" (decisive answers that chose
    the answer shown as A / as B), "left_rate" (``stats.position_bias_rate``), "sign_test_p"
    (left vs right)}. Source: Zheng et al. (2023) §3.3 (position bias, consistency).
    """
    parsed = [v for v in verdicts if v["verdict"] is not None]
    shown = [c for v in verdicts for c in v["choices"] if c is not None]
    left, right = shown.count("A"), shown.count("B")
    consistent = sum(v["consistent"] for v in parsed)
    return {"items": len(parsed), "consistent": consistent,
            "rate": consistent / len(parsed) if parsed else None, "left": left,
            "right": right, "left_rate": stats.position_bias_rate(shown),
            "sign_test_p": stats.sign_test(left, right)}


def unparsed(answered: list[dict]) -> dict:
    """{"answers": unparsed answers, "items": items without a verdict, "examples": up to
    five unparsed answers as given (cut to 200 characters), "message": one line saying so,
    or None when every answer parsed}."""
    bad = [row for row in answered if row["choice"] is None]
    items = len({row["item_no"] for row in bad})
    examples = [(row.get("answer") or "")[:200] for row in bad[:5]]
    message = None if not bad else (
        f"{len(bad)} of {len(answered)} judge answers name neither A, B nor tie, so "
        f"{items} items have no verdict (not counted, not guessed); first: "
        + "; ".join(repr(e[:60]) for e in examples[:3]))
    return {"answers": len(bad), "items": items, "examples": examples, "message": message}


def length_controlled(scores: list[float], length_diffs: list[float]) -> dict:
    """Raw and length-controlled win rate of one system against another.

    Shapes: per judged item, ``scores[i]`` = the system's share of the point (1 win, 0.5
    tie, 0 loss) and ``length_diffs[i]`` = len(system's answer) − len(other's) in characters.
    The model is AlpacaEval 2's GLM reduced to one pair of systems: logit P(win) = θ + φ ·
    tanh(Δ / sd(Δ)), fitted by statsmodels' binomial GLM (ties as half-points); the
    length-controlled win rate is the prediction at Δ = 0, expit(θ). AlpacaEval's
    instruction-difficulty term needs other models' answers and is left out.
    Returns {"n", "win_rate", "lc_win_rate", "length_coef" (φ), "note"}: lc_win_rate equals
    win_rate when every Δ is the same (no length to control for); lc_win_rate and
    length_coef are None, with the reason in "note", when there is no item, every score is
    the same (all wins or all losses) or the length separates wins from losses perfectly.
    Raises ValueError for lists of different lengths or a score outside [0, 1].
    Source: Dubois et al. (2024), "Length-Controlled AlpacaEval" §3; ``statsmodels.api.GLM``.
    """
    import numpy as np
    import statsmodels.api as sm

    if len(scores) != len(length_diffs):
        raise ValueError(f"{len(scores)} scores but {len(length_diffs)} length differences")
    y, diff = np.asarray(scores, dtype=float), np.asarray(length_diffs, dtype=float)
    if ((y < 0) | (y > 1)).any():
        raise ValueError("scores must lie in [0, 1] (1 win, 0.5 tie, 0 loss)")
    out = {"n": len(y), "win_rate": float(y.mean()) if len(y) else None,
           "lc_win_rate": None, "length_coef": None, "note": None}
    if not len(y) or y.min() == y.max():
        return {**out, "note": "no item" if not len(y) else
                "every item has the same outcome: no length effect can be estimated"}
    spread = diff.std()
    if spread == 0:
        return {**out, "lc_win_rate": out["win_rate"], "length_coef": 0.0,
                "note": "no length difference varies across items: nothing to control for"}
    design = np.column_stack([np.ones_like(diff), np.tanh(diff / spread)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            fit = sm.GLM(y, design, family=sm.families.Binomial()).fit()
        except Exception as exc:  # statsmodels' perfect-separation warning or error
            return {**out, "note": f"the length fit failed: {type(exc).__name__} (wins and "
                                   "losses separated by length)"}
    theta, phi = (float(v) for v in fit.params)
    if not (math.isfinite(theta) and math.isfinite(phi)) or abs(phi) > 30:
        return {**out, "note": "wins and losses are separated by length: the length "
                               "coefficient has no finite estimate"}
    return {**out, "lc_win_rate": float(1 / (1 + math.exp(-theta))), "length_coef": phi}


def win_rates(verdicts: list[dict], lengths: dict[tuple[int, str], int]) -> list[dict]:
    """The judge's win rate per pair of systems, raw and length-controlled.

    ``verdicts``: ``item_verdicts`` rows (unparsed items left out); ``lengths[(item_no,
    system)]`` = answer length in characters. Pairs oriented as the session statistics
    (``evaluation.session_stats.orient``: the non-base system over base). Returns rows
    {"system", "other", **``stats.win_rate_interval`` (Wilson 95%), "lc_win_rate",
    "length_coef", "lc_note"}.
    """
    by_pair: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for v in verdicts:
        if v["verdict"] is not None:
            by_pair[orient(v["first_system"], v["second_system"])].append(v)
    table = []
    for (system, other), rows in sorted(by_pair.items()):
        counts = Counter("wins" if r["verdict"] == system else "losses"
                         if r["verdict"] == other else "ties" for r in rows)
        raw = stats.win_rate_interval(counts["wins"], counts["losses"], counts["ties"])
        scores = [1.0 if r["verdict"] == system else 0.0 if r["verdict"] == other else 0.5
                  for r in rows]
        diffs = [lengths[(r["item_no"], system)] - lengths[(r["item_no"], other)]
                 for r in rows]
        lc = length_controlled(scores, diffs)
        table.append({"system": system, "other": other, **raw,
                      "lc_win_rate": lc["lc_win_rate"], "length_coef": lc["length_coef"],
                      "lc_note": lc["note"]})
    return table


def length_bias(labels: dict[int, str], lengths: dict[tuple[int, str], int],
                systems: dict[int, tuple[str, str]], alpha: float = 0.05) -> dict:
    """How often the longer answer wins among decisive verdicts (items whose two answers
    have equal length left out), with a two-sided sign test against ½.

    ``labels[item_no]``: a verdict (system name, "tie", "both_bad"); ``systems[item_no]``:
    the item's two systems. Returns {"decisive", "longer_wins", "shorter_wins",
    "longer_share" (None without decisive items), "sign_test_p", "detected" (p < alpha)}.
    Source: Dubois et al. (2024) on judges' length preference; ``stats.sign_test``.
    """
    longer = shorter = 0
    for item_no, label in labels.items():
        first, second = systems[item_no]
        if label not in (first, second):
            continue
        other = second if label == first else first
        gap = lengths[(item_no, label)] - lengths[(item_no, other)]
        longer, shorter = longer + (gap > 0), shorter + (gap < 0)
    p = stats.sign_test(longer, shorter)
    return {"decisive": longer + shorter, "longer_wins": longer, "shorter_wins": shorter,
            "longer_share": longer / (longer + shorter) if longer + shorter else None,
            "sign_test_p": p, "detected": p < alpha}
