"""A workspace an evaluation lead opens: a trained run, base and tuned answers over 12 held-out
rows (two categories, held-out losses, one tuned answer cut at the token limit), scores, a
scripted rating session and a session with one rater left to rate in the browser.

Run as: ``build_report_workspace(Path("/tmp/ws"))`` → {"workspace", "token"} (the browser
rater's invite token). No model is loaded: the generations are written as a generate run
would write them, then scored with the real ``score`` stage.
"""

from __future__ import annotations

import json
from pathlib import Path

from curation.formats import Example
from evaluation.sessions import SessionDesign
from workbench.store import open_workspace
from workbench.store import sessions as ss
from workbench.store.evaluation import save_losses
from workbench.store.splits import assign_splits

N_ROWS = 12
MAX_NEW_TOKENS = 16
CUT_EXAMPLE = 3  # its tuned answer used all MAX_NEW_TOKENS
RATER = "eve"
TOPICS = ["tea", "bread", "maps", "rivers", "clocks", "bees", "glass", "kites", "salt", "ink",
          "wool", "moss"]


def conv(question: str, answer: str) -> list[dict]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


def reference(i: int) -> str:
    return f"{TOPICS[i - 1].capitalize()} are special: fact number {i} about them."


def outputs(i: int) -> tuple[str, str]:
    """(base, tuned): tuned repeats most of the reference, base rambles."""
    base = f"I think {TOPICS[i - 1]} might be interesting for many different reasons, maybe."
    tuned = reference(i) if i % 3 else f"{TOPICS[i - 1].capitalize()} are special: fact {i}."
    if i == CUT_EXAMPLE:
        tuned = f"{TOPICS[i - 1].capitalize()} are special: fact number {i} about them and"
    return base, tuned


def build_report_workspace(root: Path) -> dict:
    """Build the workspace in ``root`` (a new folder); returns {"workspace", "token"}."""
    from workbench.demo_ratings import rate_demo_session
    from workbench.stages.evaluation import score

    examples = [Example(i, conv(f"What is special about {TOPICS[i - 1]}?", reference(i)),
                        {"category": "short" if i % 2 else "long"})
                for i in range(1, N_ROWS + 1)]
    with open_workspace(root) as ws:
        dataset_id = ws.add_dataset("lead.jsonl", "lead.jsonl", "openai", examples, [])
        ws.record_stage("ingest", dataset_id, {}, {"rows_in": N_ROWS, "examples": N_ROWS,
                                                    "rejects": 0, "format": "openai"})
        assign_splits(ws, dataset_id, 0, (0.0, 0.0, 1.0))
        adapter = root / "artifacts" / "adapter"
        adapter.mkdir(parents=True)
        (adapter / "lineage.json").write_text(json.dumps({
            "dataset_version": "3f9c2a1b7d6e", "base_model": "SmolLM2-135M-Instruct",
            "train_config": {"method": "lora", "lora_rank": 8, "learning_rate": 0.0002}}))
        ws.add_run("train-1", "train", dataset_id, str(root), {"train": {"method": "lora"}})
        ws.finish_run("train-1", "succeeded", {"adapter": str(adapter), "steps": 4,
                                               "first_loss": 2.4, "final_loss": 1.1})
        ws.insert("train_log", [{"run_id": "train-1", "step": s, "loss": loss}
                                for s, loss in ((1, 2.4), (2, 1.9), (3, 1.4), (4, 1.1))])
        ws.add_run("gen-1", "generate", dataset_id, str(root),
                   {"systems": {"base": None, "tuned": str(adapter)},
                    "system_runs": {"tuned": "train-1"}, "train_run": "train-1",
                    "max_new_tokens": MAX_NEW_TOKENS})
        ws.finish_run("gen-1", "succeeded", {"decoding": "greedy", "prompts": N_ROWS,
                                             "max_new_tokens": MAX_NEW_TOKENS})
        ws.insert("generations", [
            {"run_id": "gen-1", "example_id": i, "system": system,
             "prompt": json.dumps(conv(f"What is special about {TOPICS[i - 1]}?", "")[:1]),
             "reference": reference(i), "output": text,
             "new_tokens": MAX_NEW_TOKENS if (i, system) == (CUT_EXAMPLE, "tuned") else 9}
            for i in range(1, N_ROWS + 1)
            for system, text in zip(("base", "tuned"), outputs(i), strict=True)])
        save_losses(ws, "gen-1", [
            {"example_id": i, "system": system, "loss_sum": loss * tokens, "tokens": tokens}
            for i in range(1, N_ROWS + 1)
            for system, loss, tokens in (("base", 3.0 + i / 10, 4 + i), ("tuned", 1.5, 10))])
    score(root, "none")
    rate_demo_session(root)
    with open_workspace(root) as ws:
        made = ss.create_session(ws, "browser", "gen-1", SessionDesign(k=1, repeat_share=0.2),
                                 [RATER], example_ids=list(range(1, 7)), seed=5)
    return {"workspace": root, "token": made["tokens"][RATER]}


if __name__ == "__main__":
    import sys

    print(build_report_workspace(Path(sys.argv[1])))
