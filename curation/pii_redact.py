"""Redaction with presidio-anonymizer operators chosen per entity type, then a re-scan check.

Run as: ``from curation.pii_redact import RedactionPolicy, redact_text``

Operators (``RedactionPolicy.operators``, default ``replace`` for every type):
- ``replace``: ``<ENTITY_TYPE>`` (presidio-anonymizer Replace).
- ``mask``: every character but the last 4 becomes ``*`` (Mask).
- ``hash``: ``<ENTITY_TYPE_1a2b3c4d5e6f>``, the first 12 hex of presidio-anonymizer's Hash
  (SHA-256) with the dataset's salt: the same value gives the same token across the dataset.
  Presidio's Hash draws a random salt per entity when none is given (so "consistent" needs
  the salt); the salt is a secret of the workspace, never logged.
- ``redact``: the value is removed (Redact).
- ``fake``: a realistic Faker value of the same kind, seeded from the salted hash of the
  original, so the same original always gets the same fake.

Spans are replaced right to left by offset, one by one: unlike ``AnonymizerEngine`` with its
default ``merge_entities_with_spaces``, two adjacent spans of one type stay two replacements
and none is dropped. ``check_redacted`` then fails loudly when an original value survived.

A value is redacted wherever it occurs in its example (``redact_example``): the scanner may
find "Randy" in two of his three mentions, and the third would otherwise stay in clear text
next to two replacements. Every operator maps one value to one replacement (``hash`` and
``fake`` are seeded by the value), so the mentions stay consistent.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass, field

from presidio_anonymizer.operators import Hash, Mask, Redact, Replace

from curation.pii import Span, resolve_overlaps
from curation.pii_operators import OPERATORS
from common.errors import WorkbenchError

# Faker provider method per entity type for the "fake" operator (others fall back to replace).
FAKER_METHOD = {
    "PERSON": "name", "EMAIL_ADDRESS": "email", "PHONE_NUMBER": "phone_number",
    "STREET_ADDRESS": "street_address", "LOCATION": "city", "CREDIT_CARD": "credit_card_number",
    "IBAN_CODE": "iban", "IP_ADDRESS": "ipv4", "URL": "url", "US_SSN": "ssn",
    "DATE_TIME": "date", "ORGANIZATION": "company", "US_DRIVER_LICENSE": "bothify",
}
# Values shorter than this are not looked for elsewhere nor counted as a leak: too common
# ("Al", "5") to mean the same thing in another place.
MIN_VALUE_CHARS = 3


class RedactionError(WorkbenchError):
    """Redaction left an accepted finding in the output (counts and types only, no values)."""


@dataclass(frozen=True)
class RedactionPolicy:
    """Which operator replaces which entity type."""

    operators: tuple[tuple[str, str], ...] = field(
        default=(),
        metadata={"help": "(entity type, operator) pairs; operator one of replace, mask, "
                  "hash, redact, fake. Types not listed use `default`."})
    default: str = field(default="replace", metadata={"help": "Operator for other types."})

    def __post_init__(self) -> None:
        bad = sorted({op for _, op in self.operators} | {self.default} - set(OPERATORS))
        bad = [op for op in bad if op not in OPERATORS]
        if bad:
            raise WorkbenchError(f"Unknown redaction operator(s): {', '.join(bad)}; "
                                 f"use {', '.join(OPERATORS)}")

    def operator_for(self, entity_type: str) -> str:
        return dict(self.operators).get(entity_type, self.default)


def _digest(value: str, entity_type: str, salt: str) -> str:
    return Hash().operate(f"{entity_type}\x1f{value}", {"hash_type": "sha256", "salt": salt})


def _fake(value: str, entity_type: str, salt: str) -> str | None:
    from faker import Faker

    method = FAKER_METHOD.get(entity_type)
    if method is None:
        return None
    faker = Faker("en_US")
    faker.seed_instance(int(_digest(value, entity_type, salt)[:16], 16))
    if method == "bothify":
        return faker.bothify("?#######").upper()
    return str(getattr(faker, method)())


def replacement(value: str, entity_type: str, operator: str, salt: str) -> str:
    """The text that replaces ``value`` (a span of ``entity_type``) under ``operator``.

    >>> replacement("Ann Bo", "PERSON", "replace", "x" * 16)
    '<PERSON>'
    """
    if operator == "mask":
        return Mask().operate(value, {"masking_char": "*",
                                      "chars_to_mask": max(len(value) - 4, 1),
                                      "from_end": False})
    if operator == "hash":
        return f"<{entity_type}_{_digest(value, entity_type, salt)[:12]}>"
    if operator == "redact":
        return Redact().operate(value, {})
    if operator == "fake":
        fake = _fake(value, entity_type, salt)
        if fake is not None:
            return fake
    return Replace().operate(value, {"new_value": f"<{entity_type}>"})


def redact_text(text: str, spans: list[Span], policy: RedactionPolicy, salt: str) -> str:
    """``text`` with every span replaced by its entity type's operator (see module doc).

    Overlaps are resolved first; zero-length spans (UNSUPPORTED_LANGUAGE) are ignored.
    Raises ValueError when a span does not fit in ``text``.
    """
    spans = [s for s in spans if s.end > s.start]
    if any(not 0 <= s.start < s.end <= len(text) for s in spans):
        raise ValueError(f"span(s) outside a text of {len(text)} characters")
    out = text
    for span in sorted(resolve_overlaps(spans), key=lambda s: -s.start):
        value = text[span.start:span.end]
        new = replacement(value, span.entity_type, policy.operator_for(span.entity_type), salt)
        out = out[:span.start] + new + out[span.end:]
    return out


@functools.lru_cache(maxsize=4096)
def whole_word(value: str) -> re.Pattern:
    """A pattern matching ``value`` as a whole word: no letter, digit or underscore touches
    either end, so "Randy" matches in "Randy's" and not in "Randyland" (case-sensitive:
    "May" the name is not "may" the verb).

    >>> [m.span() for m in whole_word("Randy").finditer("Randy's dog met Randyland's Randy.")]
    [(0, 5), (28, 33)]
    """
    return re.compile(rf"(?<!\w){re.escape(value)}(?!\w)")


def example_spans(texts: list[str], spans: list[list[Span]]) -> list[list[Span]]:
    """Each message's spans plus every other whole-word mention of a value found anywhere in
    the example (all its messages).

    ``texts[i]`` is message i's content and ``spans[i]`` its findings. A mention is added with
    the entity type and score of the value's best-scored finding; longer values are placed
    first and a mention overlapping a span already there is left out (so "Ann Lee" found as
    one span stays one span). Values shorter than ``MIN_VALUE_CHARS`` are not looked for.
    Returns one span list per message, sorted by start.

    >>> text = "Randy has 3. Randy gives 1 to Sam."
    >>> [(s.start, s.end) for s in example_spans([text], [[Span("PERSON", 0, 5, 0.85)]])[0]]
    [(0, 5), (13, 18)]
    """
    best: dict[str, Span] = {}
    for text, found in zip(texts, spans, strict=True):
        for span in found:
            value = text[span.start:span.end].strip()
            if len(value) >= MIN_VALUE_CHARS and (
                    value not in best or span.score > best[value].score):
                best[value] = span
    values = sorted(best, key=lambda v: (-len(v), v))
    out = []
    for text, found in zip(texts, spans, strict=True):
        taken = [s for s in found if s.end > s.start]
        for value in values:
            for match in whole_word(value).finditer(text):
                if all(match.end() <= s.start or match.start() >= s.end for s in taken):
                    taken.append(Span(best[value].entity_type, match.start(), match.end(),
                                      best[value].score))
        out.append(sorted(taken, key=lambda s: (s.start, s.end)))
    return out


def redact_example(texts: list[str], spans: list[list[Span]], policy: RedactionPolicy,
                   salt: str) -> tuple[list[str], list[list[Span]]]:
    """Redact every message of one example, each found value wherever it occurs as a whole
    word (``example_spans``). Returns (redacted texts, the spans replaced per message), the
    second for ``check_redacted``.

    >>> redact_example(["Randy has 3. Randy gives 1."], [[Span("PERSON", 0, 5, 0.85)]],
    ...                RedactionPolicy(), "x" * 16)[0]
    ['<PERSON> has 3. <PERSON> gives 1.']
    """
    full = example_spans(texts, spans)
    return [redact_text(text, found, policy, salt)
            for text, found in zip(texts, full, strict=True)], full


def surviving_values(original: str, redacted: str, spans: list[Span]) -> list[str]:
    """Entity types of the spans of ``original`` whose value still occurs in ``redacted`` as a
    whole word (``whole_word``, the rule ``redact_example`` redacts by).

    Values shorter than ``MIN_VALUE_CHARS`` are skipped (too common to mean a leak).
    """
    left = []
    for span in spans:
        value = original[span.start:span.end].strip()
        if len(value) >= MIN_VALUE_CHARS and whole_word(value).search(redacted):
            left.append(span.entity_type)
    return left


def check_redacted(originals: list[str], redacted: list[str], spans: list[list[Span]],
                   rescanned: list[list[Span]]) -> dict:
    """Fail loudly unless every redacted value is gone from the output.

    ``rescanned`` is ``curation.pii.scan(redacted)``: a finding of the re-scan whose text is
    one of the original values means a span survived (presidio-anonymizer has dropped
    adjacent same-type spans before). Returns {"rescan_findings": n} (findings of the
    re-scan, e.g. fake values, which are expected). Raises RedactionError with counts per
    type, never the values.
    """
    leaked: dict[str, int] = {}
    for original, out, found, again in zip(originals, redacted, spans, rescanned, strict=True):
        values = {original[s.start:s.end] for s in found if s.end > s.start}
        types = surviving_values(original, out, found)
        types += [s.entity_type for s in again if out[s.start:s.end] in values]
        for entity_type in types:
            leaked[entity_type] = leaked.get(entity_type, 0) + 1
    if leaked:
        detail = ", ".join(f"{n} {t}" for t, n in sorted(leaked.items()))
        raise RedactionError(f"redaction check failed: accepted findings still in the "
                             f"output ({detail}); nothing was stored")
    return {"rescan_findings": sum(len(a) for a in rescanned)}


def salt_digest(salt: str) -> str:
    """A short fingerprint of the salt (for the report), not the salt."""
    return hashlib.sha256(salt.encode()).hexdigest()[:8]
