"""Preference pairs from blind rating sessions, and their files (TRL, OpenAI, Parquet).

Run as: ``extract_pairs(ratings, prompts, outputs, min_agreement=2)`` → ``Extraction``;
``encode(pairs, "trl")`` → file bytes; ``decode(data, "trl")`` → the same pairs.

An *item* of a session is one example and one pair of systems, rated by k raters. Only a
rater's first showing of an item counts (a repeat measures consistency, it is not a second
vote). An item's verdict is the label most of its raters chose (``derandomize``d: a system
name, ``tie`` or ``both_bad``). An item becomes a pair (chosen = the winning system's output,
rejected = the other's) when the verdict is a system and at least ``min_agreement`` raters
chose it. Every item left out is counted by its reason: ``tie``, ``both_bad``, ``split`` (no
single label has the most votes) or ``below_agreement``.

File formats (one pair per row, the provenance beside it):

- ``trl``: JSON lines in TRL's conversational preference format (``prompt`` as messages,
  ``chosen`` / ``rejected`` as one assistant message each; trl 1.16 "Dataset formats",
  preference, conversational), provenance columns added.
- ``openai``: JSON lines in OpenAI's preference fine-tuning format (``input.messages``,
  ``preferred_output``, ``non_preferred_output``), nothing else on the line (the fine-tuning
  upload accepts only these fields); the provenance goes to a second JSON-lines file, one line
  per pair in the same order (``provenance_lines``).
- ``parquet``: the ``trl`` rows as a Parquet table (messages as lists of structs), so
  ``datasets.load_dataset("parquet", ...)`` feeds it to TRL as it is.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from dataclasses import asdict, dataclass

FORMATS = ("trl", "openai", "parquet")
LEFT_OUT = ("tie", "both_bad", "split", "below_agreement")
PROVENANCE = ("session_id", "item_no", "example_id", "chosen_system", "rejected_system",
              "raters", "agreed", "agreement")


class PreferenceError(ValueError):
    """No pair to export or train on, or a file that is not a preference export."""


@dataclass(frozen=True)
class Pair:
    """One preference pair with where it came from.

    ``prompt``: the messages before the answer ({"role", "content"} dicts); ``chosen`` /
    ``rejected``: the two answers' texts; ``raters``: names of the raters who rated the item
    (first showings, sorted); ``agreed``: how many of them chose ``chosen_system``;
    ``agreement``: agreed / len(raters).
    """

    session_id: int
    item_no: int
    example_id: int
    prompt: tuple
    chosen: str = ""
    rejected: str = ""
    chosen_system: str = ""
    rejected_system: str = ""
    raters: tuple[str, ...] = ()
    agreed: int = 0
    agreement: float = 0.0


@dataclass(frozen=True)
class Extraction:
    """The pairs and what was left out: ``counts`` has ``items`` (rated items seen),
    ``pairs``, and one count per reason of ``LEFT_OUT``."""

    pairs: list[Pair]
    counts: dict[str, int]


def _messages(prompt) -> tuple:
    return tuple({"role": m["role"], "content": m["content"]} for m in prompt)


def extract_pairs(ratings: list[dict], prompts: dict[tuple[int, int], list[dict]],
                  outputs: dict[tuple[int, int, str], str],
                  min_agreement: int = 1) -> Extraction:
    """Chosen/rejected pairs from de-randomized ratings.

    ``ratings``: one row per rating with ``session_id``, ``item_no``, ``example_id``,
    ``rater`` (name), ``is_repeat``, ``label`` (system name, "tie" or "both_bad"),
    ``first_system``, ``second_system``. ``prompts``: {(session_id, example_id): messages};
    ``outputs``: {(session_id, example_id, system): text}. ``min_agreement`` (m ≥ 1): the
    least number of an item's raters who must have chosen the winner.
    Pairs come ordered by session and item. Raises PreferenceError for m < 1.
    """
    if isinstance(min_agreement, bool) or not isinstance(min_agreement, int) \
            or min_agreement < 1:
        raise PreferenceError(f"min_agreement must be a whole number >= 1, got {min_agreement!r}")
    items: dict[tuple[int, int], dict] = {}
    for row in ratings:
        if row["is_repeat"]:
            continue
        item = items.setdefault((row["session_id"], row["item_no"]), {
            "example_id": row["example_id"], "systems": (row["first_system"],
                                                         row["second_system"]), "votes": {}})
        item["votes"].setdefault(row["rater"], row["label"])
    counts = Counter({reason: 0 for reason in LEFT_OUT})
    pairs = []
    for (session_id, item_no), item in sorted(items.items()):
        tally = Counter(item["votes"].values()).most_common()
        label, top = tally[0]
        if len(tally) > 1 and tally[1][1] == top:
            counts["split"] += 1
        elif label in ("tie", "both_bad"):
            counts[label] += 1
        elif top < min_agreement:
            counts["below_agreement"] += 1
        else:
            first, second = item["systems"]
            loser = second if label == first else first
            example_id = item["example_id"]
            raters = tuple(sorted(item["votes"]))
            pairs.append(Pair(session_id, item_no, example_id,
                              _messages(prompts[(session_id, example_id)]),
                              outputs[(session_id, example_id, label)],
                              outputs[(session_id, example_id, loser)], label, loser, raters,
                              top, top / len(raters)))
    return Extraction(pairs, {"items": len(items), "pairs": len(pairs), **counts})


def nothing_left(counts: dict[str, int], sessions: list[int], min_agreement: int) -> str:
    """The one message for an extraction without pairs, naming what was left out.

    >>> nothing_left({"items": 2, "pairs": 0, "tie": 2, "both_bad": 0, "split": 0,
    ...               "below_agreement": 0}, [3], 1)
    'no preference pair in session 3: of 2 rated items, 2 tie'
    """
    where = ("session " if len(sessions) == 1 else "sessions ") + ", ".join(map(str, sessions))
    if not counts.get("items"):
        return f"no preference pair in {where}: no item is rated yet"
    parts = [f"{counts[r]} {r.replace('_', ' ')}" for r in LEFT_OUT if counts.get(r)]
    hint = (f" (min agreement {min_agreement}: lower it to keep items fewer raters agreed on)"
            if counts.get("below_agreement") else "")
    return f"no preference pair in {where}: of {counts['items']} rated items, " \
           f"{', '.join(parts)}{hint}"


# -- files ------------------------------------------------------------------------------
def _assistant(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


def provenance(pair: Pair) -> dict:
    """The pair's provenance fields (``PROVENANCE``) as a JSON-ready dict."""
    data = {key: getattr(pair, key) for key in PROVENANCE}
    data["raters"] = list(data["raters"])
    return data


def trl_row(pair: Pair) -> dict:
    """TRL's conversational preference row (prompt, chosen, rejected) plus provenance."""
    return {"prompt": [dict(m) for m in pair.prompt], "chosen": _assistant(pair.chosen),
            "rejected": _assistant(pair.rejected), **provenance(pair)}


def openai_row(pair: Pair) -> dict:
    """OpenAI's preference fine-tuning line: input.messages, preferred/non-preferred output."""
    return {"input": {"messages": [dict(m) for m in pair.prompt], "tools": [],
                      "parallel_tool_calls": True},
            "preferred_output": _assistant(pair.chosen),
            "non_preferred_output": _assistant(pair.rejected)}


def _only_text(messages, where: str) -> str:
    if not isinstance(messages, list) or len(messages) != 1 \
            or not isinstance(messages[0], dict) or "content" not in messages[0]:
        raise PreferenceError(f"{where}: expected one assistant message")
    return messages[0]["content"]


def _pair(prompt, chosen: str, rejected: str, meta: dict, where: str) -> Pair:
    missing = [key for key in PROVENANCE if key not in meta]
    if missing:
        raise PreferenceError(f"{where}: missing provenance field(s) {', '.join(missing)}")
    return Pair(int(meta["session_id"]), int(meta["item_no"]), int(meta["example_id"]),
                _messages(prompt), chosen, rejected, meta["chosen_system"],
                meta["rejected_system"], tuple(meta["raters"]), int(meta["agreed"]),
                float(meta["agreement"]))


def _jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()


def _lines(data: bytes, name: str) -> list[dict]:
    rows = []
    for number, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise PreferenceError(f"{name} line {number}: not JSON ({exc.msg})") from None
    return rows


def provenance_lines(pairs: list[Pair]) -> bytes:
    """The provenance file written beside an ``openai`` export: one JSON line per pair."""
    return _jsonl([provenance(p) for p in pairs])


def encode(pairs: list[Pair], fmt: str) -> bytes:
    """The export file's bytes in ``fmt`` (one of ``FORMATS``). Raises PreferenceError for an
    unknown format or no pairs."""
    if fmt not in FORMATS:
        raise PreferenceError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if not pairs:
        raise PreferenceError("no preference pair to export")
    if fmt == "trl":
        return _jsonl([trl_row(p) for p in pairs])
    if fmt == "openai":
        return _jsonl([openai_row(p) for p in pairs])
    import pandas as pd

    buffer = io.BytesIO()
    pd.DataFrame([trl_row(p) for p in pairs]).to_parquet(buffer, index=False)
    return buffer.getvalue()


def decode(data: bytes, fmt: str, provenance_data: bytes | None = None,
           name: str = "the file") -> list[Pair]:
    """The pairs of an export (``encode``'s inverse); ``provenance_data`` is the ``openai``
    export's provenance file. Raises PreferenceError naming the line or row that is not a
    pair, or an ``openai`` export whose provenance does not line up with it."""
    if fmt not in FORMATS:
        raise PreferenceError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt == "parquet":
        import pandas as pd

        try:
            frame = pd.read_parquet(io.BytesIO(data))
        except Exception as exc:  # pyarrow raises several types for a non-Parquet file
            raise PreferenceError(f"{name}: not a Parquet file ({type(exc).__name__})") from None
        rows = [{key: _plain(value) for key, value in row.items()}
                for row in frame.to_dict("records")]
    else:
        rows = _lines(data, name)
    if fmt == "openai":
        metas = _lines(provenance_data or b"", f"{name} provenance")
        if len(metas) != len(rows):
            raise PreferenceError(f"{name}: {len(rows)} pairs but {len(metas)} provenance lines")
        out = []
        for number, (row, meta) in enumerate(zip(rows, metas, strict=True), start=1):
            where = f"{name} line {number}"
            try:
                prompt = row["input"]["messages"]
                out.append(_pair(prompt, _only_text(row["preferred_output"], where),
                                 _only_text(row["non_preferred_output"], where), meta, where))
            except (KeyError, TypeError):
                raise PreferenceError(f"{where}: not an OpenAI preference line") from None
        return out
    out = []
    for number, row in enumerate(rows, start=1):
        where = f"{name} {'row' if fmt == 'parquet' else 'line'} {number}"
        try:
            out.append(_pair(row["prompt"], _only_text(row["chosen"], where),
                             _only_text(row["rejected"], where), row, where))
        except (KeyError, TypeError):
            raise PreferenceError(f"{where}: not a TRL preference row") from None
    return out


def _plain(value):
    """numpy arrays and scalars from a Parquet row as lists and Python values."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def training_rows(pairs: list[Pair]) -> list[dict]:
    """The rows a preference trainer reads: {"prompt", "chosen", "rejected"} conversational."""
    return [{key: trl_row(p)[key] for key in ("prompt", "chosen", "rejected")} for p in pairs]


def pair_dicts(pairs: list[Pair]) -> list[dict]:
    """The pairs as JSON-ready dicts (``asdict``, tuples as lists)."""
    return [json.loads(json.dumps(asdict(p))) for p in pairs]


def pairs_from_dicts(rows: list[dict]) -> list[Pair]:
    """``pair_dicts``'s inverse."""
    return [Pair(**{**row, "prompt": _messages(row["prompt"]), "raters": tuple(row["raters"])})
            for row in rows]
