"""The privacy gate: may a dataset version train, given its open PII findings and overrides?

Run as: ``gate_decision({"unreviewed": 1, "accepted_not_redacted": 0, "by_entity":
{"PERSON": 1}, "threshold": 0.4}, override=None).passes``  → False

One rule for the ``privacy-gate`` command, the Privacy page and training: a version trains
when no finding at or above the threshold is open (unreviewed, or accepted as PII but not
redacted), or when an admin overrode that exact version. The counts come from the store
(``workbench.store.privacy.blocking``, ``override_for``).
"""

from __future__ import annotations

from dataclasses import dataclass

from common.errors import StageError

DEFAULT_GATE_THRESHOLD = 0.4  # the lowest reporting threshold (PHONE_NUMBER, curation.pii)


class PrivacyGateError(StageError):
    """Training refused: findings are not reviewed (or accepted ones not redacted)."""


@dataclass(frozen=True)
class GateDecision:
    """The gate's answer: ``state`` is ``open`` (nothing blocks), ``overridden`` (findings
    block but an admin let this version through) or ``blocked``; ``passes`` is True unless
    blocked; ``reasons`` name what blocks (empty when open); ``override`` is the override
    that opened the gate (None unless overridden); ``refusal`` is the message training
    stops with (empty unless blocked)."""

    passes: bool
    state: str
    reasons: tuple[str, ...]
    override: dict | None
    refusal: str


def gate_decision(blocking: dict, override: dict | None) -> GateDecision:
    """Decide the gate from the open findings and the version's override, if any.

    ``blocking``: {"unreviewed": n, "accepted_not_redacted": n, "by_entity": {type: n},
    "threshold": score} counted over the rows training would see; ``override``: the latest
    admin override of this version ({who, at, reason, ...}) or None.
    """
    unreviewed, accepted = blocking["unreviewed"], blocking["accepted_not_redacted"]
    threshold = blocking["threshold"]
    reasons = tuple(
        [f"{unreviewed} unreviewed PII finding(s) with score >= {threshold}"] * bool(unreviewed)
        + [f"{accepted} accepted PII finding(s) not redacted"] * bool(accepted))
    if not reasons:
        return GateDecision(True, "open", (), None, "")
    if override is not None:
        return GateDecision(True, "overridden", reasons, override, "")
    types = ", ".join(f"{t} {n}" for t, n in blocking["by_entity"].items())
    refusal = (f"privacy gate: {unreviewed} unreviewed PII finding(s) with score >= "
               f"{threshold} and {accepted} accepted but not redacted ({types}); review them "
               f"(`workbench privacy-findings`, `privacy-bulk`), redact, or have an admin "
               f"override (`workbench privacy-override`)")
    return GateDecision(False, "blocked", reasons, None, refusal)


def answer_gate(found: list[tuple[tuple[int, int], object]], accepted: bool,
                threshold: float = DEFAULT_GATE_THRESHOLD, file_prompts: bool = False) -> dict:
    """The gate over preference pairs' texts that no dataset review covers (model answers,
    and with ``file_prompts`` the prompts of pairs read from a file).

    ``found``: ((session_id, item_no), span) for every PII span found in a pair's text
    (``curation.pii.Span``: entity_type, score); spans scoring below ``threshold`` do not
    count. Returns {"findings", "by_entity", "pairs", "threshold", "accepted"} (counts and
    types, never the values). Raises PrivacyGateError when a finding counts and ``accepted``
    is False (the user has not said that these texts may be trained on); its message names
    the texts scanned: "answers", or "answers or prompts" with ``file_prompts``.
    """
    counted = [(owner, span) for owner, span in found if span.score >= threshold]
    by_entity: dict[str, int] = {}
    for _, span in counted:
        by_entity[span.entity_type] = by_entity.get(span.entity_type, 0) + 1
    owners = sorted({owner for owner, _ in counted})
    facts = {"findings": len(counted), "by_entity": dict(sorted(by_entity.items())),
             "pairs": len(owners), "threshold": threshold, "accepted": accepted}
    if counted and not accepted:
        where = ", ".join(f"session {s} item {i}" for s, i in owners[:5])
        more = f" and {len(owners) - 5} more" if len(owners) > 5 else ""
        types = ", ".join(f"{t} {n}" for t, n in facts["by_entity"].items())
        scanned, origin = (("answers or prompts", "model outputs and prompts read from a "
                            "file") if file_prompts else ("answers", "model outputs"))
        raise PrivacyGateError(
            f"privacy gate: {len(counted)} PII finding(s) with score >= {threshold} in the "
            f"{scanned} of {len(owners)} preference pair(s) ({types}; {where}{more}); these "
            f"texts are {origin}, which no dataset review covers: check them, and train "
            "with --accept-answer-pii to accept them")
    return facts
