"""Real-browser checks: the app served by `streamlit run`, driven by Playwright in chromium.

Run as: make test-e2e   (needs Debian's chromium at /usr/bin/chromium and playwright)
The admin sets the password on first start, visits every page, creates a rating session; two
raters in separate browser contexts (separate sessions, as two people) rate at the same time.
A rater's page source holds no system name and no admin link; a dataset row with an <img> tag
and a markdown image is shown as text and nothing is fetched. Screenshots: test-artifacts/.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.e2e.helpers import admin_login, first_start, go, heading, new_page, served, shot
from tests.prepared import prepare_workspace
from workbench.store import open_workspace

ADMIN_PAGES = {"Data": "data", "Datasets": "datasets", "Browse": "browse", "Duplicates": "dedup",
               "Versions": "versions", "Quality": "quality", "Privacy": "privacy", "Run": "run",
               "Train": "train",
               "Sessions": "sessions", "Report": "report", "Playground": "playground"}
HEADINGS = {"sessions": "Rating sessions", "privacy": "Privacy review"}  # else the link title
PASSWORD = "e2e admin password"
HOSTILE_HOST = "198.51.100.7"  # TEST-NET-2: never routed
HOSTILE = (f'<img src="http://{HOSTILE_HOST}/x.png"> and ![x](http://{HOSTILE_HOST}/y.png)'
           " **bold?**")
REFUSAL = "Not allowed: this page is not available to you."
pytestmark = [pytest.mark.e2e, pytest.mark.enable_socket]


def e2e_workspace(root: Path) -> Path:
    """The prepared workspace, with answers that do not name their system and one hostile row."""
    prepare_workspace(root)
    with open_workspace(root) as ws:
        ws.con.execute("UPDATE generations SET output = 'Answer ' || example_id || "
                       "CASE WHEN system = 'base' THEN ', first take.' ELSE ', second take.' "
                       "END WHERE example_id <> 5")  # example 5 stays an identical pair
        ws.con.execute("UPDATE generations SET output = ? WHERE example_id = 6 AND "
                       "system = 'tuned'", [HOSTILE])
        ws.con.execute("UPDATE examples SET messages = ? WHERE id = 3", [json.dumps(
            [{"role": "user", "content": HOSTILE}, {"role": "assistant", "content": HOSTILE}])])
        ws.insert("findings", [{"dataset_id": 1, "example_id": i, "step": "leakage",
                                "code": "test_leakage", "severity": "warning",
                                "message": f"row {i} (test) is a near copy of a training row",
                                "message_index": None} for i in (4, 7)])  # a second bar
    return root


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workspace = e2e_workspace(tmp_path_factory.mktemp("e2e") / "ws")
    with served(workspace) as url:
        yield url


def test_admin_creates_a_session_and_two_raters_rate_at_once(server, browser):
    requests: list[str] = []
    admin = new_page(browser, requests)
    admin.goto(server)
    first_start(admin, PASSWORD)
    for title, slug in ADMIN_PAGES.items():
        go(admin, title, HEADINGS.get(slug, title))
        shot(admin, f"admin-{slug}")

    admin.get_by_role("link", name="Sessions", exact=True).click()
    heading(admin, "Rating sessions")
    admin.get_by_label("Session name").fill("e2e")
    admin.get_by_label("Raters, one name per line").fill("ana\nbo")
    admin.get_by_label("Guidelines for raters (markdown)").fill("Prefer the **correct** one.")
    admin.get_by_role("button", name="Create session").click()
    admin.get_by_text("Copy the invite tokens now").wait_for(timeout=60_000)
    shot(admin, "admin-session-created")
    text = admin.locator("[data-testid='stCode']").first.inner_text()
    tokens = dict(line.split("\t") for line in text.strip().splitlines())
    assert sorted(tokens) == ["ana", "bo"]

    ana, bo = new_page(browser, requests), new_page(browser, requests)
    ana.goto(f"{server}/?token={tokens['ana']}")  # the invite link
    bo.goto(server)
    bo.get_by_label("Invite token").fill(tokens["bo"])
    bo.get_by_role("button", name="Start rating").click()
    for rater, page in (("ana", ana), ("bo", bo)):
        heading(page, "Rate")
        page.get_by_text("0 of 2 rated").first.wait_for(timeout=60_000)  # 1 item + 1 repeat
        # the page source, less Streamlit's own comments, styles and script code
        html = re.sub(r"<!--.*?-->|<(style|script)\b.*?</\1>", "", page.content(), flags=re.DOTALL)
        found = re.search(r"\b(base|tuned)\b", html, re.IGNORECASE)
        assert not found, html[max(found.start() - 150, 0):found.end() + 80]
        for slug in ADMIN_PAGES.values():
            assert f'href="{server}/{slug}"' not in html and f'href="/{slug}"' not in html
        assert "token=" not in page.url  # the invite token left the address bar
        shot(page, f"rater-{rater}")

    hostile = next(p for p in (ana, bo) if p.get_by_text(HOSTILE_HOST).count())
    assert hostile.locator(f"img[src*='{HOSTILE_HOST}']").count() == 0
    assert hostile.get_by_text(HOSTILE, exact=True).count() == 1  # the literal text
    for done in (1, 2):  # both at once: each clicks before waiting for the other
        ana.get_by_role("button", name="A is better").click()
        bo.keyboard.press("3")  # the shortcut of "Tie"
        if done == 1:
            for page in (ana, bo):
                page.get_by_text("1 of 2 rated").first.wait_for(timeout=60_000)
    for rater, page in (("ana", ana), ("bo", bo)):
        page.get_by_text("All items rated. Thank you!").wait_for(timeout=60_000)
        shot(page, f"rater-{rater}-done")
    assert not [url for url in requests if HOSTILE_HOST in url]

    admin.goto(server)  # a new browser session: the admin logs in with the password
    admin.get_by_label("Admin password").fill(PASSWORD)
    admin.get_by_role("button", name="Log in").click()
    heading(admin, "Data")
    admin.get_by_role("link", name="Sessions", exact=True).click()
    admin.get_by_text("Raw ratings (CSV)").wait_for(timeout=60_000)
    shot(admin, "admin-session-progress")


def log_in_as_admin(page, server: str) -> None:
    """Log in as the admin (setting the password if no test did yet); lands on Data."""
    page.goto(server)
    first = page.get_by_role("heading", name="First start: set the admin password")
    login = page.get_by_label("Admin password")
    first.or_(login).first.wait_for(timeout=60_000)
    if first.count():
        first_start(page, PASSWORD)
    else:
        admin_login(page, PASSWORD)


def test_clicking_a_findings_bar_lists_the_rows_behind_it(server, browser):
    page = new_page(browser, [])
    log_in_as_admin(page, server)
    chart = page.locator("[data-testid='stVegaLiteChart']").first
    bars = chart.locator("path[role='graphics-symbol']")
    bars.first.wait_for(timeout=60_000)
    assert [bars.nth(i).get_attribute("aria-label") for i in range(bars.count())] == [
        "rows: 2; code: test_leakage; severity: warning; findings: 2",
        "rows: 1; code: missing_system; severity: info; findings: 1"]
    choice = page.locator("[data-testid='stMain'] [data-testid='stSelectbox'] input").first
    assert choice.input_value() == "test_leakage"  # the largest bar comes first
    chart.locator("path[role='graphics-symbol'][aria-label*='missing_system']").click()
    page.wait_for_function("() => [...document.querySelectorAll("
                           "\"[data-testid='stMain'] [data-testid='stSelectbox'] input\")].some("
                           "e => e.value === 'missing_system')", timeout=60_000)
    page.get_by_text("row 1: no system message").wait_for(state="attached", timeout=60_000)
    shot(page, "admin-data-bar-clicked")


def test_an_admin_url_opened_without_admin_login_shows_only_a_refusal(server, browser):
    page = new_page(browser, [])
    for slug in ADMIN_PAGES.values():
        page.goto(f"{server}/{slug}")
        page.get_by_text(REFUSAL).wait_for(timeout=60_000)
        assert page.get_by_role("heading").count() == 0
        assert page.locator("[data-testid='stSidebarNav']").count() == 0
    shot(page, "refusal")
