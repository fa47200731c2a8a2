"""The validate stage with the real tokenizer: token counts kept, zero trainable tokens found."""

from tests.conftest import write_jsonl
from workbench.stages import curation as stages
from workbench.store import open_workspace


def test_a_prompt_longer_than_max_seq_len_leaves_zero_trainable_tokens(tmp_path):
    rows = [{"messages": [{"role": "system", "content": "Be brief."},
                          {"role": "user", "content": "word " * 300},
                          {"role": "assistant", "content": "Done."}]},
            {"messages": [{"role": "system", "content": "Be brief."},
                          {"role": "user", "content": "Hi"},
                          {"role": "assistant", "content": "Hello."}]}]
    ws = tmp_path / "ws"
    stages.ingest(ws, str(write_jsonl(tmp_path / "long.jsonl", rows)))
    summary = stages.validate(ws, max_seq_len=128)
    assert summary["by_code"] == {"too_many_tokens": 1, "zero_trainable_tokens": 1}
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
