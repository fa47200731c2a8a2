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
