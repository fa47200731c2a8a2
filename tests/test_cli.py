import json
import subprocess
import sys

from tests.conftest import write_jsonl

ALPACA = {"instruction": "Add 2 and 3.", "input": "", "output": "5"}


def cli(*args):
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True,
                          text=True, timeout=120)


def test_ingest_prints_counts_as_json(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [ALPACA, "{oops", ALPACA])
    result = cli("ingest", "--input", str(path), "--workspace", str(tmp_path / "ws"))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["rows_in"], summary["examples"], summary["rejects"]) == (3, 2, 1)


def test_a_missing_file_is_one_line_on_stderr_and_exit_1(tmp_path):
    result = cli("ingest", "--input", str(tmp_path / "nope.json"), "--workspace",
                 str(tmp_path / "ws"))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"error: {tmp_path / 'nope.json'}: no such file"]
    assert result.stdout == ""


def test_a_stage_before_ingest_is_a_clear_error(tmp_path):
    result = cli("split", "--workspace", str(tmp_path / "ws"))
    assert result.returncode == 1
    assert "no workspace here" in result.stderr and "Traceback" not in result.stderr


def test_use_sets_the_current_dataset_that_the_stages_read(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [ALPACA, ALPACA])
    for _ in range(2):
        assert cli("ingest", "--input", str(path), "-w", str(tmp_path / "ws")).returncode == 0
    result = cli("use", "1", "-w", str(tmp_path / "ws"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"current_dataset": 1}
    split = cli("split", "-w", str(tmp_path / "ws"))
    assert json.loads(split.stdout) == {"train": 2, "validation": 0, "test": 0}
    from workbench.store import open_workspace

    with open_workspace(tmp_path / "ws") as ws:
        assert ws.query("SELECT DISTINCT dataset_id FROM splits") == [{"dataset_id": 1}]
    refused = cli("use", "7", "-w", str(tmp_path / "ws"))
    assert (refused.returncode, refused.stderr.strip()) == (
        1, "error: no dataset 7 (see `workbench datasets`)")
