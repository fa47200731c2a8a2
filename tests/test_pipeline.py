"""Stages over a real workspace, and the whole pipeline on a tiny dataset (slow)."""

import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import write_jsonl
from training.config import TrainConfig
from training.model import ensure_base_model, init_model
from workbench.stages import curation as stages
from workbench.stages.pipeline import PipelineOptions, pipeline
from workbench.stages.report import gather
from workbench.store import open_workspace


def test_openai_toy_file_findings_are_exactly_the_three_known_flaws(shared_data, tmp_path):
    ws = tmp_path / "ws"
    stages.ingest(ws, str(shared_data / "openai_chat_toy_fine_tuning.jsonl"))
    summary = stages.validate(ws)
    with open_workspace(ws) as store:
        found = store.query("SELECT e.line, f.code, f.severity FROM findings f JOIN examples e "
                            "ON e.id = f.example_id ORDER BY e.line")
    assert found == [{"line": 3, "code": "missing_system", "severity": "info"},
                     {"line": 4, "code": "missing_user", "severity": "error"},
                     {"line": 5, "code": "too_many_tokens", "severity": "error"}]
    assert summary["error_rows"] == 2
    assert summary["by_severity"] == {"info": 1, "error": 2}


def test_too_few_rows_for_a_test_split_completes_with_null_metrics_and_a_reason(tmp_path):
    rows = [{"messages": [{"role": "user", "content": f"Say {w}."},
                          {"role": "assistant", "content": f"{w}."}]}
            for w in ("apple", "river", "violin")]
    path = write_jsonl(tmp_path / "three.jsonl", rows)
    summary = pipeline(PipelineOptions(input=str(path), workspace=str(tmp_path / "ws"),
                                       max_train_steps=1, eval_size=2, max_new_tokens=4))
    assert summary["split"] == {"train": 3, "validation": 0, "test": 0}
    assert summary["leakage"] == {"held_out": 0, "above_threshold": 0, "max_similarity": None,
                                  "threshold": 0.95}
    assert list(summary["timings"]) == ["ingest", "validate", "dedup", "pii", "split",
                                        "leakage", "train", "generate"]
    assert summary["metrics"] is None
    assert summary["metrics_reason"].startswith("the test split is empty")
    assert summary["verdict"].startswith("no verdict: the test split is empty")
    assert summary["train"]["steps"] == 1


@pytest.mark.slow
def test_pipeline_with_two_training_steps_changes_every_lora_parameter(tmp_path):
    topics = ["bread", "tea", "rain", "maps", "chess", "bees", "glass", "tides", "ink", "salt",
              "clocks", "moss", "kites", "soap", "wool", "lamps", "owls", "rice", "sand", "bells"]
    rows = [{"messages": [{"role": "user", "content": f"Tell me one fact about {t}."},
                          {"role": "assistant", "content": f"A short fact about {t}."}]}
            for t in topics]
    path = write_jsonl(tmp_path / "facts.jsonl", rows)
    ws = tmp_path / "ws"
    summary = pipeline(PipelineOptions(input=str(path), workspace=str(ws), max_train_steps=2,
                                       eval_size=2, max_new_tokens=8))
    assert summary["split"] == {"train": 16, "validation": 2, "test": 2}
    assert summary["train"]["steps"] == 2
    assert set(summary["metrics"]) == {"base", "tuned"}
    assert summary["verdict"].startswith(("Tuned beats base on ROUGE-L by ",
                                          "Tuned trails base on ROUGE-L by ",
                                          "No clear difference between tuned and base on "))
    assert summary["verdict"].endswith(", n=2); no blind ratings yet (rate the pairs in a "
                                       "rating session). Too few held-out rows for a firm "
                                       "conclusion.")
    trained = load_file(f"{summary['train']['adapter']}/adapter_model.safetensors")
    initial = {name.replace(".default", ""): param.detach()
               for name, param in init_model(ensure_base_model(), TrainConfig(seed=0))
               .named_parameters() if "lora_" in name}
    assert set(trained) == set(initial) and len(initial) == 4 * 30 * 2  # q,k,v,o × layers × A,B
    unchanged = [name for name, value in initial.items() if torch.equal(trained[name], value)]
    assert unchanged == []
    full = gather(ws)
    assert full["lineage"]["dataset_version"] == summary["train"]["dataset_version"]
