"""Split settings. The split itself runs in DuckDB (workbench.store.splits.assign_splits and
split_select): whole duplicate groups, ordered inside each stratum by a seeded universal hash
of md5(group root's messages), so the result depends on the content and the seed only, never
on the order of the rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
