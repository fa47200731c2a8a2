"""The small dataset the browser flow uploads: 40 JSONL rows with three planted problems.

Rows: 38 distinct conversations, one exact duplicate of row 1 (line 39), and one malformed line
(line 40, not JSON). Row 7's user message carries a planted e-mail address.
"""

from __future__ import annotations

import json

PII_EMAIL = "maria.lopez@example.org"
ROWS_IN = 40
MALFORMED_LINE = 40
DUPLICATE_LINE = 39  # an exact copy of line 1
TOPICS = ["tea", "bread", "maps", "rivers", "clocks", "bees", "glass", "kites", "salt", "ink",
          "wool", "moss", "tides", "bricks", "paper", "soap", "honey", "stars", "rope", "wind",
          "ice", "lamps", "boats", "chess", "coins", "drums", "ferns", "gears", "hats", "jars",
          "keys", "nets", "oars", "pens", "quilts", "rafts", "sails", "tents"]


def row(i: int, topic: str) -> dict:
    question = f"In one sentence, what is special about {topic}?"
    if i == 7:
        question = f"Write to {PII_EMAIL} and ask what is special about {topic}."
    return {"messages": [{"role": "user", "content": question},
                         {"role": "assistant",
                          "content": f"{topic.capitalize()} are special in their own way: "
                                     f"fact number {i} about {topic}."}]}


def flow_jsonl() -> str:
    """The file's text: 38 rows, the duplicate of row 1, then the malformed line."""
    rows = [json.dumps(row(i, t)) for i, t in enumerate(TOPICS, start=1)]
    rows.append(rows[0])
    rows.append('{"messages": [{"role": "user", "content": "unfinished"')
    assert len(rows) == ROWS_IN
    return "\n".join(rows) + "\n"
