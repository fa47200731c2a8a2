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
"""

from __future__ import annotations

import hashlib
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


def surviving_values(original: str, redacted: str, spans: list[Span]) -> list[str]:
    """Entity types of the spans of ``original`` whose value still occurs in ``redacted``.

    Values shorter than 3 characters are skipped (too common to mean a leak: "Al", "5").
    """
    left = []
    for span in spans:
        value = original[span.start:span.end].strip()
        if len(value) >= 3 and value in redacted:
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
