"""Real-browser check of the coverage map: on the first 25 Dolly rows (ingested, PII-scanned,
split; no embeddings yet) the page offers to draw the map, draws it with the embeddings
computed on the way, and colours it by held-out coverage. Screenshots: test-artifacts/.

Run as: pytest tests/e2e/test_coverage_map.py -m e2e
"""

from __future__ import annotations

import pytest

from tests.conftest import SHARED_DATA
from tests.e2e.helpers import (
    WAIT_MS,
    expect_text,
    first_start,
    go,
    new_page,
    served,
    settle,
    shot,
)

pytestmark = [pytest.mark.e2e, pytest.mark.enable_socket]
DOLLY = SHARED_DATA / "dolly15k_first25.jsonl"
PASSWORD = "e2e admin password"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not DOLLY.exists():
        pytest.skip("../shared/data is absent")
    from workbench.stages import curation

    workspace = tmp_path_factory.mktemp("coverage") / "ws"
    curation.ingest(workspace, str(DOLLY))
    curation.pii(workspace)
    curation.split(workspace)
    with served(workspace) as url:
        yield url


def test_the_map_is_drawn_with_its_embeddings_and_shows_uncovered_test_rows(server, browser):
    page = new_page(browser)
    page.goto(server)
    first_start(page, PASSWORD)
    go(page, "Coverage map")
    page.get_by_role("button", name="Draw the coverage map").click()
    expect_text(page, "Held-out without a train neighbour", timeout=4 * WAIT_MS)
    settle(page)
    page.locator("canvas, svg.marks").first.wait_for(timeout=WAIT_MS)
    shot(page, "coverage-map-clusters")
    page.get_by_text("held-out over train", exact=True).click()
    settle(page)
    shot(page, "coverage-map-held-out")
    page.get_by_text("PII findings", exact=True).click()
    settle(page)
    shot(page, "coverage-map-pii")
