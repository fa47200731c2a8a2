"""The generate stage: several tuned runs and seeded sampling on the same prompts (real model)."""

from __future__ import annotations

import pytest

from curation.formats import Example
from tests.prepared import conv
from training.config import TrainConfig
from training.model import ensure_base_model, init_model
from workbench.stages.evaluation import generate
from workbench.store import evaluation as store
from workbench.store import open_workspace
from workbench.store.splits import assign_splits


def _workspace_with_two_adapters(root):
    """3 test rows and two train runs whose adapters are fresh (lora_B = 0: same as base)."""
    with open_workspace(root) as ws:
        dataset_id = ws.add_dataset("t.jsonl", "t.jsonl", "openai", [
            Example(1, conv("Name a colour.", "Blue.")),
            Example(2, conv("What is the capital of France?", "Paris.")),
            Example(3, conv("Say hi.", "Hi!"))], [])
        assign_splits(ws, dataset_id, 0, (0.0, 0.0, 1.0))
        for name in ("train-a", "train-b"):
            adapter = root / name
            init_model(ensure_base_model(), TrainConfig()).save_pretrained(adapter)
            ws.add_run(name, "train", dataset_id, "", {"train": {"base_model": "embedded"}})
            ws.finish_run(name, "succeeded", {"adapter": str(adapter), "steps": 0})


@pytest.mark.slow
def test_every_system_answers_the_same_prompts_with_the_same_seeded_sampling(tmp_path):
    root = tmp_path / "ws"
    _workspace_with_two_adapters(root)
    summary = generate(root, eval_size=2, max_new_tokens=6, tuned_runs=["train-b", "train-a"],
                       sampling={"seed": 5, "temperature": 1.0, "top_p": 1.0})
    assert summary["systems"] == ["base", "tuned", "train-a"]
    assert summary["decoding"] == {"sampling": {"seed": 5, "temperature": 1.0, "top_p": 1.0}}
    with open_workspace(root) as ws:
        rows = store.generations(ws, summary["run_id"])
        losses = store.losses(ws, summary["run_id"])
    by_system = {}
    for row in rows:
        by_system.setdefault(row["system"], []).append((row["example_id"], row["output"]))
    assert sorted(by_system) == ["base", "train-a", "tuned"]
    # identity adapters + the same seed for every system -> the same sampled tokens
    assert by_system["tuned"] == by_system["base"] == by_system["train-a"]
    assert [example_id for example_id, _ in by_system["base"]] == [1, 2]
    assert len(losses) == 6 and all(row["tokens"] > 0 for row in losses)
    with open_workspace(root) as ws:
        costs = store.request_costs(ws, summary["run_id"])
    # every system read the same two templated prompts: 34 and 37 tokens
    assert {name: entry["prompt_tokens"] for name, entry in costs.items()} == {
        name: [34, 37] for name in ("base", "train-a", "tuned")}
    assert {entry["requests"] for entry in costs.values()} == {2}
    assert all(entry["seconds"] > 0 and entry["device"].startswith("cpu, ")
               for entry in costs.values())
    assert all(entry["cpu_seconds"] > 0 for entry in costs.values())
