"""The whole admin flow in a real browser, from an empty workspace, then two raters at once.

Run as: pytest -m e2e tests/e2e/test_flow.py   (chromium at /usr/bin/chromium, playwright)
The admin sets the password, uploads a 40-row JSONL on the Datasets page (a planted exact
duplicate, a planted e-mail address, one malformed line), runs validate, dedup, PII and split
from the Run page, reviews the PII findings on the Privacy page (each bulk decision
confirmed) (accepts and redacts the
e-mail, rejects the PERSON false positives), starts a 3-step LoRA run on the Train page over a
tiny random Llama (tests/tiny_model.py: seconds, not minutes, on CPU), generates base and
tuned answers from the Run page, creates a rating session, and two raters in separate browser
contexts rate at the same time. Every page on the way is a screenshot in test-artifacts/flow-*.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from tests.e2e.flow_data import DUPLICATE_LINE, PII_EMAIL, ROWS_IN, flow_jsonl
from tests.e2e.helpers import (
    WAIT_MS,
    expect_text,
    first_start,
    go,
    heading,
    new_page,
    served,
    settle,
    shot,
    upload,
)
from tests.tiny_model import make_tiny_model
from workbench.store import open_workspace

pytestmark = [pytest.mark.e2e, pytest.mark.enable_socket]
PASSWORD = "flow admin password"
JOB_WAIT_MS = 480_000  # one stage or training job on a loaded, shared 2-core machine


@pytest.fixture(scope="module")
def flow(tmp_path_factory):
    root = tmp_path_factory.mktemp("flow")
    data = root / "flow.jsonl"
    data.write_text(flow_jsonl(), encoding="utf-8")
    tiny = make_tiny_model(root / "tiny-llama")
    workspace = root / "ws"  # does not exist: the first start makes it
    with served(workspace, log=root / "server.log", keep_log="flow-server.log") as url:
        yield {"url": url, "workspace": workspace, "data": data, "tiny": tiny}


def metrics(page, count: int) -> dict:
    """{label: value} of the page's ``count`` st.metric elements (waits until all are shown)."""
    page.locator("[data-testid='stMetricValue']").nth(count - 1).wait_for(timeout=WAIT_MS)
    found = {}
    for metric in page.locator("[data-testid='stMetric']").all():
        label = metric.locator("[data-testid='stMetricLabel']").inner_text().strip()
        found[label] = metric.locator("[data-testid='stMetricValue']").inner_text().strip()
    return found


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the st.selectbox labelled ``label``."""
    for attempt in range(3):  # a rerun that lands on the click closes the list: open again
        try:
            settle(page)
            page.get_by_label(label, exact=True).click(timeout=10_000)
            page.get_by_role("option", name=option, exact=True).click(timeout=10_000)
            return
        except PlaywrightError:  # a timeout, or two copies mid-rerun
            page.keyboard.press("Escape")
    shot(page, f"flow-choose-{option}-failed")
    raise AssertionError(f"the {label!r} list never offered {option!r}")


def pick(page, option: str, attempts: int = 3) -> None:
    """Choose ``option`` in the page's st.radio until it shows as chosen (a rerun that lands
    on the click drops it)."""
    radio = page.get_by_role("radio", name=option, exact=True)
    for _ in range(attempts):
        try:
            settle(page)
            page.get_by_test_id("stRadio").get_by_text(option, exact=True).click(timeout=10_000)
            expect(radio).to_be_checked(timeout=10_000)
            return
        except (PlaywrightError, AssertionError):  # a timeout, or two copies mid-rerun
            continue
    shot(page, f"flow-pick-{option}-failed")
    raise AssertionError(f"the radio never showed {option!r} as chosen")


def type_in(page, label: str, text: str, attempts: int = 3) -> None:
    """Fill the text input ``label`` and commit it with Enter, until the box holds ``text``
    (a rerun that lands on the typing empties it)."""
    box = page.get_by_label(label, exact=True)
    for _ in range(attempts):
        box.fill(text)
        box.press("Enter")
        try:
            expect(box).to_have_value(text, timeout=10_000)
            settle(page)
            expect(box).to_have_value(text, timeout=1_000)
            return
        except AssertionError:
            continue
    shot(page, "flow-type-failed")
    raise AssertionError(f"{label!r} never kept {text!r}")


def click_until(page, button: str, then: str, attempts: int = 3) -> None:
    """Click the button ``button`` until the button ``then`` shows (a rerun that lands on the
    click drops it: Streamlit reruns the page after every widget change)."""
    for _ in range(attempts):
        try:
            settle(page)
            page.get_by_role("button", name=button).click(timeout=10_000)
            page.get_by_role("button", name=then).wait_for(timeout=10_000)
            break
        except PlaywrightError:  # a timeout, or two copies mid-rerun
            continue
    else:
        shot(page, "flow-click-until-failed")
    page.get_by_role("button", name=then).click()


def untick(page, expander: str, checkbox: str, attempts: int = 3) -> None:
    """Open the expander ``expander`` and clear its checkbox ``checkbox`` (a rerun that lands
    on a click closes the expander again or drops the click: retried)."""
    box = page.get_by_role("checkbox", name=checkbox)
    for _ in range(attempts):
        try:
            settle(page)  # a rerun in flight shows the stale expander beside the new one
            if not box.is_visible():
                page.get_by_text(expander, exact=True).click(timeout=10_000)
            box.wait_for(state="visible", timeout=10_000)
            if box.is_checked():
                page.get_by_text(checkbox, exact=True).click(timeout=10_000)
            expect(box).not_to_be_checked(timeout=10_000)
            return
        except (PlaywrightError, AssertionError):  # a timeout, or two copies mid-rerun
            continue
    shot(page, "flow-untick-failed")
    raise AssertionError(f"could not clear {checkbox!r} under {expander!r}")


def run_stage(page, stage: str, shot_name: str, **numbers) -> str:
    """Start one stage on the Run page and wait until its job says succeeded; returns the
    job's name. A failed job fails the test with the page's error line."""
    choose(page, "What to run", stage)
    for label, value in numbers.items():
        field = page.get_by_label(label, exact=True)
        expect(field).to_have_count(1, timeout=WAIT_MS)  # the rerun's stale copy is gone
        field.fill(str(value))
    page.get_by_role("button", name="Start").click()
    started = page.get_by_text(re.compile(rf"^Started {stage}( → score)? as job "))
    started.wait_for(timeout=WAIT_MS)
    job = started.inner_text().rsplit(" ", 1)[-1]
    title = started.inner_text().removeprefix("Started ").split(" as job ")[0]
    done = page.get_by_text(re.compile(
        rf"^{re.escape(title)} · \d\d:\d\d:\d\d · (succeeded|failed)$"))
    done.wait_for(timeout=JOB_WAIT_MS)
    shot(page, shot_name)
    assert done.inner_text().endswith("succeeded"), page.locator(
        "[data-testid='stAlertContentError']").all_inner_texts()
    return job


def test_the_admin_curates_trains_generates_and_two_raters_rate(flow, browser):
    admin = new_page(browser)
    admin.goto(flow["url"])
    heading(admin, "First start: set the admin password")
    shot(admin, "flow-01-first-start")
    first_start(admin, PASSWORD)
    expect_text(admin, "No dataset yet: import a file on the Datasets page")
    shot(admin, "flow-01-data-empty")

    # 1. upload the file on the Datasets page
    go(admin, "Datasets")
    upload(admin, flow["data"])
    admin.get_by_role("button", name="Import").click()
    imported = expect_text(admin, re.compile(r"^Imported as dataset 1: "), timeout=JOB_WAIT_MS)
    assert imported.inner_text() == ("Imported as dataset 1: format openai · rows in 40 · "
                                     "examples 39 · rejects 1 · reject reasons invalid_json 1")
    shot(admin, "flow-02-datasets-imported")

    # 2. the curation stages, each a job on the Run page
    go(admin, "Run")
    for stage in ("validate", "dedup", "pii", "split"):
        run_stage(admin, stage, f"flow-03-run-{stage}")

    go(admin, "Data")
    expect_text(admin, "Format: openai")
    expect_text(admin, "Rows kept")  # the dedup card is drawn
    settle(admin)
    found = metrics(admin, 5)  # the counts above the stage cards
    assert {k: found[k] for k in ("Rows in", "Examples", "Rejects", "PII spans")} == {
        "Rows in": str(ROWS_IN), "Examples": "39", "Rejects": "1", "PII spans": "9"}
    assert (found["Duplicates"], found["Duplicates dropped"], found["Rows kept"]) == (
        "1", "1", "38")  # above the cards, and the dedup card
    assert int(found["Rows in"]) == int(found["Examples"]) + int(found["Rejects"])
    shot(admin, "flow-04-data")

    go(admin, "Duplicates")
    expect_text(admin, "No review decisions yet.")
    shot(admin, "flow-05-duplicates")
    expect_text(admin, "#1 (line 1) · representative")
    expect_text(admin, f"#{DUPLICATE_LINE} (line {DUPLICATE_LINE}) · similarity 1.000")

    # 3. privacy review: the e-mail is PII (accept, redact), the PERSON hits are topic words
    go(admin, "Privacy", "Privacy review")
    admin.get_by_label("Your name (recorded with every decision)").fill("admin")
    admin.get_by_label("Your name (recorded with every decision)").press("Enter")
    expect_text(admin, "Training is blocked")
    choose(admin, "Entity type", "EMAIL_ADDRESS")
    shot(admin, "flow-06-privacy-findings")
    with open_workspace(flow["workspace"]) as ws:  # what the table shows, from the store
        assert ws.query("SELECT entity_type, example_id FROM pii_spans WHERE entity_type = "
                        "'EMAIL_ADDRESS'") == [{"entity_type": "EMAIL_ADDRESS",
                                                 "example_id": 7}]
    pick(admin, "accept")
    type_in(admin, "Reason (kept in the audit log)", "a planted address")
    click_until(admin, "Apply to all unreviewed EMAIL_ADDRESS", "Confirm: accept 1 finding(s)")
    expect_text(admin, "1 finding(s) decided")
    choose(admin, "Entity type", "PERSON")
    pick(admin, "reject")
    type_in(admin, "Reason (kept in the audit log)", "topic words, not names")
    click_until(admin, "Apply to all unreviewed PERSON", "Confirm: reject 8 finding(s)")
    expect_text(admin, "8 finding(s) decided")
    admin.get_by_role("button", name="Redact accepted findings").click()
    expect_text(admin, "Redacted 1 span(s) in 1 example(s); re-scan passed.")
    expect_text(admin, "Training gate: open.")
    shot(admin, "flow-07-privacy-reviewed")
    with open_workspace(flow["workspace"]) as ws:
        redacted = ws.scalar("SELECT redacted_messages FROM examples WHERE id = 7")
    assert PII_EMAIL not in redacted and "<EMAIL_ADDRESS>" in redacted

    # 4. a 3-step LoRA run on the Train page, over the tiny model
    go(admin, "Train")
    admin.get_by_text("New training run").click()
    for label, value in {"Base model": flow["tiny"], "Training steps (0 = by epochs)": 3,
                         "Batch size": 4, "Longest conversation (tokens)": 128,
                         "Learning rate": 0.05, "Warm-up steps": 0,
                         "Checkpoint every N steps": 0, "LoRA rank": 8}.items():
        admin.get_by_label(label, exact=True).fill(str(value))
    shot(admin, "flow-08-train-form")
    admin.get_by_role("button", name="Start training").click()
    state = admin.get_by_text(re.compile(r"^train-\S+ · (succeeded|failed|cancelled) · "))
    state.wait_for(timeout=JOB_WAIT_MS)
    shot(admin, "flow-09-train-done")
    assert " · succeeded · " in state.inner_text(), admin.locator(
        "[data-testid='stAlertContentError']").all_inner_texts()

    # 5. base and tuned answers for the 4 test rows, from the Run page
    go(admin, "Run")
    choose(admin, "What to run", "generate")  # base and tuned only: no prompted system here
    # choosing generate hides the pipeline's curation-engine field: wait for that rerun
    expect(admin.get_by_text("Curation engine", exact=True)).to_have_count(0, timeout=WAIT_MS)
    untick(admin, "Prompted system (fine-tune or prompt?)", "Add a prompted system")
    run_stage(admin, "generate", "flow-10-run-generate", **{"Eval size": 4,
                                                            "Max new tokens": 8})
    with open_workspace(flow["workspace"]) as ws:
        outputs = ws.query("SELECT system, count(*) AS n FROM generations GROUP BY 1 ORDER BY 1")
    assert outputs == [{"system": "base", "n": 4}, {"system": "tuned", "n": 4}]
    go(admin, "Report")
    shot(admin, "flow-11-report")

    # 6. a rating session; two raters rate at the same time
    go(admin, "Sessions", "Rating sessions")
    admin.get_by_label("Session name").fill("flow")
    admin.get_by_label("Raters, one name per line").fill("ana\nbo")
    admin.get_by_role("button", name="Create session").click()
    expect_text(admin, "Copy the invite tokens now")
    shot(admin, "flow-12-session-created")
    text = admin.locator("[data-testid='stCode']").first.inner_text()
    tokens = dict(line.split("\t") for line in text.strip().splitlines())
    raters = {name: new_page(browser) for name in ("ana", "bo")}
    for name, page in raters.items():
        page.goto(f"{flow['url']}/?token={tokens[name]}")
        heading(page, "Rate")
    with open_workspace(flow["workspace"]) as ws:
        totals = {r["name"]: r["total"] for r in ws.query(
            "SELECT r.name, count(*) AS total FROM assignments a JOIN session_raters r "
            "ON r.id = a.rater_id GROUP BY 1")}
    for name, page in raters.items():
        expect_text(page, f"0 of {totals[name]} rated")
        settle(page)
        shot(page, f"flow-13-rater-{name}")
    for done in range(1, max(totals.values()) + 1):  # both click, then both wait
        for name, page in raters.items():
            if done <= totals[name]:
                page.get_by_role("button", name="A is better" if name == "ana" else "Tie").click()
        for name, page in raters.items():
            if done < totals[name]:
                expect_text(page, f"{done} of {totals[name]} rated")
                settle(page)
    for name, page in raters.items():
        page.get_by_text("All items rated. Thank you!").wait_for(timeout=WAIT_MS)
        shot(page, f"flow-14-rater-{name}-done")
    with open_workspace(flow["workspace"]) as ws:
        stored = ws.query("SELECT r.name, x.choice, count(*) AS n FROM session_ratings x "
                          "JOIN session_raters r ON r.id = x.rater_id GROUP BY 1, 2 ORDER BY 1")
    assert stored == [{"name": "ana", "choice": "A", "n": totals["ana"]},
                      {"name": "bo", "choice": "tie", "n": totals["bo"]}]
    admin.goto(flow["url"])  # a new browser session: log in again
    admin.get_by_label("Admin password").fill(PASSWORD)
    admin.get_by_role("button", name="Log in").click()
    go(admin, "Sessions", "Rating sessions")
    expect_text(admin, "Raw ratings (CSV)")
    shot(admin, "flow-15-session-stats")
