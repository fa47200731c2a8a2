"""Prompted systems: the base model with a written system prompt and k few-shot examples.

A prompted system is what fine-tuning has to beat: the same small model, no training, a
system prompt and ``k`` worked examples (shots) from the train split placed before the test
prompt as earlier user/assistant turns. Shots are either *fixed* (the same ``k`` train rows
for every prompt, drawn with the seed or picked by id) or *retrieved* (per test prompt, the
``k`` train rows whose prompts are nearest by cosine similarity of sentence embeddings:
dynamic few-shot, Liu et al. 2022, "What Makes Good In-Context Examples for GPT-3?").

Shots come from the train split only, and never from a test row's duplicate cluster (the row
itself and every row sharing a representative with it in ``dup_clusters``), so a shot can
never hand the model the answer it is tested on.

Shots are in priority order (fixed: draw order or the order picked; retrieved: nearest
first) and appear in the prompt in that order. When the prompt is longer than the model's
context minus ``max_new_tokens``, shots are dropped from the far end (the lowest priority)
until it fits; ``fit_shots`` returns how many were kept.

Pure: no files, no database. Run as:
``messages, kept = fit_shots(system_prompt, shot_rows, test_prompt, count, budget)``
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

SHOT_MODES = ("fixed", "retrieved")


@dataclass(frozen=True)
class PromptedSystem:
    """One prompted system of an evaluation (the CLI's ``--prompted`` and the Run page)."""

    name: str  # the system's name in generations, scores and the report (hidden from raters)
    system_prompt: str  # the system message written by the user (non-empty)
    k: int = 0  # few-shot examples per prompt (0: the system prompt alone)
    shots: str = "fixed"  # fixed: the same k train rows for every prompt | retrieved: k nearest
    shot_ids: tuple[int, ...] = field(default=())  # fixed shots picked by example id (else drawn)
    base_model: str | None = None  # base model of this system (None: the evaluation's base)

    def to_dict(self) -> dict:
        return {**asdict(self), "shot_ids": list(self.shot_ids)}

    @classmethod
    def from_dict(cls, data: dict) -> PromptedSystem:
        """Build from a dict (``to_dict``'s shape); ``ValueError`` names every bad field."""
        known = {"name", "system_prompt", "k", "shots", "shot_ids", "base_model"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"prompted system: unknown field(s) {', '.join(unknown)}")
        system = cls(**{**data, "shot_ids": tuple(int(i) for i in data.get("shot_ids") or ())})
        system.check()
        return system

    def check(self) -> None:
        """Raise ``ValueError`` listing every problem of the fields at once."""
        problems = []
        if not self.name.strip():
            problems.append("the name is empty")
        if not self.system_prompt.strip():
            problems.append(f"{self.name!r}: the system prompt is empty")
        if self.k < 0:
            problems.append(f"{self.name!r}: k must be 0 or more, got {self.k}")
        if self.shots not in SHOT_MODES:
            problems.append(f"{self.name!r}: shots must be one of {', '.join(SHOT_MODES)}, "
                            f"got {self.shots!r}")
        if self.shot_ids and self.shots != "fixed":
            problems.append(f"{self.name!r}: shot ids are for fixed shots only")
        if self.shot_ids and len(self.shot_ids) != self.k:
            problems.append(f"{self.name!r}: {len(self.shot_ids)} shot id(s) given for k="
                            f"{self.k}")
        if problems:
            raise ValueError("; ".join(problems))


def parse_spec(text: str) -> tuple[str, str, dict]:
    """Split a ``--prompted`` value ``NAME=FILE[,k=K][,shots=fixed|retrieved][,ids=I+I+...]
    [,base=MODEL]`` into (name, file, options).

    >>> parse_spec("3-shot retrieved=task.txt,k=3,shots=retrieved")
    ('3-shot retrieved', 'task.txt', {'k': 3, 'shots': 'retrieved'})
    >>> parse_spec("picked=p.txt,k=2,ids=4+9")
    ('picked', 'p.txt', {'k': 2, 'shot_ids': (4, 9)})

    Raises ``ValueError`` naming the part that is wrong.
    """
    name, sep, rest = text.partition("=")
    if not sep or not name.strip() or not rest.strip():
        raise ValueError(f"--prompted {text!r}: expected NAME=FILE[,k=K][,shots=fixed|"
                         "retrieved][,ids=I+I][,base=MODEL]")
    path, *parts = rest.split(",")
    options: dict = {}
    for part in parts:
        key, sep, value = part.partition("=")
        key = key.strip()
        try:
            if not sep:
                raise ValueError
            if key == "k":
                options["k"] = int(value)
            elif key == "shots":
                options["shots"] = value.strip()
            elif key == "ids":
                options["shot_ids"] = tuple(int(i) for i in value.split("+"))
            elif key == "base":
                options["base_model"] = value.strip()
            else:
                raise KeyError(key)
        except KeyError:
            raise ValueError(f"--prompted {name.strip()!r}: unknown option {key!r} (known: "
                             "k, shots, ids, base)") from None
        except ValueError:
            raise ValueError(f"--prompted {name.strip()!r}: bad option {part!r}") from None
    return name.strip(), path.strip(), options


def prompt_text(data: bytes, source: str) -> str:
    """The system prompt in a prompt file's bytes: UTF-8, surrounding whitespace stripped.

    Raises ``ValueError`` when the bytes are not UTF-8 (naming the byte offset) or the text
    is empty or only whitespace.

    >>> prompt_text(b"  Answer briefly.\\n", "p.txt")
    'Answer briefly.'
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{source}: not UTF-8 text (byte {exc.start}: "
                         f"{data[exc.start:exc.start + 1]!r})") from None
    if not text.strip():
        raise ValueError(f"{source}: the prompt file is empty")
    return text.strip()


def excluded_ids(test_ids: Sequence[int], clusters: Sequence[tuple[int, int]]
                 ) -> dict[int, set[int]]:
    """{test id: ids a shot may not be}: the row itself and every member of each duplicate
    cluster it belongs to. ``clusters``: (example id, representative id) pairs of every
    level (``dup_clusters``).

    >>> excluded_ids([1, 5], [(1, 1), (7, 1), (8, 3)])
    {1: {1, 7}, 5: {5}}
    """
    members: dict[int, set[int]] = {}
    for example_id, representative in clusters:
        members.setdefault(representative, {representative}).add(example_id)
    of_row: dict[int, set[int]] = {}
    for group in members.values():
        for example_id in group:
            of_row.setdefault(example_id, set()).update(group)
    return {test_id: {test_id} | of_row.get(test_id, set()) for test_id in test_ids}


def fixed_shots(train_ids: Sequence[int], test_ids: Sequence[int], k: int, seed: int,
                excluded: dict[int, set[int]], picked: Sequence[int] = ()
                ) -> dict[int, list[int]]:
    """{test id: k train ids in priority order} for fixed shots.

    Drawn: the train ids (sorted) shuffled once with ``random.Random(seed)``; each test row
    gets the first ``k`` of that order that are not in its ``excluded`` set, so every row
    shares the same shots unless one of them is a duplicate of it. ``picked``: the user's
    ids, used in that order, an excluded one left out (not replaced). Raises ``ValueError``
    when k exceeds the train split or a picked id is not a train row.

    >>> fixed_shots([10, 11, 12, 13], [1, 2], 2, 0, {1: {1}, 2: {2, 12}})
    {1: [12, 10], 2: [10, 11]}
    """
    train = sorted(train_ids)
    if k > len(train):
        raise ValueError(f"k={k} shots asked for, but the train split has only {len(train)} "
                         "row(s)")
    if picked:
        missing = [i for i in picked if i not in set(train)]
        if missing:
            raise ValueError(f"shot id(s) {', '.join(map(str, missing))} are not rows of the "
                             "train split")
        return {t: [i for i in picked if i not in excluded.get(t, ())] for t in test_ids}
    order = list(train)
    random.Random(seed).shuffle(order)
    return {t: [i for i in order if i not in excluded.get(t, ())][:k] for t in test_ids}


def retrieved_shots(test_ids: Sequence[int], test_vectors: np.ndarray,
                    train_ids: Sequence[int], train_vectors: np.ndarray, k: int,
                    excluded: dict[int, set[int]]) -> dict[int, list[int]]:
    """{test id: the k train ids nearest to its prompt, nearest first} (dynamic few-shot).

    Vectors: (rows, dim) L2-normalized, so the dot product is the cosine similarity; ties
    go to the lower train id. Excluded ids (the row's duplicate cluster) are skipped, the
    next nearest taking their place. Raises ``ValueError`` when k exceeds the train split.

    >>> retrieved_shots([1], np.array([[1.0, 0.0]]), [10, 11, 12],
    ...                 np.array([[0.0, 1.0], [0.6, 0.8], [1.0, 0.0]]), 2, {1: {1, 12}})
    {1: [11, 10]}
    """
    if k > len(train_ids):
        raise ValueError(f"k={k} shots asked for, but the train split has only "
                         f"{len(train_ids)} row(s)")
    similarity = np.asarray(test_vectors, dtype=np.float64) @ np.asarray(
        train_vectors, dtype=np.float64).T
    ids = np.asarray(train_ids)
    out = {}
    for row, test_id in enumerate(test_ids):
        order = np.lexsort((ids, -similarity[row]))  # similarity desc, then id asc
        skip = excluded.get(test_id, set())
        out[test_id] = [int(ids[j]) for j in order if int(ids[j]) not in skip][:k]
    return out


def shot_turns(messages: list[dict]) -> list[dict]:
    """A train conversation as shot turns: its user and assistant turns, system turns left
    out (the prompted system's own system prompt replaces them)."""
    return [{"role": m["role"], "content": m["content"]} for m in messages
            if m["role"] != "system"]


def build_messages(system_prompt: str, shots: Sequence[list[dict]],
                   test_prompt: list[dict]) -> list[dict]:
    """[system, shot turns..., test prompt turns]: the chat prompt of a prompted system.

    ``shots``: train conversations (whole, answer included) in priority order;
    ``test_prompt``: the turns before the answer, its own system turns left out.

    >>> build_messages("Be brief.", [[{"role": "user", "content": "2+2?"},
    ...     {"role": "assistant", "content": "4"}]], [{"role": "user", "content": "3+3?"}])
    ... # doctest: +NORMALIZE_WHITESPACE
    [{'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': '2+2?'},
     {'role': 'assistant', 'content': '4'}, {'role': 'user', 'content': '3+3?'}]
    """
    turns = [{"role": "system", "content": system_prompt}]
    for shot in shots:
        turns += shot_turns(shot)
    return turns + shot_turns(test_prompt)


def fit_shots(system_prompt: str, shots: Sequence[list[dict]], test_prompt: list[dict],
              count_tokens: Callable[[list[dict]], int], budget: int
              ) -> tuple[list[dict], int] | None:
    """(messages, shots kept): the prompt with the most shots, taken from the front, whose
    ``count_tokens`` is at most ``budget`` (the model's context minus max_new_tokens); None
    when even the system prompt and the test prompt alone exceed it.

    ``count_tokens``: messages → tokens of the rendered prompt (with the generation header).

    >>> words = lambda ms: sum(len(m["content"].split()) for m in ms)
    >>> shot = [{"role": "user", "content": "a b"}, {"role": "assistant", "content": "c"}]
    >>> fit_shots("s", [shot, shot], [{"role": "user", "content": "q"}], words, 6)[1]
    1
    """
    for kept in range(len(shots), -1, -1):
        messages = build_messages(system_prompt, shots[:kept], test_prompt)
        if count_tokens(messages) <= budget:
            return messages, kept
    return None
