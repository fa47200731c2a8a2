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
