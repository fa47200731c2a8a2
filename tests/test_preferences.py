"""Preference pairs from rating sessions: extraction (ties, both-bad, agreement filter,
de-randomization), the three export formats read back, and the one message for no pair."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from common.errors import InputError, StageError
from curation.pii import Span
from curation.privacy_gate import PrivacyGateError, answer_gate
from evaluation.preferences import (
    Pair,
    PreferenceError,
    decode,
    encode,
    extract_pairs,
    nothing_left,
    openai_row,
    provenance_lines,
    trl_row,
)
from evaluation.sessions import SessionDesign
from tests.sessions_data import add_generations, rate_every_item
from workbench.stages import preferences as stage
from workbench.store import open_workspace
from workbench.store import sessions as ss


@pytest.fixture
def workspace(empty_workspace):
    """conftest's empty workspace, in place of its prepared one."""
    return empty_workspace


def _row(item_no, rater, label, repeat=False, example_id=None):
    return {"session_id": 1, "item_no": item_no, "example_id": example_id or item_no,
            "rater": rater, "is_repeat": repeat, "label": label, "first_system": "base",
            "second_system": "tuned"}


# items: 1 tuned 2/3 · 2 tuned 3/3 · 3 tie · 4 both_bad · 5 split · 6 base 3/3 (+ a repeat
# of ana saying tuned, which is not a vote) · 7 rated by nobody (absent from the ratings)
RATINGS = [
    _row(1, "ana", "tuned"), _row(1, "bo", "tuned"), _row(1, "cy", "base"),
    _row(2, "ana", "tuned"), _row(2, "bo", "tuned"), _row(2, "cy", "tuned"),
    _row(3, "ana", "tie"), _row(3, "bo", "tie"), _row(3, "cy", "tuned"),
    _row(4, "ana", "both_bad"), _row(4, "bo", "both_bad"), _row(4, "cy", "base"),
    _row(5, "ana", "tuned"), _row(5, "bo", "base"), _row(5, "cy", "tie"),
    _row(6, "ana", "base"), _row(6, "bo", "base"), _row(6, "cy", "base"),
    _row(6, "ana", "tuned", repeat=True),
]
PROMPTS = {(1, e): [{"role": "user", "content": f"Q{e}?"}] for e in range(1, 8)}
OUTPUTS = {(1, e, s): f"{s} {e}" for e in range(1, 8) for s in ("base", "tuned")}


def test_pairs_keep_decisive_items_and_count_the_rest():
    found = extract_pairs(RATINGS, PROMPTS, OUTPUTS, min_agreement=1)
    assert found.counts == {"items": 6, "pairs": 3, "tie": 1, "both_bad": 1, "split": 1,
                            "below_agreement": 0}
    assert [(p.item_no, p.chosen, p.rejected, p.chosen_system, p.rejected_system, p.raters,
             p.agreed) for p in found.pairs] == [
        (1, "tuned 1", "base 1", "tuned", "base", ("ana", "bo", "cy"), 2),
        (2, "tuned 2", "base 2", "tuned", "base", ("ana", "bo", "cy"), 3),
        (6, "base 6", "tuned 6", "base", "tuned", ("ana", "bo", "cy"), 3)]
    assert [p.agreement for p in found.pairs] == [2 / 3, 1.0, 1.0]
    assert found.pairs[0].prompt == ({"role": "user", "content": "Q1?"},)


def test_agreement_filter_keeps_items_where_m_raters_chose_the_winner():
    found = extract_pairs(RATINGS, PROMPTS, OUTPUTS, min_agreement=3)
    assert [p.item_no for p in found.pairs] == [2, 6]
    assert found.counts["below_agreement"] == 1
    none = extract_pairs(RATINGS, PROMPTS, OUTPUTS, min_agreement=4)
    assert none.pairs == [] and none.counts["below_agreement"] == 3
    assert nothing_left(none.counts, [1], 4) == (
        "no preference pair in session 1: of 6 rated items, 1 tie, 1 both bad, 1 split, "
        "3 below agreement (min agreement 4: lower it to keep items fewer raters agreed on)")
    with pytest.raises(PreferenceError, match="min_agreement must be a whole number >= 1"):
        extract_pairs(RATINGS, PROMPTS, OUTPUTS, min_agreement=0)


def _rated_session(ws, choose) -> int:
    """A 6-item session (k = 2 of ana, bo; a quarter repeated), every item rated with
    ``choose(left_output, right_output)`` as shown."""
    run_id = add_generations(ws, 6)
    made = ss.create_session(ws, "s", run_id, SessionDesign(("base", "tuned"), 2, 0.25),
                             ["ana", "bo"], seed=7)
    rate_every_item(ws, made["tokens"].values(), choose)
    return made["session_id"]


def test_labels_are_derandomized_through_the_store(workspace):
    """Every rater always clicks A (the left answer): an item is a pair exactly when both
    raters had the same system on the left at their first showing, and that system is the
    one chosen."""
    with open_workspace(workspace) as ws:
        session_id = _rated_session(ws, lambda left, right: "A")
        raw = ss.raw_ratings(ws, session_id)
    firsts: dict[int, set] = {}
    for r in raw:
        if not r["is_repeat"]:
            firsts.setdefault(r["item_no"], set()).add(r["left_system"])
    expected = {no: lefts.pop() for no, lefts in firsts.items() if len(lefts) == 1}
    assert 0 < len(expected) < 6  # the seed gives both kinds of item
    found = stage.pairs(workspace, [session_id], min_agreement=2)
    assert {p.item_no: p.chosen_system for p in found.pairs} == expected
    assert all(p.chosen == f"{p.chosen_system} answer {p.example_id}" for p in found.pairs)
    assert found.counts["split"] == 6 - len(expected)


def test_a_session_without_a_decisive_pair_gives_one_message(workspace):
    with open_workspace(workspace) as ws:
        session_id = _rated_session(ws, lambda left, right: "tie")
    with pytest.raises(StageError) as caught:
        stage.pairs(workspace, [session_id])
    assert str(caught.value) == (f"no preference pair in session {session_id}: of 6 rated "
                                 "items, 6 tie")
    with pytest.raises(StageError, match="no rating session 9"):
        stage.pairs(workspace, [session_id, 9])


PAIRS = [Pair(1, 2, 5, ({"role": "system", "content": "Be brief."},
                        {"role": "user", "content": "Sum 2+2 — ünïcode?"}),
              "4", "5", "tuned", "base", ("ana", "bo"), 2, 1.0),
         Pair(3, 1, 8, ({"role": "user", "content": "Q8"},), "a\nb", "", "base", "tuned",
              ("cy",), 1, 1.0)]


@pytest.mark.parametrize("fmt", ["trl", "openai", "parquet"])
def test_each_format_reads_back_the_same_pairs(fmt):
    data = encode(PAIRS, fmt)
    side = provenance_lines(PAIRS) if fmt == "openai" else None
    assert decode(data, fmt, side) == PAIRS


def test_the_formats_are_the_documented_shapes():
    assert trl_row(PAIRS[0]) == {
        "prompt": [{"role": "system", "content": "Be brief."},
                   {"role": "user", "content": "Sum 2+2 — ünïcode?"}],
        "chosen": [{"role": "assistant", "content": "4"}],
        "rejected": [{"role": "assistant", "content": "5"}],
        "session_id": 1, "item_no": 2, "example_id": 5, "chosen_system": "tuned",
        "rejected_system": "base", "raters": ["ana", "bo"], "agreed": 2, "agreement": 1.0}
    assert openai_row(PAIRS[1]) == {
        "input": {"messages": [{"role": "user", "content": "Q8"}], "tools": [],
                  "parallel_tool_calls": True},
        "preferred_output": [{"role": "assistant", "content": "a\nb"}],
        "non_preferred_output": [{"role": "assistant", "content": ""}]}


def test_a_parquet_export_loads_as_a_trl_dataset(tmp_path):
    from datasets import load_dataset

    (tmp_path / "p.parquet").write_bytes(encode(PAIRS, "parquet"))
    rows = load_dataset("parquet", data_files=str(tmp_path / "p.parquet"), split="train")
    assert rows[0]["chosen"] == [{"role": "assistant", "content": "4"}]
    assert rows[1]["prompt"] == [{"role": "user", "content": "Q8"}]


@pytest.mark.parametrize("fmt,name", [("trl", "p.jsonl"), ("openai", "o.jsonl"),
                                      ("parquet", "p.parquet")])
def test_export_files_read_back_as_the_sessions_pairs(workspace, fmt, name):
    with open_workspace(workspace) as ws:
        session_id = _rated_session(ws, lambda left, right: "A" if "tuned" in left else "B")
    done = stage.export(workspace, [session_id], fmt, str(workspace / name), cwd=False)
    found = stage.pairs(workspace, [session_id])
    assert done["pairs"] == len(found.pairs) == 6
    assert all(p.chosen_system == "tuned" and p.agreement == 1.0 for p in found.pairs)
    assert stage.read_pairs(workspace, str(workspace / name)) == found.pairs
    if fmt == "openai":
        assert json.loads((workspace / "o.provenance.jsonl").read_text().splitlines()[0])[
            "session_id"] == session_id
    with pytest.raises(InputError, match="exists"):
        stage.export(workspace, [session_id], fmt, str(workspace / name), cwd=False)


def test_the_sessions_page_offers_the_pairs_as_a_download(workspace, downloads, monkeypatch):
    from tests.prepared import admin_page

    seen = downloads
    with open_workspace(workspace) as ws:
        session_id = _rated_session(ws, lambda left, right: "A" if "tuned" in left else "B")
    at = admin_page("views/sessions.py")
    assert not at.exception
    (trl,) = [d for d in seen if d.startswith(b'{"prompt"')]
    assert decode(trl, "trl") == stage.pairs(workspace, [session_id]).pairs
    at.selectbox(key="pref_format").set_value("openai").run()
    assert not at.exception
    assert len([d for d in seen if d.startswith(b'{"input"')]) == 1
    at.number_input(key="pref_min_agreement").set_value(3).run()
    assert [i.value for i in at.info] == [
        f"no preference pair in session {session_id}: of 6 rated items, 6 below agreement "
        "(min agreement 3: lower it to keep items fewer raters agreed on)"]
    assert "recheck" not in [b.key for b in at.button]  # no preference run yet
    with open_workspace(workspace) as ws:  # a DPO run that learned from this session
        ws.add_run("dpo-1", "dpo", None, str(workspace), {"lineage": {
            "start": {"from": "base"}, "preferences": {"sessions": [session_id]}}})
        ws.finish_run("dpo-1", "succeeded", {"steps": 2})
    started = []
    monkeypatch.setattr(stage, "start_recheck",
                        lambda path, run: started.append((path, run)) or path / "recheck-1")
    at = admin_page("views/sessions.py")
    assert at.selectbox(key="recheck_run").value == "dpo-1"
    at.button(key="recheck").click().run()
    assert not at.exception
    assert started == [(workspace.resolve(), "dpo-1")]
    assert at.success[-1].value.startswith("Started job recheck-1")


def test_export_refuses_paths_outside_the_allowed_folders(workspace, tmp_path):
    with pytest.raises(InputError, match="outside the folders outputs may be written to"):
        stage.export(workspace, [1], "trl", str(tmp_path.parent / "elsewhere.jsonl"),
                     cwd=False)


def test_a_file_that_is_not_an_export_is_named(workspace):
    (workspace / "bad.jsonl").write_text('{"prompt": []}\n')
    with pytest.raises(InputError, match="bad.jsonl line 1: not a TRL preference row"):
        stage.read_pairs(workspace, str(workspace / "bad.jsonl"))


def test_answer_gate_blocks_pii_in_answers_unless_accepted():
    found = [((1, 2), Span("PERSON", 0, 3, 0.85)), ((1, 2), Span("EMAIL_ADDRESS", 5, 9, 1.0)),
             ((1, 4), Span("PERSON", 0, 3, 0.3))]
    with pytest.raises(PrivacyGateError) as caught:
        answer_gate(found, accepted=False)
    assert "2 PII finding(s) with score >= 0.4 in the answers of 1 preference pair(s) " \
           "(EMAIL_ADDRESS 1, PERSON 1; session 1 item 2); these texts are model outputs, " \
           "which no dataset review covers" in str(caught.value)
    assert answer_gate(found, accepted=True) == {
        "findings": 2, "by_entity": {"EMAIL_ADDRESS": 1, "PERSON": 1}, "pairs": 1,
        "threshold": 0.4, "accepted": True}


# -- training and re-check on the tiny model ------------------------------------------------
def _workspace_with_prompts(root, n: int) -> int:
    """n examples in the test split and a generate run "gen-1" whose prompts are theirs:
    base answers "No idea.", tuned answers "The answer is <e>."."""
    from curation.formats import Example
    from tests.prepared import conv
    from workbench.store.splits import assign_splits

    with open_workspace(root) as ws:
        dataset_id = ws.add_dataset("t.jsonl", "t.jsonl", "openai",
                                    [Example(e, conv(f"What is {e} plus {e}?", f"{2 * e}."),
                                             {}) for e in range(1, n + 1)], [])
        assign_splits(ws, dataset_id, 0, (0.0, 0.0, 1.0))
        ws.add_run("gen-1", "generate", dataset_id, "", {})
        ws.finish_run("gen-1", "succeeded", {"prompts": n, "max_new_tokens": 4})
        ws.insert("generations", [
            {"run_id": "gen-1", "example_id": e, "system": system,
             "prompt": json.dumps([{"role": "user", "content": f"What is {e} plus {e}?"}]),
             "reference": f"{2 * e}.", "output": out}
            for e in range(1, n + 1)
            for system, out in (("base", "No idea."), ("tuned", f"The answer is {2 * e}."))])
        made = ss.create_session(ws, "first", "gen-1", SessionDesign(("base", "tuned"), 1),
                                 ["ana"], seed=1)
        rate_every_item(ws, [made["tokens"]["ana"]],
                        lambda left, right: "A" if "answer" in left else "B")
    return made["session_id"]


def test_dpo_learns_its_pairs_and_the_recheck_session_compares_it_with_its_start(
        workspace, tmp_path, monkeypatch):
    from tests.tiny_model import make_tiny_model
    from training.config import TrainConfig
    from workbench.jobs.execute import in_this_process
    from workbench.store import preferences as pstore

    tiny = make_tiny_model(tmp_path / "tiny")
    session_id = _workspace_with_prompts(workspace, 8)
    monkeypatch.setattr(stage, "_scan_answers", lambda texts: [[] for _ in texts])
    config = TrainConfig(method="dpo", base_model=str(tiny), max_steps=3, warmup_steps=0,
                         learning_rate=5e-3, batch_size=4, lora_dropout=0.0,
                         checkpoint_every=0, seed=0)
    summary = stage.train(workspace, config, session_ids=[session_id],
                          run_job=in_this_process)
    assert summary["method"] == "dpo" and summary["steps"] == 3 and summary["pairs"] == 8
    assert summary["first_loss"] == pytest.approx(0.6931, abs=1e-4)  # log 2: policy = reference
    assert summary["reward_accuracy"] > 0.5 and summary["reward_margin"] > 0
    assert summary["reference"] == "the base model (adapter disabled)"
    run_id = summary["run_id"]
    with open_workspace(workspace) as ws:
        run = pstore.run_record(ws, run_id)
    assert (run["kind"], run["state"]) == ("dpo", "succeeded")
    lineage = run["config"]["lineage"]
    assert lineage["preferences"]["sessions"] == [session_id]
    assert lineage["preferences"]["pair_ids"] == [[session_id, i] for i in range(1, 9)]
    assert lineage["privacy"]["answers"]["findings"] == 0
    log = stage.live_log(run["dir"])
    assert [r["step"] for r in log] == [1, 2, 3] and log[0]["reward_accuracy"] == 0.0

    made = stage.recheck_task({"workspace": str(workspace), "run": run_id},
                              lambda step, total, message: None)  # the page's job
    with open_workspace(workspace) as ws:
        info = ss.session(ws, made["session_id"])
        gen = pstore.run_record(ws, made["generate_run"])
    assert info["systems"] == ["base", "tuned"]
    assert info["name"] == f"re-check {run_id} vs base"
    assert gen["config"]["system_runs"] == {"tuned": run_id}
    assert gen["summary"]["prompts"] == 8 and gen["summary"]["max_new_tokens"] == 4
    assert made["items"] + made["auto_ties"] == 8
    assert made["raters"] == ["ana"] and "tokens" not in made  # the first session's raters


def test_preference_training_refuses_bad_starts(workspace):
    from training.config import TrainConfig

    session_id = _workspace_with_prompts(workspace, 4)
    with pytest.raises(StageError, match="'nope' is not a succeeded training run"):
        stage.train(workspace, TrainConfig(method="dpo", start_from="nope"),
                    session_ids=[session_id])
    with pytest.raises(StageError, match="method 'lora' trains on conversations"):
        stage.train(workspace, TrainConfig(method="lora"), session_ids=[session_id])
    with pytest.raises(StageError, match="not a succeeded preference run"):
        stage.recheck(workspace, "gen-1")


def test_the_train_page_plots_a_preference_run(tmp_path, monkeypatch):
    from tests.prepared import admin_page, prepare_workspace
    from workbench.jobs.files import write_jsonl
    from workbench.jobs.runner import write_json

    root = prepare_workspace(tmp_path / "ws", pii_reviewed=True)
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(root))
    job = root / "artifacts" / "jobs" / "dpo-1"
    job.mkdir(parents=True)
    write_json(job / "status.json", {"state": "succeeded"})
    write_jsonl(job / "train_log.jsonl", [
        {"step": s, "total": 2, "loss": 0.69 - s / 100, "reward_margin": s / 10,
         "reward_accuracy": s / 2} for s in (1, 2)])
    with open_workspace(root) as ws:
        ws.add_run("dpo-1", "dpo", None, str(job), {})
        ws.finish_run("dpo-1", "succeeded", {"steps": 2})
    at = admin_page("views/train.py")
    assert not at.exception
    assert "Preference runs (DPO, ORPO)" in [h.value for h in at.subheader]
    assert at.selectbox(key="show_pref_run").value == "dpo-1"


def test_the_privacy_gate_scans_answers_and_the_prompts_of_a_file(workspace, monkeypatch):
    """A PII finding in an answer stops the training; the prompts of pairs read from a file
    are scanned too."""
    from training.config import TrainConfig

    def scan(texts):
        return [[Span("PERSON", 0, 5, 0.85)] if "Alice" in t else [] for t in texts]

    monkeypatch.setattr(stage, "_scan_answers", scan)
    with open_workspace(workspace) as ws:
        add_generations(ws, 4, text=lambda e, s: f"{s} {e}" + (" Alice" if e == 3 else ""))
        made = ss.create_session(ws, "s", "gen-1", SessionDesign(("base", "tuned"), 1),
                                 ["ana"], seed=2)
        rate_every_item(ws, [made["tokens"]["ana"]],
                        lambda left, right: "A" if "tuned" in left else "B")
    config = TrainConfig(method="dpo")
    with pytest.raises(PrivacyGateError, match=r"in the answers of 1 preference pair\(s\) "
                                               r"\(PERSON 2; session 1 item 3\)"):
        stage.train(workspace, config, session_ids=[1])
    clean = [p for p in stage.pairs(workspace, [1]).pairs if p.example_id != 3]
    named = [Pair(**{**p.__dict__, "prompt": ({"role": "user", "content": "Alice?"},)})
             for p in clean[:1]]
    (workspace / "f.jsonl").write_bytes(encode(named, "trl"))
    with pytest.raises(PrivacyGateError) as caught:  # the finding is in the file's prompt
        stage.train(workspace, config, preferences=str(workspace / "f.jsonl"))
    assert "1 PII finding(s) with score >= 0.4 in the answers or prompts of 1 preference " \
           "pair(s) (PERSON 1; session 1 item 1); these texts are model outputs and prompts " \
           "read from a file, which no dataset review covers" in str(caught.value)


def test_the_cli_exports_pairs_and_says_why_there_are_none(workspace, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from workbench.cli import app

    monkeypatch.chdir(tmp_path)
    with open_workspace(workspace) as ws:
        session_id = _rated_session(ws, lambda left, right: "A" if "tuned" in left else "B")
    ws_arg = str(workspace)
    result = CliRunner().invoke(app, ["preferences", "-w", ws_arg, "--session", str(session_id),
                                      "--min-agreement", "2", "--format", "openai",
                                      "--out", "p.jsonl"])
    assert result.exit_code == 0, result.output
    done = json.loads(result.output)
    assert (done["pairs"], done["counts"]["items"]) == (6, 6)
    assert done["provenance"] == str(tmp_path / "p.provenance.jsonl")
    assert len((tmp_path / "p.jsonl").read_text().splitlines()) == 6
    result = CliRunner().invoke(app, ["preferences", "-w", ws_arg, "--session", str(session_id),
                                      "--min-agreement", "3", "--out", "q.jsonl"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"error: no preference pair in session {session_id}: of 6 rated items, 6 below "
        "agreement (min agreement 3: lower it to keep items fewer raters agreed on)")
    assert not (tmp_path / "q.jsonl").exists()
    result = CliRunner().invoke(app, ["train", "-w", ws_arg, "--method", "dpo"])
    assert result.output.strip().splitlines()[-1].startswith(
        "error: method dpo trains on rated preference pairs, not on the train split")


def test_reference_without_a_second_model_and_resume_from_a_checkpoint(tmp_path):
    """From the base the reference is the base with the adapter disabled; a run restarted in
    its folder continues from its newest checkpoint; from an adapter the reference is a
    frozen copy of it (peft adapter 'ref'), which is not saved. No second model either way."""
    from tests.tiny_model import make_tiny_model
    from training.config import TrainConfig
    from training.preference import train_preferences

    tiny = make_tiny_model(tmp_path / "tiny")
    rows = [{"prompt": [{"role": "user", "content": f"Q{i}?"}],
             "chosen": [{"role": "assistant", "content": f"Yes {i}."}],
             "rejected": [{"role": "assistant", "content": f"No no {i}!"}]} for i in range(4)]
    config = TrainConfig(method="dpo", base_model=str(tiny), max_steps=1, warmup_steps=0,
                         batch_size=2, lora_dropout=0.0, checkpoint_every=1, keep_checkpoints=1)
    logged = []
    first = train_preferences(rows, config, tmp_path / "a", on_log=logged.append)
    assert first["reference"] == "the base model (adapter disabled)"
    assert (first["steps"], first["resumed_from"]) == (1, None)
    assert [p.name for p in (tmp_path / "a" / "checkpoints").glob("checkpoint-*")] == [
        "checkpoint-1"]
    config.max_steps = 2
    again = train_preferences(rows, config, tmp_path / "a", on_log=logged.append)
    assert (again["steps"], again["resumed_from"]) == (2, 1)
    assert [r["step"] for r in logged] == [1, 2]
    config.checkpoint_every = 0
    second = train_preferences(rows, config, tmp_path / "b",
                               start_adapter=Path(again["adapter"]))
    assert second["reference"] == "a frozen copy of the start adapter (peft adapter 'ref')"
    assert second["trainable_params"] == first["trainable_params"]  # the copy is frozen
    assert sorted(p.name for p in (tmp_path / "b" / "adapter").iterdir()) == [
        "README.md", "adapter_config.json", "adapter_model.safetensors"]
