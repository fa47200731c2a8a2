"""Nothing leaves 127.0.0.1 and no dataset text renders, in a real browser, for both roles.

Run as: PYTHONPATH=$PWD .venv/bin/python -m pytest -m e2e tests/e2e/test_outside_requests.py
Every example, prompt and answer of the workspace carries a markdown image, a markdown link,
an e-mail address and raw HTML (<img>, <a>) pointing at a host that is never routed; the
rating guidelines carry a remote image and a data: link. The admin opens every page (the
held-out row in the Playground, the first row in Browse), a rater the Rate page; every
request of both browsers is recorded and must go to 127.0.0.1, and no page may hold an
<img> or an <a> made from the payload (no mailto:, data: or javascript: link either).
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from evaluation.sessions import SessionDesign
from tests.e2e.helpers import (
    admin_login,
    go,
    heading,
    new_page,
    rater_login,
    served,
    settle,
    shot,
)
from tests.prepared import prepare_workspace
from workbench.store import auth, open_workspace
from workbench.store import sessions as ss

HOST = "198.51.100.7"  # TEST-NET-2: never routed
PAYLOAD = (f"![b](http://{HOST}/md.png) [click](http://{HOST}/link) write to ana@example.com "
           f'<img src="http://{HOST}/html.png"> <a href="http://{HOST}/a">here</a>')
GUIDELINES = (f"Prefer the **correct** answer. ![g](http://{HOST}/guide.png) "
              "[open](data:text/html,<b>x</b>)")
PASSWORD = "e2e admin password"
PAGES = {"Data": "Data", "Datasets": "Datasets", "Browse": "Browse", "Duplicates": "Duplicates",
         "Versions": "Versions", "Privacy": "Privacy review", "Run": "Run", "Train": "Train",
         "Sessions": "Rating sessions", "Report": "Report", "Playground": "Playground"}
SHOWN_AS_TEXT = {"Browse", "Duplicates", "Playground"}  # pages that show the row in the DOM
pytestmark = [pytest.mark.e2e, pytest.mark.enable_socket]


def hostile_workspace(root: Path) -> tuple[Path, str]:
    """The prepared workspace with the payload in every row, prompt and answer, a session
    with hostile guidelines, the admin password set; returns (root, the rater's token)."""
    prepare_workspace(root)
    turns = json.dumps([{"role": "user", "content": PAYLOAD},
                        {"role": "assistant", "content": PAYLOAD}])
    with open_workspace(root) as ws:
        ws.con.execute("UPDATE examples SET messages = ?", [turns])
        ws.insert("dup_clusters", [{"dataset_id": 1, "example_id": 1, "level": "exact",
                                    "representative_id": 1, "similarity": 1.0}])  # 1 and 2
        ws.con.execute("UPDATE generations SET prompt = ?, output = system || ': ' || ?",
                       [json.dumps([{"role": "user", "content": PAYLOAD}]), PAYLOAD])
        auth.set_admin_password(ws, PASSWORD)
        made = ss.create_session(ws, "s", "generate-1", SessionDesign(guidelines=GUIDELINES),
                                 ["ana"], seed=0)
    return root, made["tokens"]["ana"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root, token = hostile_workspace(tmp_path_factory.mktemp("outside") / "ws")
    with served(root) as url:
        yield url, token


def outside(requests: list[str]) -> list[str]:
    return sorted({url for url in requests if urlsplit(url).hostname != "127.0.0.1"})


def rendered(page) -> dict:
    """Elements made from the payload on ``page``: selector -> count, only those found."""
    found = {selector: page.locator(selector).count() for selector in (
        f"img[src*='{HOST}']", f"a[href*='{HOST}']", "a[href^='mailto:']",
        "a[href^='data:']", "a[href^='javascript:']")}
    return {selector: n for selector, n in found.items() if n}


def shown_as_text(page, title: str) -> bool:
    if title == "Browse":  # the row's messages are editable text areas
        page.wait_for_function(f"() => [...document.querySelectorAll('textarea')]"
                               f".some(e => e.value.includes('{HOST}'))")
        return True
    return page.get_by_text(PAYLOAD).count() > 0


def test_the_admin_pages_fetch_nothing_outside_and_render_no_row(server, browser):
    url, _ = server
    requests: list[str] = []
    admin = new_page(browser, requests)
    admin.goto(url)
    heading(admin, "Rater")
    admin_login(admin, PASSWORD)
    problems = {}
    for title, head in PAGES.items():
        go(admin, title, head)
        if title == "Playground":
            admin.get_by_text("A held-out row").click()
            admin.get_by_text("Held-out row (test split)").wait_for()
        settle(admin)
        admin.wait_for_timeout(500)  # let an image the page rendered start loading
        if found := rendered(admin):
            problems[title] = found
        elif title in SHOWN_AS_TEXT and not shown_as_text(admin, title):
            problems[title] = "the row is not shown as its literal text"
        shot(admin, f"outside-admin-{title.lower()}")
    assert (outside(requests), problems) == ([], {})
    assert any(urlsplit(u).hostname == "127.0.0.1" for u in requests)  # the recorder works


def test_the_rater_page_fetches_nothing_outside_and_renders_no_row(server, browser):
    url, token = server
    requests: list[str] = []
    rater = new_page(browser, requests)
    rater.goto(url)
    rater_login(rater, token)
    heading(rater, "Rate")
    settle(rater)
    rater.get_by_text("Prefer the").first.wait_for()  # the guidelines, open before rating
    rater.wait_for_timeout(500)
    first = rendered(rater)
    assert rater.get_by_text(PAYLOAD).count() >= 1
    shot(rater, "outside-rater-rate")
    rater.get_by_role("button", name="A is better").click()
    settle(rater)
    rater.wait_for_timeout(500)
    assert (outside(requests), first, rendered(rater)) == ([], {}, {})
