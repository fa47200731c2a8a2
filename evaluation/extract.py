"""Answer extraction: pull a comparable final answer (a number, a letter) out of free text.

Pluggable: ``EXTRACTORS`` maps a name to a pair of functions (prediction → answer,
reference → answer); the ``answer_accuracy`` metric module looks the name up here. Add an
extractor by writing two small functions and one registry line.

Run as: ``EXTRACTORS["gsm8k"].reference("... #### 1,234")`` → ``"1234"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Callable

# A signed number with optional thousands separators and decimals: "-1,234.50", "3", ".5"
NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?")
GSM8K_MARK = "####"  # GSM8K answers end with "#### <number>" (Cobbe et al., 2021)
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
