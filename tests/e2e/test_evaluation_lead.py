"""The evaluation lead in a real browser: the Report leads with the verdict and its download
holds it; a rater skips an item and moves on, sees each repeat later and on the other sides,
and an answer cut at the token limit is marked.

Run as: pytest -m e2e tests/e2e/test_evaluation_lead.py   (chromium at /usr/bin/chromium)
The workspace (tests/e2e/report_data.py) holds a trained run, 12 scored held-out rows, a
scripted rating session and a session whose rater "eve" has 6 items and 2 repeats.
"""

from __future__ import annotations

import time
from datetime import date

import pytest

from tests.e2e.helpers import (
    WAIT_MS,
    admin_login,
    expect_text,
    heading,
    new_page,
    served,
    settle,
    shot,
)
from tests.e2e.report_data import CUT_EXAMPLE, MAX_NEW_TOKENS, TOPICS, build_report_workspace
from workbench.store import auth as admin
from workbench.store import open_workspace

pytestmark = [pytest.mark.e2e, pytest.mark.enable_socket]
PASSWORD = "lead admin password"
VERDICT = ("Tuned beats base on ROUGE-L by +0.832 (95% CI +0.755 to +0.876, n=12); scripted "
           "demo raters (not people) preferred tuned in 100% of pairs (95% CI 86-100%, n=24). "
           "Too few held-out rows and ratings for a firm conclusion.")


@pytest.fixture(scope="module")
def lead(tmp_path_factory):
    root = tmp_path_factory.mktemp("lead")
    built = build_report_workspace(root / "ws")
    with open_workspace(root / "ws") as ws:
        admin.set_admin_password(ws, PASSWORD)
    with served(root / "ws", log=root / "server.log", keep_log="lead-server.log") as url:
        yield {"url": url, "token": built["token"], "root": root}


def shown_item(page) -> tuple[str, str, str]:
    """(prompt, answer A, answer B) as the rater sees them, once all three are drawn."""
    page.wait_for_function(
        "() => document.querySelectorAll(\"[data-testid='stText']\").length >= 3",
        timeout=WAIT_MS)
    settle(page)
    texts = page.locator("[data-testid='stText']").all_inner_texts()
    return texts[0], texts[1], texts[2]


def progress(page) -> str:
    return page.locator("[data-testid='stProgress']").first.inner_text()


def test_the_report_leads_with_the_verdict_and_its_download_holds_it(lead, browser):
    page = new_page(browser)
    page.goto(lead["url"])
    admin_login(page, PASSWORD)
    started = time.monotonic()
    page.get_by_role("link", name="Report", exact=True).click()
    expect_text(page, VERDICT)
    print(f"Report page load: {time.monotonic() - started:.2f} s (to the verdict)")
    expect_text(page, "Only 12 held-out rows (fewer than 30)")
    page.wait_for_function(  # the plots: differences, win/tie/loss with win rate, loss
        "() => document.querySelectorAll(\"[data-testid='stMain'] img\").length === 3",
        timeout=WAIT_MS)
    print(f"Report page with its 3 plots: {time.monotonic() - started:.2f} s")
    settle(page)
    shot(page, "lead-01-report")
    with page.expect_download(timeout=WAIT_MS) as info:
        page.get_by_role("button", name="Report (HTML)").click()
    download = info.value
    assert download.suggested_filename == f"report-ws-{date.today().isoformat()}.html"
    text = open(download.path(), encoding="utf-8").read()
    assert f'<p class="verdict"><b>Verdict</b> · {VERDICT}</p>' in text
    assert "<h2>Lineage of every system</h2>\n<h3>base</h3>" in text
    assert "<h3>tuned</h3>" in text and "<td>train run</td><td>train-1</td>" in text
    assert "<h3>Corpus-level scores per system</h3>" in text


def test_a_rater_skips_on_and_sees_each_repeat_later_on_the_other_sides(lead, browser):
    page = new_page(browser)
    page.goto(f"{lead['url']}/?token={lead['token']}")
    heading(page, "Rate")
    expect_text(page, "0 of 8 rated")
    settle(page)
    skipped = shown_item(page)
    page.get_by_role("button", name="Skip").click()
    expect_text(page, "Skipped items come back at the end, after the others.")
    settle(page)
    shown = [shown_item(page)]
    assert shown[0][0] != skipped[0]  # Skip moved on
    cut_prompts = []
    for done in range(1, 9):
        if page.get_by_text(f"(cut at {MAX_NEW_TOKENS} tokens)").count():
            cut_prompts.append(shown[-1][0])
        if done == 4:
            shot(page, "lead-02-rater")
        page.get_by_role("button", name="A is better").click()
        if done == 8:
            break
        expect_text(page, f"{done} of 8 rated")
        settle(page)
        shown.append(shown_item(page))
    expect_text(page, "All items rated. Thank you!")
    assert shown[-1] == skipped  # the skipped item came back, last, as it was
    cut = f"What is special about {TOPICS[CUT_EXAMPLE - 1]}?"
    assert set(cut_prompts) == {cut}
    prompts = [prompt for prompt, _, _ in shown]
    repeated = [p for p in dict.fromkeys(prompts) if prompts.count(p) == 2]
    assert len(repeated) == 2  # ⌈0.2 × 6⌉ repeats
    for prompt in repeated:
        first, again = [k for k, p in enumerate(prompts) if p == prompt]
        assert again - first - 1 >= 3  # at least 3 other items in between
        assert shown[again][1:] == shown[first][2:0:-1]  # the answers on the other sides
