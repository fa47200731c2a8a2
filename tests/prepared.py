"""A small prepared workspace (no model needed) for page and report tests, and the AppTest
entry to a page as the logged-in admin."""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from curation.formats import Example, Reject
from workbench.store import open_workspace, privacy
from workbench.store.splits import assign_splits

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def admin_page(path: str, timeout: float = 60) -> AppTest:
    """AppTest of app.py switched to the page ``path`` (e.g. "views/data.py") and run, as a
    logged-in admin (the login itself is tested in tests/test_auth_app.py)."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.session_state["auth"] = {"role": "admin"}
    at.run()
    at.switch_page(path)
    return at.run()


def planted_job(root: Path, kind: str, config: dict, state: str, **status) -> Path:
    """A job folder of ``kind`` under the workspace ``root`` whose status says ``state``, with
    this process as its pid (alive, so a "running" job reads as running)."""
    import os

    from workbench.jobs import runner as jobs

    job_dir = jobs.new_job(root / "artifacts" / "jobs", kind, config)
    jobs.write_json(job_dir / "status.json", {"state": state, "pid": os.getpid(), **status})
    return job_dir


def conv(question: str, answer: str) -> list[dict]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


def generated_workspace(root: Path, references: dict[int, str],
                        outputs: dict[int, tuple[str, str]],
                        meta: dict[int, dict] | None = None) -> Path:
    """A workspace whose examples (id -> reference answer, optional meta) are all in the test
    split, with a finished greedy generate run "gen-1" of base and tuned outputs
    (id -> (base, tuned)); no scores yet."""
    meta = meta or {}
    with open_workspace(root) as ws:
        dataset_id = ws.add_dataset("t.jsonl", "t.jsonl", "openai",
                                    [Example(i, conv(f"Q{i}?", ref), meta.get(i, {}))
                                     for i, ref in references.items()], [])
        assign_splits(ws, dataset_id, 0, (0.0, 0.0, 1.0))
        ws.add_run("gen-1", "generate", dataset_id, "", {"systems": {"base": None,
                                                                      "tuned": "<adapter>"}})
        ws.finish_run("gen-1", "succeeded", {"decoding": "greedy"})
        ws.insert("generations", [
            {"run_id": "gen-1", "example_id": i, "system": system, "prompt": "[]",
             "reference": references[i], "output": out, "new_tokens": 3}
            for i, (base, tuned) in outputs.items()
            for system, out in (("base", base), ("tuned", tuned))])
    return root


def prepare_workspace(root: Path, pii_reviewed: bool = False) -> Path:
    """Workspace with 10 examples, a reject, findings, a duplicate, a PII span, a split,
    a train run with lineage and loss, a generate run with 3 items (one identical pair).

    ``pii_reviewed``: the PII span is rejected as a false positive, so the privacy gate lets
    a training start (tests of training itself)."""
    examples = [Example(i + 1, conv(f"Question {i}?", f"Answer {i}.")) for i in range(10)]
    with open_workspace(root) as ws:
        dataset_id = ws.add_dataset("t.jsonl", "t.jsonl", "openai", examples,
                                    [Reject(11, "invalid_json", "not valid JSON", "{oops")])
        ws.record_stage("ingest", dataset_id, {}, {"rows_in": 11, "examples": 10,
                                                    "rejects": 1, "format": "openai"})
        ws.replace_rows("findings", dataset_id, [{
            "example_id": 1, "step": "validate", "code": "missing_system", "severity": "info",
            "message": "row 1: no system message", "message_index": None}])
        ws.replace_rows("dup_clusters", dataset_id, [{
            "example_id": 2, "level": "exact", "representative_id": 1, "similarity": 1.0}])
        ws.replace_rows("pii_spans", dataset_id, [{
            "example_id": 3, "message_index": 0, "entity_type": "PERSON", "start_char": 0,
            "end_char": 4, "score": 0.85}])
        if pii_reviewed:
            privacy.decide_entity(ws, dataset_id, "PERSON", "reject", "tests",
                                  "'Ques' in 'Question 2?' is no person")
        assign_splits(ws, dataset_id, 0, (0.6, 0.1, 0.3))
        adapter = root / "artifacts" / "adapter"
        adapter.mkdir(parents=True)
        (adapter / "lineage.json").write_text(json.dumps({"dataset_version": "abc123"}))
        ws.add_run("train-1", "train", dataset_id, str(root), {"train": {}})
        ws.finish_run("train-1", "succeeded", {"adapter": str(adapter), "steps": 2,
                                               "first_loss": 2.0, "final_loss": 1.5})
        ws.insert("train_log", [{"run_id": "train-1", "step": 1, "loss": 2.0},
                                {"run_id": "train-1", "step": 2, "loss": 1.5}])
        ws.add_run("generate-1", "generate", dataset_id, str(root), {})
        ws.finish_run("generate-1", "succeeded", {"prompts": 3})
        outputs = {4: ("Base four.", "Tuned four."), 5: ("Same.", "Same."), 6: ("B6", "T6")}
        ws.insert("generations", [
            {"run_id": "generate-1", "example_id": e, "system": system,
             "prompt": json.dumps(conv(f"Question {e}?", "")[:1]), "reference": f"Answer {e}.",
             "output": out} for e, pair in outputs.items()
            for system, out in zip(("base", "tuned"), pair)])
    return root
