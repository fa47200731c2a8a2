"""The validate stage with the real tokenizer: token counts kept, rows with no trainable token
found with the code and the max_seq_len training uses."""

from tests.conftest import write_jsonl
from workbench.stages import curation as stages
from workbench.store import open_workspace


def test_a_prompt_longer_than_max_seq_len_leaves_no_trainable_tokens(tmp_path):
    rows = [{"messages": [{"role": "system", "content": "Be brief."},
                          {"role": "user", "content": "word " * 300},
                          {"role": "assistant", "content": "Done."}]},
            {"messages": [{"role": "system", "content": "Be brief."},
                          {"role": "user", "content": "Hi"},
                          {"role": "assistant", "content": "Hello."}]}]
    ws = tmp_path / "ws"
    stages.ingest(ws, str(write_jsonl(tmp_path / "long.jsonl", rows)))
    summary = stages.validate(ws, max_seq_len=128)
    assert summary["by_code"] == {"too_many_tokens": 1, "no_trainable_tokens": 1}
    with open_workspace(ws) as store:
        counts = store.frame("SELECT example_id, n_tokens, trainable_tokens, openai_tokens "
                             "FROM example_tokens WHERE dataset_id = 1 ORDER BY example_id")
    assert counts["example_id"].tolist() == [1, 2]
    assert counts["trainable_tokens"].tolist()[0] == 0
    assert counts["n_tokens"].tolist()[0] > 300 > counts["n_tokens"].tolist()[1]
    short = counts.iloc[1]
    # "Hello." + <|im_end|>: the assistant content and its end-of-turn token are trainable
    assert short["trainable_tokens"] == 3
    # guide: 3 + 3 messages x 3 + roles 3 + "Be brief." 3 + "Hi" 1 + "Hello." 2 (cl100k)
    assert short["openai_tokens"] == 21


def test_unreadable_file_is_one_input_error(tmp_path):
    import os

    import pytest

    from curation.formats import read_file
    from common.errors import InputError

    path = write_jsonl(tmp_path / "locked.jsonl", [{"prompt": "p", "completion": "c"}])
    os.chmod(path, 0)
    if os.access(path, os.R_OK):  # root reads anything: use a path that cannot be read
        path = tmp_path / "dir.jsonl"
        path.mkdir()
        with pytest.raises(InputError, match="not one saved by datasets' save_to_disk"):
            read_file(path)
        return
    with pytest.raises(InputError, match="cannot be read"):
        read_file(path)


LONG_PROMPT = [{"role": "user", "content": "Summarize: " + "The quarterly revenue grew "
                                           "steadily across all regions." * 140},
               {"role": "assistant", "content": "Revenue grew everywhere."}]


def test_a_row_training_would_exclude_is_a_validation_finding_with_trainings_code():
    from curation.validate import ValidateConfig, validate
    from training.config import TrainConfig
    from training.data import measure
    from training.model import ensure_base_model, load_tokenizer
    from training.batching import encode_with_exclusions

    tokenizer = load_tokenizer(ensure_base_model())
    n_tokens, trainable = measure(tokenizer, LONG_PROMPT, TrainConfig().max_seq_len)
    assert 1024 < n_tokens < 2048 and trainable == 0  # passed validation at 2048
    findings = validate([(1, LONG_PROMPT)], ValidateConfig(check_language=False),
                        count_tokens=lambda m: measure(tokenizer, m, 1024)[0],
                        count_trainable=lambda m: measure(tokenizer, m, 1024)[1])
    assert [(f.code, f.severity) for f in findings] == [
        ("missing_system", "info"), ("too_many_tokens", "error"),
        ("no_trainable_tokens", "error")]
    _, excluded = encode_with_exclusions(tokenizer, [LONG_PROMPT], TrainConfig().max_seq_len)
    assert [e["reason"] for e in excluded] == ["no_trainable_tokens"]


def test_the_validate_stage_uses_trainings_max_seq_len_by_default(tmp_path):
    ws = tmp_path / "ws"
    stages.ingest(ws, str(write_jsonl(tmp_path / "long.jsonl", [{"messages": LONG_PROMPT}])))
    summary = stages.validate(ws)
    assert summary["by_code"] == {"missing_system": 1, "too_many_tokens": 1,
                                  "no_trainable_tokens": 1}
    assert summary["error_rows"] == 1
