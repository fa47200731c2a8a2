"""The playground: one prompt (typed, or a held-out row) to base and tuned side by side.

Runs in the calling process (a page or the CLI), on the machine's compute slot
(``workbench.jobs.compute_slot``): while a training or generation job holds it, the call is
refused at once with a clear message instead of hanging the page.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from common.errors import StageError
from workbench.store import open_workspace

Loader = Callable[[Path, Path | None], tuple]


def systems(workspace: Path) -> dict[str, dict]:
    """{system: {"model_dir", "adapter"}} of the latest generate run (so the playground
    answers with the systems the report compares), else base + the latest train run.

    Raises StageError when nothing was trained.
    """
    with open_workspace(workspace, create=False) as ws:
        generate = ws.latest_run("generate")
        train = ws.latest_run("train")
    if generate and generate["config"].get("systems"):
        model_dir = generate["config"]["model_dir"]
        return {name: {"model_dir": model_dir, "adapter": adapter}
                for name, adapter in generate["config"]["systems"].items()}
    if train is None:
        raise StageError("no trained model yet: run `workbench train` first")
    from training.model import ensure_base_model

    model_dir = str(ensure_base_model(train["config"]["train"].get("base_model", "embedded")))
    return {"base": {"model_dir": model_dir, "adapter": None},
            "tuned": {"model_dir": model_dir, "adapter": train["summary"]["adapter"]}}


def _refuse_while_busy(*_args) -> None:
    raise StageError("a training or generation job is using the machine: try again when it "
                     "is done")


def answer(workspace: Path, messages: list[dict], max_new_tokens: int = 128,
           sampling: dict | None = None, loader: Loader | None = None) -> dict[str, dict]:
    """{system: {"output", "new_tokens", "seconds"}} for one chat prompt, same decoding for all.

    ``messages``: the prompt turns (no answer). ``sampling``: None for greedy, else
    ``evaluation.generate.Sampling`` fields (the same seed for every system). ``loader``:
    (model_dir, adapter_dir) → (model, tokenizer), e.g. a cached ``load_for_generation``.
    Raises StageError for an empty prompt, nothing trained, or a busy machine.
    """
    from evaluation.generate import Sampling, generate_detailed, load_for_generation
    from workbench.jobs.slot import compute_slot

    if not messages or not any(m.get("content", "").strip() for m in messages):
        raise StageError("the prompt is empty: type a question or pick a held-out row")
    load = loader or load_for_generation
    decoding = Sampling(**sampling) if sampling else None
    out = {}
    with compute_slot(_refuse_while_busy):
        for name, system in systems(workspace).items():
            adapter = Path(system["adapter"]) if system["adapter"] else None
            model, tokenizer = load(Path(system["model_dir"]), adapter)
            start = time.perf_counter()
            [(text, count)] = generate_detailed(model, tokenizer, [messages], max_new_tokens,
                                                1, sampling=decoding)
            out[name] = {"output": text, "new_tokens": count,
                         "seconds": round(time.perf_counter() - start, 2)}
    return out
