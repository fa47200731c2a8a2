"""The JSONL files a job folder holds (inputs written by the owner, outputs by the job)."""

from __future__ import annotations

import json
from pathlib import Path


def read_jsonl(path: Path) -> list[dict]:
    """Rows of a JSONL file written by ``write_jsonl``.

    Split on "\n" only: str.splitlines() also breaks at U+2028, U+0085 and other characters
    that JSON strings may hold unescaped (GSM8K has them).
    """
    text = path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.split("\n") if line.strip()]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                   encoding="utf-8")
    tmp.replace(path)
