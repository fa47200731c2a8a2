"""Mixing: several datasets into one by stated ratios or counts, the source kept in meta.

Rows are drawn without replacement, each source's rows ordered by SHA-256 of
``"<seed>:<origin>"``, so the draw depends on the seed and the rows, never on their order in
the input. Ratios become counts by the largest-remainder method (Hamilton's), so the counts
add up to the total exactly; without a total, the largest total that needs no source to give
more rows than it has.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from common.errors import InputError


@dataclass
class MixSource:
    """One input: ``rows`` ({origin, messages, meta}) and either a ``ratio`` or a ``count``."""

    name: str
    rows: list[dict]
    ratio: float | None = None
    count: int | None = None


def parse_spec(spec: str) -> tuple[str, str, float]:
    """``NAME:30%``, ``NAME:0.3`` (ratios) or ``NAME:500`` (a count) → (name, kind, value).

    >>> parse_spec("1:25%"), parse_spec("2:0.5"), parse_spec("3:40")
    (('1', 'ratio', 0.25), ('2', 'ratio', 0.5), ('3', 'count', 40.0))
    """
    name, sep, amount = spec.rpartition(":")
    try:
        if not sep or not name:
            raise ValueError
        if amount.endswith("%"):
            return name, "ratio", float(amount[:-1]) / 100
        value = float(amount)
    except ValueError:
        raise InputError(f"--source {spec!r}: expected DATASET:RATIO (0.3 or 30%) or "
                         "DATASET:COUNT") from None
    return (name, "ratio", value) if value < 1 or "." in amount else (name, "count", value)


def shares_to_counts(shares: list[float], total: int) -> list[int]:
    """Split ``total`` in proportion to ``shares`` (largest remainder).

    >>> shares_to_counts([1, 1, 1], 10)
    [4, 3, 3]
    """
    whole = sum(shares)
    exact = [total * s / whole for s in shares]
    counts = [math.floor(x) for x in exact]
    order = sorted(range(len(shares)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[:total - sum(counts)]:
        counts[i] += 1
    return counts


def _counts(sources: list[MixSource], total: int | None) -> list[int]:
    if all(s.count is not None for s in sources):
        return [int(s.count) for s in sources]
    if any(s.count is not None for s in sources) or any(s.ratio is None for s in sources):
        raise InputError("give every source a ratio or every source a count, not a mixture")
    if any(s.ratio <= 0 for s in sources):
        raise InputError("every ratio must be above 0")
    if total is None:
        whole = sum(s.ratio for s in sources)
        total = math.floor(min(len(s.rows) * whole / s.ratio for s in sources))
    return shares_to_counts([s.ratio for s in sources], total)


def _draw(rows: list[dict], n: int, seed: int) -> list[dict]:
    key = lambda r: hashlib.sha256(f"{seed}:{r['origin']}".encode()).hexdigest()  # noqa: E731
    return sorted(rows, key=key)[:n]


def mix(sources: list[MixSource], total: int | None = None, seed: int = 0) -> list[dict]:
    """Rows drawn from each source, with ``meta.source_dataset`` (the source's name) and
    ``meta.source_row`` (the row's origin). Raises InputError when a source has fewer rows
    than asked of it, or ratios and counts are mixed."""
    counts = _counts(sources, total)
    out = []
    for source, n in zip(sources, counts, strict=True):
        if n > len(source.rows):
            raise InputError(f"source {source.name} has {len(source.rows)} rows; {n} asked")
        for row in _draw(source.rows, n, seed):
            meta = {**row.get("meta", {}), "source_dataset": source.name,
                    "source_row": row["origin"]}
            out.append({"origin": row["origin"], "messages": row["messages"], "meta": meta})
    return out
