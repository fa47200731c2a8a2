"""Prompted systems: shot selection (fixed, retrieved), leakage exclusion, fitting to the
context, bad input, and generation with a prompted system on the tiny model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from common.errors import StageError
from curation.formats import Example
from evaluation.prompted import (
    PromptedSystem,
    build_messages,
    excluded_ids,
    fit_shots,
    fixed_shots,
    parse_spec,
    prompt_text,
    retrieved_shots,
)
from tests.prepared import conv
from tests.tiny_model import make_tiny_model
from workbench.store import open_workspace


def words(messages: list[dict]) -> int:
    """A hand-countable tokenizer: one token per whitespace word plus 1 per message."""
    return sum(len(m["content"].split()) + 1 for m in messages)


SHOT_A = conv("a b c", "d")        # 2 messages, 4 words: 6 tokens
SHOT_B = conv("e f", "g h i j")    # 2 messages, 6 words: 8 tokens
TEST = [{"role": "user", "content": "q r"}]  # 3 tokens; system "s t" = 3 tokens


@pytest.mark.parametrize(("budget", "kept"), [(20, 2), (19, 1), (12, 1), (11, 0), (6, 0)])
def test_shots_are_dropped_from_the_far_end_until_the_prompt_fits(budget, kept):
    # 0 shots: 3 + 3 = 6 tokens; 1 shot: 6 + 6 = 12; 2 shots: 12 + 8 = 20
    messages, count = fit_shots("s t", [SHOT_A, SHOT_B], TEST, words, budget)
    assert count == kept
    assert messages == build_messages("s t", [SHOT_A, SHOT_B][:kept], TEST)
    assert words(messages) == [6, 12, 20][kept]


def test_a_prompt_that_does_not_fit_without_shots_gives_none():
    assert fit_shots("s t", [SHOT_A], TEST, words, 5) is None


def test_the_test_prompts_own_system_turn_is_replaced_and_shot_system_turns_dropped():
    shot = [{"role": "system", "content": "old"}, *conv("x", "y")]
    test = [{"role": "system", "content": "old"}, {"role": "user", "content": "z"}]
    assert build_messages("new", [shot], test) == [
        {"role": "system", "content": "new"}, {"role": "user", "content": "x"},
        {"role": "assistant", "content": "y"}, {"role": "user", "content": "z"}]


def test_fixed_shots_are_drawn_once_with_the_seed_and_skip_a_rows_duplicates():
    # random.Random(7).shuffle([1, 2, 3, 4, 5]) -> [5, 1, 4, 2, 3]
    excluded = {10: {10, 5}, 11: {11}}
    assert fixed_shots([3, 1, 2, 5, 4], [10, 11], 3, 7, excluded) == {
        10: [1, 4, 2], 11: [5, 1, 4]}


def test_picked_shots_keep_their_order_and_an_excluded_one_is_left_out():
    assert fixed_shots([1, 2, 3], [10, 11], 2, 0, {10: {10, 3}, 11: {11}}, picked=(3, 1)) == {
        10: [1], 11: [3, 1]}


def test_k_larger_than_the_train_split_and_foreign_picked_ids_are_refused():
    with pytest.raises(ValueError, match="k=4 shots asked for, but the train split has only 3"):
        fixed_shots([1, 2, 3], [10], 4, 0, {})
    with pytest.raises(ValueError, match="shot id\\(s\\) 9 are not rows of the train split"):
        fixed_shots([1, 2, 3], [10], 1, 0, {}, picked=(9,))
    with pytest.raises(ValueError, match="k=3 shots asked for, but the train split has only 2"):
        retrieved_shots([10], np.ones((1, 2)), [1, 2], np.ones((2, 2)), 3, {})


def test_retrieved_shots_are_the_nearest_train_rows_nearest_first_ties_by_id():
    s = 0.5 ** 0.5
    test = np.array([[1.0, 0.0], [0.0, 1.0]])
    train = np.array([[s, s], [1.0, 0.0], [0.0, 1.0], [s, s]])  # ids 4, 5, 6, 7
    assert retrieved_shots([10, 11], test, [4, 5, 6, 7], train, 3, {}) == {
        10: [5, 4, 7], 11: [6, 4, 7]}
    # the nearest (a duplicate of row 10) is skipped and the next one moves up
    assert retrieved_shots([10], test[:1], [4, 5, 6, 7], train, 2, {10: {10, 5}}) == {
        10: [4, 7]}


def test_a_duplicate_cluster_excludes_all_its_members_from_each_others_shots():
    pairs = [(2, 2), (10, 2), (7, 7), (3, 3), (11, 3), (12, 3)]
    assert excluded_ids([10, 11, 20], pairs) == {10: {2, 10}, 11: {3, 11, 12}, 20: {20}}


def test_parse_spec_reads_name_file_and_options_and_names_a_bad_part():
    assert parse_spec("task=p.txt") == ("task", "p.txt", {})
    assert parse_spec(" 3-shot = p.txt ,k=3, shots=retrieved,base=/m ") == (
        "3-shot", "p.txt", {"k": 3, "shots": "retrieved", "base_model": "/m"})
    with pytest.raises(ValueError, match="expected NAME=FILE"):
        parse_spec("task")
    with pytest.raises(ValueError, match="unknown option 'n'"):
        parse_spec("task=p.txt,n=3")
    with pytest.raises(ValueError, match="bad option 'k=three'"):
        parse_spec("task=p.txt,k=three")


def test_prompt_text_refuses_empty_and_non_utf8_files():
    assert prompt_text("Réponds brièvement.\n".encode(), "p.txt") == "Réponds brièvement."
    with pytest.raises(ValueError, match="p.txt: the prompt file is empty"):
        prompt_text(b" \n\t", "p.txt")
    with pytest.raises(ValueError, match=r"p.txt: not UTF-8 text \(byte 3: b'\\xe9'\)"):
        prompt_text(b"R\xc3\xa9\xe9", "p.txt")


def test_a_system_lists_every_problem_at_once():
    with pytest.raises(ValueError) as info:
        PromptedSystem("x", " ", k=-1, shots="random").check()
    assert str(info.value) == ("'x': the system prompt is empty; 'x': k must be 0 or more, got "
                               "-1; 'x': shots must be one of fixed, retrieved, got 'random'")


# --- the stage, on a workspace ---------------------------------------------------------

TRAIN = {1: ("How do cats purr?", "By vibrating."), 2: ("What is the capital of France?",
                                                        "Paris."),
         3: ("How long do I boil an egg?", "Ten minutes."), 4: ("Why do dogs bark?", "To talk.")}
TESTS = {10: ("What's the capital of France?", "Paris."), 11: ("How do cats sleep?", "Curled.")}
VOCAB = ("capital", "cats", "boil", "dogs")


def bag_of_words(texts: list[str]) -> np.ndarray:
    """L2-normalized counts of VOCAB words (a stand-in for sentence embeddings)."""
    vectors = np.array([[t.lower().count(w) for w in VOCAB] for t in texts], dtype=float)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tiny-llama"))  # context 512 tokens


def _workspace(root, train=TRAIN, tests=TESTS):
    """Train rows 1-4, test rows 10-11; row 2 is a near-copy of test row 10 (one cluster)."""
    with open_workspace(root) as ws:
        rows = {**train, **tests}
        dataset_id = ws.add_dataset("t.jsonl", "t.jsonl", "openai", [
            Example(i, conv(q, a)) for i, (q, a) in rows.items()], [])
        ws.con.execute("UPDATE examples SET id = line")  # example id = the numbers above
        ws.replace_rows("splits", dataset_id, [
            {"example_id": i, "split": "train" if i in train else "test", "seed": 0}
            for i in rows])
        ws.replace_rows("dup_clusters", dataset_id, [
            {"example_id": 2, "level": "near", "representative_id": 2, "similarity": 1.0},
            {"example_id": 10, "level": "near", "representative_id": 2, "similarity": 0.9}])
        tests_rows = ws.split_examples(dataset_id, "test")
    return root, tests_rows


def test_the_planted_near_copy_of_a_test_row_is_never_its_shot(tmp_path, tiny_model):
    from workbench.stages.prompted import prepare

    root, rows = _workspace(tmp_path / "ws")
    systems = [PromptedSystem("all fixed", "Answer briefly.", k=4).to_dict(),
               PromptedSystem("retrieved", "Answer briefly.", k=2, shots="retrieved").to_dict()]
    out = prepare(root, systems, rows, {"all fixed": tiny_model, "retrieved": tiny_model},
                  max_new_tokens=16, seed=0, encode=bag_of_words)
    # random.Random(0).shuffle([1, 2, 3, 4]) -> [3, 1, 2, 4]; row 10 skips its copy, row 2
    assert [out["all fixed"][i]["shot_ids"] for i in (10, 11)] == [[3, 1, 4], [3, 1, 2, 4]]
    assert [out["all fixed"][i]["shots"] for i in (10, 11)] == [3, 4]
    # row 10's nearest train prompt is its copy (cosine 1): skipped; the rest tie at 0 -> ids
    assert [out["retrieved"][i]["shot_ids"] for i in (10, 11)] == [[1, 3], [1, 2]]
    first = out["retrieved"][10]["messages"]
    assert [m["content"] for m in first] == [
        "Answer briefly.", "How do cats purr?", "By vibrating.", "How long do I boil an egg?",
        "Ten minutes.", "What's the capital of France?"]


def test_long_shots_are_dropped_to_fit_the_tiny_models_context(tmp_path, tiny_model):
    from workbench.stages.prompted import prepare, token_counter

    long = " ".join(["word"] * 150)
    train = {1: (long, "ok"), 2: (long, "ok"), 3: (long, "ok")}
    root, rows = _workspace(tmp_path / "ws", train)
    system = PromptedSystem("long", "Answer.", k=3, shot_ids=(3, 1, 2)).to_dict()
    count, context = token_counter(tiny_model)
    out = prepare(root, [system], rows, {"long": tiny_model}, max_new_tokens=200)["long"]
    # budget 512 - 200 = 312: one 150-word shot fits, two do not
    assert context == 512
    assert [(out[i]["shots"], out[i]["shot_ids"]) for i in (10, 11)] == [(1, [3]), (1, [3])]
    assert all(count(out[i]["messages"]) <= 312 for i in (10, 11))
    assert count(build_messages("Answer.", [conv(long, "ok")] * 2,
                                [{"role": "user", "content": TESTS[10][0]}])) > 312


def test_shots_that_never_fit_and_k_beyond_the_train_split_are_one_clear_error(
        tmp_path, tiny_model):
    from workbench.stages.prompted import prepare

    long = " ".join(["word"] * 400)
    root, rows = _workspace(tmp_path / "ws", {1: (long, "ok"), 2: (long, "ok")})
    system = PromptedSystem("long", "Answer.", k=1).to_dict()
    with pytest.raises(StageError, match="'long': not even one of its 1 shot\\(s\\) fits any "
                                         "prompt within 312 tokens"):
        prepare(root, [system], rows, {"long": tiny_model}, max_new_tokens=200)
    too_many = PromptedSystem("many", "Answer.", k=5).to_dict()
    with pytest.raises(StageError, match="'many': k=5 shots asked for, but the train split "
                                         "has only 2 row"):
        prepare(root, [too_many], rows, {"many": tiny_model}, max_new_tokens=20)
    with pytest.raises(StageError, match="test example 10 alone exceed the model's context"):
        prepare(root, [PromptedSystem("big", long + " " + long).to_dict()], rows,
                {"big": tiny_model}, max_new_tokens=20)


def test_cli_prompted_values_read_their_files(tmp_path):
    from workbench.stages.prompted import from_cli

    (tmp_path / "p.txt").write_text("Be brief.\n")
    (tmp_path / "empty.txt").write_text("")
    assert from_cli([f"3-shot=%s,k=3,shots=retrieved" % (tmp_path / "p.txt")]) == [
        {"name": "3-shot", "system_prompt": "Be brief.", "k": 3, "shots": "retrieved",
         "shot_ids": [], "base_model": None}]
    with pytest.raises(StageError, match="empty.txt: the prompt file is empty"):
        from_cli([f"e={tmp_path / 'empty.txt'}"])
    with pytest.raises(StageError, match="nope.txt: prompt file not found"):
        from_cli([f"e={tmp_path / 'nope.txt'}"])
    with pytest.raises(StageError,
                       match="name\\(s\\) base used twice or reserved \\(base, tuned\\)"):
        from_cli([f"base={tmp_path / 'p.txt'}"])


def test_the_generate_command_refuses_a_non_utf8_prompt_file_before_any_run(tmp_path):
    from typer.testing import CliRunner

    from workbench.cli import app

    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe")
    result = CliRunner().invoke(app, ["generate", "-w", str(tmp_path / "ws"), "--prompted",
                                      f"p={tmp_path / 'bad.txt'},k=2"])
    assert result.exit_code == 1
    assert f"{tmp_path / 'bad.txt'}: not UTF-8 text (byte 0: b'\\xff')" in result.output
    assert not (tmp_path / "ws").exists()


def test_generate_stores_each_prompted_system_under_its_name_with_its_shot_counts(
        tmp_path, tiny_model):
    from training.config import TrainConfig
    from training.model import init_model
    from workbench.jobs.execute import in_this_process
    from workbench.stages.evaluation import generate
    from workbench.store import evaluation as store
    from workbench.store.prompted import shot_counts

    root, _ = _workspace(tmp_path / "ws")
    adapter = tmp_path / "adapter"
    init_model(tiny_model, TrainConfig(base_model=str(tiny_model))).save_pretrained(adapter)
    with open_workspace(root) as ws:
        ws.add_run("train-1", "train", ws.current_dataset(), "",
                   {"train": {"base_model": str(tiny_model)}})
        ws.finish_run("train-1", "succeeded", {"adapter": str(adapter), "steps": 0})
    prompted = [PromptedSystem("0-shot", "Answer briefly.").to_dict(),
                PromptedSystem("2-shot fixed", "Answer briefly.", k=2).to_dict()]
    summary = generate(root, eval_size=2, max_new_tokens=3, prompted=prompted,
                       run_job=in_this_process)
    assert summary["systems"] == ["base", "tuned", "0-shot", "2-shot fixed"]
    assert summary["prompted"] == {
        "0-shot": {"k": 0, "shots": "fixed", "mean_shots": 0.0, "min_shots": 0},
        "2-shot fixed": {"k": 2, "shots": "fixed", "mean_shots": 2.0, "min_shots": 2}}
    with open_workspace(root) as ws:
        rows = store.generations(ws, summary["run_id"])
        counts = shot_counts(ws, summary["run_id"])
        full = ws.query("SELECT example_id, full_prompt FROM generations WHERE system = "
                        "'2-shot fixed' ORDER BY example_id")
        prompts = ws.query("SELECT example_id, prompt FROM generations")
    assert sorted({r["system"] for r in rows}) == ["0-shot", "2-shot fixed", "base", "tuned"]
    assert counts == {"0-shot": {10: 0, 11: 0}, "2-shot fixed": {10: 2, 11: 2}}
    # seed 0 draws [3, 1, 2, 4]: the first two for both rows (2, row 10's copy, comes later)
    sent = {r["example_id"]: [m["content"] for m in json.loads(r["full_prompt"])][1::2]
            for r in full}
    assert sent == {i: [TRAIN[3][0], TRAIN[1][0], TESTS[i][0]] for i in (10, 11)}
    # what raters see is the same test prompt for every system
    assert {r["prompt"] for r in prompts if r["example_id"] == 10} == {
        json.dumps([{"role": "user", "content": TESTS[10][0]}])}
