"""The data ablation: equal token budgets, the random-p% arm, the comparison table, and the
bad inputs that stop it before any training. Training uses the tiny model
(tests/tiny_model.py) run in this process."""

from __future__ import annotations

import math

import pytest

from common.errors import StageError
from curation.subset import random_subset, subset_size
from evaluation.ablation import ablation_table
from tests.prepared import conv, prepare_workspace
from tests.tiny_model import make_tiny_model
from training.budget import BudgetTooSmall, step_tokens, steps_for_budget
from training.config import TrainConfig
from workbench.jobs.execute import in_this_process
from workbench.store import open_workspace


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


def tiny_config(model, **overrides) -> TrainConfig:
    return TrainConfig(**{"base_model": str(model), "batch_size": 2, "warmup_steps": 0,
                          "checkpoint_every": 0, "max_seq_len": 64, **overrides})


def test_the_budget_stops_at_the_first_step_that_reaches_it():
    # seed 0 batches [5, 1, 4, 2] as [[0, 2], [3, 1]] per epoch: steps of 9 and 3 tokens
    assert steps_for_budget([5, 1, 4, 2], 2, 1, 0, 9) == (1, 9)
    assert steps_for_budget([5, 1, 4, 2], 2, 1, 0, 10) == (2, 12)
    assert steps_for_budget([5, 1, 4, 2], 2, 1, 0, 22) == (4, 24)
    assert steps_for_budget([5, 1, 4, 2], 2, 2, 0, 12) == (1, 12)  # two batches per step


def test_a_budget_below_one_step_is_refused():
    with pytest.raises(BudgetTooSmall, match="budget 8 is smaller than one optimizer step "
                                             r"\(9 non-padding tokens\)"):
        steps_for_budget([5, 1, 4, 2], 2, 1, 0, 8)


def test_random_subset_keeps_a_seeded_share_of_the_train_rows_and_every_held_out_row():
    rows = [{"origin": f"1:{i}", "split": "train" if i < 10 else "test"} for i in range(13)]
    picked = random_subset(rows, 20, seed=0)
    # random.Random(0).sample(range(10), 2) == [6, 9]: 2 of the 10 train rows, order kept
    assert [r["origin"] for r in picked] == ["1:6", "1:9", "1:10", "1:11", "1:12"]
    assert [r["origin"] for r in random_subset(rows, 20, seed=0)] == \
        [r["origin"] for r in picked]
    assert [r["origin"] for r in random_subset(rows, 20, seed=1)][:2] == ["1:1", "1:2"]
    assert subset_size(7473, 20) == 1495


def test_the_table_gives_each_arm_minus_the_baseline_with_its_direction():
    scores = {"all": {"rougeL": {1: 0.5, 2: 0.5, 3: 0.5}, "heldout_loss": {1: 2.0, 2: 2.0}},
              "random": {"rougeL": {1: 0.2, 2: 0.3, 3: 0.1}, "heldout_loss": {1: 1.0, 2: 1.5}}}
    rows = ablation_table(scores, "all", n_resamples=200)
    rouge, loss = rows
    assert (rouge["arm"], rouge["metric"], rouge["n"]) == ("random", "rougeL", 3)
    assert rouge["diff"] == pytest.approx(-0.3) and rouge["high"] < 0
    assert rouge["better"] == "baseline"
    assert loss["diff"] == pytest.approx(-0.75) and loss["better"] == "arm"  # lower loss wins


def workspace_with_split(root, n: int = 16):
    from curation.formats import Example
    from workbench.store.splits import assign_splits

    with open_workspace(root) as ws:
        dataset_id = ws.add_dataset("t.jsonl", "t.jsonl", "openai",
                                    [Example(i + 1, conv(f"What is {i} plus {i}?",
                                                         f"{i} plus {i} is {2 * i}."))
                                     for i in range(n)], [])
        assign_splits(ws, dataset_id, 0, (0.75, 0.0, 0.25))
    return root


def test_a_version_arm_is_labelled_by_its_note_and_short_id(tmp_path):
    from workbench.stages.ablation import _resolve
    from workbench.store.versions import create_version, curated_rows

    ws = workspace_with_split(tmp_path / "ws")
    with open_workspace(ws) as w:
        rows = curated_rows(w, w.current_dataset())
        noted = create_version(w, w.current_dataset(), "top 20% by IFD", rows[:4])["id"]
        bare = create_version(w, w.current_dataset(), "", rows[4:8])["id"]
        assert (_resolve(w, noted, 0)["label"], len(_resolve(w, noted, 0)["rows"])) == (
            f"top 20% by IFD ({noted[:8]})", 4)
        assert _resolve(w, bare, 0)["label"] == bare


def test_versions_without_a_common_test_row_are_one_clear_message(tmp_path, tiny_model):
    from workbench.stages.ablation import ablate
    from workbench.store.versions import create_version, curated_rows

    ws = workspace_with_split(tmp_path / "ws")
    with open_workspace(ws) as w:
        rows = curated_rows(w, w.current_dataset())
        only_train = create_version(w, w.current_dataset(), "train only",
                                    [r for r in rows if r["split"] == "train"])["id"]
    with pytest.raises(StageError, match=r"have no test row in common"):
        ablate(ws, ["all", only_train], tiny_config(tiny_model), steps=1)


def test_a_budget_below_one_batch_stops_before_any_training(tmp_path, tiny_model):
    from workbench.stages.ablation import ablate

    ws = workspace_with_split(tmp_path / "ws")
    with pytest.raises(StageError, match=r"smaller than one optimizer step .* of arm "
                                         r"everything kept: give a budget of at least one"):
        ablate(ws, ["all", "random:50"], tiny_config(tiny_model), budget_tokens=5)
    with open_workspace(ws) as w:
        assert w.query("SELECT id FROM runs WHERE kind = 'train'") == []


def test_each_arm_trains_until_it_has_consumed_the_same_token_budget(
        tmp_path, tiny_model, evaluate_cache, monkeypatch):
    from workbench.jobs import bodies, slot
    from workbench.stages.ablation import ablate

    # this test's own slot: the machine's slot may be held by another workspace's job
    monkeypatch.setattr(bodies, "compute_slot", lambda report=None: slot.compute_slot(
        report, tmp_path / "slot.lock"))
    from workbench.stages.training import live_log
    from workbench.store import training as train_store

    ws = workspace_with_split(tmp_path / "ws")
    budget = 150
    result = ablate(ws, ["all", "random:50"], tiny_config(tiny_model), budget_tokens=budget,
                    eval_size=4, max_new_tokens=4, run_job=in_this_process)
    arms = result["arms"]
    assert [(a["label"], a["train_rows"]) for a in arms] == [("everything kept", 12),
                                                             ("random 50%", 6)]
    for arm in arms:
        with open_workspace(ws) as w:
            log = live_log(train_store.train_run(w, arm["run_id"])["dir"])
        tokens = [r["tokens"] for r in log]
        assert len(tokens) == arm["steps"]
        assert sum(tokens[:-1]) < budget <= sum(tokens)  # stopped at the step reaching it
        assert arm["trained_tokens"] == arm["planned_tokens"] == sum(tokens)
    assert result["test_rows"] == 4
    assert {(r["arm"], r["metric"]) for r in result["table"]} == {
        ("random 50%", "rougeL"), ("random 50%", "heldout_loss"),
        ("base model", "rougeL"), ("base model", "heldout_loss")}
    assert all(math.isfinite(r["diff"]) for r in result["table"])


def test_the_tokens_of_a_step_are_the_recipes_non_padding_tokens(tiny_model):
    from training.batching import encode_with_exclusions, make_parts, real_tokens
    from training.model import load_tokenizer

    tokenizer = load_tokenizer(tiny_model)
    rows, _ = encode_with_exclusions(tokenizer, [conv("Hi", "Hello there."), conv("A?", "B."),
                                                 conv("Long question here?", "Yes.")], 64)
    lengths = [len(r["input_ids"]) for r in rows]
    first = next(step_tokens(lengths, 2, 1, 0))
    config = tiny_config(tiny_model)
    from training.batching import batch_stream

    batch = next(batch_stream(lengths, 2, 0))
    parts = make_parts([rows[i] for i in batch], config, tokenizer.pad_token_id)
    assert first == sum(real_tokens(p) for p in parts) == sum(lengths[i] for i in batch)


def test_the_train_page_shows_the_latest_ablation_and_refuses_a_single_arm(workspace):
    from tests.prepared import admin_page

    arms = [{"label": "everything kept", "version": "v1", "train_rows": 5, "steps": 3,
             "planned_tokens": 120, "trained_tokens": 120, "run_id": "train-a",
             "final_loss": 1.0}]
    table = [{"arm": "random 20%", "metric": "rougeL", "n": 3, "mean": 0.2,
              "baseline_mean": 0.5, "diff": -0.3, "low": -0.4, "high": -0.2,
              "better": "baseline"}]
    with open_workspace(workspace) as ws:
        ws.record_stage("ablate", ws.current_dataset(), {}, {
            "arms": arms, "table": table, "test_rows": 3, "extractor": None})
    at = admin_page("views/train.py")
    assert not at.exception, at.exception
    (shown,) = [d.value for d in at.dataframe if "verdict" in d.value.columns]
    assert shown[["arm", "difference", "verdict"]].values.tolist() == [
        ["random 20%", -0.3, "baseline"]]
    at.checkbox(key="ablate_random").uncheck()
    at.button(key="ablate_start").click().run()
    assert [e.value for e in at.error] == ["an ablation needs at least two versions to compare"]


def test_a_blind_session_over_the_arms_answers_gives_each_rater_a_token(tmp_path):
    from workbench.stages.ablation import blind_session

    ws = prepare_workspace(tmp_path / "ws")
    made = blind_session(ws, "generate-1", ["base", "tuned"], ["ana"], "ablation g1")
    assert (made["name"], made["systems"], list(made["tokens"])) == (
        "ablation g1", ["base", "tuned"], ["ana"])
    with open_workspace(ws) as w:
        # one item per example answered by both (4, 5, 6); 5's identical pair is auto-tied
        assert w.scalar("SELECT count(*) FROM session_items WHERE session_id = ?",
                        [made["session_id"]]) == 3


def test_the_command_refuses_both_a_budget_and_steps_in_one_line(tmp_path):
    import subprocess
    import sys

    ws = workspace_with_split(tmp_path / "ws")
    result = subprocess.run([sys.executable, "-m", "workbench", "ablate", "-w", str(ws),
                             "--version", "all", "--version", "random:20",
                             "--budget-tokens", "1000", "--steps", "3"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: give exactly one of a token budget (--budget-tokens) and a step count "
        "(--steps)")
