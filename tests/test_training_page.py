"""The Train page: the form comes from TrainConfig, runs are listed and compared."""

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.prepared import admin_page, prepare_workspace
from training.config import TrainConfig
from workbench.store import open_workspace


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    root = prepare_workspace(tmp_path / "ws", pii_reviewed=True)
    with open_workspace(root) as ws:  # a second run with another rank, to compare
        ws.add_run("train-2", "train", 1, str(root), {"train": TrainConfig(lora_rank=8)
                                                      .to_dict()})
        ws.finish_run("train-2", "succeeded", {"steps": 2, "final_loss": 1.2})
        ws.con.execute("UPDATE runs SET config = ? WHERE id = 'train-1'",
                       [json.dumps({"train": TrainConfig().to_dict()})])
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(root))
    return root


def train_page() -> AppTest:
    return admin_page("views/train.py")


def test_train_page_lists_runs_and_diffs_their_configs(workspace):
    at = train_page()
    assert not at.exception, at.exception
    runs = at.dataframe[0].value  # AppTest does not expose a dataframe's key
    assert sorted(runs["run"]) == ["train-1", "train-2"]
    assert set(runs["state"]) == {"succeeded"}
    diff = at.dataframe[1].value
    assert list(diff.index) == ["lora_rank"]


def test_the_form_has_one_widget_per_config_field_and_refuses_an_invalid_config(workspace):
    at = train_page()
    at.number_input(key="cfg_lora_rank").set_value(0)
    at.number_input(key="cfg_batch_size").set_value(0)
    at.button(key="start_training").click()
    at.run()
    assert not at.exception, at.exception
    assert at.error[0].value == ("invalid training config: lora_rank must be >= 1, got 0; "
                                 "batch_size must be >= 1, got 0")


def test_loss_curves_of_a_run_and_of_the_compared_runs_are_drawn(workspace):
    with open_workspace(workspace) as ws:
        folders = {row["dir"] for row in ws.query("SELECT dir FROM runs WHERE kind = 'train'")}
    for folder in folders:
        (Path(folder) / "train_log.jsonl").write_text(
            '{"step": 1, "loss": 2.0, "val_loss": null}\n{"step": 2, "loss": 1.5, '
            '"val_loss": 1.7}\n')
    at = train_page()
    assert not at.exception, at.exception  # st.line_chart(key=...) raised TypeError here
    assert len(at.get("vega_lite_chart")) == 2  # the shown run's, the comparison's


def test_the_form_names_its_data_offers_presets_and_labels_fields_in_words(workspace):
    from workbench.store.versions import split_version

    with open_workspace(workspace) as ws:
        vid, counts = split_version(ws, 1)
    assert counts == {"test": 3, "train": 5, "validation": 1}  # one duplicate is out
    at = train_page()
    assert at.selectbox(key="train_data").value == ""  # the current split
    assert f"This run will train on version `{vid[:12]}`" in [c.value for c in at.caption][0]
    rank = at.number_input(key="cfg_lora_rank")
    assert rank.label == "LoRA rank" and rank.help.endswith("Config field: `lora_rank`")
    at.selectbox(key="preset").select("full").run()
    assert not at.exception, at.exception
    assert (at.selectbox(key="cfg_method").value, at.number_input(key="cfg_learning_rate").value,
            at.selectbox(key="cfg_lr_schedule").value) == ("full", 2e-5, "cosine")


def running_run(root: Path, records: list[dict], state: str, store_state: str = "running"):
    """train-2 in a job folder of its own, its status.json saying ``state`` (this process as
    its pid) while the store still says ``store_state``."""
    import os

    folder = root / "artifacts" / "jobs" / "train-2"
    folder.mkdir(parents=True)
    (folder / "status.json").write_text(json.dumps({"state": state, "pid": os.getpid()}))
    (folder / "train_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    with open_workspace(root) as ws:
        ws.con.execute("UPDATE runs SET dir = ?, state = ? WHERE id = 'train-2'",
                       [str(folder), store_state])


def step(s: int, elapsed: float) -> dict:
    return {"step": s, "total": 10, "loss": 2.0 - s / 10, "elapsed_s": elapsed,
            "val_loss": None}


def test_the_runs_table_and_the_status_line_read_the_same_state(workspace):
    running_run(workspace, [step(1, 4.0), step(2, 6.0)], "succeeded")
    at = train_page()
    at.selectbox(key="show_run").select("train-2").run()
    runs = at.dataframe[0].value.set_index("run")
    assert runs.loc["train-2", "state"] == "succeeded"  # the store still says running
    assert at.get("progress")[0].proto.text == "train-2 · succeeded · step 2/10 · loss 1.200"
    spec = at.get("vega_lite_chart")[0].proto.spec
    assert "training loss" in spec and "validation loss" not in spec  # no empty series
    assert "loss (nats/token)" in spec  # the y axis is titled


def test_no_eta_until_two_step_times_are_measured_then_one_from_them(workspace):
    running_run(workspace, [step(1, 4.0), step(2, 6.0)], "running")
    at = train_page()
    at.selectbox(key="show_run").select("train-2").run()
    assert at.get("progress")[0].proto.text == (
        "train-2 · running · step 2/10 · loss 1.800 · ETA after two measured steps")
    with open(workspace / "artifacts" / "jobs" / "train-2" / "train_log.jsonl", "a") as log:
        log.write(json.dumps(step(3, 8.0)) + "\n")
    at.run()
    text = at.get("progress")[0].proto.text
    assert text.startswith("train-2 · running · step 3/10 · loss 1.700 · ETA ")
    seconds = int(text.rsplit("ETA ", 1)[1].rstrip("s"))
    assert 9 <= seconds <= 14  # 2 s a step × 7 steps left, less the time since the record


def test_a_frozen_version_trains_on_its_own_rows(workspace):
    from workbench.stages.training import frozen_rows
    from workbench.store.versions import create_version

    with open_workspace(workspace) as ws:
        made = create_version(ws, 1, "frozen")
        ws.con.execute("DELETE FROM splits")  # the dataset is re-split since: the version holds
        dataset_id, train, validation = frozen_rows(ws, made["id"])
    assert dataset_id == 1
    assert [len(train), len(validation)] == [5, 1]
    assert train[0]["messages"][0]["content"].startswith("Question ")
    assert {"id", "meta", "messages"} == set(train[0])


def test_more_training_processes_than_cores_is_refused_on_the_page_before_a_job(workspace):
    from training.distributed import available_cores

    cores = available_cores()
    at = train_page()
    at.number_input(key="cfg_processes").set_value(cores + 1)
    at.button(key="start_training").click()
    at.run()
    assert not at.exception, at.exception
    assert at.error[0].value == (f"processes {cores + 1} is more than the {cores} CPU core(s) "
                                 f"this machine gives the workbench: one process per core, so "
                                 f"at most {cores}")
    assert "train_launch" not in at.session_state
    assert not list((workspace / "artifacts" / "jobs").glob("train_launch-*"))


def test_the_export_of_a_run_shows_its_llama_cpp_verification_table(workspace):
    rows = [{"type": t, "file": f, "size_mb": size, "perplexity": ppl, "tokens_per_s": speed,
             "identical_tokens": same, "compared": 96, "first_divergence": None,
             "stopped": 3, "prompts": 3, "answers_equal": 3}
            for t, f, size, ppl, speed, same in (
                ("F32", "model.gguf", 513.0, 4.2, 40.0, 96),
                ("Q4_K_M", "model-q4_k_m.gguf", 100.5, 4.6, 120.0, 40))]
    export = workspace / "export"
    export.mkdir()
    (export / "export.json").write_text(json.dumps({"llama_cpp": {"rows": rows,
                                                                  "threads": 2}}))
    at = train_page()
    assert not at.exception, at.exception
    assert at.selectbox(key="export_pick").value == "train-1"
    table = next(d.value for d in at.dataframe if "size (MB)" in d.value.columns)
    assert table.to_dict("records") == [
        {"type": "F32", "file": "model.gguf", "size (MB)": 513.0, "held-out perplexity": 4.2,
         "tokens/s": 40.0, "greedy tokens identical": "96/96", "stopped at <|im_end|>": "3/3"},
        {"type": "Q4_K_M", "file": "model-q4_k_m.gguf", "size (MB)": 100.5,
         "held-out perplexity": 4.6, "tokens/s": 120.0, "greedy tokens identical": "40/96",
         "stopped at <|im_end|>": "3/3"}]
