"""Phone numbers carry the region phonenumbers reads them as (curation.pii_phone), stored
with the finding and shown by privacy-findings and the report (the Privacy page:
tests/test_privacy_page.py)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from curation.pii import scan_messages
from curation.pii_phone import phone_region, region_label
from tests.conftest import write_jsonl
from workbench.stages import curation as stages
from workbench.stages import privacy
from workbench.store import open_workspace
from workbench.cli import app
from workbench.store import privacy as store

CALL = "Call me at 415-555-0132 if it's before 9:30, or on +44 20 7946 0958 after 10am."


def test_a_national_number_is_assumed_us_and_an_international_one_is_gb():
    rows = scan_messages([[{"role": "user", "content": CALL}]])
    assert [(r["entity_type"], r["start"], r["end"], r["region"], r["region_assumed"])
            for r in rows] == [("PHONE_NUMBER", 11, 23, "US", True),
                               ("PHONE_NUMBER", 51, 67, "GB", False)]


def test_a_national_number_is_read_as_the_region_whose_format_groups_its_digits():
    assert phone_region("06 12 34 56 78") == ("FR", True)
    assert phone_region("020 7946 0958") == ("GB", True)
    assert phone_region("416-555-0132") == ("CA", True)  # +1 with a Toronto area code
    assert phone_region("0044 20 7946 0958") == ("GB", False)


def test_other_findings_have_no_region():
    rows = scan_messages([[{"role": "user", "content": "Mail marta.k@example.com"}]])
    assert [(r["entity_type"], r["region"], r["region_assumed"]) for r in rows] == [
        ("EMAIL_ADDRESS", None, None)]


def test_region_label_says_when_the_region_was_assumed():
    assert [region_label("GB", False), region_label("US", True), region_label(None, None)] == [
        "GB", "US (assumed)", ""]


def test_the_region_is_stored_and_reported(tmp_path):
    data = write_jsonl(tmp_path / "chat.jsonl", [{"messages": [
        {"role": "user", "content": CALL}, {"role": "assistant", "content": "Noted."}]}])
    ws = tmp_path / "ws"
    stages.ingest(ws, str(data))
    stages.pii(ws)
    with open_workspace(ws, create=False) as w:
        found = store.findings(w, w.current_dataset())
        report = store.report(w, w.current_dataset())
    assert [(f["start_char"], f["end_char"], f["region"], f["region_assumed"]) for f in found
            ] == [(11, 23, "US", True), (51, 67, "GB", False)]
    assert report["phone_regions"] == [
        {"region": "GB", "region_assumed": False, "findings": 1},
        {"region": "US", "region_assumed": True, "findings": 1}]
    listed = CliRunner().invoke(app, ["privacy-findings", "-w", str(ws)])
    assert [(f["region"], f["region_assumed"]) for f in json.loads(
        listed.stdout.strip().splitlines()[-1])["findings"]] == [("US", True), ("GB", False)]
    out = privacy.write_report(ws, ws / "r.md")  # reports are written inside the workspace
    assert "Phone numbers by region: GB 1, US (assumed) 1" in (ws / "r.md").read_text()
    assert out["report"] == str(ws / "r.md")
