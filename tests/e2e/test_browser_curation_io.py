"""Real-browser check of the curation pages (Datasets, Browse, Versions) and the Data page's
findings chart. Run as: make test-e2e. Screenshots go to test-artifacts/."""

from __future__ import annotations

import pytest

from tests.e2e.test_browser import ARTIFACTS, browser, server  # noqa: F401 (fixtures)

PAGES = {"datasets": "Datasets", "browse": "Browse", "versions": "Versions", "data": "Data"}
pytestmark = [pytest.mark.e2e, pytest.mark.enable_socket]


@pytest.mark.parametrize("slug", PAGES)
def test_each_curation_page_renders_in_a_real_browser(server, browser, slug):  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{server}/{slug}")
    page.get_by_role("heading", name=PAGES[slug]).first.wait_for(timeout=30_000)
    page.wait_for_timeout(1500)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"curation-{slug}.png"), full_page=True)
    assert page.locator("[data-testid='stException']").count() == 0
    page.close()
