"""The quality stage (signals stored per kept row, a job with the tiny model) and the
selection stage (a version whose recipe holds the selection)."""

import contextlib
import json

import numpy as np
import pytest

from common.errors import InputError, StageError
from curation.formats import Example
from curation.quality import QualityConfig
from tests.prepared import conv
from workbench.jobs.execute import in_this_process
from workbench.stages import quality as stages
from workbench.store import open_workspace
from workbench.store.versions import version_recipe, version_rows

ROWS = {1: conv("What is two plus two?", "Four."),
        2: conv("Name a colour", "Blue blue blue blue blue blue blue blue blue blue"),
        3: conv("Tell me " + "very " * 60 + "much", "ok"),  # cut by max_seq_len=64
        4: conv("Hi", "I'm sorry, but I can't help with that."),
        5: conv("Test row", "held out")}
SPLITS = {1: "train", 2: "train", 3: "train", 4: "train", 5: "test"}


@pytest.fixture
def workspace(tmp_path):
    root = tmp_path / "ws"
    with open_workspace(root) as ws:
        dataset_id = ws.add_dataset("t.jsonl", "t.jsonl", "openai",
                                    [Example(i, m, {"topic": "math" if i < 3 else "chat"})
                                     for i, m in ROWS.items()], [])
        ws.insert("findings", [{"dataset_id": dataset_id, "example_id": 4, "step": "validate",
                                "code": "refusal", "severity": "warning", "message": "x",
                                "message_index": 1}])
        ws.insert("splits", [{"dataset_id": dataset_id, "example_id": i, "split": s,
                              "seed": 0} for i, s in SPLITS.items()])
    return root


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    from tests.tiny_model import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(autouse=True)
def free_slot(monkeypatch):
    """The compute slot is the machine's; these tests do not wait for other model jobs."""
    monkeypatch.setattr("workbench.jobs.bodies.compute_slot",
                        lambda report=None: contextlib.nullcontext())


def stored(root):
    with open_workspace(root) as ws:
        return {r["example_id"]: r for r in ws.query("SELECT * FROM quality_signals")}


def test_heuristics_and_flags_are_stored_without_the_model(workspace):
    summary = stages.quality(workspace, QualityConfig(model=False))
    rows = stored(workspace)
    assert sorted(rows) == [1, 2, 3, 4, 5]
    assert (rows[1]["prompt_chars"], rows[1]["answer_chars"]) == (21, 5)
    assert rows[1]["non_alnum_share"] == 1 / 5
    assert rows[2]["dup_ngram_fraction"] == 20 / 40  # 10 × "Blue": grams 5 and 10 repeat
    assert [rows[i]["refusal"] for i in (1, 4)] == [False, True]
    assert rows[1]["ifd"] is None and rows[1]["model_id"] is None
    assert summary["rows"] == 5 and summary["scored"] == 0


def test_the_model_signals_come_from_a_job_and_cut_rows_say_why(workspace, tiny_folder):
    from curation.ifd import score_rows
    from training.model import load_model, load_tokenizer

    config = QualityConfig(base_model=str(tiny_folder), max_seq_len=64)
    summary = stages.quality(workspace, config, run_job=in_this_process)
    rows = stored(workspace)
    assert summary["scored"] == 4
    assert summary["unscored"] == {"no_trainable_tokens": 1}
    assert rows[3]["unscored_reason"] == "no_trainable_tokens"
    assert rows[3]["unscored_detail"] == "no answer token within the first 64 tokens (max_seq_len)"
    assert rows[3]["ifd"] is None and rows[3]["answer_chars"] == 2
    expected = score_rows(load_model(tiny_folder), load_tokenizer(tiny_folder), [ROWS[1]])[0]
    assert rows[1]["ifd"] == pytest.approx(expected["ifd"], rel=1e-6)
    assert rows[1]["model_id"] == str(tiny_folder)
    with open_workspace(workspace) as ws:
        assert ws.latest_run("quality")["summary"]["scored"] == 4


def test_a_model_folder_that_does_not_load_is_one_clear_message(workspace, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    with pytest.raises(InputError, match=f"^model folder {broken} does not load: "):
        stages.quality(workspace, QualityConfig(base_model=str(broken)),
                       run_job=in_this_process)
    with pytest.raises(InputError, match="neither 'embedded' nor a local model folder"):
        stages.quality(workspace, QualityConfig(base_model=str(tmp_path / "absent")))


def fake_signals(root, ifd: dict[int, float | None]):
    with open_workspace(root) as ws:
        ws.insert("quality_signals", [{"dataset_id": 1, "example_id": i, "ifd": v}
                                      for i, v in ifd.items()])


def encode_same_for_1_and_2(texts):
    """Rows 1 and 2 embed to the same vector; rows 3 and 4 are orthogonal to it."""
    table = {"math": [1.0, 0.0, 0.0], "very": [0.0, 1.0, 0.0], "sorry": [0.0, 0.0, 1.0]}
    out = []
    for text in texts:
        key = "very" if "very" in text else "sorry" if "sorry" in text else "math"
        out.append(table[key])
    return np.array(out, dtype=np.float32)


def test_selection_keeps_the_best_diverse_train_rows_and_the_held_out_rows(workspace):
    fake_signals(workspace, {1: 0.5, 2: 0.9, 3: None, 4: 0.2, 5: 0.99})
    made = stages.select(workspace, "ifd", n=2, threshold=0.9, encode=encode_same_for_1_and_2)
    # candidates 1-4 (train); by IFD: 2 (0.9), 1 (0.5, same vector as 2: skipped), 4 (0.2)
    with open_workspace(workspace) as ws:
        rows = version_rows(ws, made["version"])
        recipe = version_recipe(ws, made["version"])
    assert [(r["origin"], r["split"]) for r in rows] == [("1:2", "train"), ("1:4", "train"),
                                                         ("1:5", "test")]
    selection = recipe["selection"]
    assert selection["formula"] == {"kind": "ifd", "weights": {"ifd": 1.0},
                                    "text": "ifd (rows with IFD < 1)"}
    assert {k: selection[k] for k in ("n", "percent", "size", "threshold", "candidates",
                                      "selected", "skipped_similar", "unscored",
                                      "held_out_rows", "embedding")} == {
        "n": 2, "percent": None, "size": 2, "threshold": 0.9, "candidates": 4, "selected": 2,
        "skipped_similar": 1, "unscored": 1, "held_out_rows": 1, "embedding": "given"}


def test_selection_per_meta_value_and_without_the_guard(workspace):
    fake_signals(workspace, {1: 0.5, 2: 0.9, 3: 0.1, 4: 0.2, 5: 0.99})
    made = stages.select(workspace, "ifd", percent=50, threshold=None, per_meta="topic")
    with open_workspace(workspace) as ws:
        origins = [r["origin"] for r in version_rows(ws, made["version"])]
    # 50% of 4 train rows = 2: one per topic (math: 1, 2; chat: 3, 4)
    assert origins == ["1:2", "1:4", "1:5"]
    assert made["selection"]["quotas"] == {"chat": 1, "math": 1}
    assert made["selection"]["embedding"] is None


def test_selection_before_the_quality_stage_says_what_to_run(workspace):
    with pytest.raises(StageError, match="no quality signals yet: run `workbench quality`"):
        stages.select(workspace, n=2)


def test_selection_refuses_an_unknown_signal(workspace):
    fake_signals(workspace, {1: 0.5})
    with pytest.raises(StageError, match="^formula: unknown signal 'typo'"):
        stages.select(workspace, "typo", n=2)


def test_the_table_has_one_column_per_signal_flag_and_reason(ws):
    from workbench.store.quality import COLUMNS

    columns = [r["column_name"] for r in ws.query(
        "SELECT column_name FROM information_schema.columns WHERE table_name = "
        "'quality_signals' ORDER BY ordinal_position")]
    assert sorted(columns) == sorted(["dataset_id", "example_id", *COLUMNS])


def test_the_page_job_runs_the_stage_and_reports_progress(workspace, tmp_path):
    from workbench.jobs import runner
    from workbench.stages.background import REGISTRY

    job_dir = runner.new_job(tmp_path / "jobs", "quality_launch",
                             {"workspace": str(workspace),
                              "quality": QualityConfig(model=False).to_dict()})
    result = runner.run_here(job_dir, REGISTRY)
    assert (result["rows"], result["scored"]) == (5, 0)
    assert runner.status(job_dir)["state"] == "succeeded"
    assert sorted(stored(workspace)) == [1, 2, 3, 4, 5]
