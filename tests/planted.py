"""Generated chat rows with planted duplicates, PII and invalid rows, for the engine tests and
bench/scale.py.

Run as: ``from tests.planted import planted_rows; rows = planted_rows(300)``

Rows are OpenAI chat records (``{"messages": [...]}``). Base rows are a user question and an
assistant answer of random English words (deterministic for a seed). Then, by position:
every 10th row (from 10) is an exact copy of an earlier row with its case and spacing
changed; every 10th from 13 a near copy (one word of a long answer replaced); every 9th a
row with an e-mail address, a phone number and a person's name in the question; every 50th
from 25 a row without an assistant turn, every 50th from 40 one with an empty answer.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

WORDS = (
    "river mountain garden kitchen window engine market teacher doctor village planet "
    "library bridge forest ocean castle harbor station museum valley desert island "
    "painter farmer pilot sailor writer singer dancer student miner baker tailor "
    "builds carries paints writes reads cleans opens closes repairs visits measures "
    "quickly slowly carefully quietly loudly gently bravely happily rarely often "
    "red green blue yellow silver golden ancient modern narrow wide bright dark "
    "stone glass paper metal cotton wooden copper marble velvet crystal iron silk "
    "morning evening winter summer autumn spring midnight weekend holiday season"
).split()
NAMES = ("Delia Farnsworth", "Marcus Whitfield", "Priya Raman", "Tomas Lindqvist",
         "Grace O'Connor", "Henrik Vogel")


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def _base(rng: random.Random, i: int) -> dict:
    question = f"Question {i}: {_sentence(rng, rng.randint(8, 16))} What should I do?"
    answer = " ".join(_sentence(rng, rng.randint(8, 14)) for _ in range(rng.randint(3, 5)))
    return {"messages": [{"role": "user", "content": question},
                         {"role": "assistant", "content": answer}]}


def _shout(row: dict) -> dict:
    return {"messages": [{"role": m["role"], "content": "  " + m["content"].upper()
                          .replace(" ", "   ") + " "} for m in row["messages"]]}


def _near(rng: random.Random, row: dict) -> dict:
    messages = [dict(m) for m in row["messages"]]
    words = messages[-1]["content"].split()
    words[rng.randrange(len(words))] = "zeppelin"
    messages[-1]["content"] = " ".join(words)
    return {"messages": messages}


def _pii(rng: random.Random, row: dict, i: int) -> dict:
    name = NAMES[i % len(NAMES)]
    user = name.lower().replace(" ", ".").replace("'", "")
    question = (f"Hi, I am {name}. Write to {user}@example.com or call +44 20 7946 "
                f"{i % 10000:04d}. " + row["messages"][0]["content"])
    return {"messages": [{"role": "user", "content": question}, row["messages"][1]]}


def planted_rows(n: int, seed: int = 0) -> list[dict]:
    """``n`` rows (see the module docstring for what is planted where)."""
    rng = random.Random(seed)
    rows: list[dict] = []
    for i in range(n):
        if i >= 10 and i % 10 == 0:
            rows.append(_shout(rows[rng.randrange(i // 2)]))
        elif i >= 13 and i % 10 == 3:
            rows.append(_near(rng, rows[rng.randrange(i // 2)]))
        elif i % 50 == 25:
            rows.append({"messages": [{"role": "user", "content": _sentence(rng, 10)}]})
        elif i % 50 == 40:
            rows.append({"messages": [{"role": "user", "content": _sentence(rng, 10)},
                                      {"role": "assistant", "content": ""}]})
        elif i % 9 == 4:
            rows.append(_pii(rng, _base(rng, i), i))
        else:
            rows.append(_base(rng, i))
    return rows


def write_planted(path: Path, n: int, seed: int = 0) -> Path:
    """Write ``planted_rows(n, seed)`` as JSONL to ``path``; returns ``path``."""
    path.write_text("".join(json.dumps(r) + "\n" for r in planted_rows(n, seed)))
    return path
