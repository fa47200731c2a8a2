"""Tiny generate runs for session tests: n examples × systems, with chosen identical outputs."""

from __future__ import annotations

import json

from workbench.store import Workspace


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
