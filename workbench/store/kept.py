"""Which examples are kept: the one definition the split, versions, the row browser and the
dedup summary share.

An example is *kept* when it has no error finding, is the representative of every duplicate
cluster it belongs to (``dup_clusters`` rows whose representative is another example make
it a duplicate), and its latest ``drop``/``restore`` decision is not a ``drop``. Each part
is an SQL predicate over an example's dataset and id expressions (``e.dataset_id``,
``e.id`` by default), so a query combines the parts it needs.
"""

from __future__ import annotations


def latest_drop_or_restore(dataset: str = "e.dataset_id", example: str = "e.id") -> str:
    """SQL: the example's latest ``drop`` or ``restore`` decision, NULL when it has none."""
    return f"""(SELECT arg_max(x.action, x.id) FROM decisions x
        WHERE x.dataset_id = {dataset} AND x.example_id = {example}
          AND x.action IN ('drop', 'restore'))"""


def not_dropped(dataset: str = "e.dataset_id", example: str = "e.id") -> str:
    """SQL predicate: no curator's ``drop`` is the example's latest drop/restore decision."""
    return f"coalesce({latest_drop_or_restore(dataset, example)}, '') <> 'drop'"


def no_error(dataset: str = "e.dataset_id", example: str = "e.id") -> str:
    """SQL predicate: the example has no finding of severity ``error``."""
    return f"""NOT EXISTS (SELECT 1 FROM findings f WHERE f.dataset_id = {dataset}
        AND f.example_id = {example} AND f.severity = 'error')"""


def not_duplicate(dataset: str = "e.dataset_id", example: str = "e.id") -> str:
    """SQL predicate: at no dedup level does the example have another representative."""
    return f"""NOT EXISTS (SELECT 1 FROM dup_clusters d WHERE d.dataset_id = {dataset}
        AND d.example_id = {example} AND d.representative_id <> d.example_id)"""


def kept(dataset: str = "e.dataset_id", example: str = "e.id",
         duplicates: bool = False) -> str:
    """SQL predicate: the example is kept (``duplicates=True``: duplicates count as kept)."""
    parts = [no_error(dataset, example), not_dropped(dataset, example)]
    if not duplicates:
        parts.insert(1, not_duplicate(dataset, example))
    return "\n        AND ".join(parts)
