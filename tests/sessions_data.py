"""Tiny generate runs for session tests: n examples × systems, with chosen identical outputs;
raters who rate every item of theirs by a rule."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

from workbench.store import Workspace
from workbench.store import sessions as ss


def add_generations(ws: Workspace, n: int, systems=("base", "tuned"), run_id="gen-1",
                    identical: tuple[int, ...] = (), text=None) -> str:
    """Outputs "<system> answer <e>" for examples 1..n (equal for examples in ``identical``)."""
    ws.add_run(run_id, "generate", None, "", {})
    ws.finish_run(run_id, "succeeded", {"prompts": n})
    ws.insert("generations", [
        {"run_id": run_id, "example_id": e, "system": system,
         "prompt": json.dumps([{"role": "user", "content": f"Question {e}?"}]),
         "reference": f"Answer {e}.",
         "output": (text(e, system) if text else
                    f"same answer {e}" if e in identical else f"{system} answer {e}")}
        for e in range(1, n + 1) for system in systems])
    return run_id


def rate_every_item(ws: Workspace, tokens: Iterable[str],
                    choose: Callable[[str, str], str]) -> None:
    """Each rater (by invite token) logs in and rates every item of theirs with
    ``choose(left_output, right_output)`` ("A", "B", "tie" or "both_bad") as shown."""
    for token in tokens:
        rater = ss.login(ws, token)["rater_id"]
        while (item := ss.screen(ws, rater)["item"]) is not None:
            ss.submit(ws, rater, item["position"],
                      choose(item["left_output"], item["right_output"]))
