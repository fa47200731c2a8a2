"""Answer extraction: pull a comparable final answer (a number, a letter) out of free text.

Pluggable: ``EXTRACTORS`` maps a name to a pair of functions (prediction → answer,
reference → answer); the ``answer_accuracy`` metric module looks the name up here. Add an
extractor by writing two small functions and one registry line.

Run as: ``EXTRACTORS["gsm8k"].reference("... #### 1,234")`` → ``"1234"``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

# A signed number with optional thousands separators and decimals: "-1,234.50", "3", ".5"
NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?")
GSM8K_MARK = "####"  # GSM8K answers end with "#### <number>" (Cobbe et al., 2021)
# A reference in GSM8K style: its last line is "#### <number>" (optional sign, $, commas)
GSM8K_END = re.compile(r"####[ \t]*[-+]?\$?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?[ \t]*\Z")
CHOICE = re.compile(r"\b([A-E])\b")


def normalize_number(text: str) -> str | None:
    """Canonical form of a number string: no commas, no trailing zeros, no "+".

    >>> normalize_number("1,234.50"), normalize_number("-3.0"), normalize_number("x")
    ('1234.5', '-3', None)
    """
    try:
        value = Decimal(text.replace(",", "").replace("$", "").strip())
    except InvalidOperation:
        return None
    if value == value.to_integral_value():
        return str(value.quantize(Decimal(1)))
    return format(value.normalize(), "f")


def numbers(text: str) -> list[str]:
    """Every number in ``text``, normalized, in order of appearance."""
    found = (m.group(0) for m in NUMBER.finditer(text) if any(c.isdigit() for c in m.group(0)))
    return [n for n in (normalize_number(f) for f in found) if n is not None]


def last_number(text: str) -> str | None:
    """The last number in ``text`` (the usual final-answer heuristic for math word problems).

    >>> last_number("3 apples and 4 pears make 7 fruits.")
    '7'
    """
    found = numbers(text)
    return found[-1] if found else None


def gsm8k_answer(text: str) -> str | None:
    """The number after the last ``####`` when present, else the last number.

    >>> gsm8k_answer("2 + 3 = 5 apples\\n#### 5"), gsm8k_answer("So she pays $1,200.")
    ('5', '1200')
    """
    if GSM8K_MARK in text:
        return last_number(text.rsplit(GSM8K_MARK, 1)[1]) or last_number(text)
    return last_number(text)


def choice_letter(text: str) -> str | None:
    """The last stand-alone capital letter A–E (multiple-choice answers)."""
    found = CHOICE.findall(text)
    return found[-1] if found else None


@dataclass(frozen=True)
class Extractor:
    """How to read the final answer out of a prediction and out of a reference."""

    prediction: Callable[[str], str | None]
    reference: Callable[[str], str | None]
    help: str


EXTRACTORS: dict[str, Extractor] = {
    "gsm8k": Extractor(gsm8k_answer, gsm8k_answer,
                       "number after '####', else the last number (GSM8K)"),
    "last_number": Extractor(last_number, last_number, "last number in the text"),
    "choice": Extractor(choice_letter, choice_letter, "last stand-alone letter A-E"),
}


def get_extractor(name: str) -> Extractor:
    """The registered extractor; ValueError naming the known ones otherwise."""
    if name not in EXTRACTORS:
        raise ValueError(f"unknown answer extractor {name!r}; known: {', '.join(EXTRACTORS)}")
    return EXTRACTORS[name]


AUTO = "auto"  # ``score``'s default: pick the extractor from the references (``detect_extractor``)
NONE = "none"  # no answer extraction, even when the references look like GSM8K


def is_gsm8k_reference(text: str) -> bool:
    """True when ``text`` ends with ``#### <number>`` (trailing whitespace allowed).

    >>> is_gsm8k_reference("3 + 4 = 7\\n#### 7"), is_gsm8k_reference("It is 7.")
    (True, False)
    """
    match = GSM8K_END.search(text.rstrip())
    return match is not None and any(c.isdigit() for c in match.group(0))


def detect_extractor(references: list[str]) -> str | None:
    """The extractor the references call for: "gsm8k" when every non-blank reference ends with
    ``#### <number>`` (the GSM8K answer format, Cobbe et al. 2021), else None.

    All-or-nothing on purpose: a mixed set (some GSM8K rows, some prose) gets no answer
    accuracy rather than a rate over the rows that happen to parse. An empty list → None.

    >>> detect_extractor(["so 5\\n#### 5", "#### 1,200"]), detect_extractor(["#### 5", "five"])
    ('gsm8k', None)
    """
    filled = [r for r in references if r and r.strip()]
    if filled and all(is_gsm8k_reference(r) for r in filled):
        return "gsm8k"
    return None


def resolve_extractor(name: str | None, references: list[str]) -> tuple[str | None, str]:
    """(extractor name or None, how it was chosen) for ``score``.

    ``name``: "auto" (or None) → ``detect_extractor``; "none" → no extractor; any other name
    must be in ``EXTRACTORS`` (ValueError naming the known ones otherwise). The second value
    is a sentence for the report, e.g. "auto-detected: every reference ends with '#### <number>'".
    """
    if name in (None, AUTO):
        found = detect_extractor(references)
        if found:
            return found, "auto-detected: every reference ends with '#### <number>' (GSM8K)"
        return None, "none: the references are not all in the '#### <number>' format"
    if name == NONE:
        return None, "none (switched off)"
    get_extractor(name)
    return name, f"named: {name} ({EXTRACTORS[name].help})"
