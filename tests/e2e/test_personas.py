"""Two people in a real browser, from a fresh workspace with a real shared dataset.

Run as: pytest -m e2e tests/e2e/test_personas.py   (chromium at /usr/bin/chromium, playwright;
skips without ../shared/data/dolly15k_first25.jsonl)

The curator imports the first 25 rows of databricks-dolly-15k on the Datasets page, runs every
curation stage with "Run all" on the Data page and reads the result cards; a second import
asks before switching, and the sidebar picker switches the Data page between the two
datasets. The privacy reviewer opens the Privacy page on the findings that block training and
rejects the PERSON findings in bulk after a confirmation that says how many. The load time of
the Data page (fresh load, cards drawn) and of a link to the Privacy page is printed.
Screenshots: test-artifacts/persona-*.
"""

from __future__ import annotations

import json
import re
import shutil
import time

import pytest

from tests.conftest import SHARED_DATA
from tests.e2e.helpers import (
    WAIT_MS,
    admin_login,
    expect_text,
    first_start,
    go,
    new_page,
    served,
    settle,
    shot,
    upload,
)
from workbench.store import open_workspace

pytestmark = [pytest.mark.e2e, pytest.mark.enable_socket]
DOLLY = SHARED_DATA / "dolly15k_first25.jsonl"
PASSWORD = "persona admin password"
STAGES_WAIT_MS = 600_000  # every curation stage on a loaded, shared 2-core machine


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    if not DOLLY.is_file():
        pytest.skip(f"{DOLLY} is not present")
    root = tmp_path_factory.mktemp("personas")
    small = root / "small.jsonl"
    small.write_text("".join(json.dumps({"prompt": f"Question {i}?", "completion": "Yes."})
                             + "\n" for i in range(3)), encoding="utf-8")
    dolly = root / "dolly25.jsonl"  # a short name: the upload chip shortens long ones
    shutil.copyfile(DOLLY, dolly)
    workspace = root / "ws"  # does not exist: the first start makes it
    with served(workspace, log=root / "server.log", keep_log="persona-server.log") as url:
        yield {"url": url, "workspace": workspace, "small": small, "dolly": dolly}


def choose(page, label: str, option: str) -> None:
    page.get_by_label(label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()


def metrics(page) -> dict:
    """{label: value} of the st.metric elements on the page, read in one step (the page may
    be rerunning)."""
    return page.evaluate("""() => Object.fromEntries(
        [...document.querySelectorAll("[data-testid='stMetric']")].map(m => [
            m.querySelector("[data-testid='stMetricLabel']")?.innerText.trim(),
            m.querySelector("[data-testid='stMetricValue']")?.innerText.trim()]))""")


def metric_shows(page, label: str, value: str, timeout_s: float = WAIT_MS / 1000) -> None:
    """Wait until the st.metric ``label`` shows ``value`` (the page reruns after a click)."""
    deadline = time.monotonic() + timeout_s
    while (seen := metrics(page).get(label)) != value:
        assert time.monotonic() < deadline, f"{label}: {seen!r}, not {value!r}"
        page.wait_for_timeout(250)




def test_the_curator_imports_runs_every_stage_from_the_data_page_and_switches(app, browser):
    from playwright.sync_api import expect

    page = new_page(browser)
    page.goto(app["url"])
    first_start(page, PASSWORD)
    expect_text(page, "then run the curation stages on the Data page.")

    go(page, "Datasets")
    upload(page, app["dolly"])
    page.get_by_role("button", name="Import").click()
    imported = expect_text(page, re.compile(r"^Imported as dataset 1: "), timeout=STAGES_WAIT_MS)
    assert imported.inner_text() == ("Imported as dataset 1: format dolly · rows in 25 · "
                                     "examples 25 · rejects 0")
    assert not page.get_by_text("Switch to the new dataset").count()  # the first one is current
    shot(page, "persona-01-imported")

    go(page, "Data")
    expect_text(page, "Not run on this dataset yet.")
    shot(page, "persona-02-data-before-stages")
    page.get_by_role("button", name="Run all").click()
    expect_text(page, "A stage is running on this dataset")
    page.wait_for_timeout(4000)
    shot(page, "persona-03-data-running")
    expect_text(page, "Above threshold", timeout=STAGES_WAIT_MS)  # the last card is drawn
    settle(page)
    assert page.get_by_role("button", name="Run all").is_enabled()
    found = metrics(page)
    assert {k: found[k] for k in (
        "Rows in", "Examples", "Findings", "Rows with errors", "Duplicates dropped", "Rows kept",
        "PII spans", "Examples with PII", "Train", "Validation", "Test", "Above threshold",
        "Max similarity")} == {
        "Rows in": "25", "Examples": "25", "Findings": "26", "Rows with errors": "1",
        "Duplicates dropped": "0", "Rows kept": "25", "PII spans": "87", "Examples with PII": "14",
        "Train": "20", "Validation": "2", "Test": "2", "Above threshold": "0",
        "Max similarity": "0.3627"}
    expect_text(page, "1 error(s), 0 warning(s), 25 info · by code: missing_system 25, "
                      "too_many_tokens 1")
    expect_text(page, "Examples redacted: 0 · by type: PERSON 87")
    text = page.locator("[data-testid='stMain']").inner_text()
    assert "recognizer" not in text.lower() and "WARNING" not in text  # the log stays in its file
    assert page.get_by_role("link", name="Review findings").count() == 1
    shot(page, "persona-04-data-cards")

    start = time.perf_counter()  # page loads: a link to another page, until it has settled
    go(page, "Privacy", "Privacy review")
    settle(page)
    privacy_s = time.perf_counter() - start
    start = time.perf_counter()
    go(page, "Data")
    expect_text(page, "Above threshold")
    settle(page)
    data_s = time.perf_counter() - start
    print(f"\npage load (link click to settled page): Privacy {privacy_s:.2f} s, Data with "
          f"5 stage cards {data_s:.2f} s")

    go(page, "Datasets")  # a second import asks before switching
    upload(page, app["small"])
    page.get_by_role("button", name="Import").click()
    expect_text(page, "Switch to the new dataset #2? The pages still show dataset #1.")
    shot(page, "persona-05-import-asks")
    page.get_by_role("button", name="Stay on #1").click()
    expect(page.get_by_text("Switch to the new dataset")).to_have_count(0, timeout=WAIT_MS)
    go(page, "Data")
    metric_shows(page, "Rows in", "25")
    choose(page, "Current dataset", "small.jsonl · #2 · 3 rows")
    metric_shows(page, "Rows in", "3")
    expect(page.get_by_text("Not run on this dataset yet.")).to_have_count(5, timeout=WAIT_MS)
    shot(page, "persona-06-picker-small")
    choose(page, "Current dataset", "dolly25.jsonl · #1 · 25 rows")
    metric_shows(page, "PII spans", "87")
    metric_shows(page, "Rows in", "25")


def test_the_privacy_reviewer_sees_blocking_findings_first_and_confirms_a_bulk_reject(
        app, browser):
    with open_workspace(app["workspace"]) as ws:
        blocking = ws.scalar("SELECT count(*) FROM pii_spans WHERE dataset_id = 1 AND "
                             "score >= 0.4 AND example_id IN (SELECT example_id FROM splits "
                             "WHERE dataset_id = 1)")
        unreviewed = ws.scalar("SELECT count(*) FROM pii_spans WHERE dataset_id = 1 AND "
                               "entity_type = 'PERSON'")
    if blocking is None:
        pytest.skip("the curator's test did not run first")
    page = new_page(browser)
    page.goto(app["url"])
    admin_login(page, PASSWORD)
    go(page, "Privacy", "Privacy review")
    expect_text(page, f"Training is blocked: {blocking} unreviewed finding(s) with score ≥ "
                      "0.4 and 0 accepted but not redacted.")
    expect_text(page, f"{blocking} finding(s)")  # the table opens on exactly those
    shot(page, "persona-07-privacy-opens-on-blocking")

    page.get_by_label("Your name (recorded with every decision)").fill("priya")
    page.get_by_label("Your name (recorded with every decision)").press("Enter")
    choose(page, "Entity type", "PERSON")
    page.get_by_label("Reason (kept in the audit log)").fill("historical figures, public")
    page.get_by_label("Reason (kept in the audit log)").press("Enter")
    settle(page)
    page.get_by_role("button", name="Apply to all unreviewed PERSON").click()
    expect_text(page, f"This will reject {unreviewed} finding(s): every unreviewed PERSON "
                      "finding at score ≥ 0.00. Confirm?")
    shot(page, "persona-08-privacy-confirm")
    with open_workspace(app["workspace"]) as ws:  # nothing decided before the confirmation
        assert ws.scalar("SELECT count(*) FROM pii_decisions") == 0
    page.get_by_role("button", name=f"Confirm: reject {unreviewed} finding(s)").click()
    expect_text(page, f"{unreviewed} finding(s) decided")
    expect_text(page, "Training gate: open.")
    assert page.get_by_label("Reason (kept in the audit log)").input_value() == ""
    shot(page, "persona-09-privacy-decided")
    with open_workspace(app["workspace"]) as ws:
        assert ws.query("SELECT decision, who, count(*) AS n FROM pii_decisions GROUP BY ALL"
                        ) == [{"decision": "reject", "who": "priya", "n": unreviewed}]
