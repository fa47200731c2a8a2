"""Privacy review: decisions, bulk actions, the training gate (CLI), redaction, report, hygiene."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from curation.pii import Span
from curation.privacy_gate import PrivacyGateError
from curation.pii_redact import (
    RedactionError,
    RedactionPolicy,
    check_redacted,
    redact_text,
    replacement,
)
from tests.conftest import write_jsonl
from workbench.stages import training as train_runs
from workbench.stages import privacy as privacy_stage
from common.errors import WorkbenchError
from workbench.store import open_workspace
from workbench.store import privacy as store
from workbench.store.versions import record_version

SALT = "0123456789abcdef0123"
NAME, MAIL, PHONE = "Marta Kowalczyk", "marta.k@example.com", "212-555-0199"
PLANTED = (NAME, MAIL, PHONE, "Zofia Wrona", "zofia@example.org")


def chat(user: str, assistant: str) -> dict:
    return {"messages": [{"role": "user", "content": user},
                         {"role": "assistant", "content": assistant}]}


ROWS = [chat(f"Contact {NAME} at {MAIL}.", "Noted."),
        chat("My phone number is 212-555-0199", "Thanks."),
        chat("Zofia Wrona wrote from zofia@example.org", "OK."),
        chat("Tom has 3 apples and Ann has 2. How many?", "Tom and Ann have 5 apples."),
        chat("What is 7 times 8?", "56.")]


EXPECTED = [(1, 0, "EMAIL_ADDRESS", 27, 46, "unreviewed"), (3, 0, "EMAIL_ADDRESS", 23, 40, "unreviewed"),
            (1, 0, "PERSON", 8, 23, "unreviewed"), (3, 0, "PERSON", 0, 11, "unreviewed"),
            (4, 0, "PERSON", 0, 3, "unreviewed"), (4, 0, "PERSON", 21, 24, "unreviewed"),
            (4, 1, "PERSON", 0, 3, "unreviewed"), (4, 1, "PERSON", 8, 11, "unreviewed"),
            (2, 0, "PHONE_NUMBER", 19, 31, "unreviewed")]


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def ok(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def scanned(tmp_path_factory) -> Path:
    """A workspace with ROWS ingested, scanned (CLI) and split; copy it before changing."""
    root = tmp_path_factory.mktemp("scanned")
    data = write_jsonl(root / "chat.jsonl", ROWS)
    ws = root / "ws"
    ok(cli("ingest", "--input", str(data), "-w", str(ws)))
    ok(cli("pii", "-w", str(ws)))
    ok(cli("split", "-w", str(ws)))
    return ws


@pytest.fixture
def ws(scanned, tmp_path) -> Path:
    import shutil

    return Path(shutil.copytree(scanned, tmp_path / "ws"))


def open_findings(ws: Path) -> list[dict]:
    with open_workspace(ws) as w:
        return store.findings(w, 1)


def test_scan_stores_the_expected_findings(ws):
    assert [(f["example_id"], f["message_index"], f["entity_type"], f["start_char"],
             f["end_char"], f["status"]) for f in open_findings(ws)] == EXPECTED


def test_training_is_refused_from_the_cli_until_an_admin_overrides(ws, tmp_path, monkeypatch):
    refused = cli("train", "-w", str(ws), "--max-steps", "1")
    assert refused.returncode == 1 and refused.stdout == ""
    line = refused.stderr.strip().splitlines()[-1]
    assert line.startswith("error: privacy gate: ") and "unreviewed PII finding(s)" in line
    assert "Traceback" not in refused.stderr
    assert not (ws / "artifacts" / "jobs").exists()

    not_admin = cli("privacy-override", "-w", str(ws), "--who", "bob", "--reason", "ok")
    assert not_admin.returncode == 1
    assert not_admin.stderr.strip() == ("error: 'bob' is not a privacy admin: only an admin "
                                         "can override the privacy gate (`workbench privacy"
                                         "-grant-admin`)")
    assert ok(cli("privacy-grant-admin", "-w", str(ws), "--name", "alice", "--by", "alice")
              ) == {"admins": ["alice"]}
    assert cli("privacy-grant-admin", "-w", str(ws), "--name", "bob", "--by", "bob"
               ).returncode == 1
    over = ok(cli("privacy-override", "-w", str(ws), "--who", "alice",
                  "--reason", "synthetic contacts, cleared by legal"))
    assert over["who"] == "alice" and over["reason"] == "synthetic contacts, cleared by legal"
    gate = ok(cli("privacy-gate", "-w", str(ws)))
    assert gate["passes"] is True and gate["override"]["who"] == "alice"

    captured = {}

    def fake_run(workspace, job_dir, dataset_id, on_progress, run_job):
        captured.update(json.loads((job_dir / "config.json").read_text()))
        raise WorkbenchError("stop before training")

    monkeypatch.setattr(train_runs, "_run", fake_run)
    with pytest.raises(WorkbenchError, match="stop before training"):
        train_runs.train(ws, max_steps=1)
    privacy = captured["lineage"]["privacy"]
    assert privacy["override"]["who"] == "alice"
    assert privacy["override"]["reason"] == "synthetic contacts, cleared by legal"
    assert privacy["unreviewed"] == over["unreviewed"] > 0
    with open_workspace(ws) as w:
        actions = [r["action"] for r in w.query("SELECT action FROM audit_log ORDER BY logged_at")]
    assert actions == ["privacy_grant_admin", "pii_gate_override"]


def test_a_changed_dataset_version_needs_a_new_override(ws):
    with open_workspace(ws) as w:
        store.grant_admin(w, "alice", "alice")
        version = record_version(w, 1)
        store.override(w, 1, version, "alice", "ok")
        assert privacy_stage.check_gate(w, 1, version)["override"]["who"] == "alice"
        with pytest.raises(PrivacyGateError):
            privacy_stage.check_gate(w, 1, "another-version")


def test_bulk_reject_per_type_and_value_list_then_redaction_resolve_the_gate(ws, tmp_path):
    names = tmp_path / "story_characters.txt"
    names.write_text("Tom\nann\n")
    listed = ok(cli("privacy-values", "-w", str(ws), "--name", "story characters", "--file",
                    str(names), "--decision", "reject", "--who", "rita",
                    "--reason", "characters of a word problem", "--entity", "PERSON"))
    assert listed == {"decided": 4, "list": "story characters", "values": 2,
                      "decision": "reject"}
    accepted = ok(cli("privacy-bulk", "-w", str(ws), "--entity", "EMAIL_ADDRESS",
                      "--decision", "accept", "--who", "rita", "--reason", "real addresses"))
    assert accepted["decided"] == 2
    gate = ok(cli("privacy-gate", "-w", str(ws)))
    assert gate["passes"] is False and gate["accepted_not_redacted"] == 2
    ok(cli("privacy-bulk", "-w", str(ws), "--entity", "PERSON", "--decision", "accept",
           "--who", "rita", "--reason", "real people"))
    ok(cli("privacy-bulk", "-w", str(ws), "--entity", "PHONE_NUMBER", "--decision", "accept",
           "--who", "rita", "--reason", "real numbers"))
    done = ok(cli("privacy-redact", "-w", str(ws), "--who", "rita",
                  "--operators", "PERSON=fake,EMAIL_ADDRESS=hash"))
    assert (done["examples"], done["spans"]) == (3, 5)
    gate = ok(cli("privacy-gate", "-w", str(ws)))
    assert (gate["passes"], gate["unreviewed"], gate["accepted_not_redacted"]) == (True, 0, 0)
    with open_workspace(ws) as w:
        texts = json.dumps([e["redacted_messages"] for e in w.examples(1)])
        lists = store.value_lists(w, 1)
    assert not any(value in texts for value in PLANTED)
    assert "Tom has 3 apples" in texts or "null" in texts
    assert [(v["name"], v["size"], v["decision"]) for v in lists] == [
        ("story characters", 2, "reject")]


def test_replace_mask_hash_redact_and_fake_operators():
    text = f"{NAME} and {NAME} wrote from {MAIL}"
    spans = [Span("PERSON", 0, 15, 0.85), Span("PERSON", 20, 35, 0.85),
             Span("EMAIL_ADDRESS", 47, 66, 1.0)]
    assert redact_text(text, spans, RedactionPolicy(), SALT) == (
        "<PERSON> and <PERSON> wrote from <EMAIL_ADDRESS>")
    assert redact_text(text, spans, RedactionPolicy(default="redact"), SALT) == (
        " and  wrote from ")
    assert replacement("4111111111111111", "CREDIT_CARD", "mask", SALT) == "************1111"
    hashed = redact_text(text, spans, RedactionPolicy(default="hash"), SALT)
    token = replacement(NAME, "PERSON", "hash", SALT)
    assert hashed.startswith(f"{token} and {token} wrote from <EMAIL_ADDRESS_")
    assert len(token) == len("<PERSON_>") + 12
    assert replacement(NAME, "PERSON", "hash", "another-salt-0123") != token
    fake = replacement(NAME, "PERSON", "fake", SALT)
    assert fake == replacement(NAME, "PERSON", "fake", SALT) != NAME
    assert redact_text(text, spans, RedactionPolicy(default="fake"), SALT).startswith(
        f"{fake} and {fake} wrote from ")


def test_adjacent_same_type_spans_are_both_replaced():
    text = "Ann Bo Cy Dee"
    spans = [Span("PERSON", 0, 6, 0.85), Span("PERSON", 7, 13, 0.85)]
    assert redact_text(text, spans, RedactionPolicy(default="hash"), SALT).count("<PERSON_") == 2


def test_unknown_operator_is_refused():
    with pytest.raises(WorkbenchError, match="Unknown redaction operator"):
        RedactionPolicy(operators=(("PERSON", "shred"),))


def test_recheck_fails_loudly_without_values_when_a_span_survived():
    original = f"Mail {MAIL} or {MAIL}"
    spans = [Span("EMAIL_ADDRESS", 5, 24, 1.0), Span("EMAIL_ADDRESS", 28, 47, 1.0)]
    dropped = f"Mail <EMAIL_ADDRESS> or {MAIL}"
    with pytest.raises(RedactionError) as err:
        check_redacted([original], [dropped], [spans], [[Span("EMAIL_ADDRESS", 24, 43, 1.0)]])
    assert str(err.value) == ("redaction check failed: accepted findings still in the output "
                              "(3 EMAIL_ADDRESS); nothing was stored")
    assert MAIL not in str(err.value)


def test_failed_recheck_stores_nothing(ws, monkeypatch):
    import curation.pii_redact as redact_module

    monkeypatch.setattr(redact_module, "redact_text", lambda text, spans, policy, salt: text)
    with open_workspace(ws) as w:
        store.decide_entity(w, 1, "EMAIL_ADDRESS", "accept", "rita", "real")
    with pytest.raises(RedactionError, match="EMAIL_ADDRESS"):
        privacy_stage.redact(ws, "rita")
    with open_workspace(ws) as w:
        assert w.scalar("SELECT count(*) FROM examples WHERE redacted_messages IS NOT NULL") == 0
        assert w.scalar("SELECT count(*) FROM pii_decisions WHERE decision = 'redacted'") == 0


def test_pipeline_redact_records_redacted_decisions_that_resolve_every_span(ws):
    from workbench.stages.curation import pii

    summary = pii(ws, redact=True)
    assert summary["redacted"] == 4
    with open_workspace(ws) as w:
        statuses = {f["status"] for f in store.findings(w, 1)}
        whos = {r["who"] for r in w.query("SELECT who FROM pii_decisions")}
    assert statuses == {"redacted"} and whos == {"pipeline --redact"}


def test_unsupported_language_row_blocks_the_gate(tmp_path):
    data = write_jsonl(tmp_path / "el.jsonl", [chat(
        "Η Μαρία ζει στην Αθήνα και δουλεύει σε τράπεζα.", "Ναι.")])
    ws = tmp_path / "ws"
    ok(cli("ingest", "--input", str(data), "-w", str(ws)))
    expected = {"PERSON": 1, "UNSUPPORTED_LANGUAGE": 1}  # Μαρία is a given name (el_GR)
    assert ok(cli("pii", "-w", str(ws)))["by_entity"] == expected
    gate = ok(cli("privacy-gate", "-w", str(ws)))
    assert gate["by_entity"] == expected and gate["passes"] is False


def test_report_exports_counts_and_approvers_without_values(ws, tmp_path):
    with open_workspace(ws) as w:
        store.decide_entity(w, 1, "PERSON", "reject", "rita", "story characters")
    md = ok(cli("privacy-report", "-w", str(ws), "--out", str(tmp_path / "r.md"), cwd=tmp_path))
    text = (tmp_path / "r.md").read_text()
    assert md["by_status"]["reject"] == sum(1 for f in open_findings(ws)
                                            if f["entity_type"] == "PERSON")
    assert "| PERSON | 0 | 0 |" in text and "rita: reject" in text
    ok(cli("privacy-report", "-w", str(ws), "--out", str(tmp_path / "r.json"), cwd=tmp_path))
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["deciders"][0]["who"] == "rita"
    assert not any(v in text or v in json.dumps(data) for v in PLANTED)


def test_no_planted_value_in_cli_output_logs_or_files_outside_the_database(tmp_path):
    """Hygiene: plant values, run the privacy path from the CLI, grep everything written."""
    (tmp_path / "in").mkdir()
    data = write_jsonl(tmp_path / "in" / "chat.jsonl", ROWS)
    ws, home = tmp_path / "ws", tmp_path / "home"
    home.mkdir()
    names = tmp_path / "in" / "names.txt"
    names.write_text("Zofia Wrona\n")
    runs = [cli("ingest", "--input", str(data), "-w", str(ws)),
            cli("pii", "-w", str(ws)), cli("split", "-w", str(ws)),
            cli("privacy-findings", "-w", str(ws)), cli("privacy-summary", "-w", str(ws)),
            cli("train", "-w", str(ws), "--max-steps", "1"),
            cli("privacy-values", "-w", str(ws), "--name", "l", "--file", str(names),
                "--decision", "accept", "--who", "rita", "--reason", "r"),
            cli("privacy-redact", "-w", str(ws), "--who", "rita", "--include-unreviewed"),
            cli("privacy-decide", "-w", str(ws), "--example", "1", "--message", "0",
                "--start", "0", "--end", "3", "--entity", "PERSON", "--decision", "accept",
                "--who", "rita"),
            cli("privacy-report", "-w", str(ws), "--out", str(tmp_path / "out" / "r.md"),
                cwd=tmp_path)]
    assert [r.returncode for r in runs] == [0, 0, 0, 0, 0, 1, 0, 0, 1, 0]
    output = "".join(r.stdout + r.stderr for r in runs)
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.parent != tmp_path / "in"
               and not p.name.startswith("workspace.duckdb")]
    assert written, "nothing written?"
    for value in PLANTED:
        assert value not in output
        for path in written:
            assert value.encode() not in path.read_bytes(), path
