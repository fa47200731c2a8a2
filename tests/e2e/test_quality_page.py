"""The Quality page in a real browser: histograms, the ends of a signal, the row browser and
a selection that makes a version (screenshots in test-artifacts/)."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import expect_text, first_start, go, served, settle, shot
from tests.prepared import prepare_workspace
from workbench.store import open_workspace

pytestmark = [pytest.mark.e2e, pytest.mark.enable_socket]
PASSWORD = "e2e admin password"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = prepare_workspace(tmp_path_factory.mktemp("e2e") / "ws")
    with open_workspace(root) as ws:
        ws.insert("quality_signals", [
            {"dataset_id": 1, "example_id": i, "ifd": 0.1 * i, "answer_chars": 10 + i,
             "prompt_chars": 11, "ppl_conditioned": 2.0 + i, "ppl_answer": 4.0 + i}
            for i in range(1, 11) if i != 2])
    with served(root) as url:
        yield url


def test_the_quality_page_shows_signals_and_selects_a_version(server, browser):
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(server)
    first_start(page, PASSWORD)
    go(page, "Quality")
    expect_text(page, "10 lowest score")
    settle(page)
    shot(page, "quality")
    page.get_by_text("Diversity guard on").click()  # off: no embedding model needed
    page.get_by_role("button", name="Select by ifd").click()
    expect_text(page, "skipped as too similar")
    settle(page)
    shot(page, "quality-selected")
