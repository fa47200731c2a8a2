"""Quality signals per example (table ``quality_signals``, migration m012_quality_signals):
written by the quality stage, read by the Quality page, ``workbench quality`` and selection.

The signals' definitions and sources are in ``curation.quality.SIGNALS``.
"""

from __future__ import annotations

import json

from curation.quality import FLAGS, SIGNALS, split_prompt_answer
from workbench.store.kept import kept
from workbench.store.workspace import Workspace

COLUMNS = (*SIGNALS, *FLAGS, "model_id", "unscored_reason", "unscored_detail")
PREVIEW_CHARS = 160


def save(ws: Workspace, dataset_id: int, rows: list[dict]) -> None:
    """Replace the dataset's signals with ``rows`` ({example_id, <COLUMNS>...}; missing
    columns are NULL)."""
    ws.replace_rows("quality_signals", dataset_id,
                    [{"example_id": r["example_id"], **{c: r.get(c) for c in COLUMNS}}
                     for r in rows])


def flag_codes(ws: Workspace, dataset_id: int) -> dict[int, set[str]]:
    """{example id: the flag codes (refusal, boilerplate, unsupported_language) among its
    validation findings}."""
    out: dict[int, set[str]] = {}
    for r in ws.query("SELECT DISTINCT example_id, code FROM findings WHERE dataset_id = ? "
                      "AND list_contains(?, code)", [dataset_id, list(FLAGS)]):
        out.setdefault(r["example_id"], set()).add(r["code"])
    return out


def scored_count(ws: Workspace, dataset_id: int) -> int:
    """Rows of the dataset with stored signals (0: the quality stage has not run)."""
    return ws.scalar("SELECT count(*) FROM quality_signals WHERE dataset_id = ?", [dataset_id])


def signal_rows(ws: Workspace, dataset_id: int) -> list[dict]:
    """Every row with stored signals: {example_id, split, kept, meta, prompt, answer, <COLUMNS>}
    in id order; ``prompt``/``answer`` are the first ``PREVIEW_CHARS`` characters of the last
    prompt turn and of the answer, as training reads them (redacted where redacted)."""
    cols = ", ".join(f"q.{c}" for c in COLUMNS)
    rows = ws.query(f"""SELECT e.id AS example_id, s.split, {kept()} AS kept, e.meta,
            coalesce(e.redacted_messages, e.messages) AS messages, {cols}
        FROM quality_signals q JOIN examples e ON e.dataset_id = q.dataset_id
            AND e.id = q.example_id
        LEFT JOIN splits s ON s.dataset_id = e.dataset_id AND s.example_id = e.id
        WHERE q.dataset_id = ? ORDER BY e.id""", [dataset_id])
    for row in rows:
        prompt, answer = split_prompt_answer(json.loads(row.pop("messages")))
        row["meta"] = json.loads(row["meta"])
        row["prompt"] = (prompt[-1]["content"] if prompt else "")[:PREVIEW_CHARS]
        row["answer"] = (answer or "")[:PREVIEW_CHARS]
    return rows


def unscored(ws: Workspace, dataset_id: int) -> list[dict]:
    """{unscored_reason, rows, detail (one example)} of the rows without a model score."""
    return ws.query("""SELECT unscored_reason, count(*) AS rows, min(unscored_detail) AS detail
        FROM quality_signals WHERE dataset_id = ? AND unscored_reason IS NOT NULL
        GROUP BY ALL ORDER BY rows DESC""", [dataset_id])
