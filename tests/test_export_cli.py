"""The curation I/O commands end to end: ingest with a mapping, decisions, versions, diff,
export with the OpenAI estimate, mixing (in-process through Typer's runner)."""

import json

from typer.testing import CliRunner

from curation.formats import read_file
from tests.conftest import write_jsonl
from workbench.cli import app

ROWS = [{"question": f"Q{i}?", "answer": f"A{i}.", "topic": "t"} for i in range(4)]


def run(*args) -> dict:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_ingest_with_a_mapping_then_drop_version_diff_and_export(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the CLI writes in the current folder or the workspace
    ws = str(tmp_path / "ws")
    source = write_jsonl(tmp_path / "qa.jsonl", ROWS)
    assert run("ingest", "--input", str(source), "-w", ws, "--column", "question=instruction",
               "--column", "answer=output")["format"] == "alpaca"
    first = run("version", "-w", ws, "--note", "raw")
    run("drop", "-w", ws, "--example", "2", "--reason", "off topic", "--who", "ana")
    run("edit", "-w", ws, "--example", "1", "--message", "1", "--text", "A zero.")
    second = run("version", "-w", ws)
    assert (first["n_rows"], second["n_rows"]) == (4, 3)
    change = run("diff", first["id"], second["id"], "-w", ws)
    assert change["removed"] == [{"origin": "1:2", "reason": "drop by ana: off topic"}]
    assert change["changed"] == [{"origin": "1:1", "fields": ["messages"], "reason": "edit by cli"}]
    out = tmp_path / "train.jsonl"
    exported = run("export", "-w", ws, "--format", "openai", "--out", str(out),
                   "--version", second["id"])
    assert (exported["written"], exported["openai_cost"]["epochs"]) == (3, 25)
    back = read_file(out)
    assert [e.messages[1]["content"] for e in back.examples] == ["A zero.", "A2.", "A3."]
    assert back.examples[0].meta == {"topic": "t"}


def test_mix_command_makes_a_dataset_with_sources_in_meta(tmp_path):
    ws = str(tmp_path / "ws")
    for name in ("a", "b"):
        run("ingest", "--input", str(write_jsonl(tmp_path / f"{name}.jsonl", [
            {"prompt": f"{name}{i}", "completion": "c"} for i in range(4)])), "-w", ws)
    summary = run("mix", "-w", ws, "--source", "1:50%", "--source", "2:50%", "--total", "6")
    assert summary["by_source"] == {"1": 3, "2": 3}
    assert run("browse", "-w", ws, "--dataset", "1", "--search", "A1")["total"] == 1
    assert run("browse", "-w", ws, "--dataset", "1", "--search", "assistant")["total"] == 0


def test_unknown_version_is_one_line_and_exit_1(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ws = str(tmp_path / "ws")
    run("ingest", "--input", str(write_jsonl(tmp_path / "p.jsonl",
                                              [{"prompt": "p", "completion": "c"}])), "-w", ws)
    result = CliRunner().invoke(app, ["export", "-w", ws, "--format", "openai", "--out",
                                      str(tmp_path / "x.jsonl"), "--version", "nope"])
    assert result.exit_code == 1
    assert result.output.strip() == "error: no version 'nope' (see `workbench versions`)"
