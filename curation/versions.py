"""Versions: content-hash ids and the diff between two versions (pure; the store keeps them).

A version row is ``{"origin": str, "messages": [...], "meta": {...}, "split": str | None}``;
``origin`` names where the row came from (``"<dataset>:<example>"``) and is how two versions'
rows are matched. The id hashes the content only (messages, meta, split, in order), so the
same curated set always gets the same id and any change gets a new one.
"""

from __future__ import annotations

import hashlib
import json

ID_HEX = 16  # 64 bits of SHA-256: collisions need ~4e9 versions


def canonical(value) -> str:
    """JSON with sorted keys and no spaces: equal content, equal text."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def version_id(rows: list[dict]) -> str:
    """SHA-256 (first 16 hex) of the rows' messages, meta and split, in order.

    >>> version_id([]) == version_id([])
    True
    """
    digest = hashlib.sha256()
    for row in rows:
        digest.update(canonical([row["messages"], row.get("meta") or {},
                                 row.get("split")]).encode())
        digest.update(b"\n")
    return digest.hexdigest()[:ID_HEX]


def _changed_fields(old: dict, new: dict) -> list[str]:
    return [key for key in ("messages", "meta", "split")
            if canonical(old.get(key)) != canonical(new.get(key))]


def diff(old: list[dict], new: list[dict], reasons: dict[str, str] | None = None) -> dict:
    """Rows added, removed and changed from ``old`` to ``new``, matched by ``origin``.

    ``reasons`` maps an origin to why it changed or left (a decision, a finding code, a
    duplicate cluster); rows without one get ``"unrecorded"``. Returns ``{added: [{origin,
    reason}], removed: [...], changed: [{origin, fields, reason}], unchanged: n}`` in the
    order of ``new`` (added, changed) and ``old`` (removed).
    """
    reasons = reasons or {}
    before = {r["origin"]: r for r in old}
    after = {r["origin"]: r for r in new}
    why = lambda origin: reasons.get(origin, "unrecorded")  # noqa: E731
    added = [{"origin": o, "reason": why(o)} for o in after if o not in before]
    removed = [{"origin": o, "reason": why(o)} for o in before if o not in after]
    changed, unchanged = [], 0
    for origin, row in after.items():
        if origin in before:
            fields = _changed_fields(before[origin], row)
            if fields:
                changed.append({"origin": origin, "fields": fields, "reason": why(origin)})
            else:
                unchanged += 1
    return {"added": added, "removed": removed, "changed": changed, "unchanged": unchanged}
