"""The grouped split: its settings and its rule. Rows are hashed and counted in DuckDB
(workbench.store.splits.assign_splits and split_select); the decisions are made here.

Whole duplicate groups are ordered inside each stratum by a seeded universal hash of the
group root's content key (the upper bits of md5(messages) in a workspace), so the result
depends on the content and the seed only, never on the order of the rows. The functions here
are pure: ``draw_params`` gives the seed's hash functions, ``stratum_quotas`` the rows each
stratum gives to test and to held-out (test + validation), ``bucket_cuts`` where those quotas
fall in each stratum's histogram of draws. The rows themselves stay in DuckDB (a split of
millions of rows never comes into Python): only one histogram of at most 4096 buckets per
stratum does.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

P31 = 2**31 - 1  # Mersenne prime: the hash's modulus; products stay below 2^63
BUCKET_SHIFT = 19  # draws are 31-bit: draw >> 19 gives 4096 buckets of equal width
NO_BUCKET = 1 << 40  # a bucket number above every real one (no cut inside the stratum)


@dataclass
class SplitConfig:
    """Train/validation/test split settings."""

    seed: int = field(default=0, metadata={"help": "Seed of the group draw."})
    validation: float = field(default=0.1, metadata={"help": "Fraction of rows for validation."})
    test: float = field(default=0.1, metadata={"help": "Fraction of rows for test."})
    stratify_by: str | None = field(default=None, metadata={
        "help": "Meta column (e.g. Dolly's 'category') whose values each get their share of "
                "every split; rows without it form one stratum."})
    include_duplicates: bool = field(default=False, metadata={
        "help": "Keep duplicates (in their representative's split) instead of dropping them."})

    def __post_init__(self):
        errors = [f"{name} must be in [0, 1), not {value}" for name, value in
                  (("validation", self.validation), ("test", self.test))
                  if not 0 <= value < 1]
        if self.validation + self.test >= 1:
            errors.append(f"validation + test must be < 1, not {self.validation + self.test}")
        if errors:
            raise ValueError("; ".join(errors))

    @property
    def ratios(self) -> tuple[float, float, float]:
        return (1 - self.validation - self.test, self.validation, self.test)


def draw_params(seed: int) -> dict[str, int]:
    """The seed's two hash functions: {a1, b1, c1, a2, b2, c2}, each in [1, 2^31 − 1).

    A group's draws are (a·lo + b·hi + c) mod 2^31−1 over its key's two 31-bit halves
    (Carter & Wegman 1979, universal hashing); the six values come from SHA-256 of
    ``"split:{seed}"``.
    """
    digest = hashlib.sha256(f"split:{seed}".encode()).digest()
    values = [int.from_bytes(digest[4 * i:4 * i + 4], "big") % (P31 - 1) + 1 for i in range(6)]
    return dict(zip(("a1", "b1", "c1", "a2", "b2", "c2"), values, strict=True))


def round_half_away(x: float) -> int:
    """``x`` rounded to an integer, halves away from zero (C's ``round``, DuckDB's ``round``;
    Python's ``round`` rounds halves to even). ``x - floor(x)`` is exact for a double."""
    whole = math.floor(abs(x))
    rounded = whole + (abs(x) - whole >= 0.5)
    return rounded if x >= 0 else -rounded


def stratum_quotas(sizes: dict[str, int], validation: float,
                   test: float) -> dict[str, tuple[int, int]]:
    """{stratum: (test rows, test + validation rows)} by cascade rounding across strata.

    ``sizes``: {stratum: eligible rows}; strata are taken in sorted order (code point order,
    the byte order DuckDB sorts VARCHARs in) and each stratum's quota is the rounded
    cumulative share minus the rounded share before it, so the totals are round(n·test) and
    round(n·test) + round(n·validation) and each stratum is within one row of its share.
    """
    out, before = {}, 0
    for stratum in sorted(sizes):
        upto = before + sizes[stratum]
        q_test = round_half_away(upto * test) - round_half_away(before * test)
        q_val = round_half_away(upto * validation) - round_half_away(before * validation)
        out[stratum] = (q_test, q_test + q_val)
        before = upto
    return out


@dataclass(frozen=True)
class Cut:
    """Where a stratum's quotas fall among its draw buckets.

    Buckets below ``test_bucket`` go to test, those from there below ``held_bucket`` to
    validation, the rest to train; inside the two cut buckets rows are ranked by draw, and
    ``before_test`` / ``before_held`` are the stratum's rows in the buckets below each.
    ``NO_BUCKET`` (with 0 rows before) means the quota covers the whole stratum.
    """

    stratum: str
    q_test: int
    q_held: int
    test_bucket: int
    before_test: int
    held_bucket: int
    before_held: int


def bucket_cuts(histogram: dict[str, list[tuple[int, int]]], validation: float,
                test: float) -> list[Cut]:
    """One ``Cut`` per stratum (sorted) from its histogram ``[(bucket, rows)]`` of draws.

    A quota's bucket is the first whose cumulative row count passes the quota; a group that
    would cross a quota goes whole to the next split (the ranking inside the cut bucket
    counts every row of a tie). An empty histogram gives no cut.
    """
    quotas = stratum_quotas({s: sum(k for _, k in h) for s, h in histogram.items()},
                            validation, test)
    cuts = []
    for stratum, (q_test, q_held) in quotas.items():
        found = {}
        through = 0
        for bucket, k in sorted(histogram[stratum]):
            for name, quota in (("test", q_test), ("held", q_held)):
                if name not in found and through + k > quota:
                    found[name] = (bucket, through)
            through += k
        test_cut = found.get("test", (NO_BUCKET, 0))
        held_cut = found.get("held", (NO_BUCKET, 0))
        cuts.append(Cut(stratum, q_test, q_held, *test_cut, *held_cut))
    return cuts
