"""Prompted systems of an evaluation: read their prompt files, pick and fit their shots.

``prepare`` turns ``evaluation.prompted.PromptedSystem``s into the per-system prompts the
generate job answers: shots from the train split (fixed or retrieved through the workspace's
sentence embeddings, computed with progress when missing), never from a test row's duplicate
cluster, dropped from the far end until the prompt fits the model's context minus
``max_new_tokens``. Everything wrong with the input is one StageError before any job starts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np

from common.errors import StageError
from evaluation.prompted import (
    PromptedSystem,
    excluded_ids,
    fit_shots,
    fixed_shots,
    parse_spec,
    prompt_text,
    retrieved_shots,
)
from workbench.store import open_workspace

Progress = Callable[[dict], None]


def from_cli(specs: list[str]) -> list[dict]:
    """``--prompted NAME=FILE[,k=..][,shots=..][,ids=..][,base=..]`` values as system dicts
    (``PromptedSystem.to_dict``), the prompt file read and checked. Raises StageError for a
    bad spec, a missing, empty or non-UTF-8 file, or a name given twice."""
    systems = []
    for spec in specs:
        try:
            name, file, options = parse_spec(spec)
            path = Path(file).expanduser()
            if not path.is_file():
                raise ValueError(f"{file}: prompt file not found")
            system = PromptedSystem(name, prompt_text(path.read_bytes(), file), **options)
            system.check()
        except (ValueError, TypeError) as exc:
            raise StageError(str(exc)) from None
        systems.append(system.to_dict())
    check_names(systems)
    return systems


def check_names(systems: list[dict], reserved: tuple[str, ...] = ("base", "tuned")) -> None:
    """StageError when two prompted systems share a name or one takes a name of ``reserved``
    (base and the tuned systems)."""
    names = [s["name"] for s in systems]
    taken = sorted({n for n in names if names.count(n) > 1 or n in reserved})
    if taken:
        raise StageError(f"prompted system name(s) {', '.join(taken)} used twice or reserved "
                         f"({', '.join(reserved)})")


def prepare(workspace: Path, systems: list[dict], rows: list[dict], model_dirs: dict[str, Path],
            max_new_tokens: int, seed: int = 0, on_progress: Progress | None = None,
            encode: Callable[[list[str]], np.ndarray] | None = None
            ) -> dict[str, dict[int, dict]]:
    """{system name: {example id: {"messages", "shots", "shot_ids"}}} for the test ``rows``.

    ``rows``: test examples ({"id", "messages"}); ``model_dirs``: {system name: base model
    folder} (its tokenizer's chat template counts the tokens, its config gives the context).
    ``encode``: prompt texts → (n, d) L2-normalized vectors for retrieved shots (for tests;
    default: the workspace's embedding cache and the latest dedup run's encoder).
    Raises StageError: k larger than the train split, picked ids outside it, a prompt that
    does not fit even without shots, or shots that never fit (k ≥ 1, no prompt got one).
    """
    parsed = [_parse(s) for s in systems]
    with open_workspace(workspace, create=False) as ws:
        from workbench.store.prompted import cluster_pairs

        dataset_id = ws.current_dataset()
        train = ws.split_examples(dataset_id, "train")
        pairs = cluster_pairs(ws, dataset_id)
    test_ids = [r["id"] for r in rows]
    excluded = excluded_ids(test_ids, pairs)
    by_id = {r["id"]: r["messages"] for r in train}
    vectors = None
    out = {}
    for system in parsed:
        if system.shots == "retrieved" and system.k and vectors is None:
            vectors = _vectors(workspace, rows, train, on_progress, encode)
        try:
            chosen = _choose(system, train, test_ids, excluded, seed, vectors)
        except ValueError as exc:
            raise StageError(f"prompted system {system.name!r}: {exc}") from None
        out[system.name] = _fit(system, rows, chosen, by_id, model_dirs[system.name],
                                max_new_tokens)
    return out


def _parse(data: dict) -> PromptedSystem:
    try:
        return PromptedSystem.from_dict(data)
    except (ValueError, TypeError) as exc:
        raise StageError(str(exc)) from None


def _choose(system: PromptedSystem, train: list[dict], test_ids: list[int],
            excluded: dict[int, set[int]], seed: int, vectors) -> dict[int, list[int]]:
    train_ids = [r["id"] for r in train]
    if system.k == 0:
        return {t: [] for t in test_ids}
    if system.shots == "retrieved":
        test_vectors, train_vectors = vectors
        return retrieved_shots(test_ids, test_vectors, train_ids, train_vectors, system.k,
                               excluded)
    return fixed_shots(train_ids, test_ids, system.k, seed, excluded, system.shot_ids)


def _fit(system: PromptedSystem, rows: list[dict], chosen: dict[int, list[int]],
         by_id: dict[int, list[dict]], model_dir: Path, max_new_tokens: int) -> dict[int, dict]:
    from training.data import prompt_and_reference

    count, context = token_counter(model_dir)
    budget = context - max_new_tokens
    out = {}
    for row in rows:
        prompt, _ = prompt_and_reference(row["messages"])
        shots = [by_id[i] for i in chosen[row["id"]]]
        fitted = fit_shots(system.system_prompt, shots, prompt, count, budget)
        if fitted is None:
            raise StageError(f"prompted system {system.name!r}: the system prompt and test "
                             f"example {row['id']} alone exceed the model's context minus "
                             f"max_new_tokens ({context} - {max_new_tokens} = {budget} tokens)")
        messages, kept = fitted
        out[row["id"]] = {"messages": messages, "shots": kept,
                          "shot_ids": chosen[row["id"]][:kept]}
    if system.k and not any(p["shots"] for p in out.values()):
        raise StageError(f"prompted system {system.name!r}: not even one of its {system.k} "
                         f"shot(s) fits any prompt within {budget} tokens (context {context} "
                         f"- max_new_tokens {max_new_tokens}); shorten the prompt or lower "
                         "max_new_tokens")
    return out


def token_counter(model_dir: Path) -> tuple[Callable[[list[dict]], int], int]:
    """(messages → tokens of the rendered generation prompt, the model's context length in
    tokens: its config's ``max_position_embeddings``)."""
    from transformers import AutoConfig

    from training.data import render_prompt
    from training.model import load_tokenizer

    tokenizer = load_tokenizer(model_dir)
    context = int(getattr(AutoConfig.from_pretrained(model_dir), "max_position_embeddings",
                          None) or tokenizer.model_max_length)

    def count(messages: list[dict]) -> int:
        return len(tokenizer(render_prompt(tokenizer, messages),
                             add_special_tokens=False)["input_ids"])

    return count, context


def _cached_encoder(workspace: Path) -> Callable[[list[str]], np.ndarray]:
    """Texts → vectors through the workspace's embedding cache, with the latest dedup run's
    encoder settings (backend, window), so texts dedup already embedded are reused."""
    from curation.dedup import DedupConfig
    from curation.embed import encode
    from workbench.store.embeddings import EmbeddingCache

    with open_workspace(workspace, create=False) as ws:
        run = ws.latest_run("dedup")
    semantic = (run or {}).get("config", {}).get("semantic") or {}
    config = DedupConfig(**{k: v for k, v in semantic.items() if k in asdict(DedupConfig())})
    cache = EmbeddingCache(workspace)
    return lambda texts: encode(texts, config, cache)


def _vectors(workspace: Path, rows: list[dict], train: list[dict], on_progress: Progress | None,
             encode=None):
    """(test vectors, train vectors) of the prompt text (``scope_text(.., "prompt")``), through
    the workspace's embedding cache with the latest dedup run's encoder settings."""
    from curation.dedup import scope_text

    texts = [scope_text(r["messages"], "prompt") for r in [*rows, *train]]
    if on_progress:
        on_progress({"step": 0, "total": len(texts),
                     "message": f"embedding {len(texts)} prompts for retrieved shots"})
    vectors = (encode or _cached_encoder(workspace))(texts)
    if on_progress:
        on_progress({"step": len(texts), "total": len(texts), "message": "embedded"})
    return vectors[:len(rows)], vectors[len(rows):]
