"""The dedup, split and override commands, end to end through the CLI (no model)."""

import json

from tests.conftest import write_jsonl
from tests.test_cli import cli


def rows():
    out = []
    for i, word in enumerate(["apple", "river", "violin", "kettle", "lantern", "carpet"]):
        out.append({"instruction": f"Describe a {word} in one line.", "input": "",
                    "output": f"A {word}.", "category": "ab"[i % 2]})
    out.append({"instruction": "describe a  APPLE in one line.", "input": "",
                "output": "A apple.", "category": "a"})
    return out


def test_dedup_split_and_override_from_the_command_line(tmp_path):
    ws = str(tmp_path / "ws")
    path = write_jsonl(tmp_path / "d.jsonl", rows())
    assert cli("ingest", "--input", str(path), "-w", ws).returncode == 0
    result = cli("dedup", "-w", ws, "--no-semantic", "--policy", "first")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"exact_duplicates": 1, "near_duplicates": 0,
                                         "semantic_duplicates": 0, "kept": 6,
                                         "overrides_reapplied": 0}
    result = cli("split", "-w", ws, "--test", "0.34", "--validation", "0",
                 "--stratify-by", "category")
    assert json.loads(result.stdout) == {"train": 4, "validation": 0, "test": 2}
    result = cli("dedup-override", "-w", ws, "--example", "7", "--action", "not_duplicate",
                 "--level", "exact", "--who", "ana")
    assert json.loads(result.stdout)["kept"] == 7


def test_a_bad_policy_is_one_line_on_stderr(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", rows())
    cli("ingest", "--input", str(path), "-w", str(tmp_path / "ws"))
    result = cli("dedup", "-w", str(tmp_path / "ws"), "--policy", "shortest")
    assert result.returncode == 1
    assert result.stderr.startswith("error: policy must be one of") and "Traceback" not in \
        result.stderr
