"""CSV cells a spreadsheet would run as a formula are written as text, by every CSV writer:
the Sessions page and Report page downloads (here), `session-stats --csv` and
`export-ratings` (tests/test_safe_writes.py)."""

import pandas as pd
import pytest

from common.csvsafe import csv_text, escape_cell
from tests.prepared import admin_page
from tests.test_safe_writes import FORMULA, rated_workspace


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_a_text_cell_starting_like_a_formula_gets_a_leading_quote(start):
    assert escape_cell(start + "1+1") == "'" + start + "1+1"


def test_numbers_and_plain_text_stay_as_they_are():
    assert [escape_cell(v) for v in (-0.5, -3, None, "ok", "a=b", "")] == [
        -0.5, -3, None, "ok", "a=b", ""]


def test_csv_text_of_dicts_escapes_text_and_keeps_negative_numbers():
    text = csv_text([{"reason": FORMULA, "score": -0.5}, {"reason": "-1", "extra": "@x"}])
    assert text == ('reason,score,extra\n"\'=HYPERLINK(""http://x"",""y"")",-0.5,\n'
                    "'-1,,'@x\n")


def test_csv_text_of_a_frame_writes_missing_values_as_empty_cells():
    frame = pd.DataFrame({"reason": [FORMULA, None], "delta": [-0.5, float("nan")]})
    assert csv_text(frame) == ('reason,delta\n"\'=HYPERLINK(""http://x"",""y"")",-0.5\n,\n')


@pytest.mark.parametrize("page", ["views/sessions.py", "views/report.py"])
def test_the_page_csv_download_escapes_a_formula_in_a_rater_reason(page, tmp_path, monkeypatch,
                                                                   downloads):
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(rated_workspace(tmp_path / "ws")))
    at = admin_page(page)
    assert not at.exception
    (csv,) = [d for d in downloads if d.startswith(b"session_id,") or d.startswith(b"rater_id,")]
    assert b"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")" in csv
    assert b",\"=HYPERLINK" not in csv and b",=HYPERLINK" not in csv
