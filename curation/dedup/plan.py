"""The dedup plan: three levels (exact → near → semantic) run as a cascade.

Near dedup sees only the exact level's representatives, semantic dedup only the near
level's. Each level's Clusters follow the leader rule and the representative policy of
``curation.dedup.primitives``.

Run as: ``from curation.dedup.plan import DedupPlan, dedup_levels;
dedup_levels(conversations, DedupPlan())``
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from curation.dedup.exact import ExactConfig, exact_text_clusters
from curation.dedup.near import NearDedupConfig, near_text_clusters
from curation.dedup.primitives import POLICIES, SCOPES, Cluster, policy_order, scope_text
from curation.dedup.semantic import DedupConfig, semantic_text_clusters
from curation.embed import BACKENDS


@dataclass
class DedupPlan:
    """The three levels and the representative policy (what ``workbench dedup`` runs)."""

    exact: ExactConfig = field(default_factory=ExactConfig)
    near: NearDedupConfig = field(default_factory=NearDedupConfig)
    semantic: DedupConfig = field(default_factory=DedupConfig)
    policy: str = field(default="longest", metadata={
        "help": "Which row represents (and is kept for) a cluster: 'longest' (most "
                "characters), 'first' (input order; changes when rows are shuffled) or "
                "'fewest_findings' (fewest validation findings, then longest)."})

    def __post_init__(self):
        self.near = self.near or NearDedupConfig()
        self.check()

    def check(self) -> None:
        """Raise ValueError naming every bad field at once."""
        errors = [f"policy must be one of {POLICIES}, not {self.policy!r}"] \
            if self.policy not in POLICIES else []
        errors += [f"{name}.scope must be one of {SCOPES}, not {level.scope!r}"
                   for name, level in (("exact", self.exact), ("near", self.near),
                                       ("semantic", self.semantic))
                   if level.scope not in SCOPES]
        if self.semantic.backend not in BACKENDS:
            errors.append(f"semantic.backend must be one of {BACKENDS}, "
                          f"not {self.semantic.backend!r}")
        if not 0 < self.semantic.threshold <= 1:
            errors.append(f"semantic.threshold must be in (0, 1], not {self.semantic.threshold}")
        if errors:
            raise ValueError("; ".join(errors))


def _level(texts: list[str], rows: list[int], cluster: Callable[[list[str]], list[Cluster]]):
    """Cluster ``texts`` of ``rows`` (in visit order); Clusters in original row indices."""
    return [Cluster(rows[c.index], rows[c.representative], c.similarity)
            for c in cluster([texts[r] for r in rows])]


def dedup_levels(conversations: list[list[dict]], plan: DedupPlan,
                 findings: list[int] | None = None,
                 encode: Callable | None = None) -> dict[str, list[Cluster]]:
    """Run the enabled levels as a cascade; {level: Clusters of the rows that level saw}.

    ``conversations``: n message lists; ``findings``: per-row finding counts (policy
    ``fewest_findings``); ``encode``: texts → (m, d) L2-normalized float32 (default
    curation.embed.encode with ``plan.semantic``). Indices are input row indices; each
    level's Clusters are in the policy's visit order. Raises ValueError for a bad plan.
    """
    plan.check()
    alive = policy_order(conversations, plan.policy, findings)
    out: dict[str, list[Cluster]] = {}
    steps = {
        "exact": (plan.exact.enabled, plan.exact.scope, exact_text_clusters),
        "near": (plan.near.enabled, plan.near.scope,
                 lambda t: near_text_clusters(t, plan.near)),
        "semantic": (plan.semantic.semantic, plan.semantic.scope,
                     lambda t: semantic_text_clusters(t, plan.semantic, encode)),
    }
    for level, (enabled, scope, cluster) in steps.items():
        if not enabled or not alive:
            continue
        texts = {r: scope_text(conversations[r], scope) for r in alive}
        out[level] = _level(texts, alive, cluster)
        alive = [c.index for c in out[level] if c.index == c.representative]
    return out
